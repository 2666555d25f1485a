"""The review queue: the clients that need action first, one section per kind of action.

Sections (:data:`SECTIONS`), each a subset of the scores' rows:

- ``default``: in default at the as-of date (``in_default``, or action ``workout``); those
  that *newly* defaulted (previous default probability known and below 100%) come first.
- ``watch``: action ``watch`` and not in default (performing watch).
- ``retain``: action ``retain``.
- ``grow``: action ``grow``.

A client with no exposure (EAD missing or 0) *and* no relationship left (run-rate revenue
missing or 0) is in no section: there is nothing to act on. The count of such clients per
section is reported, never silently dropped.

Priority (the ranking, in currency, largest first), :func:`priority`:

- credit sections (``default``, ``watch``): the rise of expected loss since the previous
  scoring at today's EAD and LGD, ``LGD × EAD × (PD − previous PD)``; without a previous PD
  (new client, or no previous scoring) the whole expected loss ``PD × LGD × EAD``. Ties
  (e.g. clients long in default: no change) are broken by expected loss.
- ``retain``: value at risk, ``contribution_at_risk`` = churn probability × run-rate revenue.
- ``grow``: clients flagged ``growth_potential`` first (:mod:`predict.scoring.potential`),
  then ``expected_contribution`` over the horizon.

A missing priority (e.g. no LGD) sorts last; the row is kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

# (key, heading, what the priority is)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("default", "Newly in default / workout", "rise of expected loss since the previous scoring"),
    ("watch", "Performing watch", "rise of expected loss since the previous scoring"),
    ("retain", "Retain", "value at risk: churn probability × run-rate revenue"),
    ("grow", "Grow", "growth potential first, then expected contribution over the horizon"),
)
CREDIT_SECTIONS = ("default", "watch")
FILTER_COLUMNS = ("segment", "branch_id", "rm_id", "rating_grade")


@dataclass(frozen=True)
class Queue:
    """One section: its ranked rows (all members), and the clients left out for lack of
    exposure and relationship."""

    key: str
    heading: str
    priority_means: str
    rows: pd.DataFrame
    excluded: int

    @property
    def total(self) -> int:
        return len(self.rows)


def _flag(scores: pd.DataFrame, column: str) -> pd.Series:
    if column not in scores:
        return pd.Series(False, index=scores.index)
    return scores[column].astype("boolean").fillna(False).astype(bool)


def _number(scores: pd.DataFrame, column: str) -> pd.Series:
    if column not in scores:
        return pd.Series(np.nan, index=scores.index, dtype="float64")
    return pd.to_numeric(scores[column], errors="coerce").astype("float64")


def has_something_to_act_on(scores: pd.DataFrame) -> pd.Series:
    """Exposure (EAD > 0) or a relationship left (run-rate revenue > 0)."""
    return (_number(scores, "ead").fillna(0) > 0) | (
        _number(scores, "run_rate_revenue").fillna(0) > 0
    )


def newly_defaulted(scores: pd.DataFrame) -> pd.Series:
    """In default now, and the previous scoring's default probability was known and < 100%."""
    before = _number(scores, "previous_default_probability")
    return _flag(scores, "in_default") & before.notna() & (before < 1.0)


def members(scores: pd.DataFrame, key: str) -> pd.Series:
    """Rows that belong to section ``key`` (before the exposure/relationship filter)."""
    action = scores["action"].astype("str") if "action" in scores else pd.Series("", scores.index)
    in_default = _flag(scores, "in_default")
    if key == "default":
        return in_default | (action == "workout")
    if key == "watch":
        return (action == "watch") & ~in_default
    return action == key


def el_rise(scores: pd.DataFrame) -> pd.Series:
    """``LGD × EAD × (PD − previous PD)``; the whole expected loss without a previous PD."""
    pd_now = _number(scores, "default_probability")
    before = _number(scores, "previous_default_probability")
    exposure = _number(scores, "lgd") * _number(scores, "ead")
    rise = exposure * (pd_now - before)
    return rise.where(before.notna(), exposure * pd_now)


def priority(scores: pd.DataFrame, key: str) -> pd.Series:
    """The section's ranking number per row (see the module docstring)."""
    if key in CREDIT_SECTIONS:
        return el_rise(scores)
    if key == "retain":
        return _number(scores, "contribution_at_risk")
    return _number(scores, "expected_contribution")


def _growth(rows: pd.DataFrame) -> pd.Series:
    """``growth_potential`` as plain booleans (missing or absent: False)."""
    if "growth_potential" not in rows.columns:
        return pd.Series(False, index=rows.index)
    return rows["growth_potential"].astype("boolean").fillna(False).astype(bool)


def build_queue(scores: pd.DataFrame, key: str) -> Queue:
    """Section ``key``: its members with something to act on, highest priority first."""
    heading, means = next((h, m) for k, h, m in SECTIONS if k == key)
    inside = members(scores, key)
    keep = inside & has_something_to_act_on(scores)
    rows = scores.loc[keep].copy()
    rows["priority"] = priority(rows, key)
    rows["new_default"] = newly_defaulted(rows)
    rows["_el"] = _number(rows, "expected_loss")
    rows["_growth"] = _growth(rows) if key == "grow" else False
    rows = rows.sort_values(
        ["new_default", "_growth", "priority", "_el", "client_id"],
        ascending=[False, False, False, False, True],
        na_position="last",
        kind="stable",
    ).drop(columns=["_el", "_growth"])
    if key != "default":
        rows["new_default"] = False
    excluded = int((inside & ~keep).sum())
    logger.debug(
        "queue %s: %d clients (%d without exposure or relationship)", key, len(rows), excluded
    )
    return Queue(key, heading, means, rows.reset_index(drop=True), excluded)


def build_queues(scores: pd.DataFrame) -> list[Queue]:
    """Every section of :data:`SECTIONS`, in order."""
    return [build_queue(scores, key) for key, _, _ in SECTIONS]


def attach_triggers(rows: pd.DataFrame, early_warning: pd.DataFrame | None) -> pd.DataFrame:
    """The early-warning ``triggers`` and ``details`` per client (missing: no trigger)."""
    out = rows.copy()
    ids = out["client_id"].astype("str")
    for col in ("triggers", "details"):
        source = pd.Series(dtype="str")
        if early_warning is not None and {"client_id", col} <= set(early_warning.columns):
            first = early_warning.drop_duplicates("client_id")
            source = pd.Series(
                first[col].astype("str").to_numpy(), index=first["client_id"].astype("str")
            )
        out[col] = ids.map(source).astype("str")
    return out
