"""Contract tables on disk: find them in a folder, read them raw, type them per the contract.

A folder holds at most one file per table: ``<table>.parquet``, ``<table>.csv`` or
``<table>.csv.gz``. CSV files are read as text, so a value of the wrong type is found and
reported per row by :func:`parse_column` instead of failing the whole read. Parquet files
keep their own types and are brought to the contract's dtypes the same way.

Typed (validated) dtypes: strings ``str``, dates ``datetime64[s]`` (date only),
floats ``float64``, ints ``Int64``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from predict.contract.spec import TABLES, ColumnKind, Table
from predict.io import atomic_path

logger = logging.getLogger(__name__)

KIND_DTYPES: dict[str, Any] = {  # contract kind -> pandas dtype
    "string": "str",
    "date": "datetime64[s]",
    "float": "float64",
    "int": "Int64",
}
FORMATS: dict[str, str] = {"parquet": ".parquet", "csv": ".csv", "csv.gz": ".csv.gz"}
# Text that means "no value" in a date or number column. In string columns only an empty
# (or all-blank) field is null: "NA" may be a real code (Namibia, "not applicable").
NULL_TOKENS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})


class TableReadError(ValueError):
    """A table file cannot be found unambiguously or cannot be parsed."""


def table_file_name(path: Path) -> tuple[str, str] | None:
    """``(table name, format)`` for a file named like a table file, else None."""
    for fmt, suffix in sorted(FORMATS.items(), key=lambda kv: -len(kv[1])):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)], fmt
    return None


def scan_folder(folder: str | os.PathLike[str]) -> tuple[dict[str, list[Path]], list[Path]]:
    """Files of each contract table in ``folder`` (sorted) and the other files there."""
    root = Path(folder)
    if not root.is_dir():
        raise TableReadError(f"input folder {root} does not exist or is not a folder")
    found: dict[str, list[Path]] = {}
    others: list[Path] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        parsed = table_file_name(path)
        if parsed is None or parsed[0] not in TABLES:
            others.append(path)
        else:
            found.setdefault(parsed[0], []).append(path)
    return found, others


def locate_tables(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """The one file of each contract table present in ``folder``.

    Raises :class:`TableReadError` when the folder is missing or a table has two files.
    """
    found, _ = scan_folder(folder)
    for name, paths in found.items():
        if len(paths) > 1:
            raise TableReadError(ambiguous_message(name, paths))
    return {name: paths[0] for name, paths in found.items()}


def ambiguous_message(name: str, paths: list[Path]) -> str:
    listed = ", ".join(p.name for p in paths)
    return f"table {name} has more than one file in {paths[0].parent}: {listed}; keep one"


def read_table_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read one table file as it is: CSV as text (null = empty field), Parquet as stored."""
    path = Path(path)
    parsed = table_file_name(path)
    fmt = parsed[1] if parsed else "csv"
    try:
        if fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            with warnings.catch_warnings():  # a row longer than the header would lose data
                warnings.simplefilter("error", pd.errors.ParserWarning)
                frame = pd.read_csv(
                    path, dtype="str", keep_default_na=False, na_values=[""], index_col=False
                )
    except Exception as exc:  # any parser failure becomes one clear message naming the file
        kind = "Parquet" if fmt == "parquet" else "CSV"
        raise TableReadError(f"{path}: cannot be read as {kind}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def parse_column(values: pd.Series, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
    """Type ``values`` as contract ``kind``; return (typed values, mask of unparseable values).

    A value that is present but cannot be read as ``kind`` becomes null in the typed values
    and True in the mask, so the caller can report it per row.
    """
    if kind == "string":
        return _parse_string(values), pd.Series(False, index=values.index)
    native = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
    if native or (values.dtype == object and kind == "date"):  # Parquet keeps its own types
        present = values.notna()
    else:
        values = values.astype("str").str.strip()
        present = values.notna() & ~values.isin(NULL_TOKENS)
        values = values.where(present)
    typed = _parse_date(values) if kind == "date" else _parse_number(values, kind)
    return typed, present & typed.isna()


def _parse_string(values: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(values) and (values.dropna() % 1 == 0).all():
        values = values.astype("Int64")  # 17850.0 from a float id column -> "17850"
    text = values.astype("str").str.strip()
    return text.where(text != "")


def _parse_date(values: pd.Series) -> pd.Series:
    """Dates as ``datetime64[s]`` at midnight; text must start with YYYY-MM-DD."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    elif values.dtype == object:  # datetime.date / datetime objects from Parquet
        stamps = pd.to_datetime(values, errors="coerce")
    else:  # text: the date, then nothing or a time of day (" 08:26:00", "T08:26:00+02:00")
        date_part = values.str.slice(0, 10).where(values.str.slice(10, 11).isin(["", " ", "T"]))
        stamps = pd.to_datetime(date_part, format="%Y-%m-%d", errors="coerce")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_localize(None)  # the wall-clock date as written
    days = stamps.to_numpy().astype("datetime64[D]").astype("datetime64[s]")
    return pd.Series(days, index=values.index)


def _parse_number(values: pd.Series, kind: ColumnKind) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    numbers = numbers.where(np.isfinite(numbers))
    if kind == "float":
        return numbers
    whole = (numbers % 1 == 0) & (numbers.abs() < 2**53)  # exactly representable
    return numbers.where(whole).astype("Int64")


def cast_to_contract(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Contract columns of ``frame`` (already clean), in contract order, with typed dtypes;
    an optional column the frame lacks is all missing (as validation leaves it)."""
    missing = [c for c in table.required_columns if c not in frame.columns]
    if missing:
        raise TableReadError(f"table {table.name}: column(s) {missing} missing")
    absent = pd.Series(None, index=frame.index, dtype="object")
    return pd.DataFrame(
        {c.name: frame.get(c.name, absent).astype(KIND_DTYPES[c.kind]) for c in table.columns},
        index=pd.RangeIndex(len(frame)),
    )


def write_tables(
    tables: Mapping[str, pd.DataFrame], out_dir: str | os.PathLike[str], fmt: str = "parquet"
) -> dict[str, Path]:
    """Write contract tables as ``<out_dir>/<table><suffix>`` (one file each, atomically).

    Refuses to write a table that already has a file of another format in ``out_dir``
    (the folder would then be ambiguous).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {sorted(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = locate_tables(out)
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        target = out / f"{name}{FORMATS[fmt]}"
        if name in existing and existing[name] != target:
            raise TableReadError(f"{existing[name]} exists: remove it before writing {target}")
        with atomic_path(target) as tmp:
            if fmt == "parquet":
                frame.to_parquet(tmp, index=False)
            else:
                compression: Literal["gzip"] | None = "gzip" if fmt == "csv.gz" else None
                frame.to_csv(tmp, index=False, compression=compression, date_format="%Y-%m-%d")
        written[name] = target
        logger.info("wrote %s (%d rows)", target, len(frame))
    return written
