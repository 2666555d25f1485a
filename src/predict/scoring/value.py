"""Risk-adjusted value of each client over the model horizon H (``score.value``).

All flows are over the same H months as the expected contribution and the expected loss;
annual rates are scaled by ``H / 12``:

- ``funding = funding_rate x H/12 x expected funded drawn``, the expected funded drawn
  balance being ``funded_drawn x (1 - churn_probability x (1 - s))`` (``funded_drawn``: the
  drawn balance of the products the bank funds, ``score.relationship.funded``: not an
  issued guarantee's outstanding, a contingent liability; ``s`` = :func:`active_share`, the
  share of H a client who churns still holds its lines; ``funded_drawn`` when its churn
  probability is unknown; missing when drawn is, e.g. without a facility_balances table);
- ``cost_to_serve = annual cost of its segment x H/12 x (1 - churn_probability x (1 - s))``
  for clients in a stage that is served (not ``no_cost_stages``), else 0 (a client who
  leaves is served until it leaves); missing when the stage is unknown;
- ``capital``: an IRB-formula capital estimate from the model PD, annualised: the Basel IRB
  capital of the client's EAD (:mod:`~predict.scoring.capital`) at the one-year PD
  ``1 - (1 - PD_H) ^ (12 / H)`` (the formula takes a one-year PD; the model's is over H
  months), M = ``capital_maturity_years`` (each facility's maturity bounded to [1, 5], then
  weighted by LGD x EAD: the sum of the facilities' capital), S = its annual
  turnover (``clients.annual_turnover / turnover_unit``; 0 is a real zero turnover, bounded up
  to the EUR 5m floor, not unknown; no column or no row: no SME adjustment); 0 for a client
  in default (``in_default``);
- ``economic_profit = expected_contribution - EL - funding - cost_to_serve
  - hurdle_rate x H/12 x capital``;
- ``raroc = (expected_contribution - EL - funding - cost_to_serve) / capital x 12/H``, an
  annual rate comparable with the hurdle rate (economic profit > 0 exactly when raroc >
  hurdle); missing when capital is 0 or unknown;
- ``contribution_at_risk = churn_probability x run-rate revenue``, the revenue booked in the
  12 months up to the as-of date (dates in (t - 12 months, t]).

Any unknown input leaves the output missing (e.g. no model PD: no EL, no capital, no
economic profit).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predict.scoring.capital import CapitalConfig, regulatory_capital

log = logging.getLogger(__name__)

VALUE_COLUMNS = (
    "run_rate_revenue",
    "contribution_at_risk",
    "funding_cost",
    "cost_to_serve",
    "capital",
    "capital_charge",
    "economic_profit",
    "raroc",
)


@dataclass(frozen=True)
class ValueConfig:
    """``score.value`` in params.yaml (rates are annual fractions)."""

    funding_rate: float = 0.0  # transfer price of funding the drawn balance
    cost_to_serve: dict[str, float] = field(default_factory=dict)  # annual, by segment
    default_cost_to_serve: float = 0.0  # segments not listed
    no_cost_stages: tuple[str, ...] = ("potential", "churned")  # life-cycle stages not served
    hurdle_rate: float = 0.10  # required annual return on capital
    run_rate_months: int = 12  # the revenue run rate behind contribution_at_risk
    capital: CapitalConfig = field(default_factory=CapitalConfig)

    def __post_init__(self) -> None:
        if self.funding_rate < 0 or self.hurdle_rate < 0 or self.run_rate_months < 1:
            raise ValueError("score.value: rates must be >= 0 and run_rate_months >= 1")
        if any(v < 0 for v in self.cost_to_serve.values()) or self.default_cost_to_serve < 0:
            raise ValueError("score.value.cost_to_serve must be >= 0")


def run_rate_revenue(
    tables: Mapping[str, pd.DataFrame], client_ids: pd.Series, as_of: dt.date, months: int
) -> pd.Series:
    """Revenue booked in (t - months, t] per client (0 with no rows; NaN without the table)."""
    revenue = tables.get("revenue")
    if revenue is None:
        log.warning("no revenue table: run-rate revenue and contribution at risk are unknown")
        return pd.Series(np.nan, index=client_ids.index, dtype="float64")
    t = pd.Timestamp(as_of)
    start = t - pd.offsets.MonthEnd(months)  # t is a month end
    window = revenue[(revenue["date"] > start) & (revenue["date"] <= t)]
    total = window.groupby(window["client_id"].astype("str"))["amount"].sum()
    return client_ids.astype("str").map(total).astype("float64").fillna(0.0)


def _turnover(tables: Mapping[str, pd.DataFrame], client_ids: pd.Series) -> pd.Series | None:
    clients = tables.get("clients")
    if clients is None or "annual_turnover" not in clients.columns:
        return None
    by_id = clients.drop_duplicates("client_id").set_index(clients["client_id"].astype("str"))
    return client_ids.astype("str").map(by_id["annual_turnover"]).astype("float64")


def one_year_pd(pd_h: pd.Series, horizon_months: int) -> pd.Series:
    """The one-year PD equivalent to a PD over H months, at a constant hazard:
    ``1 - (1 - PD_H) ^ (12 / H)`` (PD_H itself, to the last bit, when H = 12)."""
    p = pd_h.astype("float64")
    return p if horizon_months == 12 else 1.0 - (1.0 - p) ** (12.0 / horizon_months)


ONE_YEAR_PD = "one_year_default_probability"
ONE_YEAR_PD_CHANGE = "one_year_default_probability_change"


def add_one_year_pd(scores: pd.DataFrame, horizon_months: int) -> pd.DataFrame:
    """``one_year_default_probability``: the default probability over H months as the
    one-year PD the master scale, capital and every PD threshold read (:func:`one_year_pd`;
    ``default_probability`` itself at H = 12), and, with a previous scoring,
    ``one_year_default_probability_change`` (the one-year PD now minus the one-year PD of
    the previous scoring's PD, over the same H). A threshold on the PD over H would move a
    grade with H: 5% over 6 months is 9.75% a year (grade 9), over 24 months 2.5% (grade 7)."""
    out = scores.copy()
    now = one_year_pd(out["default_probability"], horizon_months)
    out[ONE_YEAR_PD] = now
    if "previous_default_probability" in out:
        then = one_year_pd(out["previous_default_probability"], horizon_months)
        out[ONE_YEAR_PD_CHANGE] = now - then
    return out


def active_share(horizon_months: int, inactivity_months: int) -> float:
    """The expected share of the horizon H a client who churns still holds its facilities
    (and is served): by the churn label (``features.inactivity_months`` I) a churner has no
    open facility and no revenue in the last I months of H, so it leaves within the first
    H - I months; uniformly, half-way through them: ``(H - I) / (2 H)``, 0.25 for H = 12,
    I = 6. (Half-way through H, 0.5, contradicts the label: on the synthetic book churners
    kept 17-18% of their funded balance over H, measured at three as-of dates.) With I at
    or above H (a bank's own params: H = 6 with the default I = 6) a churner has no activity
    anywhere in H: it left at the as-of date, share 0 (this stopped the scoring before)."""
    if horizon_months < 1 or inactivity_months < 0:
        raise ValueError(
            f"horizon_months {horizon_months} must be >= 1 and inactivity_months "
            f"{inactivity_months} >= 0"
        )
    return max(horizon_months - inactivity_months, 0) / (2.0 * horizon_months)


def add_risk_adjusted_value(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    horizon_months: int,
    config: ValueConfig,
    *,
    inactivity_months: int,
) -> pd.DataFrame:
    """The :data:`VALUE_COLUMNS`; needs the exposure, the probabilities and expected loss.
    ``inactivity_months``: the churn label's (``features.inactivity_months``)."""
    out = scores.copy()
    years = horizon_months / 12.0
    churn = out["churn_probability"].astype("float64")
    # the expected share of H the client is still with the bank (all of it when churn unknown)
    staying = 1.0 - churn.fillna(0.0) * (1.0 - active_share(horizon_months, inactivity_months))
    revenue = run_rate_revenue(tables, out["client_id"], as_of, config.run_rate_months)
    out["run_rate_revenue"] = revenue
    out["contribution_at_risk"] = churn * revenue
    funded = out["funded_drawn"] if "funded_drawn" in out.columns else out["drawn"]
    expected_drawn = funded.astype("float64") * staying
    out["funding_cost"] = config.funding_rate * years * expected_drawn
    annual = out["segment"].astype("str").map(config.cost_to_serve)
    annual = annual.astype("float64").fillna(config.default_cost_to_serve)
    stage = out["lifecycle_stage"]
    served = ~stage.astype("str").isin(config.no_cost_stages)
    # an unknown stage (a table the models were trained with absent: scoring/scope.py) may
    # be a churned client's, served or not: its cost is unknown, not a guess
    out["cost_to_serve"] = (annual * years * staying).where(served, 0.0).where(stage.notna())
    out["capital"] = regulatory_capital(
        one_year_pd(out["default_probability"], horizon_months),
        out["lgd"],
        out["ead"],
        out["capital_maturity_years"],
        _turnover(tables, out["client_id"]),
        config.capital,
        out.get("in_default"),
    )
    out["capital_charge"] = config.hurdle_rate * years * out["capital"]
    net = (
        out["expected_contribution"]
        - out["expected_loss"]
        - out["funding_cost"]
        - out["cost_to_serve"]
    )
    out["economic_profit"] = net - out["capital_charge"]
    out["raroc"] = net / years / out["capital"].where(out["capital"] > 0)
    return out
