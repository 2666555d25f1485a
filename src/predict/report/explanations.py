"""Reading SHAP explanations (``data/scores/explanations.parquet``, long format) for the report.

The long table has one row per (client_id, as_of, target, feature) with the feature's
value (as text) and its SHAP contribution in the model's raw units (log-odds for churn
and default, currency for contribution). If the scoring step adds a row per client and
target whose feature is one of :data:`BASE_FEATURES`, its ``shap`` is taken as the base
(expected) value the waterfall starts from; otherwise the waterfall starts at 0. A model
with an offset (contribution: recent revenue carried forward) has a row
:data:`~predict.scoring.explain.OFFSET_FEATURE`: a step of the client's waterfall (so the
steps still end at the raw score), but not a feature of the global views.
"""

from __future__ import annotations

import contextlib
from functools import cache

import numpy as np
import pandas as pd

from predict.scoring.explain import OFFSET_FEATURE
from predict.scoring.reasons import ReasonTemplate, catalogue_templates, sentence

EXPLANATION_COLUMNS = ("client_id", "target", "feature", "value", "shap")
BASE_FEATURES = frozenset({"(base)", "__base__", "base_value", "expected_value", "_base"})


def split_base(expl: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(feature rows, base-value rows) of an explanations frame."""
    is_base = expl["feature"].astype("str").isin(BASE_FEATURES)
    return expl[~is_base], expl[is_base]


def client_waterfall(
    expl: pd.DataFrame, client_id: str, target: str, max_steps: int = 10
) -> tuple[list[tuple[str, float]], float]:
    """Waterfall steps ``(label, shap)`` for one client and target, largest first, and base.

    Features beyond ``max_steps`` are summed into one "other N features" step, so the
    steps still add up to the model's raw output minus the base.
    """
    keep = (expl["client_id"].to_numpy(dtype=object) == str(client_id)) & (
        expl["target"].to_numpy(dtype=object) == target
    )
    feature = expl["feature"].to_numpy(dtype=object)[keep]
    value = expl["value"].to_numpy(dtype=object)[keep]
    shap = expl["shap"].to_numpy(dtype="float64")[keep]
    is_base = np.isin(feature, list(BASE_FEATURES))
    base = float(shap[is_base][0]) if is_base.any() else 0.0
    feature, value, shap = feature[~is_base], value[~is_base], shap[~is_base]
    order = np.argsort(-np.abs(shap), kind="stable")
    top, rest = order[:max_steps], order[max_steps:]
    steps = [(feature_label(str(feature[i]), value[i]), float(shap[i])) for i in top]
    if len(rest):
        steps.append((f"other {len(rest)} features", float(shap[rest].sum())))
    return steps, base


@cache
def _templates() -> dict[str, ReasonTemplate]:
    return catalogue_templates()


def feature_label(feature: str, value: object, width: int = 60) -> str:
    """A waterfall bar's label: the feature's meaning with the client's value, in the reason
    codes' words ("Currently 44 days past due"; a missing value: "No open facility left to
    mature"); a feature outside the catalogue: ``name = value``."""
    if feature == OFFSET_FEATURE:
        return "Recent revenue carried forward (offset)"
    template = _templates().get(feature)
    if template is None:
        return f"{feature} = {_short(value)}"
    number: object = value
    with contextlib.suppress(TypeError, ValueError):
        number = float(str(value)) if value is not None else None
    text = sentence(template, number)
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: object, width: int = 18) -> str:
    text = "n/a" if value is None or value is pd.NA or value != value else str(value)
    with contextlib.suppress(ValueError):
        number = float(text)
        text = f"{number:,.0f}" if abs(number) >= 1e4 else f"{number:.4g}"
    return text if len(text) <= width else text[: width - 1] + "…"


def shap_importance(expl: pd.DataFrame, target: str) -> pd.DataFrame:
    """Mean |SHAP| per feature over the clients explained for ``target`` (absent rows = 0)."""
    feats, _ = split_base(expl[expl["target"] == target])
    feats = feats[feats["feature"].astype("str") != OFFSET_FEATURE]  # not a feature
    n_clients = feats["client_id"].nunique()
    if n_clients == 0:
        return pd.DataFrame({"feature": pd.Series([], dtype="str"), "mean_abs_shap": []})
    total = feats["shap"].abs().groupby(feats["feature"]).sum() / n_clients
    out = total.sort_values(ascending=False).rename("mean_abs_shap").reset_index()
    return out


def numeric_values(values: pd.Series) -> pd.Series | None:
    """The values as floats if (nearly) all non-missing ones parse as numbers, else None."""
    text = values.astype("str")
    missing = text.isna() | text.isin(["", "nan", "NaN", "None", "<NA>"])
    num = pd.to_numeric(text.where(~missing), errors="coerce")
    present = int((~missing).sum())
    if present == 0 or num.notna().sum() < 0.95 * present:
        return None
    return num.astype("float64")


def feature_points(
    expl: pd.DataFrame, target: str, feature: str, max_points: int, seed: int = 0
) -> pd.DataFrame:
    """Rows (value, shap) of one feature for one target, sampled down to ``max_points``."""
    feats, _ = split_base(expl[(expl["target"] == target) & (expl["feature"] == feature)])
    pts = feats[["client_id", "value", "shap"]]
    if len(pts) > max_points:
        pts = pts.sample(n=max_points, random_state=np.random.default_rng(seed))
    return pts.reset_index(drop=True)


def colour_ranks(values: pd.Series) -> np.ndarray:
    """Percentile rank in [0, 1] of numeric values (NaN for categories or missing)."""
    num = numeric_values(values)
    if num is None:
        return np.full(len(values), np.nan)
    return num.rank(pct=True).to_numpy(dtype="float64")
