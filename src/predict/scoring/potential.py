"""Potential value and growth potential of each scored client (issue #15 item 4), from the
reference frozen in the contribution model's folder (``references.json`` ``potential``,
:mod:`predict.models.potential`); nothing here is fitted on the scored input, so a client's
values depend only on its own row and the model folder.

Columns added (docs/scoring.md, docs/data_dictionary.md):

- ``potential_value``: for stages ``potential`` and ``new`` only, the frozen (shrunk) mean
  first-year contribution of converting clients of the client's cell (segment, industry,
  size band of ``annual_turnover`` on the frozen edges); the segment's value when the cell
  is unknown (no industry or turnover, or a cell absent at training); missing, with
  ``potential_not_scored_reason``, for other stages, without a segment, a segment absent at
  training, or no reference in the model folder;
- ``potential_basis``: ``cell`` or ``segment`` (what the value was read from), with n;
- ``growth_potential`` (nullable boolean): stage ``active``, not in default, one-year default
  probability (:func:`predict.scoring.value.one_year_pd`) below the frozen watch threshold
  (a missing one because the client has no exposure does not exclude), and
  ``expected_contribution / max(revenue_12m × H/12, floor)`` at or above the frozen
  threshold; False for every other client; missing (fail closed, never True) for an
  eligible client whose default status is unknown, whose PD is missing for another reason
  than no exposure, or whose expected contribution or recent revenue is missing, and for
  everyone when there is no reference.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from predict.models import potential as ref
from predict.models.store import ModelBundle
from predict.scoring.scope import NOT_SCORED
from predict.scoring.value import one_year_pd

log = logging.getLogger(__name__)

VALUE_STAGES = ("potential", "new")
COLUMNS = ("potential_value", "potential_basis", "potential_not_scored_reason", "growth_potential")


def frozen_potential(bundles: Mapping[str, ModelBundle]) -> tuple[dict[str, Any] | None, str]:
    """The contribution model's ``potential`` reference, or None and why not."""
    bundle = bundles.get("contribution")
    if bundle is None:
        return None, "no contribution model"
    if "potential" not in bundle.references:
        why = bundle.references.get("potential_unavailable", "not in its references.json")
        return None, f"no potential reference in the contribution model folder: {why}"
    return dict(bundle.references["potential"]), ""


def _column(frame: pd.DataFrame, name: str, index: pd.Index) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=index, dtype="object")
    return pd.Series(frame[name].to_numpy(), index=index)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("str").where(values.notna())


def potential_values(
    stage: pd.Series,
    segment: pd.Series,
    industry: pd.Series,
    turnover: pd.Series,
    reference: Mapping[str, Any] | None,
    missing: str = "no potential reference",
) -> pd.DataFrame:
    """``potential_value``, ``potential_basis``, ``potential_not_scored_reason`` per row."""
    n = len(stage)
    value = np.full(n, np.nan)
    basis = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    stage_t = stage.astype("str").where(stage.notna()).to_numpy()
    if reference is None:
        reason[:] = missing
        return _frame(value, basis, reason, stage.index)
    table = reference["value"]
    cells = {(c["segment"], c["industry"], c["size_band"]): c for c in table["cells"]}
    bands = ref.size_band(pd.to_numeric(turnover, errors="coerce"), list(table["size_edges"]))
    seg_t, ind_t, band_t = (_text(s).to_numpy() for s in (segment, industry, bands))
    for i in range(n):
        if stage_t[i] not in VALUE_STAGES:
            reason[i] = f"stage {stage_t[i]}: potential value is for prospects and new clients"
        elif not isinstance(seg_t[i], str):
            reason[i] = "no segment: no comparable clients"
        elif seg_t[i] not in table["segments"]:
            reason[i] = f"segment {seg_t[i]} had no converting client at training"
        elif (cell := cells.get((seg_t[i], ind_t[i], band_t[i]))) is not None:
            value[i], basis[i] = cell["value"], f"cell (n={cell['n']})"
        else:
            part = table["segments"][seg_t[i]]
            value[i], basis[i] = part["value"], f"segment (n={part['n']})"
    return _frame(value, basis, reason, stage.index)


def _frame(value: np.ndarray, basis: np.ndarray, reason: np.ndarray, index: pd.Index) -> Any:
    return pd.DataFrame(
        {
            "potential_value": pd.Series(value, index=index, dtype="float64"),
            "potential_basis": pd.Series(basis, index=index, dtype="str"),
            "potential_not_scored_reason": pd.Series(reason, index=index, dtype="str"),
        }
    )


def growth_flags(
    scores: pd.DataFrame,
    revenue_12m: pd.Series,
    reference: Mapping[str, Any] | None,
    *,
    horizon_months: int,
) -> pd.Series:
    """``growth_potential`` per row (see the module); the watch threshold is on the one-year
    PD of the PD over ``horizon_months``."""
    index = scores.index
    if reference is None:
        return pd.Series(pd.NA, index=index, dtype="boolean")
    growth, watch = reference["growth"], float(reference["settings"]["watch_default_probability"])
    stage = _column(scores, "lifecycle_stage", index).astype("str")
    status = pd.to_numeric(_column(scores, "in_default", index).astype("Float64"), errors="coerce")
    in_default = status.eq(1).fillna(False)
    pd_now = pd.to_numeric(_column(scores, "default_probability", index), errors="coerce")
    pd_now = one_year_pd(pd_now, horizon_months)
    why = _column(scores, "default_not_scored_reason", index).astype("str")
    # a missing PD is known to be harmless only for a client with no exposure
    pd_known = pd_now.notna() | why.eq(NOT_SCORED["no_exposure"])
    eligible = stage.eq("active") & ~in_default & ~pd_now.ge(watch)
    expected = pd.to_numeric(_column(scores, "expected_contribution", index), errors="coerce")
    revenue = pd.Series(pd.to_numeric(pd.Series(revenue_12m), errors="coerce").to_numpy(), index)
    ratio = ref.growth_ratio(
        expected.to_numpy("float64"), revenue_12m, growth["revenue_scale"], growth["floor"]
    )
    flag = pd.Series(ratio >= float(growth["threshold"]), index=index, dtype="boolean")
    flag[~eligible.to_numpy(dtype=bool)] = False
    # fail closed: default status, PD, expected or recent revenue unknown -> no flag (NA)
    unknown = eligible & (status.isna() | ~pd_known | expected.isna() | revenue.isna())
    flag[unknown.to_numpy(dtype=bool)] = pd.NA
    return flag


def add_potential(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    *,
    horizon_months: int,
) -> pd.DataFrame:
    """``scores`` (row for row with ``features``) with the :data:`COLUMNS` (PDs over
    ``horizon_months``)."""
    reference, missing = frozen_potential(bundles)
    index = scores.index
    segment = _column(features, "segment", index)
    if "segment" in scores.columns:
        segment = segment.where(segment.notna(), scores["segment"])
    values = potential_values(
        _column(scores, "lifecycle_stage", index),
        segment,
        _column(features, "industry", index),
        _column(features, "annual_turnover", index),
        reference,
        missing,
    )
    out = scores.drop(columns=[c for c in COLUMNS if c in scores.columns])
    out = pd.concat([out, values], axis=1)
    revenue = pd.to_numeric(_column(features, "revenue_12m", index), errors="coerce")
    out["growth_potential"] = growth_flags(out, revenue, reference, horizon_months=horizon_months)
    if reference is None:
        log.warning("potential value and growth potential not computed: %s", missing)
    return out
