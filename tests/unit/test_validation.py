"""The data contract enforced: each rule on a deliberately broken table, modes, quarantine."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from predict.config import ConfigError, load_section
from predict.contract.schemas import (
    DATE_ORDER,
    MONTH_END_COLUMNS,
    SCHEDULED_DATE_COLUMNS,
    build_schema,
)
from predict.contract.skeleton import read_book_skeleton
from predict.contract.spec import TABLES
from predict.contract.validation import (
    INCOMPLETE_NOTE,
    ISSUE_COLUMNS,
    RUN_DATE,
    ValidationConfig,
    ValidationFailed,
    ValidationResult,
    load_validated,
    report_data,
    report_markdown,
    table_order,
    validate_folder,
    write_quarantine,
    write_validated,
)
from tests.support.contract_folder import AS_OF, contract_frames, with_parents, write_folder

STRICT = ValidationConfig(mode="strict", as_of=AS_OF)
LENIENT = ValidationConfig(mode="lenient", as_of=AS_OF)


def _broken(tmp_path: Path, table: str, row: int, column: str, value: str | None) -> Path:
    """A folder with ``table`` (one value broken) and its parent tables only."""
    frames = with_parents(contract_frames(), table)
    frames[table].loc[row, column] = value
    return write_folder(tmp_path / "raw", frames)


def _row_errors(result: ValidationResult) -> pd.DataFrame:
    errors = result.errors
    return errors[errors["row"].notna()]


def _assert_accounted(result: ValidationResult) -> None:
    for name, counts in result.counts.items():
        assert counts.rows_in == counts.rows_valid + counts.rows_quarantined, name
        # a table none of whose rows is valid is absent (optional) or stops the run (clients)
        assert (len(result.tables[name]) if name in result.tables else 0) == counts.rows_valid
        assert len(result.quarantined[name]) == counts.rows_quarantined


def test_valid_folder_passes_strict_with_every_row_and_documented_dtypes(tmp_path: Path) -> None:
    result = validate_folder(write_folder(tmp_path / "raw"), STRICT)
    assert result.ok and result.errors.empty
    frames = contract_frames()
    assert {n: c.rows_valid for n, c in result.counts.items()} == {
        n: len(f) for n, f in frames.items()
    }
    dtypes = {"string": "str", "date": "datetime64[s]", "float": "float64", "int": "Int64"}
    for name, frame in result.tables.items():
        assert list(frame.columns) == list(TABLES[name].column_names)
        for col in TABLES[name].columns:
            assert frame[col.name].dtype == dtypes[col.kind], (name, col.name)
    assert result.tables["facilities"]["limit_amount"].tolist() == [100000.0, 50000.5]
    assert result.tables["interactions"]["nps"].tolist() == [0, 10]


BROKEN = [
    # table, row, column, value, rule, key
    ("facilities", 0, "limit_amount", "abc", "type", "facility_id=F1"),
    ("clients", 1, "onboarding_date", "2021-02-30", "type", "client_id=C2"),
    ("clients", 1, "onboarding_date", "01/03/2021", "type", "client_id=C2"),
    (
        "facility_balances",
        2,
        "days_past_due",
        "2.5",
        "type",
        "facility_id=F2, month_end=2024-01-31",
    ),
    ("interactions", 0, "csat", "good", "type", "row 1"),
    ("clients", 2, "onboarding_date", None, "required", "client_id=C3"),
    ("clients", 2, "client_id", None, "required", "client_id=<missing>"),
    ("facilities", 1, "product", None, "required", "facility_id=F2"),
    ("revenue", 1, "amount", None, "required", "row 2"),
    ("interactions", 1, "kind", None, "required", "row 2"),
    ("facilities", 0, "client_id", "C9", "foreign_key", "facility_id=F1"),
    (
        "facility_balances",
        2,
        "facility_id",
        "F9",
        "foreign_key",
        "facility_id=F9, month_end=2024-01-31",
    ),
    ("revenue", 2, "client_id", "C9", "foreign_key", "row 3"),
    ("interactions", 0, "client_id", "C9", "foreign_key", "row 1"),
    ("credit_events", 1, "client_id", "C9", "foreign_key", "row 2"),
    ("facilities", 0, "limit_amount", "-1", "min", "facility_id=F1"),
    ("facility_balances", 1, "outstanding", "-0.01", "min", "facility_id=F1, month_end=2024-02-29"),
    ("facility_balances", 1, "days_past_due", "-3", "min", "facility_id=F1, month_end=2024-02-29"),
    ("clients", 0, "annual_turnover", "-5", "min", "client_id=C1"),
    ("interactions", 0, "csat", "0", "min", "row 1"),
    ("interactions", 0, "csat", "6", "max", "row 1"),
    ("interactions", 1, "nps", "-1", "min", "row 2"),
    ("interactions", 1, "nps", "11", "max", "row 2"),
    ("facilities", 0, "maturity_date", "2022-12-31", "date_order", "facility_id=F1"),
    ("facilities", 1, "closed_date", "2023-05-31", "date_order", "facility_id=F2"),
    (
        "facility_balances",
        1,
        "month_end",
        "2024-02-28",
        "month_end",
        "facility_id=F1, month_end=2024-02-28",
    ),
    ("revenue", 0, "date", "2024-07-01", "after_as_of", "row 1"),
    ("clients", 0, "onboarding_date", "2030-01-01", "after_as_of", "client_id=C1"),
    ("facilities", 1, "closed_date", "2024-07-01", "after_as_of", "facility_id=F2"),
    (
        "facility_balances",
        1,
        "month_end",
        "2024-07-31",
        "after_as_of",
        "facility_id=F1, month_end=2024-07-31",
    ),
    ("credit_events", 0, "date", "2025-01-01", "after_as_of", "row 1"),
]


@pytest.mark.parametrize(("table", "row", "column", "value", "rule", "key"), BROKEN)
def test_each_broken_value_is_one_issue_and_one_quarantined_row(
    tmp_path: Path, table: str, row: int, column: str, value: str | None, rule: str, key: str
) -> None:
    result = validate_folder(_broken(tmp_path, table, row, column, value), LENIENT)
    errors = _row_errors(result)
    others = set(errors.loc[errors["table"] != table, "rule"])
    assert others <= {"parent_quarantined", "foreign_key"}  # children of a broken key
    mine = errors[errors["table"] == table]
    assert len(mine) == 1, mine
    issue = mine.iloc[0]
    assert (issue["table"], issue["column"], issue["rule"]) == (table, column, rule)
    assert (issue["key"], issue["row"]) == (key, row + 1)
    assert issue["value"] == value if value is not None else pd.isna(issue["value"])
    assert issue["detail"]
    assert result.ok  # lenient: the run goes on without the row
    _assert_accounted(result)
    quarantined = result.quarantined[table]
    assert quarantined["source_row"].tolist() == [row + 1]
    assert quarantined["rule"].tolist() == [rule]
    assert quarantined["reason"].iloc[0] == f"{column}: {issue['detail']}"


def test_strict_mode_stops_on_any_row_error(tmp_path: Path) -> None:
    raw = _broken(tmp_path, "revenue", 0, "date", "2024-07-01")
    assert not validate_folder(raw, STRICT).ok
    assert validate_folder(raw, LENIENT).ok


def test_duplicate_key_flags_every_copy(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["clients"].loc[2, "client_id"] = "C1"
    frames["revenue"] = frames["revenue"].iloc[:2]  # C3 no longer exists for revenue
    frames["facility_balances"] = pd.concat([frames["facility_balances"]] * 2, ignore_index=True)
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    errors = _row_errors(result)
    dup_clients = errors[(errors["table"] == "clients") & (errors["rule"] == "unique")]
    assert dup_clients["row"].tolist() == [1, 3]
    assert set(dup_clients["key"]) == {"client_id=C1"}
    dup_balances = errors[(errors["table"] == "facility_balances") & (errors["rule"] == "unique")]
    assert len(dup_balances) == 6
    assert set(dup_balances["column"]) == {"facility_id,month_end"}


def test_quarantined_parent_takes_its_children_along(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["clients"].loc[1, "onboarding_date"] = "not a date"  # C2
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    _assert_accounted(result)
    for table, column in [
        ("facilities", "client_id"),  # F2 belongs to C2
        ("facility_balances", "facility_id"),  # F2's balance, two levels down
        ("revenue", "client_id"),
        ("interactions", "client_id"),
        ("credit_events", "client_id"),
    ]:
        quarantined = result.quarantined[table]
        assert len(quarantined) == 1, table
        assert quarantined["rule"].iloc[0] == "parent_quarantined"
        assert quarantined["reason"].iloc[0].startswith(f"{column}: ")
        assert "quarantined" in quarantined["reason"].iloc[0]
    assert "C2" not in set(result.tables["clients"]["client_id"])


def test_orphan_is_told_apart_from_a_quarantined_parent(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["clients"].loc[1, "annual_turnover"] = "-1"  # C2 quarantined
    frames["revenue"].loc[2, "client_id"] = "C404"  # never existed
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    revenue = result.quarantined["revenue"].set_index("client_id")["rule"]
    assert revenue.to_dict() == {"C2": "parent_quarantined", "C404": "foreign_key"}


def test_rows_with_several_problems_are_quarantined_once_with_every_reason(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["facilities"].loc[0, ["limit_amount", "maturity_date"]] = ["-1", "2000-01-31"]
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    quarantined = result.quarantined["facilities"]
    assert len(quarantined) == 1
    assert set(quarantined["rule"].iloc[0].split(", ")) == {"min", "date_order"}
    assert "limit_amount: must be >= 0" in quarantined["reason"].iloc[0]
    assert "maturity_date: before origination_date" in quarantined["reason"].iloc[0]


def test_a_wrong_type_is_one_type_issue_not_also_a_missing_value(tmp_path: Path) -> None:
    result = validate_folder(_broken(tmp_path, "revenue", 0, "amount", "12,5"), STRICT)
    assert _row_errors(result)["rule"].tolist() == ["type"]


def test_balances_before_origination_and_maturity_after_as_of_are_allowed(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["facility_balances"].loc[0, "month_end"] = "2010-01-31"  # long before F1 started
    frames["facilities"].loc[0, "maturity_date"] = "2040-12-31"  # scheduled, in the future
    result = validate_folder(write_folder(tmp_path / "raw", frames), STRICT)
    assert result.ok, result.errors


def test_as_of_defaults_to_today(tmp_path: Path) -> None:
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    result = validate_folder(_broken(tmp_path, "revenue", 0, "date", tomorrow), ValidationConfig())
    assert result.as_of == dt.date.today()
    assert _row_errors(result)["rule"].tolist() == ["after_as_of"]


def test_unknown_column_is_left_out_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = contract_frames()
    frames["revenue"]["internal_note"] = "x"
    with caplog.at_level(logging.INFO, logger="predict.contract.validation"):
        result = validate_folder(write_folder(tmp_path / "raw", frames), STRICT)
    assert result.ok
    assert "internal_note" not in result.tables["revenue"].columns
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "internal_note" in warnings[0].getMessage()
    assert result.issues.loc[result.issues["severity"] == "warning", "rule"].tolist() == [
        "column_unknown"
    ]


def test_absent_optional_table_is_said_once_and_absent_optional_columns_are_null(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    frames = contract_frames()
    del frames["revenue"]
    frames["clients"] = frames["clients"].drop(columns=["segment", "annual_turnover"])
    with caplog.at_level(logging.INFO, logger="predict.contract.validation"):
        result = validate_folder(write_folder(tmp_path / "raw", frames), STRICT)
    assert result.ok and result.absent == ("revenue",)
    assert "revenue" not in result.tables
    said = [r.getMessage() for r in caplog.records if "revenue" in r.getMessage()]
    assert said == [
        "table revenue absent: features from it left out; the contribution target cannot be defined"
    ]
    assert result.tables["clients"]["segment"].isna().all()
    assert result.tables["clients"]["annual_turnover"].dtype == "float64"


def test_children_of_an_absent_parent_are_orphans(tmp_path: Path) -> None:
    frames = contract_frames()
    del frames["facilities"]
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    assert set(_row_errors(result)["rule"]) == {"foreign_key"}
    assert result.counts["facility_balances"].rows_quarantined == 3


def _fatal_rules(result: ValidationResult) -> list[str]:
    return result.fatal["rule"].tolist()


@pytest.mark.parametrize("config", [STRICT, LENIENT], ids=["strict", "lenient"])
def test_unreadable_file_stops_the_run_in_any_mode_naming_the_file(
    tmp_path: Path, config: ValidationConfig
) -> None:
    raw = write_folder(tmp_path / "raw")
    (raw / "facilities.csv").unlink()
    (raw / "facilities.parquet").write_bytes(b"PAR1 this is not parquet")
    result = validate_folder(raw, config)
    assert not result.ok
    assert _fatal_rules(result) == ["file_unreadable"]
    assert "facilities.parquet" in result.fatal["detail"].iloc[0]


def test_ragged_csv_is_unreadable(tmp_path: Path) -> None:
    raw = write_folder(tmp_path / "raw")
    (raw / "revenue.csv").write_text("client_id,date,amount\nC1,2024-01-01,1,extra,fields\n")
    result = validate_folder(raw, LENIENT)
    assert _fatal_rules(result) == ["file_unreadable"]
    assert "revenue.csv" in result.fatal["detail"].iloc[0]


def test_two_formats_for_one_table_stop_the_run(tmp_path: Path) -> None:
    raw = write_folder(tmp_path / "raw")
    contract_frames()["revenue"].to_parquet(raw / "revenue.parquet")
    result = validate_folder(raw, LENIENT)
    assert _fatal_rules(result) == ["file_ambiguous"]
    assert "revenue.csv" in result.fatal["detail"].iloc[0]
    assert "revenue.parquet" in result.fatal["detail"].iloc[0]


def test_missing_required_column_stops_the_run(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["facilities"] = frames["facilities"].drop(columns=["limit_amount"])
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    assert _fatal_rules(result) == ["column_missing"]
    assert result.fatal["column"].tolist() == ["limit_amount"]
    assert "facilities" not in result.tables


def test_missing_clients_table_stops_the_run(tmp_path: Path) -> None:
    frames = contract_frames()
    del frames["clients"]
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    assert "table_missing" in _fatal_rules(result)


def test_empty_clients_is_an_error_and_empty_optional_table_a_warning(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["interactions"] = frames["interactions"].iloc[:0]
    result = validate_folder(write_folder(tmp_path / "raw", frames), STRICT)
    assert result.ok
    assert "interactions" not in result.tables and "interactions" in result.absent
    warning = result.issues[result.issues["rule"] == "table_empty"]
    assert warning["severity"].tolist() == ["warning"]

    frames["clients"] = frames["clients"].iloc[:0]
    result = validate_folder(write_folder(tmp_path / "raw2", frames), LENIENT)
    assert not result.ok and "table_empty" in _fatal_rules(result)


def test_an_extract_keeps_an_empty_optional_table_as_a_table_of_no_rows(tmp_path: Path) -> None:
    # one client's rows cut from a book (predict score --extract): no credit event is the
    # truth for that client, not a missing table; every row invalid is still absent
    frames = contract_frames()
    frames["credit_events"] = frames["credit_events"].iloc[:0]  # a header-only CSV
    raw = write_folder(tmp_path / "raw", frames)
    result = validate_folder(raw, STRICT, empty_tables="no_rows")
    assert result.ok and "credit_events" not in result.absent
    kept = result.tables["credit_events"]
    assert kept.empty and list(kept.columns) == list(TABLES["credit_events"].column_names)
    assert validate_folder(raw, STRICT).absent == ("credit_events",)  # a book: absent
    write_validated(result, tmp_path / "v", tmp_path / "q", tmp_path / "report")
    folder = tmp_path / "v"
    assert load_validated(folder, "no_rows")["credit_events"].empty
    assert "credit_events" not in load_validated(folder)
    # the book's skeleton beside the tables: each column's least and greatest value
    skeleton = read_book_skeleton(folder)
    assert set(skeleton) == set(result.tables) and skeleton["credit_events"].empty
    for name, frame in result.tables.items():
        if frame.empty:
            continue
        assert len(skeleton[name]) == 2
        for column in frame.columns:
            values = frame[column].dropna()
            if len(values) and column.endswith("date"):
                assert skeleton[name][column].tolist() == [values.min(), values.max()], column
            elif not len(values):
                assert skeleton[name][column].isna().all(), column
    frames["facility_balances"]["outstanding"] = "-1"
    result = validate_folder(write_folder(tmp_path / "bad", frames), LENIENT, "no_rows")
    assert "facility_balances" in result.absent
    with pytest.raises(ValueError, match="empty_tables must be one of"):
        validate_folder(raw, STRICT, empty_tables="empty")


def test_an_optional_table_with_every_row_quarantined_is_absent(tmp_path: Path) -> None:
    # as an empty file: scoring then says what it cannot evaluate, rather than reading
    # "no balances" as fully drawn facilities or "no events" as none happened
    frames = contract_frames()
    frames["facility_balances"]["outstanding"] = "-1"
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    assert result.ok
    assert "facility_balances" not in result.tables and "facility_balances" in result.absent
    counts = result.counts["facility_balances"]
    assert counts.rows_valid == 0 and counts.rows_quarantined == counts.rows_in > 0
    assert len(result.quarantined["facility_balances"]) == counts.rows_in  # nothing lost
    write_validated(result, tmp_path / "validated", tmp_path / "quarantine", tmp_path / "rep")
    assert not (tmp_path / "validated" / "facility_balances.parquet").exists()
    assert "facility_balances" not in load_validated(tmp_path / "validated")
    # an empty optional table file in a validated folder (older runs) reads as absent too
    frames_now = load_validated(tmp_path / "validated")
    frames_now["interactions"].iloc[:0].to_parquet(tmp_path / "validated" / "interactions.parquet")
    assert "interactions" not in load_validated(tmp_path / "validated")


def test_parquet_input_gives_the_same_tables_as_csv(tmp_path: Path) -> None:
    from_csv = validate_folder(write_folder(tmp_path / "csv"), STRICT)
    typed = {name: frame.copy() for name, frame in from_csv.tables.items()}
    from_parquet = validate_folder(write_folder(tmp_path / "pq", typed, fmt="parquet"), STRICT)
    assert from_parquet.ok
    for name, frame in from_csv.tables.items():
        pd.testing.assert_frame_equal(from_parquet.tables[name], frame)


def test_strict_failure_writes_the_report_and_nothing_else(tmp_path: Path) -> None:
    result = validate_folder(_broken(tmp_path, "facilities", 0, "limit_amount", "abc"), STRICT)
    out, quarantine, reports = tmp_path / "validated", tmp_path / "quarantine", tmp_path / "rep"
    out.mkdir()
    (out / "clients.parquet").write_bytes(b"previous run")
    with pytest.raises(ValidationFailed) as caught:
        write_validated(result, out, quarantine, reports)
    message = str(caught.value)
    assert "facilities.limit_amount [facility_id=F1, row 1] type" in message
    assert "'abc'" in message and str(reports / "report.md") in message
    assert (out / "clients.parquet").read_bytes() == b"previous run"
    assert sorted(p.name for p in out.iterdir()) == ["clients.parquet"]
    assert not quarantine.exists()
    report = json.loads((reports / "report.json").read_text())
    assert report["status"] == "failed"
    assert report["issues"][0] | {"detail": None} == {
        "severity": "error",
        "table": "facilities",
        "column": "limit_amount",
        "row": 1,
        "key": "facility_id=F1",
        "rule": "type",
        "value": "abc",
        "detail": None,
    }
    assert "facility_id=F1" in (reports / "report.md").read_text()


def test_lenient_run_writes_valid_tables_quarantine_and_counts(tmp_path: Path) -> None:
    frames = contract_frames()
    frames["facilities"].loc[1, "limit_amount"] = "-10"
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    out, quarantine, reports = tmp_path / "validated", tmp_path / "quarantine", tmp_path / "rep"
    write_validated(result, out, quarantine, reports)
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "facilities.parquet",
        "facility_balances.parquet",  # F2's balance follows F2
        "facility_terms.parquet",  # and so does its repricing
    ]
    bad = pd.read_parquet(quarantine / "facilities.parquet")
    assert bad[["facility_id", "limit_amount", "source_row", "rule"]].values.tolist() == [
        ["F2", "-10", 2, "min"]
    ]
    report = json.loads((reports / "report.json").read_text())
    assert report["status"] == "passed"
    assert report["counts"]["facilities"] == {"rows_in": 2, "rows_valid": 1, "rows_quarantined": 1}
    tables = load_validated(out)
    assert tables["facilities"]["facility_id"].tolist() == ["F1"]


def test_load_validated_gives_documented_dtypes(tmp_path: Path) -> None:
    result = validate_folder(write_folder(tmp_path / "raw"), STRICT)
    write_validated(result, tmp_path / "v", tmp_path / "q", tmp_path / "r")
    tables = load_validated(tmp_path / "v")
    assert set(tables) == set(TABLES)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, result.tables[name])
    assert str(tables["facility_balances"]["days_past_due"].dtype) == "Int64"
    assert str(tables["clients"]["onboarding_date"].dtype) == "datetime64[s]"
    assert str(tables["clients"]["client_id"].dtype) == "str"


def test_load_validated_without_clients_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="validate stage"):
        load_validated(tmp_path)


def test_issue_frame_has_the_documented_columns(tmp_path: Path) -> None:
    result = validate_folder(_broken(tmp_path, "revenue", 0, "amount", "x"), LENIENT)
    assert tuple(result.issues.columns) == ISSUE_COLUMNS
    assert str(result.issues["row"].dtype) == "Int64"


def test_schemas_come_from_the_contract() -> None:
    for table in TABLES.values():
        schema = build_schema(table, AS_OF)
        assert list(schema.columns) == list(table.column_names)
        for col in table.columns:
            assert schema.columns[col.name].nullable is not col.required
    for source in (DATE_ORDER, MONTH_END_COLUMNS, SCHEDULED_DATE_COLUMNS):
        for name, entries in source.items():
            for entry in entries:
                for column in (entry,) if isinstance(entry, str) else entry:
                    TABLES[name].column(column)  # raises if the contract has no such column


def test_parents_are_validated_before_children() -> None:
    order = table_order()
    assert sorted(order) == sorted(TABLES)
    for name, table in TABLES.items():
        for fk in table.foreign_keys:
            assert order.index(fk.table) < order.index(name)


def test_config_loads_from_params_and_refuses_unknown_mode(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  mode: lenient\n  as_of: 2024-06-30\n")
    assert load_section(params, "validate", ValidationConfig) == LENIENT
    params.write_text("validate:\n  mode: relaxed\n")
    with pytest.raises((ConfigError, ValueError), match="strict"):
        load_section(params, "validate", ValidationConfig)


def test_a_write_that_fails_midway_never_leaves_a_passed_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while the quarantine is written (an OSError from a write): the report
    says incomplete, never passed; a quarantine folder that cannot be made does the same."""
    frames = contract_frames()
    frames["facilities"].loc[1, "limit_amount"] = "-10"
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    reports = tmp_path / "rep"
    calls: list[str] = []
    real = pd.DataFrame.to_parquet

    def disk_full(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        if "quarantine" in str(path):
            raise OSError(28, "No space left on device")
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_validated(result, tmp_path / "v", tmp_path / "quarantine", reports)
    monkeypatch.undo()
    assert any("quarantine" in c for c in calls)
    report = json.loads((reports / "report.json").read_text())
    assert report["status"] == "incomplete"
    text = (reports / "report.md").read_text()
    assert text.splitlines()[0] == "# Data validation: incomplete"
    assert text.rstrip().endswith(INCOMPLETE_NOTE)
    (tmp_path / "blocker").write_text("a file where the quarantine folder should be")
    with pytest.raises(OSError):
        write_validated(result, tmp_path / "v2", tmp_path / "blocker" / "q", reports)
    assert json.loads((reports / "report.json").read_text())["status"] == "incomplete"
    write_validated(result, tmp_path / "v", tmp_path / "quarantine", reports)
    assert json.loads((reports / "report.json").read_text())["status"] == "passed"
    text = (reports / "report.md").read_text()
    assert text.splitlines()[0] == "# Data validation: passed" and INCOMPLETE_NOTE not in text


def test_write_quarantine_writes_one_file_per_table_with_rows(tmp_path: Path) -> None:
    """The quarantine of validate and of score: a file per table that lost rows (here one
    facility with a negative limit, and its balances, whose parent is gone), nothing for the
    others; the folder replaced whole."""
    frames = contract_frames()
    frames["facilities"].loc[1, "limit_amount"] = "-10"
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    folder = tmp_path / "q"
    (folder).mkdir()
    (folder / "stale.parquet").write_text("an older run's")
    assert write_quarantine(result, folder) == folder
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["facilities.parquet", "facility_balances.parquet", "facility_terms.parquet"]
    assert len(pd.read_parquet(folder / "facilities.parquet")) == 1


@pytest.mark.parametrize(
    ("row", "column", "value", "rule", "detail"),
    [
        (1, "facility_id", "F9", "foreign_key", "not found in facilities.facility_id"),
        (1, "limit_amount", "-1", "min", "must be >= 0"),
        (1, "effective_date", "2099-01-01", "after_as_of", "after the as-of date"),
        (1, "effective_date", "2023-01-10", "unique", "duplicate key"),
    ],
)
def test_facility_terms_rules_name_table_column_row_and_rule(
    tmp_path: Path, row: int, column: str, value: str, rule: str, detail: str
) -> None:
    """A terms row of an unknown facility, a negative limit, a change dated after the data
    end, two rows for one day: each refused. (A maturity before the row's date is not: a
    facility past maturity, still open, may be repriced.)"""
    frames = contract_frames()
    frames["facility_terms"].loc[row, column] = value
    result = validate_folder(write_folder(tmp_path / "raw", frames), LENIENT)
    found = result.issues[result.issues["table"] == "facility_terms"]
    hit = found[found["rule"] == rule]
    assert len(hit) >= 1, found
    assert hit["row"].tolist()[-1] == row + 1 and detail in hit["detail"].iloc[-1]
    assert result.counts["facility_terms"].rows_valid == 3 - len(hit)


def test_the_same_rows_in_another_order_give_the_same_tables_and_features(
    tmp_path: Path,
) -> None:
    # Float sums depend on their order; validated tables come in an order fixed by their
    # rows (key, then every column), so a re-extract listing the rows differently gives
    # the same features to the last bit (without it, revenue_12m differed for most clients)
    import datetime as dt

    from predict.features.build import build_features
    from predict.synthetic import GenerateConfig, generate_portfolio

    tables = generate_portfolio(GenerateConfig(n_clients=300, months=30, truth_paths=0)).tables
    shuffled = {n: f.sample(frac=1.0, random_state=3) for n, f in tables.items()}
    config = ValidationConfig(mode="strict", as_of=dt.date(2025, 12, 31))
    got = {}
    for name, frames in (("given", tables), ("shuffled", shuffled)):
        result = validate_folder(write_folder(tmp_path / name, frames, fmt="parquet"), config)
        assert result.ok
        got[name] = result.tables
    for name, frame in got["given"].items():
        pd.testing.assert_frame_equal(got["shuffled"][name], frame, check_exact=True)
    dates = [dt.date(2025, 6, 30), dt.date(2025, 12, 31)]
    pd.testing.assert_frame_equal(
        build_features(got["shuffled"], dates), build_features(got["given"], dates),
        check_exact=True,
    )  # fmt: skip


def test_the_report_names_the_run_date_without_printing_it(tmp_path: Path) -> None:
    # validate.as_of: null checks against today, but the report must be the same on any day
    # for the same data and params (dvc.lock, CI's check of the results)
    raw = write_folder(tmp_path / "raw", contract_frames())
    today = dt.date.today().isoformat()
    data = report_data(validate_folder(raw, ValidationConfig(mode="strict")))
    assert data["as_of"] == RUN_DATE
    assert today not in report_markdown(validate_folder(raw, ValidationConfig(mode="strict")))
    given = report_data(validate_folder(raw, ValidationConfig(mode="strict", as_of=AS_OF)))
    assert given["as_of"] == AS_OF.isoformat()
