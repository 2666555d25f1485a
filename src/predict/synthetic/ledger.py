"""The bank's records of the simulated book: rows collected month by month, written as tables.

The engine hands over numpy arrays (client and facility indices, day numbers, codes); the
ledger turns them into the contract's columns (string ids, calendar dates, labels) one
month at a time and passes each month to a sink: in memory, or appended to a Parquet file
so that a million-client book never has to fit in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from predict.synthetic import world

STR = pa.string()
DATE = pa.date32()
SCHEMAS: dict[str, pa.Schema] = {
    "clients": pa.schema(
        [
            ("client_id", STR),
            ("onboarding_date", DATE),
            ("segment", STR),
            ("industry", STR),
            ("region", STR),
            ("branch_id", STR),
            ("rm_id", STR),
            ("annual_turnover", pa.float64()),
        ]
    ),
    "facilities": pa.schema(
        [
            ("facility_id", STR),
            ("client_id", STR),
            ("product", STR),
            ("limit_amount", pa.float64()),
            ("interest_rate", pa.float64()),
            ("origination_date", DATE),
            ("maturity_date", DATE),
            ("closed_date", DATE),
        ]
    ),
    "facility_balances": pa.schema(
        [
            ("facility_id", STR),
            ("month_end", DATE),
            ("outstanding", pa.float64()),
            ("days_past_due", pa.int64()),
            ("available", pa.float64()),
        ]
    ),
    "revenue": pa.schema(
        [("client_id", STR), ("date", DATE), ("amount", pa.float64()), ("source", STR)]
    ),
    "interactions": pa.schema(
        [
            ("client_id", STR),
            ("date", DATE),
            ("kind", STR),
            ("channel", STR),
            ("csat", pa.int64()),
            ("nps", pa.int64()),
        ]
    ),
    "credit_events": pa.schema(
        [("client_id", STR), ("facility_id", STR), ("date", DATE), ("kind", STR)]
    ),
    "facility_terms": pa.schema(
        [
            ("facility_id", STR),
            ("effective_date", DATE),
            ("limit_amount", pa.float64()),
            ("interest_rate", pa.float64()),
            ("maturity_date", DATE),
        ]
    ),
}
STREAMED = ("facility_balances", "revenue", "interactions", "credit_events", "facility_terms")
# The facility register's columns that facility_terms dates: (register column, terms column).
TERMS = (("limit", "limit_amount"), ("rate", "interest_rate"), ("maturity", "maturity_date"))
# Dictionary-encode only the code columns: ids and amounts compress better (and faster) plain.
CODE_COLUMNS = [
    "segment",
    "industry",
    "region",
    "branch_id",
    "rm_id",
    "product",
    "source",
    "kind",
    "channel",
]


def write_table(table: pa.Table, path: str | os.PathLike[str]) -> None:
    pq.write_table(table, path, compression="zstd", use_dictionary=CODE_COLUMNS)


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps every chunk; ``table()`` concatenates them."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.chunks: list[pa.Table] = []

    def write(self, table: pa.Table) -> None:
        self.chunks.append(table)

    def close(self) -> None:
        return None

    def table(self) -> pa.Table:
        if not self.chunks:
            return self.schema.empty_table()
        return pa.concat_tables(self.chunks).combine_chunks()


class ParquetSink:
    """Appends chunks to one Parquet file, buffering to row groups of ``rows`` rows."""

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema, rows: int = 1_000_000):
        self.path = Path(path)
        self.schema = schema
        self.rows = rows
        self._writer = pq.ParquetWriter(
            self.path, schema, compression="zstd", use_dictionary=CODE_COLUMNS
        )
        self._buffer: list[pa.Table] = []
        self._n = 0
        self.rows_written = 0

    def write(self, table: pa.Table) -> None:
        self._buffer.append(table)
        self._n += table.num_rows
        self.rows_written += table.num_rows
        if self._n >= self.rows:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._writer.write_table(pa.concat_tables(self._buffer).combine_chunks())
        self._buffer, self._n = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()


def labels(codes: np.ndarray, vocabulary: tuple[str, ...]) -> pa.Array:
    """Strings for integer codes; a negative code is a null."""
    codes = np.asarray(codes)
    out = pa.array(vocabulary, type=STR).take(pa.array(np.maximum(codes, 0)))
    if (codes < 0).any():
        out = pc.if_else(pa.array(codes < 0), pa.nulls(len(codes), STR), out)
    return out


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers + 1``; a negative number is a null."""
    numbers = np.asarray(numbers)
    text = pc.utf8_lpad(pc.cast(pa.array(numbers + 1), STR), width=width, padding="0")
    out = pc.binary_join_element_wise(prefix, text, "")
    if (numbers < 0).any():
        out = pc.if_else(pa.array(numbers < 0), pa.nulls(len(numbers), STR), out)
    return out


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=DATE)


class Ledger:
    """Collects the month's rows, flushes them to sinks, and keeps the facility register."""

    def __init__(self, sinks: dict[str, Sink], client_ids: pa.Array, fid_width: int) -> None:
        self.sinks = sinks
        self.client_ids = client_ids
        self.fid_width = fid_width
        self.n_fid = 0
        self._month: dict[str, list[dict[str, np.ndarray]]] = {t: [] for t in STREAMED}
        self._register: list[dict[str, np.ndarray]] = []
        self._closed = np.full(1024, -1, dtype=np.int64)
        # The latest terms of each facility (NaN: as registered at opening).
        self._latest = {k: np.full(1024, np.nan) for k, _ in TERMS}

    def new_fids(self, n: int) -> np.ndarray:
        fids = np.arange(self.n_fid, self.n_fid + n, dtype=np.int64)
        self.n_fid += n
        if self.n_fid > self._closed.shape[0]:
            size = max(2 * self._closed.shape[0], self.n_fid)
            self._closed = _grown(self._closed, size, -1)
            self._latest = {k: _grown(v, size, np.nan) for k, v in self._latest.items()}
        return fids

    def open(self, **cols: np.ndarray) -> None:
        """Register facilities: fid, cid, product, limit, rate (NaN = none), orig, maturity;
        their original terms are the first facility_terms row, dated at origination."""
        self._register.append(cols)
        terms = {k: cols[k] for k, _ in TERMS}
        self.add("facility_terms", fid=cols["fid"], day=cols["orig"], **terms)

    def change_terms(
        self,
        fid: np.ndarray,
        day: np.ndarray,
        limit: np.ndarray,
        rate: np.ndarray,
        maturity: np.ndarray,
    ) -> None:
        """New terms of facilities ``fid`` from ``day`` (every term given; rate NaN = none):
        a facility_terms row each, and the facilities table will record them (the latest)."""
        terms = {"limit": limit, "rate": rate, "maturity": maturity}
        for k, values in terms.items():
            self._latest[k][fid] = values
        self.add("facility_terms", fid=fid, day=day, **terms)

    def close(self, fid: np.ndarray, day: np.ndarray) -> None:
        self._closed[fid] = day

    def add(self, table: str, **cols: np.ndarray) -> None:
        if len(next(iter(cols.values()))):
            self._month[table].append(cols)

    def flush_month(self) -> None:
        for table, parts in self._month.items():
            if parts:
                cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                self.sinks[table].write(self._arrow(table, cols))
            self._month[table] = []

    def _arrow(self, table: str, c: dict[str, np.ndarray]) -> pa.Table:
        if table == "facility_terms":
            order = np.lexsort((c["day"], c["fid"]))
            c = {k: v[order] for k, v in c.items()}
            arrays = [self._fids(c["fid"]), dates(c["day"]), *self._terms(c)]
        elif table == "facility_balances":
            order = np.argsort(c["fid"], kind="stable")
            c = {k: v[order] for k, v in c.items()}
            arrays = [
                self._fids(c["fid"]),
                dates(c["day"]),
                pa.array(c["out"]),
                pa.array(c["dpd"]),
                pa.array(c["avail"]),
            ]
        else:
            order = np.lexsort((c["day"], c["cid"]))
            c = {k: v[order] for k, v in c.items()}
            cid = self.client_ids.take(pa.array(c["cid"]))
            arrays = [cid, *self._client_columns(table, c)]
        return pa.Table.from_arrays(arrays, schema=SCHEMAS[table])

    def _client_columns(self, table: str, c: dict[str, np.ndarray]) -> list[pa.Array]:
        if table == "revenue":
            return [dates(c["day"]), pa.array(c["amount"]), labels(c["source"], world.SOURCES)]
        if table == "credit_events":
            kind = labels(c["kind"], world.EVENT_KINDS)
            return [self._fids(c["fid"]), dates(c["day"]), kind]
        return [
            dates(c["day"]),
            labels(c["kind"], world.KINDS),
            labels(c["channel"], world.CHANNELS),
            pa.array(c["csat"], mask=c["csat"] < 0, type=pa.int64()),
            pa.array(c["nps"], mask=c["nps"] < 0, type=pa.int64()),
        ]

    def _fids(self, fid: np.ndarray) -> pa.Array:
        return id_strings("F", fid, self.fid_width)

    @staticmethod
    def _terms(c: dict[str, np.ndarray]) -> list[pa.Array]:
        """Limit, rate (NaN: none) and maturity day of register or terms columns ``c``."""
        rate = np.asarray(c["rate"], dtype=np.float64)
        return [pa.array(c["limit"]), pa.array(rate, mask=np.isnan(rate)), dates(c["maturity"])]

    def facilities(self) -> pa.Table:
        """The facility register, closing dates filled in."""
        if not self._register:
            return SCHEMAS["facilities"].empty_table()
        c = {k: np.concatenate([r[k] for r in self._register]) for k in self._register[0]}
        closed = self._closed[c["fid"]]
        for k, _ in TERMS:  # the latest terms, as the bank's extract records them
            latest = self._latest[k][c["fid"]]
            changed = ~np.isnan(latest)
            if k == "rate":
                changed &= ~np.isnan(c["rate"])  # an unrated facility stays unrated
            c[k] = np.where(changed, latest, c[k]).astype(c[k].dtype)
        limit, rate, maturity = self._terms(c)
        arrays = [
            self._fids(c["fid"]),
            self.client_ids.take(pa.array(c["cid"])),
            labels(c["product"], world.PRODUCTS),
            limit,
            rate,
            dates(c["orig"]),
            maturity,
            pa.array(closed.astype(np.int32), mask=closed < 0, type=DATE),
        ]
        return pa.Table.from_arrays(arrays, schema=SCHEMAS["facilities"])

    def finish(self) -> None:
        self.flush_month()
        for sink in self.sinks.values():
            sink.close()


def _grown(values: np.ndarray, size: int, fill: float) -> np.ndarray:
    """``values`` extended to ``size`` with ``fill``."""
    out = np.full(size, fill, dtype=values.dtype)
    out[: values.shape[0]] = values
    return out
