"""Enforce the data contract on a folder of tables: typed clean tables, issues, quarantine.

Every table is read (CSV as text, Parquet as stored), typed per the contract, then checked
by a pandera schema built from :data:`predict.contract.spec.TABLES` (see
:mod:`predict.contract.schemas`), parents before children so a foreign key points at the
parent's *valid* rows.

Problems with a file or a table (unreadable, ambiguous, a folder or a broken link named like
a table, a required table or column missing, an empty clients table, no valid client left)
stop the run in any mode. Problems with rows follow the mode:
``strict`` (default) stops the run; ``lenient`` moves the bad rows, with their reasons, to
the quarantine and goes on. Rows whose parent row was quarantined are quarantined too.
Rows are never dropped silently: per table, rows_in == rows_valid + rows_quarantined.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Hashable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from predict.contract.schemas import RULES, build_schema, rule_detail
from predict.contract.skeleton import write_skeleton
from predict.contract.spec import TABLES, Table
from predict.contract.tables import (
    TableReadError,
    ambiguous_message,
    cast_to_contract,
    conversion_note,
    nul_bytes,
    parse_column,
    read_table_file,
    scan_folder,
)
from predict.io import atomic_dir, write_json, write_text

logger = logging.getLogger(__name__)

MODES = ("strict", "lenient")
RUN_DATE = "the run date (validate.as_of: null)"  # what the report says of an as_of not given
EMPTY_TABLES = ("absent", "no_rows")
ISSUE_COLUMNS = ("severity", "table", "column", "row", "key", "rule", "value", "detail")
_ISSUE_DTYPES = {c: "Int64" if c == "row" else "str" for c in ISSUE_COLUMNS}
QUARANTINE_COLUMNS = ("source_row", "rule", "reason")
REPORT_ISSUES = 1000  # issues listed one by one in report.json (all are counted)
MESSAGE_ISSUES = 10  # issues listed in the error message of a stopped run
ABSENT_NOTES: dict[str, str] = {
    "facilities": "open facilities are not known, so churn activity uses revenue alone",
    "facility_balances": "days past due are not known to the default target",
    "revenue": "the contribution target cannot be defined",
    "credit_events": "credit events are not known to the default target",
    "facility_terms": (
        "limit, rate and maturity are taken as recorded in facilities (the latest terms), "
        "a known look-ahead risk"
    ),
}


@dataclass(frozen=True)
class ValidationConfig:
    """The ``validate`` section of params.yaml."""

    mode: str = "strict"  # strict: any bad row stops the run; lenient: bad rows are quarantined
    as_of: dt.date | None = None  # end of the data; no observed date may be later; None: today

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"validate.mode must be one of {MODES}, got {self.mode!r}")


@dataclass(frozen=True)
class TableCounts:
    rows_in: int
    rows_valid: int
    rows_quarantined: int


class ValidationFailed(RuntimeError):
    """The data broke the contract and the run must stop (see the report)."""


@dataclass
class ValidationResult:
    source: Path
    mode: str
    as_of: dt.date
    tables: dict[str, pd.DataFrame]  # typed valid rows of each usable table
    issues: pd.DataFrame  # ISSUE_COLUMNS; row is 1-based, null for file/table issues
    quarantined: dict[str, pd.DataFrame]  # raw text of bad rows + QUARANTINE_COLUMNS
    counts: dict[str, TableCounts]
    absent: tuple[str, ...] = ()
    # where as_of came from: params (validate.as_of) or the run date (validate.as_of: null);
    # the report names the run date without printing it, so that the same data and params
    # give the same report on any day (dvc.lock, CI's check of the results)
    as_of_given: bool = True

    @property
    def errors(self) -> pd.DataFrame:
        return self.issues[self.issues["severity"] == "error"]

    @property
    def fatal(self) -> pd.DataFrame:
        """Errors with a file or table, which stop the run in any mode."""
        return self.errors[self.errors["row"].isna()]

    @property
    def ok(self) -> bool:
        """Whether the run may go on: no fatal error, and no error at all in strict mode."""
        return self.fatal.empty and (self.mode == "lenient" or self.errors.empty)


@dataclass
class _ParentKeys:
    valid: pd.Index
    every: pd.Index


@dataclass
class _Collector:
    rows: list[pd.DataFrame] = field(default_factory=list)

    def add(self, table: str, rule: str, detail: str, column: str | None = None) -> None:
        severity = RULES[rule].severity
        if rule in ("table_empty", "no_valid_rows") and not TABLES[table].required:
            severity = "warning"
        record = {"severity": severity, "table": table, "column": column, "rule": rule}
        self.rows.append(pd.DataFrame([{**record, "detail": detail}]))
        log = {"info": logger.info, "warning": logger.warning, "error": logger.error}[severity]
        log("%s", detail)

    def frame(self) -> pd.DataFrame:
        return _issue_frame(self.rows)


def _issue_frame(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Issue frames joined, with ISSUE_COLUMNS and their dtypes (also when there are none)."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=_ISSUE_DTYPES[c]) for c in ISSUE_COLUMNS})
    out = pd.concat(frames, ignore_index=True).reindex(columns=list(ISSUE_COLUMNS))
    return out.astype(_ISSUE_DTYPES)


def table_order() -> list[str]:
    """Contract tables in contract order, except that every parent comes before its children."""
    done: list[str] = []
    while len(done) < len(TABLES):
        ready = [
            name
            for name, t in TABLES.items()
            if name not in done and all(fk.table in done for fk in t.foreign_keys)
        ]
        if not ready:
            raise ValueError(
                f"the contract's foreign keys form a cycle among {set(TABLES) - set(done)}"
            )
        done.append(ready[0])
    return done


def validate_folder(
    folder: str | os.PathLike[str],
    config: ValidationConfig | None = None,
    empty_tables: str = "absent",
) -> ValidationResult:
    """Read and check every contract table in ``folder``; see the module docstring.

    ``empty_tables``: an optional table's file with no row is ``absent`` (a book's empty file
    is more likely a failed extraction than a bank without such events: it must not make
    every client look like a non-defaulter), or, with ``no_rows``, a table in which nothing
    happened (an extract of some clients' rows cut from a book: ``predict score --book``).
    An optional table none of whose rows is valid is absent either way."""
    config = config or ValidationConfig()
    _check_empty_tables(empty_tables)
    as_of = config.as_of or dt.date.today()
    found, others = scan_folder(folder)
    issues = _Collector()
    for path in others:
        issues.add("(folder)", "file_unknown", f"{path}: not a contract table file, ignored")
    result = ValidationResult(Path(folder), config.mode, as_of, {}, pd.DataFrame(), {}, {})
    result.as_of_given = config.as_of is not None
    parents: dict[str, _ParentKeys | None] = {}
    for name in table_order():
        raw, absent = _read_present(TABLES[name], found.get(name, []), issues, empty_tables)
        if raw is None:  # absent: children are orphans; unusable: the run stops anyway
            parents[name] = _no_keys() if absent else None
            result.absent += (name,) if absent else ()
            continue
        valid, quarantined, row_issues = _validate_rows(TABLES[name], raw, parents, as_of)
        valid = canonical_order(TABLES[name], valid)
        issues.rows.append(row_issues)
        result.tables[name], result.quarantined[name] = valid, quarantined
        result.counts[name] = TableCounts(len(raw), len(valid), len(quarantined))
        parents[name] = _parent_keys(TABLES[name], raw, valid)
        if valid.empty and len(raw):  # (an extract's table of no rows is kept as it is)
            what = "the run stops" if TABLES[name].required else "treated as absent"
            detail = f"table {name}: none of its {len(raw)} row(s) is valid ({what})"
            issues.add(name, "no_valid_rows", detail)
            if not TABLES[name].required:  # as an empty file: absent, not a table of no rows
                del result.tables[name]
                result.absent += (name,)
    result.issues = issues.frame()
    return result


def _check_empty_tables(setting: str) -> None:
    if setting not in EMPTY_TABLES:
        raise ValueError(f"empty_tables must be one of {EMPTY_TABLES}, got {setting!r}")


def canonical_order(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` sorted by the table's key, then by every other contract column in contract
    order (missing values last): an order that depends only on the rows, not on how the
    file listed them. Float sums over a client's rows follow it, so the same rows in any
    order give the same features to the last bit (tests/unit/test_validation.py)."""
    key = [c for c in table.key if c in frame.columns]
    rest = [c.name for c in table.columns if c.name in frame.columns and c.name not in key]
    return frame.sort_values([*key, *rest], kind="stable", na_position="last", ignore_index=True)


def _no_keys() -> _ParentKeys:
    return _ParentKeys(pd.Index([], dtype="str"), pd.Index([], dtype="str"))


def _parent_keys(table: Table, raw: pd.DataFrame, valid: pd.DataFrame) -> _ParentKeys:
    if len(table.key) != 1:
        return _no_keys()  # composite keys are never referenced in the contract
    key = table.key[0]
    every = parse_column(raw[key], "string", identifier=True)[0].dropna()
    return _ParentKeys(pd.Index(valid[key]), pd.Index(every))


def _read_present(
    table: Table, paths: list[Path], issues: _Collector, empty_tables: str = "absent"
) -> tuple[pd.DataFrame | None, bool]:
    """(raw frame of a usable table or None, whether the table counts as absent). An optional
    table's file with no row is absent, or a table of no rows with ``empty_tables: no_rows``."""
    name = table.name
    if not paths:
        if table.required:
            issues.add(name, "table_missing", f"required table {name} is absent")
            return None, False
        note = f"; {ABSENT_NOTES[name]}" if name in ABSENT_NOTES else ""
        issues.add(name, "table_absent", f"table {name} absent: features from it left out{note}")
        return None, True
    if len(paths) > 1:
        issues.add(name, "file_ambiguous", ambiguous_message(name, paths))
        return None, False
    try:
        raw = read_table_file(paths[0])
    except TableReadError as exc:
        issues.add(name, "file_unreadable", str(exc))
        return None, False
    if not _columns_usable(table, raw, paths[0], issues):
        return None, False
    for col in table.columns:
        said = conversion_note(raw[col.name], col.kind) if col.name in raw else None
        if said:
            issues.add(name, "value_converted", f"{paths[0]}: {col.name}: {said}", col.name)
    if raw.empty and not (empty_tables == "no_rows" and not table.required):
        what = "stops the run" if table.required else "treated as absent"
        issues.add(name, "table_empty", f"{paths[0]}: table {name} has no rows ({what})")
        return None, not table.required
    return raw, False


def _columns_usable(table: Table, raw: pd.DataFrame, path: Path, issues: _Collector) -> bool:
    name, present = table.name, set(raw.columns)
    unknown = [c for c in raw.columns if c not in table.column_names]
    if unknown:
        issues.add(
            name, "column_unknown", f"{path}: column(s) {unknown} not in the contract, left out"
        )
    hint = _separator_hint(raw)
    for col in table.required_columns:
        if col not in present:
            detail = f"{path}: required column {col} is missing{hint}"
            issues.add(name, "column_missing", detail, col)
    optional = [
        c for c in table.column_names if c not in present and c not in table.required_columns
    ]
    if optional:
        issues.add(
            name, "column_absent", f"{path}: optional column(s) {optional} absent, left empty"
        )
    return all(c in present for c in table.required_columns)


def _separator_hint(raw: pd.DataFrame) -> str:
    """A hint when the one column read looks like a header split by another separator."""
    if len(raw.columns) != 1:
        return ""
    header = str(raw.columns[0])
    for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if sep in header:
            return f" (the header {header!r} looks {name}-separated: write the file with commas)"
    return ""


def is_identifier(table: Table, column: str) -> bool:
    """Whether ``column`` holds ids (a key, a foreign key, or ``*_id``): text that must be
    exact, so a fractional number or a boolean there is refused."""
    foreign = any(fk.column == column for fk in table.foreign_keys)
    return column in table.key or foreign or column.endswith("_id")


def _validate_rows(
    table: Table, raw: pd.DataFrame, parents: dict[str, _ParentKeys | None], as_of: dt.date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(typed valid rows, quarantined rows, issues) of one readable table."""
    typed, unreadable = _typed_frame(table, raw)
    found = [unreadable, _foreign_key_issues(table, typed, parents)]
    try:
        build_schema(table, as_of).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        found.append(_schema_issues(table, exc.failure_cases, unreadable))
    issues = pd.concat([f for f in found if not f.empty] or found[:1], ignore_index=True)
    if issues.empty:
        no_issues = _issue_frame([])
        return typed, _quarantine(table, raw, no_issues), no_issues
    issues = issues.drop_duplicates(["row", "column", "rule"]).sort_values(["row", "column"])
    valid = typed.drop(index=pd.Index(issues["row"].unique())).reset_index(drop=True)
    issues = _describe_issues(table, issues, raw, as_of)
    return valid, _quarantine(table, raw, issues), issues


def _typed_frame(table: Table, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contract columns typed per kind (absent ones null) and (row, column, "type") of the
    values that could not be typed."""
    columns: dict[str, pd.Series] = {}
    bad: list[tuple[int, str, str]] = []
    for col in table.columns:
        values = raw[col.name] if col.name in raw else pd.Series(None, index=raw.index, dtype="str")
        columns[col.name], mask = parse_column(values, col.kind, is_identifier(table, col.name))
        bad += [(int(row), col.name, "type") for row in np.flatnonzero(mask.to_numpy())]
        if col.kind == "string":
            nul = nul_bytes(values).to_numpy()
            bad += [(int(row), col.name, "nul_byte") for row in np.flatnonzero(nul)]
    typed = cast_to_contract(pd.DataFrame(columns, index=raw.index), table)
    return typed, pd.DataFrame(bad, columns=["row", "column", "rule"]).astype({"row": "int64"})


def _schema_issues(table: Table, failures: pd.DataFrame, unreadable: pd.DataFrame) -> pd.DataFrame:
    """pandera failure cases as (row, column, rule); row-wide checks name their column.

    A value that could not be typed is null in the typed frame; its `required` failure is
    dropped, as the `type` issue already says what is wrong.
    """
    if failures["index"].isna().any():
        raise RuntimeError(f"table {table.name}: unexpected schema failure:\n{failures}")
    checks = failures["check"].astype("str")
    names = {c: _rule_of(table, c) for c in checks.unique()}
    unknown = sorted({rule for rule, _ in names.values()} - set(RULES))
    if unknown:
        raise RuntimeError(f"table {table.name}: unexpected schema failure(s) {unknown}")
    column = checks.map({c: col for c, (_, col) in names.items()})
    found = pd.DataFrame(
        {
            "row": failures["index"].astype("int64"),
            "column": column.fillna(failures["column"]).astype("str"),
            "rule": checks.map({c: rule for c, (rule, _) in names.items()}).astype("str"),
        }
    )
    pairs = pd.MultiIndex.from_frame(found[["row", "column"]])
    shadowed = (found["rule"] == "required").to_numpy() & pairs.isin(
        pd.MultiIndex.from_frame(unreadable[["row", "column"]])
    )
    return found[~shadowed]


def _rule_of(table: Table, check: str) -> tuple[str, str | None]:
    """(rule, column or None) of a pandera check label (see ``schemas._check``)."""
    if check.endswith("uniqueness"):
        return "unique", ",".join(table.key)
    if check == "not_nullable":
        return "required", None
    rule, _, column = check.partition(":")
    return rule, column or None


def _foreign_key_issues(
    table: Table, typed: pd.DataFrame, parents: dict[str, _ParentKeys | None]
) -> pd.DataFrame:
    """(row, column, rule) of values not among the parent's valid keys: `foreign_key` when
    the parent row does not exist, `parent_quarantined` when it exists but was quarantined.
    A parent that could not be read at all (None) is not checked: the run stops anyway."""
    found = [pd.DataFrame({"row": pd.Series(dtype="int64"), "column": "", "rule": ""})]
    for fk in table.foreign_keys:
        keys = parents.get(fk.table)
        if keys is None:
            continue
        values = typed[fk.column]
        rows = np.flatnonzero((values.notna() & ~values.isin(keys.valid)).to_numpy())
        if len(rows):
            exists = values.iloc[rows].isin(keys.every).to_numpy()
            rule = np.where(exists, "parent_quarantined", "foreign_key")
            found.append(pd.DataFrame({"row": rows, "column": fk.column, "rule": rule}))
    return pd.concat(found, ignore_index=True) if len(found) > 1 else found[0]


def _text(raw: pd.DataFrame, column: str, rows: np.ndarray) -> pd.Series:
    """Raw values of ``rows`` as text (null stays null); "a,b" columns joined by ", "."""
    if "," in column:
        parts = [_text(raw, c, rows).fillna("") for c in column.split(",")]
        return _join(parts, ", ")
    if column not in raw:
        return pd.Series(None, index=range(len(rows)), dtype="str")
    values = raw[column].iloc[rows].reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.strftime("%Y-%m-%d").astype("str")
    return values.astype("str")


def _join(parts: list[pd.Series], sep: str) -> pd.Series:
    out = parts[0]
    for part in parts[1:]:
        out = out + sep + part
    return out


def _row_keys(table: Table, raw: pd.DataFrame, rows: np.ndarray) -> pd.Series:
    """Each row's key ("client_id=C1"), or "row N" (1-based) when the table has no key."""
    if not table.key:
        return "row " + pd.Series(rows + 1).astype("str")
    return _join([k + "=" + _text(raw, k, rows).fillna("<missing>") for k in table.key], ", ")


def _describe_issues(
    table: Table, found: pd.DataFrame, raw: pd.DataFrame, as_of: dt.date
) -> pd.DataFrame:
    """Issue rows (ISSUE_COLUMNS) from (row, column, rule) of one table."""
    found = found.reset_index(drop=True)
    rows = found["row"].to_numpy(dtype="int64")
    values = pd.Series(None, index=found.index, dtype="str")
    for column in found["column"].unique():
        hit = (found["column"] == column).to_numpy()
        values[hit] = _text(raw, column, rows[hit]).to_numpy()
    kinds = found[["column", "rule"]].drop_duplicates()
    kinds["detail"] = [rule_detail(table, c, r, as_of) for c, r in kinds.itertuples(index=False)]
    details = found[["column", "rule"]].merge(kinds, on=["column", "rule"], how="left")
    out = pd.DataFrame(
        {
            "severity": "error",
            "table": table.name,
            "column": found["column"],
            "row": pd.array(rows + 1, dtype="Int64"),
            "key": _row_keys(table, raw, rows),
            "rule": found["rule"],
            "value": values,
            "detail": details["detail"],
        }
    )
    return out.astype({c: "str" for c in ISSUE_COLUMNS if c != "row"})


def _quarantine(table: Table, raw: pd.DataFrame, issues: pd.DataFrame) -> pd.DataFrame:
    """Raw text of every row with an issue, its 1-based row number, rules and reasons."""
    if issues.empty:
        dtypes = dict.fromkeys(table.column_names, "str") | {"source_row": "Int64"}
        columns = (*table.column_names, *QUARANTINE_COLUMNS)
        return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "str")) for c in columns})
    reasons = issues.assign(reason=issues["column"] + ": " + issues["detail"])
    single = ~reasons["row"].duplicated(keep=False)
    many = reasons[~single].groupby("row", sort=False)
    joined = pd.concat(
        [
            reasons.loc[single, ["row", "rule", "reason"]],
            pd.DataFrame(
                {
                    "rule": many["rule"].agg(lambda s: ", ".join(dict.fromkeys(s))),
                    "reason": many["reason"].agg("; ".join),
                }
            ).reset_index(),
        ],
        ignore_index=True,
    ).sort_values("row")
    positions = joined["row"].astype("int64").to_numpy() - 1
    frame = pd.DataFrame({c: _text(raw, c, positions) for c in table.column_names}).astype("str")
    frame["source_row"] = joined["row"].astype("Int64").to_numpy()
    frame["rule"] = joined["rule"].astype("str").to_numpy()
    frame["reason"] = joined["reason"].astype("str").to_numpy()
    return frame


def summary_text(result: ValidationResult) -> str:
    """A few lines for the console: status, rows per table, issue counts by rule."""
    quarantined = sum(c.rows_quarantined for c in result.counts.values())
    status = "passed" if result.ok else "FAILED"
    if result.ok and quarantined:
        status = f"passed, {quarantined} row(s) quarantined"
    lines = [f"validation of {result.source} as of {result.as_of} ({result.mode} mode): {status}"]
    lines.append(f"  {'table':<18} {'rows_in':>10} {'valid':>10} {'quarantined':>12}")
    for name, c in result.counts.items():
        lines.append(f"  {name:<18} {c.rows_in:>10} {c.rows_valid:>10} {c.rows_quarantined:>12}")
    if result.absent:
        lines.append(f"  absent tables: {', '.join(result.absent)}")
    for severity in ("error", "warning"):
        found = result.issues[result.issues["severity"] == severity]
        if not found.empty:
            by_rule = found["rule"].value_counts()
            listed = ", ".join(f"{rule} {n}" for rule, n in by_rule.items())
            lines.append(f"  {severity}s: {len(found)} ({listed})")
    return "\n".join(lines)


def issue_line(issue: Mapping[Hashable, Any]) -> str:
    """One issue in words: table.column [key, row N] rule: detail (value 'x')."""
    where = issue["table"] if pd.isna(issue["column"]) else f"{issue['table']}.{issue['column']}"
    if pd.isna(issue["row"]):
        return f"{where} {issue['rule']}: {issue['detail']}"
    key = (
        issue["key"]
        if str(issue["key"]).startswith("row ")
        else f"{issue['key']}, row {issue['row']}"
    )
    value = "missing" if pd.isna(issue["value"]) else repr(issue["value"])
    return f"{where} [{key}] {issue['rule']}: {issue['detail']} (value {value})"


def failure_message(result: ValidationResult, report_path: Path | None = None) -> str:
    """Why the run stops: the first issues that stop it, and where the full report is."""
    stopping = result.errors if result.mode == "strict" else result.fatal
    first = stopping.head(MESSAGE_ISSUES).to_dict("records")
    lines = [
        f"validation of {result.source} failed ({result.mode} mode): "
        f"{len(stopping)} error(s) in {', '.join(dict.fromkeys(stopping['table']))}"
    ]
    lines += [f"  - {issue_line(i)}" for i in first]
    if len(stopping) > len(first):
        lines.append(f"  ... and {len(stopping) - len(first)} more")
    if report_path is not None:
        lines.append(f"full report: {report_path}")
    if result.mode == "strict" and result.fatal.empty:
        lines.append("fix the data, or set validate.mode: lenient to quarantine the bad rows")
    return "\n".join(lines)


def _issue_summary(issues: pd.DataFrame) -> list[dict[str, Any]]:
    if issues.empty:
        return []
    keys = ["severity", "table", "column", "rule", "detail"]
    grouped = issues.fillna({"column": ""}).groupby(keys, sort=False, dropna=False)
    summary = grouped.agg(count=("rule", "size"), examples=("key", lambda s: list(s.dropna()[:5])))
    return [{str(k): v for k, v in row.items()} for row in summary.reset_index().to_dict("records")]


def report_data(result: ValidationResult) -> dict[str, Any]:
    """The report as plain data (report.json)."""
    listed = result.issues.head(REPORT_ISSUES).astype("object")
    return {
        "source": str(result.source),
        "mode": result.mode,
        "as_of": result.as_of.isoformat() if result.as_of_given else RUN_DATE,
        "status": "passed" if result.ok else "failed",
        "counts": {name: asdict(c) for name, c in result.counts.items()},
        "absent_tables": list(result.absent),
        "summary": _issue_summary(result.issues),
        "issues_total": len(result.issues),
        "issues": listed.where(listed.notna(), None).to_dict("records"),
    }


def report_markdown(result: ValidationResult, data: Mapping[str, Any] | None = None) -> str:
    """The report for people (report.md); ``data``: :func:`report_data` of ``result`` as
    already built (its ``status`` may be set to ``incomplete``), else built here."""
    data = report_data(result) if data is None else data
    lines = [f"# Data validation: {data['status']}", ""]
    lines.append(f"Source `{data['source']}`, as of {data['as_of']}, {data['mode']} mode.")
    lines += ["", "| table | rows in | valid | quarantined |", "|---|---:|---:|---:|"]
    for name, c in data["counts"].items():
        lines.append(f"| {name} | {c['rows_in']} | {c['rows_valid']} | {c['rows_quarantined']} |")
    if data["absent_tables"]:
        lines += ["", f"Absent tables: {', '.join(data['absent_tables'])}."]
    lines += ["", "## Issues by rule", ""]
    if data["summary"]:
        lines += [
            "| severity | table | column | rule | what | count | e.g. |",
            "|---|---|---|---|---|---:|---|",
        ]
        for s in data["summary"]:
            cells = [
                s["severity"],
                s["table"],
                s["column"],
                s["rule"],
                s["detail"],
                str(s["count"]),
            ]
            cells.append(", ".join(s["examples"]))
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    else:
        lines.append("None.")
    first = result.issues.head(50).to_dict("records")
    if first:
        lines += ["", f"## First {len(first)} of {len(result.issues)} issues", ""]
        lines += [f"- {issue_line(i)}" for i in first]
    if data["status"] == INCOMPLETE:
        lines += ["", INCOMPLETE_NOTE]
    return "\n".join(lines) + "\n"


INCOMPLETE = "incomplete"


def write_report(
    result: ValidationResult, report_dir: str | os.PathLike[str], status: str | None = None
) -> Path:
    """Write report.json and report.md into ``report_dir`` (replaced as a whole).

    ``status`` overrides the result's (``incomplete``: the tables are still being written).
    """
    data = report_data(result)
    if status is not None:
        data["status"] = status
    with atomic_dir(report_dir) as tmp:
        write_json(data, tmp / "report.json")
        write_text(report_markdown(result, data), tmp / "report.md")
    return Path(report_dir) / "report.md"


INCOMPLETE_NOTE = (
    "The validated tables and the quarantine were being written when this report was saved. "
    "If it still says incomplete, that run was killed or failed while writing (a full disk?): "
    "its tables cannot be trusted; run `predict validate` again."
)


def write_validated(
    result: ValidationResult,
    out_dir: str | os.PathLike[str],
    quarantine_dir: str | os.PathLike[str],
    report_dir: str | os.PathLike[str],
) -> Path:
    """Write the report; then, unless the run must stop, the valid tables and the quarantine.

    Raises :class:`ValidationFailed` (after writing the report, and before touching
    ``out_dir`` or ``quarantine_dir``) when ``result.ok`` is False. Otherwise the report says
    ``incomplete`` while the tables and the quarantine are written, and ``passed`` only once
    both are in place: a run killed or failing (a full disk) on the way never leaves a
    "passed" report. Returns the report path.
    """
    if not result.ok:
        raise ValidationFailed(failure_message(result, write_report(result, report_dir)))
    write_report(result, report_dir, status=INCOMPLETE)
    with atomic_dir(out_dir) as tmp:
        for name, frame in result.tables.items():
            frame.to_parquet(tmp / f"{name}.parquet", index=False)
        # the book's tables, columns and dates, for scoring an extract of it (--book)
        write_skeleton(result.tables, tmp)
    write_quarantine(result, quarantine_dir)
    return write_report(result, report_dir)


def write_quarantine(result: ValidationResult, folder: str | os.PathLike[str]) -> Path:
    """The quarantined rows as ``<folder>/<table>.parquet``, one file per table with rows
    (the folder replaced as a whole, empty when nothing was quarantined). Returns ``folder``."""
    with atomic_dir(folder) as tmp:
        for name, frame in result.quarantined.items():
            if not frame.empty:
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
    return Path(folder)


def load_validated(
    folder: str | os.PathLike[str], empty_tables: str = "absent"
) -> dict[str, pd.DataFrame]:
    """The validated tables in ``folder`` (written by :func:`write_validated`), typed. An
    optional table with no row is absent, or kept as a table of no rows with
    ``empty_tables: no_rows`` (:func:`validate_folder`)."""
    _check_empty_tables(empty_tables)
    root = Path(folder)
    if not (root / "clients.parquet").is_file():
        raise FileNotFoundError(f"{root}: no clients.parquet; run the validate stage first")
    tables = {
        name: cast_to_contract(pd.read_parquet(path), table)
        for name, table in TABLES.items()
        if (path := root / f"{name}.parquet").is_file()
    }
    empty = [n for n, frame in tables.items() if frame.empty and not TABLES[n].required]
    for name in empty if empty_tables == "absent" else ():
        logger.warning("%s: table %s has no rows: treated as absent", root, name)
        del tables[name]
    return tables
