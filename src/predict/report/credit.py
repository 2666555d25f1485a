"""The credit views of the report: rating grades, their migration and a client's value.

Read from what the scoring step wrote: the scores (``rating_grade``, the value columns) and
the grade migration (``migration.parquet``, :func:`predict.scoring.grades.migration_matrix`:
clients by previous grade and grade, long form); each is None when the run lacks them (an
older scoring, or no previous scores), and the page says so.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from predict.report import charts
from predict.report.formatting import Col, cell, table_spec

log = logging.getLogger(__name__)

NONE = "(none)"
# (label, column, sign): the value decomposition of a client over the horizon.
VALUE_STEPS = (
    ("Expected contribution", "expected_contribution", 1.0),
    ("Expected loss", "expected_loss", -1.0),
    ("Funding cost", "funding_cost", -1.0),
    ("Cost to serve", "cost_to_serve", -1.0),
    ("Capital charge (hurdle x capital)", "capital_charge", -1.0),
)

# The early-warning list's own columns: (key, header, format).
EARLY_WARNING_COLS = tuple(
    Col(key, label, fmt)
    for key, label, fmt in (
        ("triggers", "Triggers", "text"),
        ("details", "What moved", "text"),
        ("rating_grade", "Grade", "text"),
        ("previous_rating_grade", "Before", "text"),
        ("default_probability", "Default p", "prob"),
        ("previous_default_probability", "Before", "prob"),
        ("churn_probability", "Churn p", "prob"),
        ("previous_churn_probability", "Before", "prob"),
    )
)


def grade_order(grades: pd.Series, scale: Sequence[str] = ()) -> list[str]:
    """Grades best first, then none: the master ``scale`` (``score.grades``, best first) where
    given, so that named grades (AAA ... C, D) read in the scale's order, not the alphabet's;
    grades off the scale (or without one): numeric names by number, then the others."""
    names = sorted({str(g) for g in grades.dropna()} - {NONE})
    on_scale = [g for g in scale if g in names]
    rest = [n for n in names if n not in on_scale]
    numeric = sorted((n for n in rest if n.isdigit()), key=int)
    return [*on_scale, *numeric, *[n for n in rest if not n.isdigit()], NONE]


def grade_chart(scores: pd.DataFrame, scale: Sequence[str] = ()) -> Any:
    """Clients per rating grade (no grade: a bar of its own); None without grades."""
    if "rating_grade" not in scores.columns:
        return None
    grades = scores["rating_grade"].astype("str").fillna(NONE)
    counts = grades.value_counts()
    order = [g for g in grade_order(grades, scale) if g in counts.index]
    return charts.column_chart(
        order, [int(counts[g]) for g in order], title="Clients by rating grade"
    )


def migration_table(
    migration: pd.DataFrame | None, scale: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Clients by previous grade (rows) and grade now (columns), pivoted from the scoring's
    ``migration.parquet`` (``previous_grade``, ``rating_grade``, ``clients``); None without
    it or when no client had a previous grade (no previous scores)."""
    needed = {"previous_grade", "rating_grade", "clients"}
    if migration is None or migration.empty or not needed <= set(migration.columns):
        return None
    before = migration["previous_grade"].astype("str").fillna(NONE)
    if (before == NONE).all():
        return None
    now = migration["rating_grade"].astype("str").fillna(NONE)
    order = grade_order(pd.concat([now, before]), scale)
    long = pd.DataFrame({"from": before, "to": now, "clients": migration["clients"]})
    matrix = long.pivot_table(index="from", columns="to", values="clients", aggfunc="sum")
    matrix = matrix.reindex(index=order, columns=order).fillna(0).astype("int64")
    matrix = matrix.loc[matrix.sum(axis=1) > 0, matrix.sum(axis=0) > 0]
    frame = matrix.reset_index(names="from").astype({"from": "str"})
    frame.columns = [str(c) for c in frame.columns]
    cols = (Col("from", "From \\ to"), *(Col(str(g), str(g), "int") for g in matrix.columns))
    return table_spec(frame, cols, table_id="migration")


def table_cell(value: Any, fmt: str) -> str:
    return str(cell(value, fmt)["text"])


def value_rows(row: pd.Series) -> list[dict[str, str]] | None:
    """The client's value decomposition, signed, down to economic profit; None without it."""
    if "economic_profit" not in row.index:
        return None
    rows = [
        {"label": label, "value": table_cell(sign * row.get(col, float("nan")), "money")}
        for label, col, sign in VALUE_STEPS
    ]
    rows.append({"label": "Economic profit", "value": table_cell(row["economic_profit"], "money")})
    rows.append({"label": "Regulatory capital", "value": table_cell(row.get("capital"), "money")})
    rows.append({"label": "RAROC (annual)", "value": table_cell(row.get("raroc"), "pct")})
    grade = row.get("rating_grade")
    shown = "–" if grade is None or grade != grade else str(grade)  # NaN: no grade
    rows.append({"label": "Rating grade", "value": shown})
    return rows
