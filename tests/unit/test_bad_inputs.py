"""The bad-input catalogue: each case breaks one thing of a valid folder or command line.

Every case runs the command line through typer's CliRunner and asserts the exit code, the
message (table, column, rule, option or value named) and, wherever validation got to count
rows, that none was lost: per table rows_in == rows_valid + rows_quarantined, rows_in being
the rows the case wrote.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from predict.cli import app
from predict.contract.tables import parse_column
from predict.features.snapshots import data_start
from predict.report.formatting import client_page_name, client_page_names
from predict.scoring.dates import check_scoring_date
from tests.support.contract_folder import AS_OF, contract_frames, with_parents, write_folder
from tests.support.tables import frame as table_frame
from tests.support.tables import tiny_tables

runner = CliRunner()
Frames = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class Built:
    args: list[str]
    rows: dict[str, int]  # rows written per table (rows_in expected in the report)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Built]
    code: int
    said: tuple[str, ...]  # each in the command's output or the validation report


def _validate(tmp: Path, raw: Path, frames: Frames | None, *extra: str) -> Built:
    params = tmp / "params.yaml"
    if not params.exists():
        params.write_text("validate: {}\n")
    args = ["validate", str(raw), "--as-of", AS_OF.isoformat(), "--params", str(params),
            "--out", str(tmp / "v"), "--quarantine", str(tmp / "q"), "--report", str(tmp / "r"),
            "--quiet", *extra]  # fmt: skip
    return Built(args, {n: len(f) for n, f in (frames or {}).items()})


def edited(
    edit: Callable[[Frames], None], *extra: str, fmt: str = "csv"
) -> Callable[[Path], Built]:
    """A folder of every table, ``edit`` applied, validated with ``extra`` options."""

    def build(tmp: Path) -> Built:
        frames = contract_frames()
        edit(frames)
        return _validate(tmp, write_folder(tmp / "raw", frames, fmt), frames, *extra)

    return build


def value(
    table: str, row: int, column: str, new: str | None, *extra: str
) -> Callable[[Path], Built]:
    """``table`` (and its parents only) with one value replaced."""

    def build(tmp: Path) -> Built:
        frames = with_parents(contract_frames(), table)
        frames[table].loc[row, column] = new
        return _validate(tmp, write_folder(tmp / "raw", frames), frames, *extra)

    return build


def lenient_value(table: str, row: int, column: str, new: str | None, rule: str) -> Case:
    return Case(
        f"{table}.{column}={new!r}:{rule}",
        value(table, row, column, new, "--mode", "lenient"),
        0,
        (f"{table}.{column}", f"] {rule}:", "row(s) quarantined"),
    )


def on_folder(make: Callable[[Path], None], *extra: str) -> Callable[[Path], Built]:
    """A valid CSV folder changed on disk by ``make`` (files, links, folders)."""

    def build(tmp: Path) -> Built:
        raw = write_folder(tmp / "raw")
        make(raw)
        return _validate(tmp, raw, None, *extra)

    return build


def typed_parquet(edit: Callable[[Frames], None]) -> Callable[[Path], Built]:
    """Every table as Parquet with stored types (dates, numbers), then ``edit`` (ids...)."""

    def build(tmp: Path) -> Built:
        frames = contract_frames()
        for name, frame in frames.items():
            for column in frame.columns:
                if "date" in column or column == "month_end":
                    frame[column] = pd.to_datetime(frame[column].replace("None", None))
                elif column in ("limit_amount", "outstanding", "amount", "annual_turnover"):
                    frame[column] = pd.to_numeric(frame[column].replace("None", None))
            frames[name] = frame.replace({"None": None})
        edit(frames)
        raw = write_folder(tmp / "raw", frames, fmt="parquet")
        return _validate(tmp, raw, frames, "--mode", "lenient")

    return build


def command(*args: str, params: str | None = None) -> Callable[[Path], Built]:
    """Any command line; ``params``: text of a params file passed as --params."""

    def build(tmp: Path) -> Built:
        extra: list[str] = []
        if params is not None:
            (tmp / "p.yaml").write_text(params)
            extra = ["--params", str(tmp / "p.yaml")]
        return Built([a.replace("{tmp}", str(tmp)) for a in args] + extra, {})

    return build


def _set(table: str, column: str, values: list[object]) -> Callable[[Frames], None]:
    def edit(frames: Frames) -> None:
        frames[table][column] = pd.Series(values, dtype=object)

    return edit


def _int_ids(frames: Frames) -> None:
    for name in ("clients", "facilities", "revenue", "interactions", "credit_events"):
        frames[name]["client_id"] = frames[name]["client_id"].str[1:].astype("int64")


def _all_clients_bad(frames: Frames) -> None:
    frames["clients"]["onboarding_date"] = "not a date"


def _duplicate_client(frames: Frames) -> None:
    frames["clients"].loc[2, "client_id"] = "C1"


def _no_clients(frames: Frames) -> None:
    del frames["clients"]


def _empty(table: str) -> Callable[[Frames], None]:
    def edit(frames: Frames) -> None:
        frames[table] = frames[table].iloc[:0]

    return edit


def _drop(table: str, column: str) -> Callable[[Frames], None]:
    def edit(frames: Frames) -> None:
        frames[table] = frames[table].drop(columns=[column])

    return edit


def _extra_column(frames: Frames) -> None:
    frames["revenue"]["internal_note"] = "x"


def _rewrite(name: str, text: bytes) -> Callable[[Path], None]:
    def make(raw: Path) -> None:
        (raw / name).write_bytes(text)

    return make


def _garbage_parquet(raw: Path) -> None:
    (raw / "clients.csv").unlink()
    (raw / "clients.parquet").write_bytes(b"PAR1 not parquet")


def _separated(sep: str) -> Callable[[Path], None]:
    def make(raw: Path) -> None:
        contract_frames()["clients"].to_csv(raw / "clients.csv", index=False, sep=sep)

    return make


def _folder_named_like(raw: Path) -> None:
    (raw / "revenue.csv").unlink()
    (raw / "revenue.csv").mkdir()


def _dangling(raw: Path) -> None:
    (raw / "revenue.csv").unlink()
    (raw / "revenue.csv").symlink_to(raw / "nowhere.csv")


def _loop(raw: Path) -> None:
    (raw / "revenue.csv").unlink()
    (raw / "revenue.csv").symlink_to(raw / "revenue.csv")


def _two_formats(raw: Path) -> None:
    contract_frames()["revenue"].to_parquet(raw / "revenue.parquet")


def _latin1(raw: Path) -> None:
    (raw / "clients.csv").write_bytes(
        "client_id,onboarding_date\nZ\xfcrich,2020-01-01\n".encode("latin-1")
    )


def _bad_gzip(raw: Path) -> None:
    (raw / "revenue.csv").unlink()
    (raw / "revenue.csv.gz").write_bytes(b"not gzip at all")


def _nul_in_csv(raw: Path) -> None:
    text = (raw / "revenue.csv").read_bytes().replace(b"C3,", b"C\x003,", 1)
    (raw / "revenue.csv").write_bytes(text)


def _nul_in_gz(raw: Path) -> None:
    text = (raw / "revenue.csv").read_bytes().replace(b"C3,", b"C\x003,", 1)
    (raw / "revenue.csv").unlink()
    (raw / "revenue.csv.gz").write_bytes(gzip.compress(text))


def _unknown_file(raw: Path) -> None:
    (raw / "notes.txt").write_text("hello")


def _no_folder(tmp: Path) -> Built:
    return _validate(tmp, tmp / "nowhere", None)


def _params_then(text: str, *extra: str) -> Callable[[Path], Built]:
    def build(tmp: Path) -> Built:
        (tmp / "params.yaml").write_text(text)
        return _validate(tmp, write_folder(tmp / "raw"), None, *extra)

    return build


ROW_CASES = [
    lenient_value("facilities", 0, "limit_amount", "abc", "type"),
    lenient_value("clients", 1, "onboarding_date", "2021-02-30", "type"),
    lenient_value("clients", 1, "onboarding_date", "01/03/2021", "type"),
    lenient_value("facility_balances", 2, "days_past_due", "2.5", "type"),
    lenient_value("interactions", 0, "csat", "good", "type"),
    lenient_value("revenue", 0, "amount", "true", "type"),
    lenient_value("revenue", 0, "amount", "1,5", "type"),
    lenient_value("facilities", 0, "limit_amount", "inf", "type"),
    lenient_value("clients", 2, "onboarding_date", None, "required"),
    lenient_value("clients", 2, "client_id", None, "required"),
    lenient_value("facilities", 1, "product", None, "required"),
    lenient_value("revenue", 1, "amount", None, "required"),
    lenient_value("interactions", 1, "kind", None, "required"),
    lenient_value("facilities", 0, "client_id", "C9", "foreign_key"),
    lenient_value("facility_balances", 2, "facility_id", "F9", "foreign_key"),
    lenient_value("revenue", 2, "client_id", "C9", "foreign_key"),
    lenient_value("interactions", 0, "client_id", "C9", "foreign_key"),
    lenient_value("credit_events", 1, "client_id", "C9", "foreign_key"),
    lenient_value("facilities", 0, "limit_amount", "-1", "min"),
    lenient_value("facility_balances", 1, "outstanding", "-0.01", "min"),
    lenient_value("facility_balances", 1, "days_past_due", "-3", "min"),
    lenient_value("clients", 0, "annual_turnover", "-5", "min"),
    lenient_value("interactions", 0, "csat", "0", "min"),
    lenient_value("interactions", 0, "csat", "6", "max"),
    lenient_value("interactions", 1, "nps", "11", "max"),
    lenient_value("facilities", 0, "maturity_date", "2022-12-31", "date_order"),
    lenient_value("facilities", 1, "closed_date", "2023-05-31", "date_order"),
    lenient_value("facility_balances", 1, "month_end", "2024-02-28", "month_end"),
    lenient_value("revenue", 0, "date", "2024-07-01", "after_as_of"),
    lenient_value("clients", 0, "onboarding_date", "2030-01-01", "after_as_of"),
    lenient_value("facilities", 1, "closed_date", "2024-07-01", "after_as_of"),
    lenient_value("credit_events", 0, "date", "2025-01-01", "after_as_of"),
    Case("duplicate key", edited(_duplicate_client, "--mode", "lenient"), 0, ("] unique:",)),
    Case(
        "strict stops on a bad value",
        value("facilities", 0, "limit_amount", "abc"),
        1,
        ("facilities.limit_amount [facility_id=F1, row 1] type", "validate.mode: lenient"),
    ),
    Case(
        "strict stops on a future date",
        value("revenue", 0, "date", "2024-07-01"),
        1,
        ("revenue.date [row 1] after_as_of",),
    ),
    Case("NUL byte in a CSV id", on_folder(_nul_in_csv, "--mode", "lenient"), 0, ("nul_byte",)),
    Case("NUL byte in a gzip CSV", on_folder(_nul_in_gz, "--mode", "lenient"), 0, ("nul_byte",)),
]

TABLE_CASES = [
    Case("no clients table", edited(_no_clients), 1, ("table_missing", "clients")),
    Case("empty clients", edited(_empty("clients")), 1, ("table_empty", "clients")),
    Case(
        "lenient with no valid client",
        edited(_all_clients_bad, "--mode", "lenient"),
        1,
        ("no_valid_rows", "table clients: none of its 3 row(s) is valid"),
    ),
    Case(
        "required column missing",
        edited(_drop("facilities", "limit_amount")),
        1,
        ("column_missing", "required column limit_amount is missing"),
    ),
    Case("semicolon CSV", on_folder(_separated(";")), 1, ("looks semicolon-separated",)),
    Case("tab CSV", on_folder(_separated("\t")), 1, ("looks tab-separated",)),
    Case("garbage Parquet", on_folder(_garbage_parquet), 1, ("cannot be read as Parquet",)),
    Case(
        "ragged CSV",
        on_folder(_rewrite("revenue.csv", b"client_id,date,amount\nC1,2024-01-01,1,x\n")),
        1,
        ("file_unreadable", "revenue.csv"),
    ),
    Case("two formats", on_folder(_two_formats), 1, ("file_ambiguous", "revenue.parquet")),
    Case("a folder named revenue.csv", on_folder(_folder_named_like), 1, ("is a folder",)),
    Case("a dangling link", on_folder(_dangling), 1, ("revenue.csv", "symbolic link")),
    Case("a symlink loop", on_folder(_loop), 1, ("revenue.csv", "symbolic link")),
    Case("latin-1 CSV", on_folder(_latin1), 1, ("file_unreadable", "clients.csv")),
    Case("not gzip", on_folder(_bad_gzip), 1, ("file_unreadable", "revenue.csv.gz")),
    Case("no input folder", _no_folder, 1, ("nowhere", "does not exist")),
    Case("empty optional table", edited(_empty("interactions")), 0, ("table_empty",)),
    Case("unknown column", edited(_extra_column), 0, ("column_unknown", "internal_note")),
    Case("unknown file", on_folder(_unknown_file), 0, ("file_unknown", "notes.txt")),
    Case("missing optional table", edited(lambda f: f.pop("revenue")), 0, ("table_absent",)),
]

PARQUET_CASES = [
    Case("integer ids in Parquet", typed_parquet(_int_ids), 0, ("value_converted", "'1'")),
    Case(
        "whole float ids",
        typed_parquet(_set("clients", "client_id", [1.0, 2.0, 3.0])),
        0,
        ("value_converted", "1.0 -> '1'"),
    ),
    Case(
        "fractional float id",
        typed_parquet(_set("clients", "client_id", [1.0, 2.5, 3.0])),
        0,
        ("clients.client_id", "not an id"),
    ),
    Case(
        "boolean amount",
        typed_parquet(_set("revenue", "amount", [True, False, True])),
        0,
        ("revenue.amount", "] type:"),
    ),
    Case(
        "number in a date column",
        typed_parquet(_set("clients", "onboarding_date", [20200115, 20210301, 20220731])),
        1,  # every client refused: nothing left
        ("clients.onboarding_date", "] type:", "no_valid_rows"),
    ),
    Case(
        "NUL byte in a Parquet id",
        typed_parquet(_set("clients", "client_id", ["C1", "C\x002", "C3"])),
        0,
        ("clients.client_id", "nul_byte"),
    ),
    Case(
        "decimal amounts",
        typed_parquet(_set("revenue", "amount", [Decimal("1.5"), Decimal("-2"), None])),
        0,
        ("] required:",),  # the null one; the decimals are numbers
    ),
]

MISSING = "{tmp}/nonexistent.yaml"
# our own message, not click's "No such option: --params" (which also names --params)
GONE = ("nonexistent.yaml (--params) does not exist",)
CLI_CASES = [
    Case("validate --params missing", command("validate", "{tmp}", "--params", MISSING), 2,
         GONE),
    Case("params without validate:", _params_then("data: {}\n"), 2, ("no section 'validate'",)),
    Case("params not YAML", _params_then("validate: [\n"), 2, ("cannot be read",)),
    Case("params bad mode", _params_then("validate:\n  mode: relaxed\n"), 2, ("validate.mode",)),
    Case("params unknown key", _params_then("validate:\n  moed: strict\n"), 2, ("unknown key",)),
    Case("validate --as-of x", command("validate", "{tmp}", "--as-of", "31/12/2024"), 2,
         ("--as-of", "not a date")),
    Case("validate --mode relaxed", command("validate", "{tmp}", "--mode", "relaxed"), 2,
         ("--mode", "strict")),
    Case("features --params missing", command("features", "--params", MISSING), 2, GONE),
    Case("features no section", command("features", params="split: {}\n"), 2,
         ("no section 'features'",)),
    Case("split --params missing", command("split", "--params", MISSING), 2, GONE),
    Case("train --params missing", command("train", "--params", MISSING), 2, GONE),
    Case("train no section", command("train", params="score: {}\n"), 2,
         ("no section 'train'",)),
    Case("score --params missing", command("score", "--input", "{tmp}", "--params", MISSING),
         2, GONE),
    Case("score no features section", command("score", "--input", "{tmp}", params="score: {}\n"),
         2, ("no section 'features'",)),
    Case("score --as-of x", command("score", "--input", "{tmp}", "--as-of", "2024-13-01"), 2,
         ("--as-of",)),
    Case("report --params missing", command("report", "--params", MISSING), 2, GONE),
    Case("report without scores", command("report", "--scores", "{tmp}/none",
         params="report: {}\n"), 1, ("none/scores.parquet not found",)),  # data: 1
    Case("generate --params missing", command("generate", "--params", MISSING), 2, GONE),
    Case("generate no section", command("generate", params="data: {}\n"), 2,
         ("no section 'generate' (write `generate: {}`",)),
    Case("params is a folder", command("split", "--params", "{tmp}"), 2, ("is a folder",)),
    Case("unknown target", command("train", "--target", "loyalty", params="train: {}\n"), 2,
         ("unknown target 'loyalty'",)),
    Case("revenue_scale auto, no features", command("train", "--target", "contribution",
         params="train: {}\n"), 2, ("no section 'features'",)),
    Case("revenue_scale not a number", command("train", params="train:\n  baseline:\n"
         "    revenue_scale: lots\n"), 2, ("revenue_scale: 'lots' is neither auto nor",)),
    Case("revenue_scale negative", command("train", params="train:\n  baseline:\n"
         "    revenue_scale: -1\n"), 2, ("revenue_scale must be > 0",)),
    Case("offset feature not in the catalogue", command("train", params="train:\n"
         "  contribution:\n    offset: {feature: revenue_3months}\n"), 2,
         ("offset.feature: 'revenue_3months' is not a feature of the catalogue",)),
]  # fmt: skip

CASES = ROW_CASES + TABLE_CASES + PARQUET_CASES + CLI_CASES


def _said(tmp: Path, output: str) -> str:
    report = tmp / "r" / "report.md"
    return output + (report.read_text(encoding="utf-8") if report.is_file() else "")


def _assert_no_row_lost(tmp: Path, rows: dict[str, int]) -> None:
    report = tmp / "r" / "report.json"
    if not report.is_file():
        return
    counts = json.loads(report.read_text(encoding="utf-8"))["counts"]
    for name, c in counts.items():
        assert c["rows_in"] == c["rows_valid"] + c["rows_quarantined"], name
        if name in rows:
            assert c["rows_in"] == rows[name], name
    quarantine = tmp / "q"
    for name, c in counts.items():
        path = quarantine / f"{name}.parquet"
        if c["rows_quarantined"] and (tmp / "v").is_dir():
            assert len(pd.read_parquet(path)) == c["rows_quarantined"], name


def test_the_catalogue_holds_sixty_cases_or_more() -> None:
    """A check on the catalogue itself (its size, unique names), not a behaviour test: the
    behaviour is in test_bad_input's cases."""
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    built = case.build(tmp_path)
    result = runner.invoke(app, built.args)
    said = _said(tmp_path, result.output)
    assert result.exit_code == case.code, said
    assert "Traceback" not in said and not isinstance(result.exception, AssertionError)
    if case.code and result.exception is not None:
        assert isinstance(result.exception, SystemExit), result.exception
    for text in case.said:
        assert text in said, f"{text!r} not in:\n{said}"
    _assert_no_row_lost(tmp_path, built.rows)


def test_ids_are_the_same_text_from_every_stored_type() -> None:
    texts = [
        parse_column(pd.Series(values), "string", identifier=True)[0].tolist()
        for values in ([1, 2], [1.0, 2.0], ["1", "2"], [Decimal("1"), Decimal("2.00")])
    ]
    assert texts == [["1", "2"]] * 4


def test_client_page_names_cannot_collide() -> None:
    hashed = client_page_name("a/b")
    assert hashed.startswith("a_b~") and hashed.endswith(".html")
    lookalike = hashed.removesuffix(".html").replace("~", "-")
    assert client_page_name(lookalike) == f"{lookalike}.html" != hashed
    names = client_page_names(["C1", "c1", "C2", "a/b", lookalike])
    assert len({n.casefold() for n in names.values()}) == 5
    assert names["C2"] == "C2.html"


def _tiny() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.mark.parametrize(
    ("as_of", "after_data", "said"),
    [
        (dt.date(2030, 12, 31), False, "after the end of the data (2022-12-31)"),
        (dt.date(1990, 1, 31), False, "before the data"),
        (dt.date(2019, 12, 31), False, "first client is onboarded 2020-01-15"),
    ],
)
def test_scoring_dates_the_data_cannot_support_are_refused(
    as_of: dt.date, after_data: bool, said: str
) -> None:
    with pytest.raises(ValueError, match="--as-of") as caught:
        check_scoring_date(_tiny(), as_of, "--as-of", after_data)
    assert said in str(caught.value)


def test_a_date_with_less_history_than_training_needs_is_refused() -> None:
    # the tiny book's events start in February 2020: with 12 months required the first
    # month end it can be scored at is 2021-01-31 (the first training as-of would be the same)
    tables = _tiny()
    start = data_start(tables)
    assert (start.year, start.month) == (2020, 2)
    with pytest.raises(ValueError, match="less history before it than") as caught:
        check_scoring_date(tables, dt.date(2020, 12, 31), "--as-of", min_history_months=12)
    assert "Choose a month end from 2021-01-31" in str(caught.value)
    check_scoring_date(tables, dt.date(2021, 1, 31), "--as-of", min_history_months=12)
    # a date before the data is told the first date that passes both checks
    with pytest.raises(ValueError, match="before the data") as early:
        check_scoring_date(tables, dt.date(2019, 12, 31), "--as-of", min_history_months=12)
    assert "Choose a month end from 2021-01-31" in str(early.value)
    # features.data_start later than the rows (2020-09): 12 months of history from there
    later = dt.date(2020, 9, 30)
    with pytest.raises(ValueError, match="less history before it than") as short:
        check_scoring_date(tables, dt.date(2021, 1, 31), "--as-of", min_history_months=12,
                           start=later)  # fmt: skip
    assert "Choose a month end from 2021-08-31" in str(short.value)


def test_a_date_after_the_data_is_scored_only_when_asked(caplog: pytest.LogCaptureFixture) -> None:
    check_scoring_date(_tiny(), dt.date(2030, 12, 31), "--as-of", after_data=True)
    assert "after the end of the data" in caplog.text
    check_scoring_date(_tiny(), dt.date(2022, 12, 31), "--as-of")  # inside: nothing said


def test_without_params_yaml_the_defaults_run_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    raw = write_folder(tmp_path / "raw")
    monkeypatch.chdir(tmp_path)  # no params.yaml here
    result = runner.invoke(app, ["validate", str(raw), "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    assert "(strict mode): passed" in result.output
    assert "no params.yaml in" in caplog.text and "built-in default" in caplog.text


def test_a_month_only_credit_events_reach_is_refused_for_scoring(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = _tiny()  # balances and revenue end 2022-12-31
    late = table_frame("credit_events", [("c2", "f3", "2023-01-31", "watchlist")])
    tables["credit_events"] = pd.concat([tables["credit_events"], late], ignore_index=True)
    with pytest.raises(ValueError, match="after 2022-12-31, the last month end the balances"):
        check_scoring_date(tables, dt.date(2023, 1, 31), "features.as_of.scoring")
    check_scoring_date(tables, dt.date(2023, 1, 31), "--as-of", after_data=True)
    assert "(--after-data)" in caplog.text
    check_scoring_date(tables, dt.date(2022, 12, 31), "features.as_of.scoring")
