"""A synthetic corporate-lending portfolio with known truth (stage ``generate``).

May import: the core and :mod:`predict.contract` (it writes contract tables).

Public API:

* :class:`GenerateConfig` (params section ``generate``) and :class:`OutcomeWindow`
  (``features.horizon_months``, ``features.inactivity_months``; :func:`outcome_window`
  reads them from a loaded params mapping);
* :func:`generate_portfolio` -> :class:`SyntheticPortfolio` (in memory: the seven contract
  tables with validated dtypes, the truth, latent traits, macro path, a summary);
* :func:`write_portfolio` (streams the tables to Parquet; truth to its own folder);
* :func:`write_byod_readme` (the no-op when you bring your own data);
* :func:`realised_outcomes` (the contract's targets computed from tables, to check truth).

See ``docs/synthetic.md`` for the model of the world.
"""

from predict.synthetic.config import GenerateConfig, OutcomeWindow, outcome_window
from predict.synthetic.outcomes import realised_outcomes
from predict.synthetic.portfolio import (
    TABLE_NAMES,
    SyntheticPortfolio,
    generate_portfolio,
    write_byod_readme,
    write_portfolio,
)

__all__ = [
    "TABLE_NAMES",
    "GenerateConfig",
    "OutcomeWindow",
    "SyntheticPortfolio",
    "generate_portfolio",
    "outcome_window",
    "realised_outcomes",
    "write_byod_readme",
    "write_portfolio",
]
