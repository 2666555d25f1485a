"""Rating grades on a master scale, and their migration since the previous scoring.

The master scale (``score.grades``) cuts the one-year default probability at ascending
upper bounds, as a bank's master scale does: grade ``names[i]`` holds ``bounds[i-1] <= PD <
bounds[i]`` (the first from 0, the last up to PD < 1), PD being the model's PD over the
horizon H made annual, ``1 - (1 - PD_H) ^ (12 / H)`` (PD_H itself for H = 12; as the capital
formula takes it, :func:`predict.scoring.value.one_year_pd`); a client in default
(``in_default``, or PD >= 1) gets ``default_grade``. A client with no model PD gets no grade
(missing). Notches count grades along the scale, so
``grade_change = index(now) - index(before)`` is positive for a downgrade (the default grade
is the last notch).

The previous grade is decided client by client: the grade the previous scores file reported
(``rating_grade``) when it is a grade of today's scale, else the previous PD placed on today's
scale. The migration matrix counts today's clients by (previous grade, grade), with
``(none)`` for a client that had no grade before or has none now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predict.scoring.value import one_year_pd

log = logging.getLogger(__name__)

NONE = "(none)"
MIGRATION_COLUMNS = (
    "previous_as_of",
    "as_of",
    "previous_grade",
    "rating_grade",
    "clients",
    "share",
)


def _default_bounds() -> tuple[float, ...]:
    return (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 1.0)


@dataclass(frozen=True)
class GradesConfig:
    """``score.grades`` in params.yaml."""

    bounds: tuple[float, ...] = field(default_factory=_default_bounds)  # upper PD bounds
    names: tuple[str, ...] = ()  # one per bound; empty: "1", "2", ...
    default_grade: str = "D"

    def __post_init__(self) -> None:
        b = np.asarray(self.bounds, dtype="float64")
        if b.size == 0 or np.any(np.diff(b) <= 0) or b[0] <= 0 or b[-1] > 1:
            raise ValueError("score.grades.bounds must rise strictly, within (0, 1]")
        if self.names and len(self.names) != b.size:
            raise ValueError("score.grades.names needs one name per bound")
        if len(set(self.scale)) != len(self.scale):
            raise ValueError("score.grades: grade names must differ")

    @property
    def scale(self) -> tuple[str, ...]:
        """Every grade, best first, the default grade last."""
        names = self.names or tuple(str(i + 1) for i in range(len(self.bounds)))
        return (*names, self.default_grade)


def grade_of(
    pd_: pd.Series, in_default: pd.Series | None, config: GradesConfig, horizon_months: int = 12
) -> pd.Series:
    """The master-scale grade of each PD over ``horizon_months`` (placed at its one-year
    equivalent; missing where the PD is; default grade in default)."""
    p = one_year_pd(pd_, horizon_months).to_numpy()  # PD 1 stays 1
    idx = np.searchsorted(np.asarray(config.bounds), p, side="right")
    idx = np.minimum(idx, len(config.bounds) - 1)
    defaulted = p >= 1.0
    if in_default is not None:
        defaulted |= in_default.fillna(False).to_numpy(dtype=bool)
    scale = np.asarray(config.scale, dtype=object)
    grade = pd.Series(np.where(defaulted, config.default_grade, scale[idx]), index=pd_.index)
    return grade.where(~(np.isnan(p) & ~defaulted)).astype("str")


def notch(grade: pd.Series, config: GradesConfig) -> pd.Series:
    """Position on the scale (0 = best; missing where there is no grade)."""
    order = {g: float(i) for i, g in enumerate(config.scale)}
    return grade.map(order).astype("float64")


def previous_grades(
    previous: pd.DataFrame | None, config: GradesConfig, horizon_months: int = 12
) -> pd.DataFrame | None:
    """client_id and previous_rating_grade, decided row by row: the reported ``rating_grade``
    where it is a grade of today's scale, else the previous PD (over ``horizon_months``; and
    ``in_default``) placed on today's scale. Each client's previous grade depends only on its
    own previous row."""
    if previous is None or "default_probability" not in previous.columns:
        return None
    prev = previous.drop_duplicates("client_id", keep="last")
    grade = grade_of(prev["default_probability"], prev.get("in_default"), config, horizon_months)
    reported = prev.get("rating_grade")
    if reported is not None:
        on_scale = reported.isin(config.scale).to_numpy()
        off = reported.notna().to_numpy() & ~on_scale
        if off.any():
            first = prev["client_id"].astype("str").to_numpy()[off][0]
            log.warning(
                "previous scores: %d rating grades are not on today's scale (first: client %s, "
                "%r): those clients are regraded from their previous PD",
                int(off.sum()), first, reported.to_numpy()[off][0],
            )  # fmt: skip
        grade = grade.where(~on_scale, reported.astype("str"))
    return pd.DataFrame(
        {"client_id": prev["client_id"].astype("str"), "previous_rating_grade": grade}
    )


def add_grades(
    scores: pd.DataFrame,
    previous: pd.DataFrame | None,
    config: GradesConfig,
    horizon_months: int = 12,
) -> pd.DataFrame:
    """``rating_grade``, ``previous_rating_grade`` and ``grade_change`` (notches, + = down);
    the PDs are over ``horizon_months`` (``features.horizon_months``)."""
    out = scores.drop(columns=[c for c in ("previous_rating_grade",) if c in scores.columns])
    out["rating_grade"] = grade_of(
        out["default_probability"], out.get("in_default"), config, horizon_months
    )
    prev = previous_grades(previous, config, horizon_months)
    if prev is None:
        return out
    out = out.merge(prev, on="client_id", how="left", validate="one_to_one")
    out["grade_change"] = notch(out["rating_grade"], config) - notch(
        out["previous_rating_grade"], config
    )
    return out


def migration_matrix(scores: pd.DataFrame, config: GradesConfig) -> pd.DataFrame:
    """Clients by (previous grade, grade), long form, with the share of the previous grade."""
    return migration_from_counts(
        migration_counts(scores), latest(scores, "as_of"), latest(scores, "previous_as_of"), config
    )


def latest(scores: pd.DataFrame, column: str) -> pd.Timestamp:
    """The latest date of ``column`` (NaT without the column or a date)."""
    values = scores[column] if column in scores.columns else pd.Series([], dtype="datetime64[s]")
    return pd.Timestamp(values.max())


def migration_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """``previous_grade``, ``rating_grade``, ``clients``: the clients of ``scores`` by grade
    pair (``(none)`` for no grade); the counts of parts of a book add up to the book's."""
    now = scores["rating_grade"].astype("str").fillna(NONE)
    if "previous_rating_grade" in scores.columns:
        before = scores["previous_rating_grade"].astype("str").fillna(NONE)
    else:
        before = pd.Series(NONE, index=scores.index, dtype="str")
    return (
        pd.DataFrame({"previous_grade": before, "rating_grade": now})
        .value_counts()
        .rename("clients")
        .reset_index()
    )


def migration_from_counts(
    counts: pd.DataFrame,
    as_of: pd.Timestamp,
    previous_as_of: pd.Timestamp,
    config: GradesConfig,
) -> pd.DataFrame:
    """The migration matrix from grade-pair counts (:func:`migration_counts`, of the whole book
    or summed over its parts) and the book's latest as-of and previous as-of: each pair once,
    on the scale's order, with its share of the previous grade's clients."""
    pairs = counts.groupby(["previous_grade", "rating_grade"], as_index=False)["clients"].sum()
    order = {g: i for i, g in enumerate((*config.scale, NONE))}
    out = pd.DataFrame(pairs).sort_values(
        ["previous_grade", "rating_grade"], key=lambda s: s.map(order), ignore_index=True
    )
    total = out.groupby("previous_grade")["clients"].transform("sum")
    out["share"] = out["clients"] / total
    for col, stamp in (("as_of", as_of), ("previous_as_of", previous_as_of)):
        out[col] = pd.Series(stamp, index=out.index).astype("datetime64[s]")
    return out[list(MIGRATION_COLUMNS)].astype({"clients": "int64"})
