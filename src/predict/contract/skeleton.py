"""A book's skeleton: each table's columns, their least and greatest value, nothing else.

Two rows per table (row 0 each column's minimum, row 1 its maximum; no value: null; a table
with no row: an empty table), typed as the contract, in ``<folder>/skeleton/<table>.parquet``.
It is what the book-wide decisions read: which tables and columns hold a value (the features
the data can give, the models it supports, the default status's inputs, the early-warning
triggers evaluated) and each date column's first and last value (the data start and end,
the scoring as-of and its checks, the month end to rescore). The validate stage writes it
beside the validated tables (:func:`predict.contract.validation.write_validated`) and
``predict partition`` into the partitioned dataset; scoring an extract of a few clients
reads the book's (``predict score --book``), so its decisions are the book's, not the
extract's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from predict.contract.spec import TABLES
from predict.contract.tables import cast_to_contract

SKELETON = "skeleton"


class Extremes:
    """Each column's minimum and maximum over the batches seen (None: no value yet)."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.low: dict[str, Any] = {}
        self.high: dict[str, Any] = {}
        self.rows = 0

    def add(self, batch: Any) -> None:
        import pyarrow.compute as pc

        self.rows += batch.num_rows
        for field, column in zip(self.schema, batch.columns, strict=True):
            if column.null_count == len(column):
                continue
            try:
                found = pc.min_max(column)
                low, high = found["min"].as_py(), found["max"].as_py()
            except Exception:  # a type without an order: any value says "the column has one"
                value = pc.drop_null(column)[0].as_py()
                self.low.setdefault(field.name, value)
                self.high.setdefault(field.name, value)
                continue
            old_low, old_high = self.low.get(field.name), self.high.get(field.name)
            self.low[field.name] = low if old_low is None else min(old_low, low)
            self.high[field.name] = high if old_high is None else max(old_high, high)

    def table(self) -> Any:
        import pyarrow as pa

        if not self.rows:  # an empty table stays empty (its presence is what counts)
            return self.schema.empty_table()
        columns = [
            pa.array([self.low.get(f.name), self.high.get(f.name)], type=f.type)
            for f in self.schema
        ]
        return pa.Table.from_arrays(columns, schema=self.schema)


def write_skeleton(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    """The skeleton of ``tables`` (in memory) into ``folder/skeleton/`` (created)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / SKELETON).mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        extremes = Extremes(table.schema)
        for batch in table.to_batches():
            extremes.add(batch)
        pq.write_table(extremes.table(), folder / SKELETON / f"{name}.parquet")


def read_book_skeleton(folder: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The skeleton in ``folder/skeleton/`` (a validated folder or a partitioned dataset),
    typed as the contract; FileNotFoundError naming what writes one."""
    root = Path(folder) / SKELETON
    if not root.is_dir():
        raise FileNotFoundError(
            f"{folder}: no {SKELETON}/ folder (the book's tables, columns and dates): give the "
            "validated book (written by `predict validate`) or a partitioned dataset "
            "(`predict partition`)"
        )
    return {
        name: cast_to_contract(pd.read_parquet(path), table)
        for name, table in TABLES.items()
        if (path := root / f"{name}.parquet").is_file()
    }
