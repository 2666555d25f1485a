"""pandera schemas for the contract tables, built from :data:`predict.contract.spec.TABLES`.

Column lists, kinds, keys, ranges and foreign keys come from the contract; this module adds
only the rules the contract states in words (date order, month ends, no future dates) and
the catalogue of rule names that issues, reports and the data dictionary share.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pandera.pandas as pa

from predict.contract.spec import Table
from predict.contract.tables import KIND_DTYPES

Scope = Literal["file", "table", "row"]


@dataclass(frozen=True)
class Rule:
    name: str
    scope: Scope  # file/table rules stop the run in both modes; row rules follow the mode
    severity: Literal["error", "warning", "info"]
    description: str


RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("file_unreadable", "file", "error", "The file cannot be parsed as CSV or Parquet."),
        Rule("file_ambiguous", "file", "error", "A table has more than one file (formats)."),
        Rule("file_unknown", "file", "warning", "A file that is not a contract table: ignored."),
        Rule("table_missing", "table", "error", "A required table (clients) is absent."),
        Rule(
            "table_absent",
            "table",
            "info",
            "An optional table is absent: its features are left out.",
        ),
        Rule(
            "table_empty",
            "table",
            "error",
            "A table file with zero rows: an error for clients; for an optional table a "
            "warning, and the table is treated as absent.",
        ),
        Rule("column_missing", "table", "error", "A required column is absent from the file."),
        Rule("column_absent", "table", "info", "An optional column is absent: filled with nulls."),
        Rule("column_unknown", "table", "warning", "A column not in the contract: left out."),
        Rule(
            "no_valid_rows",
            "table",
            "error",
            "Every row of the table broke a rule (lenient mode): an error for clients (nothing "
            "left to score); for an optional table a warning, and the table is treated as "
            "absent (its rows stay in the quarantine; the validated folder has no file for it).",
        ),
        Rule(
            "value_converted",
            "table",
            "info",
            "A Parquet column of another type read as the contract's: integer ids as their "
            "decimal text (1 -> '1'), whole floats without '.0' (1.0 -> '1').",
        ),
        Rule(
            "type",
            "row",
            "error",
            "The value cannot be read as the column's kind: not a number or an ISO date; a "
            "boolean where a number or a date belongs; a number where a date belongs; a "
            "fractional number or a boolean where an id belongs.",
        ),
        Rule("nul_byte", "row", "error", "A text value holds a NUL byte (\\x00)."),
        Rule("required", "row", "error", "A required column has no value."),
        Rule("unique", "row", "error", "The table's key is duplicated (every copy is flagged)."),
        Rule("foreign_key", "row", "error", "The referenced row does not exist in its table."),
        Rule(
            "parent_quarantined",
            "row",
            "error",
            "The referenced row exists but broke a rule itself (quarantined with it).",
        ),
        Rule("min", "row", "error", "The value is below the contract's minimum."),
        Rule("max", "row", "error", "The value is above the contract's maximum."),
        Rule("date_order", "row", "error", "A date is before the date it must follow."),
        Rule("month_end", "row", "error", "The date is not the last day of a month."),
        Rule("after_as_of", "row", "error", "An observed date is later than the as-of date."),
    )
}

# Rules the contract states in words. (column, must be on/after column)
DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "facilities": (("maturity_date", "origination_date"), ("closed_date", "origination_date")),
}
MONTH_END_COLUMNS: dict[str, tuple[str, ...]] = {"facility_balances": ("month_end",)}
# Dates that are scheduled, not observed: they may lie after the as-of date.
SCHEDULED_DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "facilities": ("maturity_date",),
    "facility_terms": ("maturity_date",),
}


def observed_date_columns(table: Table) -> tuple[str, ...]:
    """Date columns that must not be later than the as-of date."""
    scheduled = SCHEDULED_DATE_COLUMNS.get(table.name, ())
    return tuple(c.name for c in table.columns if c.kind == "date" and c.name not in scheduled)


def _check(rule: str, fn: Callable[[Any], pd.Series], column: str | None = None) -> pa.Check:
    """A check whose failure cases carry ``rule`` (and, for row-wide checks, the column)."""
    label = f"{rule}:{column}" if column else rule
    return pa.Check(fn, name=label, error=label, ignore_na=column is None)


def _column_checks(table: Table, name: str, as_of: pd.Timestamp) -> list[pa.Check]:
    col = table.column(name)
    checks = []
    if col.min is not None:
        low = col.min
        checks.append(_check("min", lambda s: s >= low))
    if col.max is not None:
        high = col.max
        checks.append(_check("max", lambda s: s <= high))
    if name in MONTH_END_COLUMNS.get(table.name, ()):
        checks.append(_check("month_end", lambda s: s.dt.is_month_end))
    if name in observed_date_columns(table):
        checks.append(_check("after_as_of", lambda s: s <= as_of))
    return checks


def _date_order_check(later: str, earlier: str) -> pa.Check:
    def ok(frame: pd.DataFrame) -> pd.Series:
        return frame[later].isna() | frame[earlier].isna() | (frame[later] >= frame[earlier])

    return _check("date_order", ok, column=later)


def build_schema(table: Table, as_of: dt.date) -> pa.DataFrameSchema:
    """pandera schema of one table's typed frame: dtypes, nulls, key, ranges, date rules.

    Foreign keys need the parent tables and are checked by :mod:`predict.contract.validation`.
    """
    stamp = pd.Timestamp(as_of)
    columns = {
        col.name: pa.Column(
            KIND_DTYPES[col.kind],
            nullable=not col.required,
            checks=_column_checks(table, col.name, stamp),
        )
        for col in table.columns
    }
    return pa.DataFrameSchema(
        columns,
        checks=[_date_order_check(a, b) for a, b in DATE_ORDER.get(table.name, ())],
        unique=list(table.key) or None,
        report_duplicates="all",
        strict=True,
        name=table.name,
    )


def rule_detail(table: Table, column: str, rule: str, as_of: dt.date) -> str:
    """Plain words for one rule on one column, as it appears in reasons and reports."""
    if rule == "type":
        kind = table.column(column).kind
        if kind == "string":
            return "not an id: a boolean or a fractional number"
        return "not an ISO date (YYYY-MM-DD)" if kind == "date" else f"not a valid {kind}"
    if rule == "nul_byte":
        return "holds a NUL byte (\\x00)"
    if rule == "required":
        return "required value missing"
    if rule == "unique":
        return f"duplicate key ({', '.join(table.key)})"
    if rule in ("foreign_key", "parent_quarantined"):
        fk = next(f for f in table.foreign_keys if f.column == column)
        if rule == "foreign_key":
            return f"not found in {fk.table}.{fk.ref_column}"
        return f"its {fk.table} row was quarantined"
    if rule in ("min", "max"):
        bound = table.column(column).min if rule == "min" else table.column(column).max
        return f"must be {'>=' if rule == 'min' else '<='} {bound:g}"
    if rule == "date_order":
        earlier = dict(DATE_ORDER.get(table.name, ()))[column]
        return f"before {earlier}"
    if rule == "month_end":
        return "not the last day of a month"
    if rule == "after_as_of":
        return f"after the as-of date {as_of.isoformat()}"
    return RULES[rule].description


def column_rules(table: Table, column: str) -> list[str]:
    """Short statements of the row rules on one column (for the data dictionary)."""
    col = table.column(column)
    out = []
    if col.min is not None and col.max is not None:
        out.append(f"{col.min:g}..{col.max:g}")
    elif col.min is not None:
        out.append(f">= {col.min:g}")
    elif col.max is not None:
        out.append(f"<= {col.max:g}")
    later = dict(DATE_ORDER.get(table.name, ()))
    if column in later:
        out.append(f">= {later[column]}")
    if column in MONTH_END_COLUMNS.get(table.name, ()):
        out.append("last day of a month")
    if column in observed_date_columns(table):
        out.append("<= as-of")
    elif col.kind == "date":
        out.append("may be after as-of")
    for fk in table.foreign_keys:
        if fk.column == column:
            out.append(f"in {fk.table}.{fk.ref_column}")
    return out
