"""File I/O with no half-written outputs: every write goes to a temporary file, then a rename.

Temporary files and folders sit beside their target, named
``.<name>.<host>.p<pid>-<random>`` (``.tmp`` for files; the folder an :func:`atomic_dir` swap
moves the old target to has the same form), so a run killed mid-write leaves only such
hidden names. Each :func:`atomic_path` / :func:`atomic_dir` first removes the leftovers of
earlier runs for the same target: only names of exactly that form, written on this host
(``<host>``: :data:`HOST`), whose process is gone. A leftover of a live process, one of
another host (whose pid cannot be checked from here) and any other hidden file are kept.

:func:`write_csv` is for people and spreadsheets: text cells that a spreadsheet would run as
a formula are escaped (see :func:`escape_formulas`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def _host_tag() -> str:
    """This host's name as it appears in temporary names: letters, digits, ``_`` and ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


HOST = _host_tag()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _leftover_owner(name: str, entry: str) -> tuple[str, int] | None:
    """``(host, pid)`` of a temporary name this module made for ``name``, else None."""
    esc = re.escape(name)
    found = re.fullmatch(rf"\.{esc}\.([A-Za-z0-9_-]+)\.p(\d+)-[A-Za-z0-9_]+(\.tmp)?", entry)
    return (found.group(1), int(found.group(2))) if found else None


def remove_leftovers(target: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files/folders of ``target`` left by killed runs; returns them."""
    path = Path(target)
    if not path.parent.is_dir():
        return []
    removed = []
    for entry in path.parent.iterdir():
        owner = _leftover_owner(path.name, entry.name)
        if owner is None or owner[0] != HOST or _alive(owner[1]):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        log.info("removed leftovers of interrupted runs: %s", [str(p) for p in removed])
    return removed


def _prefix(target: Path) -> str:
    return f".{target.name}.{HOST}.p{os.getpid()}-"


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target), dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        if target.exists():
            old = target.with_name(f"{_prefix(target)}old{secrets.token_hex(4)}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
    row_group_rows: int | None = None,
) -> Path:
    """``df`` as Parquet; ``metadata``: key-value pairs added to the file's schema metadata;
    ``row_group_rows``: at most that many rows per row group (None: pyarrow's default, at
    most 1,048,576), so that readers can take the file a row group at a time (the train
    split on a Dask cluster, :mod:`predict.models.dask_train`). The rows, their order and
    values do not depend on it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if row_group_rows is not None and row_group_rows < 1:
        raise ValueError(f"{path}: row_group_rows must be >= 1, got {row_group_rows}")
    with atomic_path(path) as tmp:
        if metadata:
            table = pa.Table.from_pandas(df, preserve_index=False)
            extra = {k.encode(): v.encode() for k, v in metadata.items()}
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
            pq.write_table(table, tmp, row_group_size=row_group_rows)
        elif row_group_rows is not None:
            df.to_parquet(tmp, index=False, row_group_size=row_group_rows)
        else:
            df.to_parquet(tmp, index=False)
    return Path(path)


def parquet_rows(path: str | os.PathLike[str]) -> int:
    """The rows of a Parquet file (from its footer: nothing else is read)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def parquet_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The key-value schema metadata of a Parquet file (footer only; pandas' own key left out)."""
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"}


def _escape_cell(value: Any) -> Any:
    triggered = isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)
    if triggered and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """The text :func:`_escape_cell` escaped, as it was (``'=x`` -> ``=x``); else unchanged."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS):
        return value[1:] if _escape_cell(value[1:]) == value else value
    return value


def escape_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula, prefixed with ``'`` (OWASP CSV injection).

    A cell is escaped when it is text (a ``str``, ``object`` or ``category`` column) and starts
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, unless it is a plain decimal
    number (``-12.5``). Numeric, boolean and date columns are never touched.
    """
    out = {}
    for name in df.columns:
        col = df[name]
        textual = (
            pd.api.types.is_string_dtype(col)
            or pd.api.types.is_object_dtype(col)
            or isinstance(col.dtype, pd.CategoricalDtype)
        )
        if textual:
            out[name] = col.astype("object").map(_escape_cell, na_action="ignore")
    return df.assign(**out) if out else df


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """``df`` as CSV for people: text formula triggers escaped (:func:`escape_formulas`)."""
    with atomic_path(path) as tmp:
        escape_formulas(df).to_csv(tmp, index=False)
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def json_text(obj: Any) -> str:
    """The project's JSON layout: indented, keys sorted, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    return write_text(json_text(obj), path)


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
