"""The validated tables as a Parquet dataset partitioned by client, and its digest.

``predict partition`` (:func:`write_dataset`) streams each validated table in batches of
``batch_rows`` rows and writes every row to the partition of its client
(:func:`predict.distributed.partitions.client_partition`: SipHash with a fixed key, the same
in every process and on every machine; a facility balance or terms row goes with its
facility's client). The layout::

    <dataset>/
      digest.json                  partitions, rows per table and partition, last dates
      skeleton/<table>.parquet     two rows per table: each column's minimum and maximum
      book/rate_known.parquet      one row per rated facility: the rate reference's input
      part-00000/<table>.parquet   every row of the clients hashed to partition 0
      ...

The driver of a distributed run reads only ``digest.json``, the skeleton and the book file;
each worker reads its own ``part-<k>`` folder (:func:`read_part`). The skeleton is what the
book-wide decisions read (:func:`predict.features.snapshots.as_of_dates`, the data end, the
data start, the available features, the label availability): they look only at which
tables and columns hold a value and at each date column's first and last value, which the
column minima and maxima keep exactly. The folder is written beside its target and renamed
into place (:func:`predict.io.atomic_dir`): it appears whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.contract.skeleton import SKELETON, Extremes, read_book_skeleton
from predict.contract.spec import TABLES
from predict.contract.tables import KIND_DTYPES, cast_to_contract
from predict.distributed.partitions import BY_FACILITY, HASH_KEY, client_partition
from predict.features import rates as frates
from predict.io import atomic_dir, parquet_rows, read_json, write_json

logger = logging.getLogger(__name__)

FORMAT = 1
DIGEST = "digest.json"  # what makes a folder a dataset (scoring.cluster.DATASET_DIGEST too)
RATE_KNOWN = "book/rate_known.parquet"


@dataclass(frozen=True)
class PartitionConfig:
    """The ``partition`` params: how many client partitions, and the rows read at a time."""

    partitions: int = 16  # client partitions; a few per worker core of the cluster
    batch_rows: int = 1_000_000  # rows of a table read and written at a time (memory bound)

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partition.partitions must be >= 1, got {self.partitions}")
        if self.batch_rows < 1:
            raise ValueError(f"partition.batch_rows must be >= 1, got {self.batch_rows}")


def part_dir(dataset: str | os.PathLike[str], k: int) -> Path:
    return Path(dataset) / f"part-{k:05d}"


# ---------------------------------------------------------------- writing


def _owners(folder: Path) -> pd.Series | None:
    """facility_id -> client_id of the validated facilities (None without the table)."""
    path = folder / "facilities.parquet"
    if not path.is_file():
        return None
    fac = pd.read_parquet(path, columns=["facility_id", "client_id"])
    return fac.drop_duplicates("facility_id").set_index("facility_id")["client_id"]


def _batch_clients(name: str, batch: Any, owners: pd.Series | None) -> pd.Series:
    """The client of each row of ``batch`` (a pyarrow RecordBatch of table ``name``)."""
    if name not in BY_FACILITY:
        clients = pd.Series(batch.column("client_id").to_numpy(zero_copy_only=False))
    else:
        if owners is None:
            raise ValueError(
                f"table {name}: cannot be partitioned by client without table facilities "
                "(rule: facility_id must exist in facilities)"
            )
        ids = pd.Series(batch.column("facility_id").to_numpy(zero_copy_only=False))
        clients = ids.map(owners)
        orphan = clients.isna()
        if orphan.any():
            raise ValueError(
                f"table {name}, column facility_id: {int(orphan.sum())} row(s) with a facility "
                f"absent from facilities, e.g. facility_id={ids[orphan].iloc[0]!r} (rule: "
                "foreign key to facilities.facility_id); validate the tables first"
            )
    if clients.isna().any():
        raise ValueError(f"table {name}, column client_id: row(s) without a client (required)")
    return clients


def _write_table(
    name: str, source: Path, out: Path, config: PartitionConfig, owners: pd.Series | None
) -> list[int]:
    """Stream ``source`` into ``out/part-<k>/<name>.parquet``; its rows per partition."""
    import pyarrow.parquet as pq

    reader = pq.ParquetFile(source)
    schema = reader.schema_arrow
    writers: dict[int, Any] = {}
    counts = np.zeros(config.partitions, dtype=np.int64)
    extremes = Extremes(schema)
    try:
        for batch in reader.iter_batches(batch_size=config.batch_rows):
            extremes.add(batch)
            part = client_partition(_batch_clients(name, batch, owners), config.partitions)
            order = np.argsort(part, kind="stable")
            sizes = np.bincount(part, minlength=config.partitions)
            bounds = np.concatenate([[0], np.cumsum(sizes)])
            for k in map(int, np.flatnonzero(sizes)):
                if k not in writers:
                    writers[k] = pq.ParquetWriter(part_dir(out, k) / f"{name}.parquet", schema)
                writers[k].write_batch(batch.take(order[bounds[k] : bounds[k + 1]]))
            counts += sizes
        for k in range(config.partitions):  # every part has every table, possibly empty
            if k not in writers:
                writers[k] = pq.ParquetWriter(part_dir(out, k) / f"{name}.parquet", schema)
    finally:
        for writer in writers.values():
            writer.close()
    if int(counts.sum()) != reader.metadata.num_rows:
        raise RuntimeError(f"table {name}: partitioning lost or repeated rows")
    pq.write_table(extremes.table(), out / SKELETON / f"{name}.parquet")
    return [int(c) for c in counts]


def write_dataset(
    input_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: PartitionConfig | None = None,
) -> dict[str, Any]:
    """The validated tables of ``input_dir`` as a dataset partitioned by client in
    ``out_dir`` (replaced whole, on success). Returns the digest (also ``digest.json``)."""
    from predict.features.snapshots import data_end, data_start, table_ends

    config = config or PartitionConfig()
    source = Path(input_dir)
    if not (source / "clients.parquet").is_file():
        raise FileNotFoundError(f"{source}: no clients.parquet; run the validate stage first")
    names = [n for n in TABLES if (source / f"{n}.parquet").is_file()]
    empty = [
        n for n in names if not TABLES[n].required and parquet_rows(source / f"{n}.parquet") == 0
    ]
    for n in empty:  # as load_validated: an empty optional table is absent
        logger.warning("%s: table %s has no rows: treated as absent", source, n)
    names = [n for n in names if n not in empty]
    owners = _owners(source)
    with atomic_dir(out_dir) as tmp:
        (tmp / SKELETON).mkdir()
        (tmp / "book").mkdir()
        for k in range(config.partitions):
            part_dir(tmp, k).mkdir()
        rows = {n: _write_table(n, source / f"{n}.parquet", tmp, config, owners) for n in names}
        known = frates.known_facilities(_book_tables(source))
        known.to_parquet(tmp / RATE_KNOWN, index=False)
        skeleton = read_skeleton(tmp)
        digest: dict[str, Any] = {
            "format": FORMAT,
            "partitions": config.partitions,
            "batch_rows": config.batch_rows,
            "hash": f"pandas.util.hash_array (SipHash, key {HASH_KEY}) of client_id mod partitions",
            "tables": {n: {"rows": sum(rows[n]), "rows_per_partition": rows[n]} for n in names},
            "table_ends": {n: d.isoformat() for n, d in table_ends(skeleton).items()},
            "data_start": data_start(skeleton).isoformat(),
            "data_end": data_end(skeleton).isoformat(),
            "rated_facilities": len(known),
        }
        write_json(digest, tmp / DIGEST)
    logger.info(
        "wrote %s: %d tables, %d partitions, %d rows",
        out_dir,
        len(names),
        config.partitions,
        sum(sum(counts) for counts in rows.values()),
    )
    return digest


def _book_tables(source: Path) -> dict[str, pd.DataFrame]:
    """What the rate reference reads: clients' onboarding, facilities, facility terms."""
    columns = {
        "clients": ["client_id", "onboarding_date"],
        "facilities": None,
        "facility_terms": None,
    }
    out: dict[str, pd.DataFrame] = {}
    for name, cols in columns.items():
        path = source / f"{name}.parquet"
        if path.is_file():
            frame = pd.read_parquet(path, columns=cols)
            table = TABLES[name]
            out[name] = pd.DataFrame(
                {c.name: frame[c.name].astype(KIND_DTYPES[c.kind]) for c in table.columns
                 if c.name in frame.columns}
            )  # fmt: skip
    return out


# ---------------------------------------------------------------- reading


def read_digest(dataset: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(dataset) / DIGEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a partitioned dataset; run `predict partition`")
    digest = read_json(path)
    if digest.get("format") != FORMAT:
        raise ValueError(f"{path}: format {digest.get('format')!r}, expected {FORMAT}")
    return digest


def _read_folder(folder: Path) -> dict[str, pd.DataFrame]:
    return {
        name: cast_to_contract(pd.read_parquet(path), table)
        for name, table in TABLES.items()
        if (path := folder / f"{name}.parquet").is_file()
    }


def read_skeleton(dataset: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Two rows per table (each column's minimum and maximum), typed as the contract: what
    the book-wide decisions (dates, data end, available features) read."""
    return read_book_skeleton(dataset)


def read_part(dataset: str | os.PathLike[str], k: int) -> dict[str, pd.DataFrame]:
    """Every table of partition ``k``, typed as :func:`predict.features.build.load_tables`."""
    return _read_folder(part_dir(dataset, k))


def parts_with_clients(digest: Mapping[str, Any]) -> list[int]:
    """The partitions holding at least one client (the others give no row)."""
    counts = digest["tables"]["clients"]["rows_per_partition"]
    return [k for k, n in enumerate(counts) if n > 0]


def rate_reference(dataset: str | os.PathLike[str], dates: list[dt.date]) -> pd.DataFrame:
    """``rate_ref_t`` of every date from the book's rated facilities (as
    :func:`predict.features.rates.point_in_time` on the whole tables)."""
    known = pd.read_parquet(Path(dataset) / RATE_KNOWN)
    return frates.point_in_time_known(known, dates)


def frozen_rate_reference(dataset: str | os.PathLike[str], known_at: dt.date) -> dict[str, Any]:
    """The reference as known at ``known_at`` (:func:`predict.features.rates.freeze`)."""
    known = pd.read_parquet(Path(dataset) / RATE_KNOWN)
    return frates.freeze_known(known, known_at)


__all__ = [
    "PartitionConfig",
    "frozen_rate_reference",
    "part_dir",
    "parts_with_clients",
    "rate_reference",
    "read_digest",
    "read_part",
    "read_skeleton",
    "write_dataset",
]
