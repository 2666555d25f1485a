"""Which clients each model applies to, and a column for every target, model or not.

The training labels leave some clients out of a model: those already in default at the
as-of date (default model) and those not active then (churn model). Their output is set by
rule and their reasons say so (:func:`apply_scope_rules`). A target without a model still
gets its output, reasons and version columns (:func:`ensure_targets`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN, TARGETS
from predict.models.store import ModelBundle
from predict.scoring.config import ScoreConfig


def apply_scope_rules(
    scores: pd.DataFrame, features: pd.DataFrame, config: ScoreConfig
) -> pd.DataFrame:
    """Clients a model does not apply to (the training labels leave them out).

    - already in default at the as-of date (feature ``in_default_feature`` = 1): the default
      model is not for them; their default probability is ``defaulted_probability``;
    - not active at the as-of date (lifecycle stage in ``churn_not_scored_stages``): they
      cannot churn; churn probability missing.
    The reasons say so. ``features`` is aligned row for row with ``scores``.
    """
    out = scores.copy()
    flag = config.in_default_feature
    in_default = (
        (features[flag] == 1).fillna(False).to_numpy(dtype=bool)
        if flag in features
        else np.zeros(len(out), dtype=bool)
    )
    out["in_default"] = in_default
    if config.defaulted_probability is not None and "default_probability" in out:
        pct = f"{config.defaulted_probability:.0%}"
        out.loc[in_default, "default_probability"] = config.defaulted_probability
        out.loc[in_default, "default_reasons"] = (
            f"Already in default at the as-of date (default event or arrears): probability "
            f"set to {pct}, not a model score"
        )
    if "lifecycle_stage" in features and "churn_probability" in out:
        stage = features["lifecycle_stage"].astype("str")
        idle = stage.isin(config.churn_not_scored_stages).to_numpy(dtype=bool)
        out.loc[idle, "churn_probability"] = np.nan
        out.loc[idle, "churn_reasons"] = (
            "Not active at the as-of date (stage " + stage[idle] + "): churn is not scored"
        ).to_numpy()
    return out


def ensure_targets(
    scores: pd.DataFrame, bundles: Mapping[str, ModelBundle], skipped: Mapping[str, str]
) -> pd.DataFrame:
    """Columns of every target, model or not: output, reasons and model version."""
    out = scores.copy()
    for target in TARGETS:
        bundle = bundles.get(target)
        if OUTPUT_COLUMN[target] not in out:
            out[OUTPUT_COLUMN[target]] = np.nan
        if f"{target}_reasons" not in out:
            why = skipped.get(target, "no model")
            out[f"{target}_reasons"] = f"Not scored: {why}"
        out[f"{target}_model_version"] = pd.Series(
            bundle.version if bundle is not None else np.nan, index=out.index, dtype="str"
        )
    return out
