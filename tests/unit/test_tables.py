"""Contract tables on disk: finding, reading and typing them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.contract.spec import TABLES
from predict.contract.tables import (
    TableReadError,
    cast_to_contract,
    locate_tables,
    parse_column,
    read_table_file,
    scan_folder,
    write_tables,
)


def _text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def test_dates_are_iso_calendar_dates_and_a_time_of_day_is_dropped() -> None:
    typed, bad = parse_column(
        _text(
            "2024-02-29",
            "2024-02-30",
            "31/01/2024",
            "20240131",
            " 2024-01-31 ",
            None,
            "NA",
            "2010-12-01 08:26:00",
            "2024-03-01T23:59:59+05:00",
            "2024-01-31x",
        ),
        "date",
    )
    assert str(typed.dtype) == "datetime64[s]"
    assert typed.iloc[0] == pd.Timestamp("2024-02-29")
    assert typed.iloc[4] == pd.Timestamp("2024-01-31")  # blanks around it are fine
    assert typed.iloc[[1, 2, 3, 5, 6, 9]].isna().all()
    assert typed.iloc[7] == pd.Timestamp("2010-12-01")
    assert typed.iloc[8] == pd.Timestamp("2024-03-01")  # the date as written
    assert bad.tolist() == [False, True, True, True, False, False, False, False, False, True]


def test_numbers_report_what_is_not_a_number() -> None:
    typed, bad = parse_column(_text("1.5", "-2", "abc", "1,5", "inf", "", "null", "1e3"), "float")
    assert str(typed.dtype) == "float64"
    assert typed.iloc[[0, 1, 7]].tolist() == [1.5, -2.0, 1000.0]
    assert bad.tolist() == [False, False, True, True, True, False, False, False]


def test_ints_take_whole_numbers_only() -> None:
    typed, bad = parse_column(_text("3", "3.0", "3.5", "x", None, "1e30"), "int")
    assert str(typed.dtype) == "Int64"
    assert typed.iloc[:2].tolist() == [3, 3]
    assert bad.tolist() == [False, False, True, True, False, True]


def test_strings_are_stripped_and_blank_is_null_but_na_is_a_code() -> None:
    typed, bad = parse_column(_text(" C1 ", "", "   ", "NA", None), "string")
    assert typed.iloc[[0, 3]].tolist() == ["C1", "NA"]
    assert typed.iloc[[1, 2, 4]].isna().all()
    assert not bad.any()


def test_native_parquet_types_are_typed_without_text() -> None:
    ids, _ = parse_column(pd.Series([17850.0, np.nan]), "string")
    assert ids.iloc[0] == "17850" and pd.isna(ids.iloc[1])
    dates, bad = parse_column(pd.Series([dt.date(2024, 1, 31), None], dtype=object), "date")
    assert dates.iloc[0] == pd.Timestamp("2024-01-31") and not bad.any()
    stamps, _ = parse_column(pd.Series(pd.to_datetime(["2024-01-31 10:00"], utc=True)), "date")
    assert str(stamps.dtype) == "datetime64[s]" and stamps.iloc[0] == pd.Timestamp("2024-01-31")
    ints, bad = parse_column(pd.Series([1.0, 2.5]), "int")
    assert ints.iloc[0] == 1 and bad.tolist() == [False, True]


def test_scan_finds_each_format_and_ignores_hidden_files(tmp_path: Path) -> None:
    for name in ("clients.csv", "revenue.csv.gz", "facilities.parquet", "notes.txt", ".x.csv"):
        (tmp_path / name).write_text("")
    found, others = scan_folder(tmp_path)
    assert {n: [p.name for p in ps] for n, ps in found.items()} == {
        "clients": ["clients.csv"],
        "revenue": ["revenue.csv.gz"],
        "facilities": ["facilities.parquet"],
    }
    assert [p.name for p in others] == ["notes.txt"]


def test_two_files_for_one_table_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_id\n")
    (tmp_path / "clients.parquet").write_text("")
    with pytest.raises(TableReadError, match=r"clients has more than one file.*clients.csv"):
        locate_tables(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TableReadError, match="does not exist"):
        scan_folder(tmp_path / "nope")


def test_csv_is_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "facilities.csv"
    path.write_text(" facility_id ,limit_amount,extra\n007,1e3,\nF2,,x\n")
    frame = read_table_file(path)
    assert list(frame.columns) == ["facility_id", "limit_amount", "extra"]
    assert frame["facility_id"].tolist() == ["007", "F2"]  # leading zeros kept
    assert frame["limit_amount"].iloc[0] == "1e3" and pd.isna(frame["limit_amount"].iloc[1])


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("clients.parquet", b"not parquet at all"),
        ("clients.csv", b""),
        ("clients.csv", b"client_id,onboarding_date\nC1,2020-01-01,extra\n"),
        ("clients.csv.gz", b"not gzip"),
        ("clients.csv", b"client_id\n\xff\xfe\x00bad"),
    ],
)
def test_unparseable_file_is_an_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TableReadError, match=name.replace(".", r"\.")):
        read_table_file(path)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_written_tables_read_back_to_the_same_values(tmp_path: Path, fmt: str) -> None:
    table = TABLES["revenue"]
    frame = cast_to_contract(
        pd.DataFrame(
            {
                "client_id": ["C1", None],
                "date": pd.to_datetime(["2024-01-31", "2024-02-01"]),
                "amount": [1.25, -3.0],
                "source": ["fee", None],
            }
        ),
        table,
    )
    written = write_tables({"revenue": frame}, tmp_path, fmt)
    assert written["revenue"].name == f"revenue.{fmt}"
    raw = read_table_file(written["revenue"])
    typed = cast_to_contract(
        pd.DataFrame({c.name: parse_column(raw[c.name], c.kind)[0] for c in table.columns}), table
    )
    pd.testing.assert_frame_equal(typed, frame)


def test_write_refuses_to_make_a_folder_ambiguous(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_id\nC1\n")
    with pytest.raises(TableReadError, match=r"clients\.csv exists"):
        write_tables({"clients": pd.DataFrame({"client_id": ["C2"]})}, tmp_path, "parquet")
    assert not (tmp_path / "clients.parquet").exists()


def test_whole_floats_are_integers_only_below_two_to_the_53() -> None:
    """One rule in three places (float columns, mixed object columns, integer columns):
    2**53 - 1 = 9007199254740991 is exact, 2**53 = 9007199254740992 may not be, 1.5 is not
    whole."""
    floats = pd.Series([9007199254740991.0, 9007199254740992.0, 1.5, 7.0])
    text, refused = parse_column(floats, "string", identifier=True)
    assert text.tolist()[0] == "9007199254740991" and text.tolist()[3] == "7"
    assert refused.tolist() == [False, True, True, False]
    mixed = pd.Series([9007199254740991.0, 9007199254740992.0, "a"], dtype="object")
    text, refused = parse_column(mixed, "string", identifier=True)
    assert refused.tolist() == [False, True, False] and text.iloc[0] == "9007199254740991"
    ints, _ = parse_column(floats, "int")
    assert ints.tolist()[0] == 9007199254740991 and ints.tolist()[3] == 7
    assert pd.isna(ints.iloc[1]) and pd.isna(ints.iloc[2])
