"""Population stability (PSI) between the training period and a scoring snapshot.

Bins are fixed on the reference (training) data and never refitted on the data being
checked: quantile bins for numeric columns, the reference's categories for categorical
columns (the rarer ones pooled into ``other``, where unseen values also land), and always a
separate bin for missing values. ``PSI = sum((a - e) * ln(a / e))`` over the bins, with
shares floored at ``epsilon`` so that an empty bin does not give an infinite value.
Conventional reading: < 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 a real shift.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MISSING = "(missing)"
OTHER = "(other)"
DRIFT_COLUMNS = (
    "variable",
    "kind",
    "psi",
    "level",
    "n_bins",
    "reference_rows",
    "current_rows",
    "reference_missing_share",
    "current_missing_share",
)


@dataclass(frozen=True)
class DriftConfig:
    """Settings of the drift check (``score.drift`` in params.yaml)."""

    bins: int = 10  # quantile bins for numeric columns (fewer when values tie)
    max_categories: int = 20  # most frequent reference categories kept; the rest -> other
    warn: float = 0.1  # PSI at or above: "warning"
    alert: float = 0.25  # PSI at or above: "alert"
    epsilon: float = 1e-4  # floor on bin shares
    reference_max_rows: int = 200_000  # sample of the training rows used as reference
    seed: int = 7


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
        """Plain data (JSON-able), e.g. to keep the training distribution in model metadata."""
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
        return cls(
            name=str(data["name"]),
            kind=data["kind"],
            edges=tuple(float(e) for e in data["edges"]),
            categories=tuple(str(c) for c in data["categories"]),
            reference_shares=tuple(float(s) for s in data["reference_shares"]),
            reference_rows=int(data["reference_rows"]),
        )


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


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


def shares(bins: Bins, values: pd.Series) -> np.ndarray:
    """Share of ``values`` in each of ``bins`` (sums to 1; zeros for an empty series)."""
    counts = np.bincount(_bin_index(bins, values), minlength=len(bins.reference_shares))
    total = counts.sum()
    return counts / total if total else counts.astype("float64")


def fit_bins(values: pd.Series, name: str, config: DriftConfig) -> Bins:
    """Fix the bins of one column on its reference values."""
    present = values.dropna()
    if is_numeric(values):
        arr = present.to_numpy(dtype="float64")
        arr = arr[np.isfinite(arr)]
        qs = np.linspace(0, 1, config.bins + 1)[1:-1]
        edges = np.unique(np.quantile(arr, qs)) if arr.size else np.array([])
        draft = Bins(
            name, "numeric", tuple(float(e) for e in edges), (), (0.0,) * (len(edges) + 2), 0
        )
    else:
        top = present.astype("string").value_counts().head(config.max_categories)
        cats = tuple(str(c) for c in top.index)
        draft = Bins(name, "categorical", (), cats, (0.0,) * (len(cats) + 2), 0)
    ref = shares(draft, values)
    return Bins(draft.name, draft.kind, draft.edges, draft.categories, tuple(ref), len(values))


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype="float64"), epsilon, None)
    a = np.clip(np.asarray(actual, dtype="float64"), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


def level(value: float, config: DriftConfig) -> str:
    if np.isnan(value):
        return "n/a"
    if value >= config.alert:
        return "alert"
    return "warning" if value >= config.warn else "ok"


def fit_reference(frame: pd.DataFrame, columns: Iterable[str], config: DriftConfig) -> list[Bins]:
    """Bins for each of ``columns`` of the reference frame (columns absent are skipped)."""
    return [fit_bins(frame[c], c, config) for c in columns if c in frame.columns]


def compare(
    reference: Iterable[Bins], current: pd.DataFrame, kind: str, config: DriftConfig
) -> pd.DataFrame:
    """One row per reference column: its PSI on ``current`` and the warning level.

    A column missing from ``current`` counts as entirely missing (all rows in the missing
    bin), which is what the scoring models see too.
    """
    rows = []
    for bins in reference:
        values = (
            current[bins.name]
            if bins.name in current.columns
            else pd.Series(np.nan, index=current.index, dtype="float64")
        )
        cur = shares(bins, values)
        value = (
            psi(np.asarray(bins.reference_shares), cur, config.epsilon) if len(values) else np.nan
        )
        rows.append(
            {
                "variable": bins.name,
                "kind": kind,
                "psi": value,
                "level": level(value, config),
                "n_bins": len(bins.reference_shares),
                "reference_rows": bins.reference_rows,
                "current_rows": len(values),
                "reference_missing_share": bins.reference_shares[-1],
                "current_missing_share": float(cur[-1]) if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))


def log_warnings(drift: pd.DataFrame, config: DriftConfig) -> None:
    """Log one line per column at or above the warning level."""
    flagged = drift[drift["level"].isin(["warning", "alert"])].sort_values("psi", ascending=False)
    for row in flagged.itertuples():
        log.warning(
            "drift %s on %s %r: PSI %.3f (warn >= %.2f, alert >= %.2f)",
            row.level,
            row.kind,
            row.variable,
            row.psi,
            config.warn,
            config.alert,
        )
