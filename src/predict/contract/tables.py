"""Contract tables on disk: find them in a folder, read them raw, type them per the contract.

A folder holds at most one file per table: ``<table>.parquet``, ``<table>.csv`` or
``<table>.csv.gz``. CSV files are read as text, so a value of the wrong type is found and
reported per row by :func:`parse_column` instead of failing the whole read. Parquet files
keep their own types and are brought to the contract's dtypes the same way: ids are text
end to end (integers become their decimal text, floats only when whole: 1.0 -> "1"),
booleans are never numbers or dates, a number is never a date (see :func:`parse_column`).
A NUL byte in a CSV is kept (the fast parser would cut the value at it) so that the row can
be refused (:func:`nul_bytes`).

Typed (validated) dtypes: strings ``str``, dates ``datetime64[s]`` (date only),
floats ``float64``, ints ``Int64``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import os
import warnings
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

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
EXACT_INTEGER = 2**53  # floats at or above it may not hold the integer that was meant
_NATIVE = {  # pandas infer_dtype of object columns that hold values of the kind itself
    "date": frozenset({"date", "datetime", "datetime64"}),
    "number": frozenset({"integer", "floating", "mixed-integer-float", "decimal"}),
}


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
        if path.name.startswith("."):
            continue
        parsed = table_file_name(path)
        if parsed is not None and parsed[0] in TABLES:  # a folder or a bad link too: an error
            found.setdefault(parsed[0], []).append(path)  # when read, never "absent"
        elif path.is_file():
            others.append(path)
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
    _require_file(path)
    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else _read_csv(path, fmt)
    except Exception as exc:  # any parser failure becomes one clear message naming the file
        kind = "Parquet" if fmt == "parquet" else "CSV"
        raise TableReadError(f"{path}: cannot be read as {kind}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _require_file(path: Path) -> None:
    """A :class:`TableReadError` naming ``path`` when it is not a readable regular file."""
    if path.is_file():
        return
    if path.is_dir():
        raise TableReadError(f"{path}: is a folder, not a table file")
    if path.is_symlink():
        raise TableReadError(
            f"{path}: is a symbolic link that leads to no file (dangling, or a loop)"
        )
    raise TableReadError(f"{path}: is not a regular file")


class _NulWatch(io.RawIOBase):
    """A byte stream that notes whether a NUL byte went through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.found = raw, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.found = self.found or b"\x00" in data
        return len(data)


def _read_csv(path: Path, fmt: str) -> pd.DataFrame:
    """CSV as text; a file with a NUL byte is read again by the (slower) parser that keeps it."""
    options: dict[str, Any] = {
        "dtype": "str",
        "keep_default_na": False,
        "na_values": [""],
        "index_col": False,
        "encoding": "utf-8",
    }
    with warnings.catch_warnings():  # a row longer than the header would lose data
        warnings.simplefilter("error", pd.errors.ParserWarning)
        opener = gzip.open if fmt == "csv.gz" else open
        with opener(path, "rb") as raw:
            watch = _NulWatch(raw)  # type: ignore[arg-type]
            frame = pd.read_csv(io.BufferedReader(watch), **options)
        if watch.found:
            frame = pd.read_csv(path, engine="python", **options)
    return frame


def nul_bytes(values: pd.Series) -> pd.Series:
    """True where a text value holds a NUL byte (never a valid part of an id or a code)."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.where(values.map(lambda v: isinstance(v, str)), None).astype("str")
        return text.str.contains("\x00", regex=False).fillna(False).astype(bool)
    return pd.Series(False, index=values.index)


def parse_column(
    values: pd.Series, kind: ColumnKind, identifier: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Type ``values`` as contract ``kind``; return (typed values, mask of refused values).

    A value that is present but cannot be read as ``kind`` becomes null in the typed values
    and True in the mask, so the caller can report it per row. Refused: text that is not a
    number or an ISO date; a boolean where a number or a date belongs (never 1.0); a number
    where a date belongs. Strings: text as it is (stripped); integers as their decimal text;
    floats as text, whole ones without ".0" (1.0 -> "1"). In an ``identifier`` column (a
    key or a foreign key) a fractional or inexact float and a boolean are refused.
    """
    if kind == "string":
        return _parse_string(values, identifier)
    form = _form(values, kind)
    if form == "mixed":
        return _parse_mixed(values, kind)
    if form == "refused":
        return _typed_nulls(kind, values.index), values.notna()
    if form == "text":
        values = values.astype("str").str.strip()
        present = values.notna() & ~values.isin(NULL_TOKENS)
        values = values.where(present)
    else:
        present = values.notna()
    typed = _parse_date(values) if kind == "date" else _parse_number(values, kind)
    return typed, present & typed.isna()


def _form(values: pd.Series, kind: ColumnKind) -> str:
    """How a column holds ``kind``: "text", "native" (numbers, dates), "refused", "mixed"."""
    is_date = pd.api.types.is_datetime64_any_dtype(values)
    if pd.api.types.is_bool_dtype(values):
        return "refused"
    if pd.api.types.is_numeric_dtype(values) or is_date:
        return "native" if is_date == (kind == "date") else "refused"
    if values.dtype != object:
        return "text"
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        return "text"
    return "native" if inferred in _NATIVE["date" if kind == "date" else "number"] else "mixed"


def _typed_nulls(kind: ColumnKind, index: pd.Index) -> pd.Series:
    return pd.Series(None, index=index, dtype=KIND_DTYPES[kind])


def _element_form(value: object, kind: ColumnKind) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return "null"
    if isinstance(value, float) and np.isnan(value):
        return "null"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, np.bool_)):
        return "refused"
    native = (dt.date, np.datetime64) if kind == "date" else (int, float, Decimal, np.number)
    return "native" if isinstance(value, native) else "refused"


def _parse_mixed(values: pd.Series, kind: ColumnKind) -> tuple[pd.Series, pd.Series]:
    """An object column of several Python types (Parquet): each value on its own."""
    forms = values.map(lambda v: _element_form(v, kind))
    typed = _typed_nulls(kind, values.index)
    bad = forms == "refused"
    for form in ("text", "native"):
        part = values[forms == form]
        if part.empty:
            continue
        if form == "text":
            part = part.astype("str")
        elif kind == "date":
            part = pd.to_datetime(part, errors="coerce")
        else:  # ints, floats, decimals: one dtype, so the recursion ends
            part = part.map(float).astype("float64")
        part_typed, part_bad = parse_column(part, kind)
        typed[part.index] = part_typed
        bad[part.index] = part_bad
    return typed, bad.astype(bool)


def _parse_string(values: pd.Series, identifier: bool) -> tuple[pd.Series, pd.Series]:
    """Text of each value (see :func:`parse_column`) and the mask of refused values."""
    refused = pd.Series(False, index=values.index)
    if pd.api.types.is_bool_dtype(values) and identifier:
        return _typed_nulls("string", values.index), values.notna()
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
        "string",
        "empty",
    ):
        texts = values.map(lambda v: _element_text(v, identifier))
        refused = texts.map(lambda t: t is False).astype(bool)
        values = texts.where(~refused & texts.map(lambda t: isinstance(t, str)), None)
    elif pd.api.types.is_float_dtype(values):
        values, refused = _float_text(values, identifier)
    text = values.astype("str").str.strip()
    return text.where(text != ""), refused


def _exact_whole(values: Any) -> Any:
    """Where a float (a Series or one value) holds a whole number below :data:`EXACT_INTEGER`
    in size, so the integer it stands for is exact; false for fractions, NaN and infinities."""
    return (values % 1 == 0) & (abs(values) < EXACT_INTEGER)


def _float_text(values: pd.Series, identifier: bool) -> tuple[pd.Series, pd.Series]:
    """Floats as text: whole ones as integers ("17850"), others as written ("0.5"), or
    refused in an identifier column (as are whole ones too large to be exact)."""
    whole = _exact_whole(values)
    text = pd.Series(None, index=values.index, dtype="str")
    text[whole] = values[whole].astype("int64").astype("str")
    others = values.notna() & ~whole
    if identifier:
        return text, others
    text[others] = values[others].astype("str")
    return text, pd.Series(False, index=values.index)


def _element_text(value: object, identifier: bool) -> str | bool | None:
    """One value of a mixed object column as text; None when null; False when refused."""
    if _element_form(value, "string") == "null":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return False if identifier else str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, Decimal, np.floating)):
        if _exact_whole(value):
            return str(int(value))
        return False if identifier else str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return str(value)


def conversion_note(values: pd.Series, kind: ColumnKind) -> str | None:
    """Words for a conversion of stored (Parquet) types that :func:`parse_column` makes, for
    the validation report; None when the values were text or of the kind itself."""
    if kind != "string":
        return None
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in (
        "string",
        "empty",
    ):
        return None
    if pd.api.types.is_string_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_integer_dtype(values):
        return f"{values.dtype} integers read as their decimal text (1 -> '1')"
    if pd.api.types.is_float_dtype(values):
        return (
            f"{values.dtype} numbers read as text: whole ones as integers (1.0 -> '1'); "
            "fractional ones refused in key columns, kept as written elsewhere"
        )
    return f"{values.dtype} values read as text"


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
    return numbers.where(_exact_whole(numbers)).astype("Int64")


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
