"""Population stability (PSI) between the training period and a scoring snapshot.

The bins and their expected (reference) shares are fixed at training and read from the
model folders (``references.json`` ``drift``: :mod:`predict.models.bins`,
:func:`predict.models.references.drift_reference`), never refitted on the data being
checked: quantile bins for numeric columns, the reference's categories for categorical
columns (the rarer ones pooled into ``(other)``, where unseen values also land), and always
a separate bin for missing values. ``PSI = sum((a - e) * ln(a / e))`` over the bins, with
shares floored at ``epsilon`` so that an empty bin does not give an infinite value.
Conventional reading: < 0.1 stable, 0.1-0.25 a shift worth a look, > 0.25 a real shift.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from predict.models.bins import Bins, bin_counts, shares_of_counts

log = logging.getLogger(__name__)

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
    """Settings of the drift check (``score.drift`` in params.yaml): the alert levels.

    How the bins are fitted is a training setting (``train.drift_reference``,
    :class:`predict.models.bins.DriftReferenceConfig`): the bins are in the model folders.
    """

    warn: float = 0.1  # PSI at or above: "warning"
    alert: float = 0.25  # PSI at or above: "alert"
    epsilon: float = 1e-4  # floor on bin shares

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "bins": "train.drift_reference.bins (the bins are fitted at training)",
        "max_categories": "train.drift_reference.max_categories",
        "reference_max_rows": "train.drift_reference.max_rows",
        "seed": "train.drift_reference.seed",
    }

    def __post_init__(self) -> None:
        if not 0 < self.warn <= self.alert:
            raise ValueError(f"score.drift: need 0 < warn <= alert, got {self.warn}, {self.alert}")
        if not 0 < self.epsilon < 1:
            raise ValueError(f"score.drift.epsilon must be in (0, 1), got {self.epsilon}")


def psi(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(np.asarray(expected, dtype="float64"), epsilon, None)
    a = np.clip(np.asarray(actual, dtype="float64"), epsilon, None)
    return float(np.sum((a - e) * np.log(a / e)))


CHANCE_SHARE = 0.25  # the chance PSI a level may carry: a quarter of the warning level
TOO_FEW = "too few rows"


def min_rows(n_bins: int, config: DriftConfig) -> int:
    """The rows a snapshot needs for its PSI over ``n_bins`` bins to mean something: an
    unchanged population shows a PSI of about ``(k - 1) / n`` by chance alone (PSI is close
    to the chi-square statistic over n), so n is at least ``(k - 1) / (CHANCE_SHARE x warn)``
    rows (440 for 12 bins at warn 0.1; one client's PSI over 12 bins is several units)."""
    return int(np.ceil((n_bins - 1) / (CHANCE_SHARE * config.warn)))


def level(value: float, config: DriftConfig, rows: int | None = None, n_bins: int = 0) -> str:
    """ok / warning / alert for ``value``; "n/a" without one; "too few rows" when ``rows``
    are fewer than :func:`min_rows` for ``n_bins`` (the PSI is still reported)."""
    if np.isnan(value):
        return "n/a"
    if rows is not None and rows < min_rows(n_bins, config):
        return TOO_FEW
    if value >= config.alert:
        return "alert"
    return "warning" if value >= config.warn else "ok"


def compare(
    reference: Iterable[Bins], current: pd.DataFrame, kind: str, config: DriftConfig
) -> pd.DataFrame:
    """One row per reference column: its PSI on ``current`` and the warning level.

    A column missing from ``current`` counts as entirely missing (all rows in the missing
    bin), which is what the scoring models see too.
    """
    reference = list(reference)
    return compare_counts(reference, count_bins(reference, current), len(current), kind, config)


def count_bins(reference: Iterable[Bins], current: pd.DataFrame) -> dict[str, np.ndarray]:
    """Column -> the number of ``current``'s rows in each of its bins (a column missing from
    ``current``: every row in the missing bin). Counts of the parts of a snapshot add up to
    the counts of the whole (what a cluster's partitions send back)."""
    out = {}
    for bins in reference:
        values = (
            current[bins.name]
            if bins.name in current.columns
            else pd.Series(np.nan, index=current.index, dtype="float64")
        )
        out[bins.name] = bin_counts(bins, values)
    return out


def compare_counts(
    reference: Iterable[Bins],
    counts: Mapping[str, np.ndarray],
    rows: int,
    kind: str,
    config: DriftConfig,
) -> pd.DataFrame:
    """:func:`compare` from the bin ``counts`` of a snapshot of ``rows`` rows."""
    out = []
    for bins in reference:
        cur = shares_of_counts(np.asarray(counts[bins.name]))
        value = psi(np.asarray(bins.reference_shares), cur, config.epsilon) if rows else np.nan
        out.append(
            {
                "variable": bins.name,
                "kind": kind,
                "psi": value,
                "level": level(value, config, rows, len(bins.reference_shares)),
                "n_bins": len(bins.reference_shares),
                "reference_rows": bins.reference_rows,
                "current_rows": rows,
                "reference_missing_share": bins.reference_shares[-1],
                "current_missing_share": float(cur[-1]) if rows else np.nan,
            }
        )
    return pd.DataFrame(out, columns=list(DRIFT_COLUMNS))


def log_warnings(drift: pd.DataFrame, config: DriftConfig) -> None:
    """Log one line per column at or above the warning level (and one for the columns not
    assessed: too few rows for their bins)."""
    few = drift[drift["level"].eq(TOO_FEW)]
    if len(few):
        log.info(
            "drift not assessed on %d column(s): %d row(s) are too few for a PSI (a few "
            "hundred at least: an extract of some clients, a small book)",
            len(few), int(few["current_rows"].iloc[0]),
        )  # fmt: skip
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
