"""Drift bins, fixed at training and frozen in the model folder (``references.json`` under
``drift``, :func:`predict.models.references.drift_reference`); scoring's PSI
(:mod:`predict.scoring.drift`) reads them and never refits them on the data it checks.

- numeric column: interior cut points at the ``bins``-quantiles of the reference's finite
  values (``numpy.quantile``, linear interpolation), each moved to the middle of the gap
  between the reference values on either side of it (a value within :data:`SAME`,
  relative, above a cut counts as at it), ties merged, so a column with few distinct values
  has fewer bins; bin ``i`` is ``(edge[i-1], edge[i]]``, the first and last open-ended. A
  cut point never sits on a reference value: a score with many clients on one value (an
  isotonic calibration's steps, a count) computed again with another rounding of its last
  bits (TreeSHAP's sum at scoring, LightGBM's prediction at training) stays in its bin;
  at the value itself a rounding of 1e-16 moved 44% of a book to the next bin (PSI 4.3);
- categorical column: the ``max_categories`` most frequent reference values (ties in count
  keep pandas' ``value_counts`` order), then ``(other)`` for the rarer ones and for values
  the reference never had;
- always a last ``(missing)`` bin (NaN, None, and for numbers also what does not parse).

Each bin carries its reference share (the shares sum to 1) and the reference row count.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

SAME = 1e-9  # reference values closer than this (relative, at least 1e-9 absolute) are one value
MISSING = "(missing)"
OTHER = "(other)"
FORMAT = "predict.drift_reference/1"
KINDS = ("numeric", "categorical")


class DriftReferenceError(ValueError):
    """A drift reference (``references.json`` ``drift``) is malformed."""


@dataclass(frozen=True)
class DriftReferenceConfig:
    """How the drift reference is fitted at training (``train.drift_reference``)."""

    bins: int = 10  # quantile bins for numeric columns (fewer when values tie), + missing
    max_categories: int = 20  # most frequent training categories kept; the rest -> (other)
    max_rows: int = 200_000  # at most this many rows per reference (a seeded sample)
    seed: int = 7  # the sample's seed

    def __post_init__(self) -> None:
        for name, low in (("bins", 2), ("max_categories", 1), ("max_rows", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"train.drift_reference.{name} must be an integer >= {low}")
        if self.seed >= 2**32:
            raise ValueError("train.drift_reference.seed must be below 2**32")


@dataclass(frozen=True)
class Bins:
    """Bins fixed on reference data, with the reference shares per bin (missing bin last)."""

    name: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...]  # numeric: interior cut points, bin i = (edge[i-1], edge[i]]
    categories: tuple[str, ...]  # categorical: kept categories; then OTHER
    reference_shares: tuple[float, ...]
    reference_rows: int

    @property
    def labels(self) -> tuple[str, ...]:
        if self.kind == "numeric":
            cuts = ("-inf", *(f"{e:.6g}" for e in self.edges), "inf")
            inner = tuple(f"({lo}, {hi}]" for lo, hi in itertools.pairwise(cuts))
        else:
            inner = (*self.categories, OTHER)
        return (*inner, MISSING)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able): what ``references.json`` keeps."""
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "reference_shares": list(self.reference_shares),
            "reference_rows": self.reference_rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bins:
        """The bins of :meth:`to_dict`; :class:`DriftReferenceError` when malformed."""
        try:
            bins = cls(
                name=str(data["name"]),
                kind=data["kind"],
                edges=tuple(float(e) for e in data["edges"]),
                categories=tuple(str(c) for c in data["categories"]),
                reference_shares=tuple(float(s) for s in data["reference_shares"]),
                reference_rows=int(data["reference_rows"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DriftReferenceError(f"malformed bins ({exc!r})") from exc
        bins.check()
        return bins

    def check(self) -> None:
        """Raise :class:`DriftReferenceError` unless the bins are consistent."""
        where = f"bins of {self.name!r}"
        if self.kind not in KINDS:
            raise DriftReferenceError(f"{where}: kind {self.kind!r} is not one of {KINDS}")
        inner = len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1
        if len(self.reference_shares) != inner + 1:
            n = len(self.reference_shares)
            raise DriftReferenceError(f"{where}: {n} shares for {inner + 1} bins")
        edges = np.asarray(self.edges, dtype="float64")
        if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
            raise DriftReferenceError(f"{where}: edges must be finite and increasing")
        shares_ = np.asarray(self.reference_shares, dtype="float64")
        if self.reference_rows < 1 or (shares_ < 0).any() or abs(shares_.sum() - 1.0) > 1e-9:
            raise DriftReferenceError(f"{where}: needs reference rows and shares >= 0 summing to 1")


def _bin_index(bins: Bins, values: pd.Series) -> np.ndarray:
    """Bin number of every value; the missing bin is the last one."""
    n_inner = len(bins.reference_shares) - 1
    if bins.kind == "numeric":
        arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        idx: np.ndarray = np.searchsorted(np.asarray(bins.edges, dtype="float64"), arr, side="left")
        missing = np.isnan(arr)
    else:
        strings = values.astype("string")
        missing = strings.isna().to_numpy()
        lookup = {c: i for i, c in enumerate(bins.categories)}
        codes = strings.map(lookup)  # NaN where unknown or missing
        idx = codes.fillna(len(bins.categories)).to_numpy(dtype="int64")
    return np.where(missing, n_inner, idx)


def bin_counts(bins: Bins, values: pd.Series) -> np.ndarray:
    """Number of ``values`` in each of ``bins`` (int64; the missing bin last). Counts of
    parts of a column add up to the counts of the whole column."""
    return np.bincount(_bin_index(bins, values), minlength=len(bins.reference_shares))


def shares_of_counts(counts: np.ndarray) -> np.ndarray:
    """The shares of bin ``counts`` (sums to 1; zeros when there is no value)."""
    total = counts.sum()
    return counts / total if total else counts.astype("float64")


def shares(bins: Bins, values: pd.Series) -> np.ndarray:
    """Share of ``values`` in each of ``bins`` (sums to 1; zeros for an empty series)."""
    return shares_of_counts(bin_counts(bins, values))


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def gap_edges(values: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Each cut point moved to the middle of the gap between the reference ``values`` on
    either side of it: the largest value at most the cut plus :data:`SAME` (relative; so a
    value a rounding above the cut counts as at it) and the next larger one; a cut with no
    larger value is dropped; increasing, without repeats. Values are not chained into
    groups beyond that: a dense feature (utilisation) has neighbours 1e-9 apart all along.

    >>> gap_edges(np.array([1.0, 1.0, 1.0, 2.0, 4.0]), np.array([1.0, 1.0, 3.0, 4.0]))
    array([1.5, 3. ])
    """
    u = np.unique(values)
    out = []
    for cut in np.unique(cuts):
        reach = cut + SAME * max(1.0, abs(float(cut)))
        i = int(np.searchsorted(u, reach, side="right"))  # u[i]: first value beyond the cut
        if i == 0 or i >= len(u):
            continue  # no reference value below (cannot happen for a quantile) or above
        out.append(u[i - 1] + (u[i] - u[i - 1]) / 2)
    return np.unique(np.asarray(out, dtype="float64"))


def fit_bins(
    values: pd.Series,
    name: str,
    config: DriftReferenceConfig,
    categorical: bool | None = None,
) -> Bins:
    """Fix the bins of one column on its reference ``values`` (``categorical``: None = by
    dtype, numbers but not booleans are numeric)."""
    if len(values) == 0:
        raise DriftReferenceError(f"no reference rows for the bins of {name!r}")
    present = values.dropna()
    if not (is_numeric(values) if categorical is None else not categorical):
        top = present.astype("string").value_counts().head(config.max_categories)
        cats = tuple(str(c) for c in top.index)
        draft = Bins(name, "categorical", (), cats, (0.0,) * (len(cats) + 2), 0)
    else:
        arr = pd.to_numeric(present, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        arr = arr[np.isfinite(arr)]
        qs = np.linspace(0, 1, config.bins + 1)[1:-1]
        edges = gap_edges(arr, np.quantile(arr, qs)) if arr.size else np.array([])
        cuts = tuple(float(e) for e in edges)
        draft = Bins(name, "numeric", cuts, (), (0.0,) * (len(edges) + 2), 0)
    ref = shares(draft, values)
    return Bins(draft.name, draft.kind, draft.edges, draft.categories, tuple(ref), len(values))


def sample_rows(frame: pd.DataFrame, config: DriftReferenceConfig) -> pd.DataFrame:
    """``frame``, or a sample of ``config.max_rows`` of its rows drawn with ``config.seed``."""
    if len(frame) <= config.max_rows:
        return frame
    return frame.sample(config.max_rows, random_state=config.seed)


def check(reference: Any) -> None:
    """Raise :class:`DriftReferenceError` unless ``reference`` is a frozen drift reference
    (:func:`predict.models.references.drift_reference`)."""
    if not isinstance(reference, Mapping) or reference.get("format") != FORMAT:
        raise DriftReferenceError(f"not a drift reference (format {FORMAT!r} expected)")
    features = reference.get("features")
    if not isinstance(features, Mapping) or not isinstance(features.get("bins"), list):
        raise DriftReferenceError("drift reference: 'features' needs a list of 'bins'")
    score = reference.get("score")
    if not isinstance(score, Mapping) or not isinstance(score.get("bins"), Mapping):
        raise DriftReferenceError("drift reference: 'score' needs its 'bins'")
    names = [Bins.from_dict(b).name for b in features["bins"]]
    if len(set(names)) != len(names):
        raise DriftReferenceError("drift reference: a feature has two sets of bins")
    Bins.from_dict(score["bins"])


def feature_bins(reference: Mapping[str, Any]) -> list[Bins]:
    """The feature bins of a checked drift reference, in the model's feature order."""
    return [Bins.from_dict(b) for b in reference["features"]["bins"]]


def score_bins(reference: Mapping[str, Any]) -> Bins:
    """The score bins of a checked drift reference."""
    return Bins.from_dict(reference["score"]["bins"])


def fit_frame(
    frame: pd.DataFrame,
    names: Sequence[str],
    config: DriftReferenceConfig,
    categorical: Sequence[str] = (),
) -> list[Bins]:
    """Bins of each of ``names`` (all columns of ``frame``), categorical for ``categorical``."""
    return [fit_bins(frame[n], n, config, categorical=n in categorical) for n in names]
