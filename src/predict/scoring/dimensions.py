"""The five relationship dimensions and the relationship index, per client (``score.dimensions``).

Each dimension (satisfaction, loyalty, retention, contribution, trust) is a score 0-100:
the weighted mean of its inputs' anchor scores. An input is a column (a feature at the
as-of date, a model output, or a contribution percentile below) with a weight and fixed
piecewise-linear anchors ``[[x0, s0], [x1, s1], ...]`` (x increasing, s in 0-100 and
monotone: all non-decreasing or all non-increasing): a value between two anchors is
interpolated, one beyond the first or last takes that anchor's score. Anchors are fixed in
params, never fitted to the scored portfolio: a client's dimension scores depend only on its
own data and the model folders.

- An input whose value is missing is dropped from the mean (the others' weights are
  renormalised). A dimension with no known input, or none of its ``requires_any`` inputs
  (e.g. satisfaction needs a survey answer: "no complaint" alone says little), is missing
  (NaN) and ``<dimension>_reason`` says why; otherwise ``<dimension>_reason`` renders the
  strongest input in plain words: the one with the largest ``weight x |score - 50|``.
- ``expected_contribution_percentile``: the client's expected contribution placed among the
  contribution model's expected contributions for the test split's clients of its segment
  (predictions among predictions: the latest labelled date, held out of the trees' fit);
  ``realised_contribution_percentile``: its ``revenue_12m`` among theirs. Both read the
  percentiles frozen at training in the contribution model folder (``references.json``,
  ``contribution_quantiles``: :mod:`predict.models.references`); a segment with fewer than
  ``contribution_min_rows`` training rows, or unseen, is placed among all training rows.
  A value between two percentiles is interpolated; one equal to several (ties, e.g. many
  zero revenues) takes their middle rank.
- A cap ``{feature, at_least, max_score}``: a client whose ``feature`` is at least
  ``at_least`` scores at most ``max_score`` (the lowest of the caps it hits), and the
  dimension is known for it even without a ``requires_any`` input: the fact is evidence
  enough. A binding cap is the reason. Trust: a client in default scores at most 10.
- ``relationship_index``: the weighted mean (``weights``) of the dimensions known;
  ``relationship_dimensions``: how many that is; the index is missing below
  ``min_dimensions``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

REALISED_COLUMN = "revenue_12m"  # as frozen: predict.models.references.REALISED_COLUMN
DIMENSIONS = ("satisfaction", "loyalty", "retention", "contribution", "trust")
EXPECTED_PERCENTILE = "expected_contribution_percentile"
REALISED_PERCENTILE = "realised_contribution_percentile"
# Inputs that are not catalogue features: the column and its plain-words template.
DERIVED_INPUTS = {
    "churn_probability": "Churn probability of {value:.0%} over the horizon",
    EXPECTED_PERCENTILE: "Expected contribution at percentile {value:.0f} of {basis}",
    REALISED_PERCENTILE: "Revenue of the last 12 months at percentile {value:.0f} of {basis}",
}
DIMENSION_COLUMNS = (
    *(f"{d}_score" for d in DIMENSIONS),
    "relationship_index",
    "relationship_dimensions",
    *(f"{d}_reason" for d in DIMENSIONS),
    EXPECTED_PERCENTILE,
    REALISED_PERCENTILE,
    "contribution_basis",
)


def _known_inputs() -> frozenset[str]:
    from predict.features.catalogue import FEATURES

    return frozenset(FEATURES) | frozenset(DERIVED_INPUTS)


@dataclass(frozen=True)
class DimensionInput:
    """One input of a dimension: a column, its weight and its anchors ``[[x, score], ...]``."""

    feature: str
    weight: float
    anchors: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        where = f"input {self.feature!r}"
        if self.feature not in _known_inputs():
            raise ValueError(
                f"{where}: unknown input; use a catalogue feature (docs/features.md) or one "
                f"of {sorted(DERIVED_INPUTS)}"
            )
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"{where}: weight must be > 0, got {self.weight}")
        if len(self.anchors) < 2 or any(len(a) != 2 for a in self.anchors):
            raise ValueError(f"{where}: anchors must be at least two [x, score] pairs")
        xs, ss = self.xs, self.scores
        if not np.all(np.isfinite(xs)) or np.any(np.diff(xs) <= 0):
            raise ValueError(f"{where}: anchor x values must increase strictly, got {list(xs)}")
        if np.any((ss < 0) | (ss > 100)) or not np.all(np.isfinite(ss)):
            raise ValueError(f"{where}: anchor scores must lie in 0-100, got {list(ss)}")
        steps = np.diff(ss)
        if np.any(steps > 0) and np.any(steps < 0):
            raise ValueError(
                f"{where}: anchor scores must be monotone (all rising or all falling), "
                f"got {list(ss)}"
            )

    @property
    def xs(self) -> np.ndarray:
        return np.array([a[0] for a in self.anchors], dtype="float64")

    @property
    def scores(self) -> np.ndarray:
        return np.array([a[1] for a in self.anchors], dtype="float64")

    def score(self, values: pd.Series) -> pd.Series:
        """The anchor score of each value (missing stays missing)."""
        x = pd.to_numeric(values, errors="coerce").astype("float64")
        out = np.interp(x.fillna(0.0).to_numpy(), self.xs, self.scores)
        return pd.Series(out, index=values.index).where(x.notna())


def _inputs(*rows: tuple[str, float, list[list[float]]]) -> tuple[DimensionInput, ...]:
    return tuple(DimensionInput(f, w, tuple(tuple(a) for a in an)) for f, w, an in rows)


@dataclass(frozen=True)
class DimensionCap:
    """A ceiling on a dimension: a client whose ``feature`` is at least ``at_least`` scores
    at most ``max_score``, and the dimension is known for it (the fact is evidence enough)."""

    feature: str
    at_least: float
    max_score: float

    def __post_init__(self) -> None:
        if self.feature not in _known_inputs():
            raise ValueError(f"cap {self.feature!r}: unknown input")
        if not math.isfinite(self.at_least):
            raise ValueError(f"cap {self.feature!r}: at_least must be finite")
        if not 0 <= self.max_score <= 100:
            raise ValueError(f"cap {self.feature!r}: max_score must lie in 0-100")


@dataclass(frozen=True)
class DimensionConfig:
    """One dimension: its weight in the index, its inputs, the inputs one of which it needs,
    and its caps."""

    weight: float = 1.0
    inputs: tuple[DimensionInput, ...] = ()
    requires_any: tuple[str, ...] = ()
    caps: tuple[DimensionCap, ...] = ()

    def __post_init__(self) -> None:
        if not (self.weight >= 0 and math.isfinite(self.weight)):
            raise ValueError(f"weight must be >= 0, got {self.weight}")
        if not self.inputs:
            raise ValueError("a dimension needs at least one input")
        names = [i.feature for i in self.inputs]
        if len(set(names)) != len(names):
            raise ValueError(f"an input is given twice: {names}")
        stray = sorted(set(self.requires_any) - set(names))
        if stray:
            raise ValueError(f"requires_any names {stray}, which are not among its inputs")
        capped = [c.feature for c in self.caps]
        if len(set(capped)) != len(capped):
            raise ValueError(f"a cap is given twice: {capped}")


def _satisfaction() -> DimensionConfig:
    return DimensionConfig(
        inputs=_inputs(
            ("csat_mean_12m", 3.0, [[1, 0], [3, 40], [4, 70], [5, 100]]),
            ("csat_trend_12m", 1.0, [[-1.5, 0], [0, 70], [1, 100]]),
            ("survey_score_all", 1.0, [[0, 0], [0.5, 40], [1, 100]]),
            ("complaints_12m", 1.5, [[0, 100], [1, 60], [2, 35], [4, 0]]),
            ("survey_nonresponse_12m", 0.5, [[0, 100], [0.5, 60], [1, 20]]),
        ),
        # a CSAT answer in the last 12 months: an old answer alone (survey_score_all) is no
        # measure of satisfaction today, and "no complaint" would then carry the score
        requires_any=("csat_mean_12m",),
    )


def _loyalty() -> DimensionConfig:
    return DimensionConfig(
        inputs=_inputs(
            ("nps_mean_12m", 2.0, [[0, 0], [6, 40], [8, 70], [10, 100]]),
            ("tenure_months", 1.0, [[0, 0], [24, 50], [60, 80], [120, 100]]),
            ("n_products", 1.0, [[0, 0], [1, 40], [2, 70], [3, 100]]),
            ("services_held_3m", 0.5, [[0, 30], [1, 60], [3, 100]]),
            ("repeat_financings", 1.0, [[0, 30], [1, 60], [2, 80], [4, 100]]),
        ),
    )


def _retention() -> DimensionConfig:
    return DimensionConfig(
        inputs=_inputs(
            ("churn_probability", 2.0, [[0, 100], [1, 0]]),
            ("months_since_revenue", 1.0, [[0, 100], [3, 70], [6, 30], [12, 0]]),
        ),
    )


def _contribution() -> DimensionConfig:
    return DimensionConfig(
        inputs=_inputs(
            (EXPECTED_PERCENTILE, 1.0, [[0, 0], [100, 100]]),
            (REALISED_PERCENTILE, 1.0, [[0, 0], [100, 100]]),
        ),
    )


def _trust() -> DimensionConfig:
    return DimensionConfig(
        inputs=_inputs(
            ("max_dpd_12m", 2.0, [[0, 100], [30, 50], [90, 0]]),
            ("current_dpd", 1.0, [[0, 100], [30, 40], [90, 0]]),
            ("covenant_breach_24m", 1.0, [[0, 100], [1, 50], [3, 0]]),
            ("watchlist_24m", 1.0, [[0, 100], [1, 40], [2, 0]]),
            ("restructuring_24m", 1.0, [[0, 100], [1, 30], [2, 0]]),
            ("ever_defaulted", 1.0, [[0, 100], [1, 0]]),
            ("repeat_financings", 1.0, [[0, 40], [1, 70], [3, 100]]),
            ("months_to_last_maturity", 0.5, [[0, 30], [36, 70], [84, 100]]),
            ("survey_response_all", 0.5, [[0, 30], [1, 100]]),
        ),
        requires_any=("max_dpd_12m", "current_dpd"),
        # a client in default: the bank's trust is at most 10, whatever its other inputs
        # say, and known even when its facilities no longer report a balance (801 of the
        # 1,260 clients in default of the synthetic book's scoring had no trust score, and
        # those with one read 25-85 through their 0-count event inputs)
        caps=(DimensionCap("in_default", 1.0, 10.0),),
    )


@dataclass(frozen=True)
class DimensionsConfig:
    """``score.dimensions`` in params.yaml."""

    min_dimensions: int = 3  # the index needs at least this many known dimensions
    contribution_min_rows: int = 50  # training rows of a segment to place clients within it
    satisfaction: DimensionConfig = field(default_factory=_satisfaction)
    loyalty: DimensionConfig = field(default_factory=_loyalty)
    retention: DimensionConfig = field(default_factory=_retention)
    contribution: DimensionConfig = field(default_factory=_contribution)
    trust: DimensionConfig = field(default_factory=_trust)

    def __post_init__(self) -> None:
        if not 1 <= self.min_dimensions <= len(DIMENSIONS):
            raise ValueError(
                f"min_dimensions must be 1-{len(DIMENSIONS)}, got {self.min_dimensions}"
            )
        if self.contribution_min_rows < 1:
            raise ValueError("contribution_min_rows must be >= 1")
        if sum(self.dimension(d).weight for d in DIMENSIONS) <= 0:
            raise ValueError("at least one dimension needs a weight > 0")

    def dimension(self, name: str) -> DimensionConfig:
        value: DimensionConfig = getattr(self, name)
        return value


def percentile_of(values: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Percentile (0-100) of each value among the frozen ``quantiles`` at ``levels``: the
    middle level of tied quantiles for a value equal to them; between two distinct
    quantiles, linear from the last level of the lower to the first level of the upper
    (so a value just above a mass of ties reads the share at or below it, not its middle);
    0 below the first, 100 above the last; missing stays missing."""
    values = np.asarray(values, dtype="float64")
    unique, first = np.unique(quantiles, return_index=True)
    last = len(quantiles) - 1 - np.unique(quantiles[::-1], return_index=True)[1]
    lo_level, hi_level = levels[last].astype("float64"), levels[first].astype("float64")
    middle = (lo_level + hi_level) / 2.0
    top = len(unique) - 1
    filled = np.where(np.isnan(values), unique[0], values)
    pos = np.clip(np.searchsorted(unique, filled), 0, top)  # first distinct quantile >= value
    exact = unique[pos] == filled
    lo, hi = np.clip(pos - 1, 0, top), pos
    span = unique[hi] - unique[lo]
    frac = np.divide(filled - unique[lo], span, out=np.zeros_like(filled), where=span > 0)
    between = lo_level[lo] + frac * (hi_level[hi] - lo_level[lo])
    out = np.where(exact, middle[pos], between)
    out = np.where(filled < unique[0], 0.0, np.where(filled > unique[-1], 100.0, out))
    return np.where(np.isnan(values), np.nan, out)


def contribution_percentiles(
    scores: pd.DataFrame,
    realised: pd.Series,
    reference: Mapping[str, Any] | None,
    min_rows: int,
) -> pd.DataFrame:
    """The two contribution percentiles of each client and the basis each rests on (its
    segment, or all training rows); all missing without a frozen reference."""
    out = pd.DataFrame(index=scores.index)
    out[EXPECTED_PERCENTILE] = np.nan
    out[REALISED_PERCENTILE] = np.nan
    out["contribution_basis"] = pd.Series(pd.NA, index=scores.index, dtype="str")
    if reference is None:
        return out
    levels = np.asarray(reference["levels"], dtype="float64")
    segments = reference["segments"]
    segment = scores["segment"].astype("str")
    values = {
        EXPECTED_PERCENTILE: ("expected", scores["expected_contribution"].astype("float64")),
        REALISED_PERCENTILE: ("realised", realised.astype("float64")),
    }
    for name in [*segments, None]:
        block = segments[name] if name is not None else reference["all"]
        if name is not None and block["rows"] < min_rows:
            continue
        in_block = segment.eq(name) if name is not None else out["contribution_basis"].isna()
        rows = in_block.fillna(False).to_numpy(dtype=bool)
        if not rows.any():
            continue
        basis = f"segment {name}" if name is not None else "all clients at training"
        out.loc[rows, "contribution_basis"] = basis
        for column, (key, series) in values.items():
            if block[key] is not None:
                q = np.asarray(block[key], dtype="float64")
                out.loc[rows, column] = percentile_of(series.to_numpy()[rows], q, levels)
    return out


def _render(feature: str, value: float, basis: object) -> str:
    if feature in DERIVED_INPUTS:
        return DERIVED_INPUTS[feature].format(value=value, basis=basis)
    from predict.features.catalogue import FEATURES

    return FEATURES[feature].render(value)


def score_dimension(
    frame: pd.DataFrame, config: DimensionConfig, why_missing: Mapping[str, str]
) -> tuple[pd.Series, pd.Series]:
    """A dimension's score and reason for each row of ``frame`` (which holds the inputs;
    an input absent from it is missing for every row, ``why_missing`` may say why)."""
    n = len(frame)
    total = np.zeros(n)
    weights = np.zeros(n)
    parts: dict[str, np.ndarray] = {}
    for item in config.inputs:
        column = frame[item.feature] if item.feature in frame.columns else None
        s = item.score(column) if column is not None else pd.Series(np.nan, index=frame.index)
        known = s.notna().to_numpy()
        parts[item.feature] = s.to_numpy(dtype="float64")
        total += np.where(known, s.fillna(0.0).to_numpy() * item.weight, 0.0)
        weights += np.where(known, item.weight, 0.0)
    score = np.where(weights > 0, total / np.where(weights > 0, weights, 1.0), np.nan)
    needed = np.ones(n, dtype=bool)
    if config.requires_any:
        known_any = np.column_stack([~np.isnan(parts[f]) for f in config.requires_any])
        needed = np.asarray(known_any.any(axis=1), dtype=bool)
    # the caps: the lowest ceiling among those hit binds when it is below the mean
    ceiling, binding = np.full(n, np.inf), np.full(n, -1)
    for k, cap in enumerate(config.caps):
        value = (
            pd.to_numeric(frame[cap.feature], errors="coerce").to_numpy(dtype="float64")
            if cap.feature in frame.columns
            else np.full(n, np.nan)
        )
        lower = (np.nan_to_num(value, nan=-np.inf) >= cap.at_least) & (cap.max_score < ceiling)
        ceiling, binding = np.where(lower, cap.max_score, ceiling), np.where(lower, k, binding)
    binds = (binding >= 0) & ~(score <= ceiling)  # NaN mean: the ceiling is the score
    score = np.where(binds, ceiling, score)
    needed |= binding >= 0
    score = np.where(needed, score, np.nan)
    reasons = _reasons(frame, config, parts, score, needed, why_missing)
    for k, cap in enumerate(config.caps):  # a binding cap is the reason
        rows = np.flatnonzero(binds & (binding == k))
        if len(rows):
            value = pd.to_numeric(frame[cap.feature], errors="coerce").to_numpy(dtype="float64")
            texts = [_render(cap.feature, float(v), None) for v in value[rows]]
            reasons.iloc[rows] = pd.Series(texts, index=reasons.index[rows], dtype="str")
    return pd.Series(score, index=frame.index, dtype="float64"), reasons


def _reasons(
    frame: pd.DataFrame,
    config: DimensionConfig,
    parts: Mapping[str, np.ndarray],
    score: np.ndarray,
    needed: np.ndarray,
    why_missing: Mapping[str, str],
) -> pd.Series:
    names = [i.feature for i in config.inputs]
    weight = np.array([i.weight for i in config.inputs])
    stacked = np.column_stack([parts[f] for f in names])
    pull = np.where(np.isnan(stacked), -1.0, np.abs(stacked - 50.0) * weight)
    strongest = pull.argmax(axis=1)
    values = {
        f: pd.to_numeric(frame[f], errors="coerce").to_numpy(dtype="float64")
        for f in names
        if f in frame.columns
    }
    basis = frame.get("contribution_basis", pd.Series(pd.NA, index=frame.index)).to_numpy()
    absent = "; ".join(why_missing[f] for f in names if f in why_missing)
    unmet = f"not scored: needs one of {', '.join(config.requires_any)}"
    empty = f"not scored: none of {', '.join(names)} known" + (f" ({absent})" * bool(absent))
    out = []
    for row in range(len(frame)):
        if not np.isnan(score[row]):
            f = names[strongest[row]]
            out.append(_render(f, float(values[f][row]), basis[row]))
        else:
            out.append(unmet if not needed[row] and not np.isnan(stacked[row]).all() else empty)
    return pd.Series(out, index=frame.index, dtype="str")


def relationship_index(dims: pd.DataFrame, config: DimensionsConfig) -> tuple[pd.Series, pd.Series]:
    """The weighted mean of the known dimensions and how many it rests on (missing below
    ``min_dimensions``)."""
    weights = np.array([config.dimension(d).weight for d in DIMENSIONS])
    values = dims[[f"{d}_score" for d in DIMENSIONS]].to_numpy(dtype="float64")
    known = ~np.isnan(values)
    # Summed dimension by dimension in a fixed order, element-wise: a matrix product (BLAS)
    # rounds a row differently with the number of rows and the CPU, and a client's index
    # must be the same bits alone as within the book.
    total = np.zeros(len(values))
    wsum = np.zeros(len(values))
    for j, weight in enumerate(weights):
        total += np.where(known[:, j], values[:, j] * weight, 0.0)
        wsum += np.where(known[:, j], weight, 0.0)
    count = known.sum(axis=1)
    index = np.where(
        (count >= config.min_dimensions) & (wsum > 0), total / np.where(wsum > 0, wsum, 1), np.nan
    )
    return (
        pd.Series(index, index=dims.index, dtype="float64"),
        pd.Series(count, index=dims.index, dtype="int64"),
    )


def add_dimensions(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    contribution_reference: Mapping[str, Any] | None,
    config: DimensionsConfig,
) -> pd.DataFrame:
    """:data:`DIMENSION_COLUMNS` on ``scores`` (one row per client), from its own columns
    (model outputs, segment) and the client's ``features`` at the as-of date."""
    wanted = {i.feature for d in DIMENSIONS for i in config.dimension(d).inputs}
    capped = {c.feature for d in DIMENSIONS for c in config.dimension(d).caps}
    # an input is a feature or a column of the scores (a model output: churn_probability)
    needed = (wanted | capped | {REALISED_COLUMN}) & (set(features.columns) | set(scores.columns))
    from_features = sorted(needed - set(scores.columns))
    frame = scores[["client_id"]].merge(
        features[["client_id", *from_features]].astype({"client_id": "str"}),
        on="client_id",
        how="left",
        validate="one_to_one",
    )
    frame.index = scores.index
    for column in sorted(needed & set(scores.columns)):
        frame[column] = scores[column]
    realised = frame.get(REALISED_COLUMN, pd.Series(np.nan, index=scores.index))
    pct = contribution_percentiles(
        scores, realised, contribution_reference, config.contribution_min_rows
    )
    frame = pd.concat([frame, pct], axis=1)
    why = {f: f"{f} not in this scoring's data" for f in wanted if f not in frame.columns}
    if contribution_reference is None:
        note = "no contribution_quantiles in the contribution model folder: retrain it"
        why |= {EXPECTED_PERCENTILE: note, REALISED_PERCENTILE: note}
    out = scores.copy()
    for column in pct.columns:  # the percentiles themselves (action rules may test them)
        out[column] = pct[column]
    for d in DIMENSIONS:
        out[f"{d}_score"], out[f"{d}_reason"] = score_dimension(frame, config.dimension(d), why)
    out["relationship_index"], out["relationship_dimensions"] = relationship_index(out, config)
    return out


def frozen_contribution_quantiles(bundles: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The contribution model folder's ``contribution_quantiles`` (None, said once, when
    there is no contribution model or it was trained before they were frozen)."""
    bundle = bundles.get("contribution")
    reference = None if bundle is None else bundle.references.get("contribution_quantiles")
    if reference is None:
        log.warning(
            "no contribution_quantiles in the contribution model folder: contribution_score "
            "is missing (retrain the contribution model to freeze them)"
        )
    return reference
