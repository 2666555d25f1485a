"""Per-snapshot windows over bucket rows, in numpy: the step after DuckDB's event aggregation.

DuckDB aggregates each event table once to one row per (client, bucket) (see
:mod:`predict.features.sql`: every month is a bucket, so a window of any as-of date is a
run of whole buckets). What each snapshot (client, as-of
month t) needs of those rows is then a *contiguous run* of the client's rows sorted by
bucket: the buckets b with ``t - months < b <= t - skip`` (or every bucket up to t). With
the rows sorted by (client, bucket), the run's ends are two binary searches, and every
aggregate of every snapshot is one ``ufunc.reduceat`` over the runs: a sum adds the run's
own values (not a difference of running totals, which would leave ~1e-9 where the sum is
0), a maximum takes the largest, a distinct count ORs one bit per code. The rows are
sorted by (client, bucket), unique, so the result does not depend on their fetch order.

Joining every bucket row to every as-of date whose window covers it and grouping the
joined rows (the SQL way) costs a hash aggregate over rows x dates x aggregates; here it is
a few passes of contiguous memory per aggregate, so twelve as-of dates cost little more
than one. NULL follows SQL: an aggregate over no non-null value is NULL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SHIFT = 32  # sort key of a row: client key << SHIFT | month index (months are < 2**31)


@dataclass(frozen=True)
class Agg:
    """One aggregate of a bucket column over the buckets b with ``t - months < b <= t - skip``
    of each snapshot (as-of month t); ``months=None``: every bucket up to ``t - skip``.

    ``op``: ``sum`` (NULL over no value), ``max`` or ``min`` (NULL over no value; they keep
    the column's type: dates, keys, flags) or ``distinct`` (how many distinct non-null
    values; 0 over none).
    """

    op: Literal["sum", "max", "min", "distinct"]
    column: str
    months: int | None = None
    skip: int = 0


@dataclass(frozen=True)
class Ratio:
    """``num / den`` of two sums, NULL where either is NULL or ``den`` is 0 (SQL nullif)."""

    num: Agg
    den: Agg


Column = Agg | Ratio


def total(column: str, months: int | None = None, skip: int = 0) -> Agg:
    return Agg("sum", column, months, skip)


def latest(column: str) -> Agg:
    """The largest value on or before t (of a date or a sortable key: the latest)."""
    return Agg("max", column)


@dataclass(frozen=True)
class Windowed:
    """The per-snapshot aggregates (output column -> :class:`Agg` or :class:`Ratio`) of the
    rows of ``source``, a table keyed by ``cid`` and bucket ``b``."""

    source: str
    columns: Mapping[str, Column]

    @property
    def reads(self) -> set[str]:
        """The source columns the aggregates read."""
        aggs = (
            a
            for c in self.columns.values()
            for a in ((c.num, c.den) if isinstance(c, Ratio) else (c,))
        )
        return {a.column for a in aggs}


class Runs:
    """The snapshots' runs of source rows: rows sorted by (client key, bucket), and per
    snapshot the first row of its client (``start``) and the binary search of its months."""

    def __init__(
        self, row_cid: np.ndarray, row_b: np.ndarray, snap_cid: np.ndarray, snap_m: np.ndarray
    ) -> None:
        if len(row_b) and int(row_b.min()) <= 0:
            # b 0 marks a row in no bucket (a missing date, a month after the last as-of
            # date): it would sort first and fall into every all-history window.
            raise ValueError("bucket rows must all have a bucket (b > 0); filter the others")
        keys = (row_cid.astype(np.int64) << SHIFT) + row_b.astype(np.int64)
        self.order = None if ascending(keys) else np.argsort(keys, kind="stable")
        self.keys = keys if self.order is None else keys[self.order]
        self.base = snap_cid.astype(np.int64) << SHIFT
        self.month = snap_m.astype(np.int64)
        self.start = np.searchsorted(self.keys, self.base, side="left")
        self._ends: dict[int, np.ndarray] = {}

    def end(self, month_offset: int) -> np.ndarray:
        """Per snapshot, the row after its client's last bucket b <= t - ``month_offset``."""
        if month_offset not in self._ends:
            bound = self.base + (self.month - month_offset)
            self._ends[month_offset] = np.searchsorted(self.keys, bound, side="right")
        return self._ends[month_offset]

    def span(self, agg: Agg) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``lo:hi`` of each snapshot's window (``lo >= hi``: no row)."""
        hi = self.end(agg.skip)
        lo = self.start if agg.months is None else self.end(agg.months)
        return lo, hi

    def rows(self, values: np.ndarray) -> np.ndarray:
        return values if self.order is None else values[self.order]


def ascending(values: np.ndarray) -> bool:
    """Whether ``values`` never decrease (then sorting or binary search needs no copy)."""
    return len(values) < 2 or bool((values[1:] >= values[:-1]).all())


def reduce_runs(
    ufunc: np.ufunc, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, empty: object
) -> np.ndarray:
    """``ufunc`` over ``values[lo[i]:hi[i]]`` for every i; ``empty`` where the run is empty.

    One ``reduceat`` over the interleaved bounds (lo0, hi0, lo1, hi1, ...): its even
    results are the runs. ``values`` gets one ``empty`` appended so that a bound may be
    ``len(values)``. Its odd results, the gaps (hi0, lo1) ..., are wasted work: with the
    runs in row order (snapshots sorted by client and date) they cover each row at most
    once; in any other order they may cover the whole array each time. (Measured: one
    column at a time is faster than one reduceat over a matrix of columns.)
    """
    if len(lo) == 0:
        return np.empty(0, dtype=values.dtype)
    padded = np.append(values, np.array([empty], dtype=values.dtype))
    bounds = np.empty(2 * len(lo), dtype=np.intp)
    bounds[0::2], bounds[1::2] = lo, hi
    out = ufunc.reduceat(padded, bounds)[0::2]
    out[hi <= lo] = empty
    return out


def window_columns(
    source: pa.Table, snap_cid: np.ndarray, snap_m: np.ndarray, windowed: Windowed
) -> pa.StructArray:
    """The columns of ``windowed`` for every snapshot (``snap_cid``, ``snap_m``: sorted by
    client and month), from the ``source`` rows (``cid``, ``b`` and the columns the
    aggregates read), as one struct (a field per column).

    """
    runs = Runs(_values(source["cid"]), _values(source["b"]), snap_cid, snap_m)
    aggs = {
        agg: None
        for spec in windowed.columns.values()
        for agg in ((spec.num, spec.den) if isinstance(spec, Ratio) else (spec,))
    }
    groups: dict[tuple[str, int | None, int], list[Agg]] = {}
    for agg in aggs:
        groups.setdefault((agg.op, agg.months, agg.skip), []).append(agg)
    result: dict[Agg, np.ndarray] = {}
    for group in groups.values():
        result |= _reduced(runs, source, group)
    out: dict[str, pa.Array] = {}
    for name, spec in windowed.columns.items():
        if isinstance(spec, Ratio):
            num, den = result[spec.num], result[spec.den]
            with np.errstate(divide="ignore", invalid="ignore"):
                out[name] = _nullable(num / np.where(den == 0, np.nan, den), pa.float64())
        elif spec.op == "sum":
            out[name] = _nullable(result[spec], pa.float64())
        elif spec.op == "distinct":
            out[name] = pa.array(result[spec], type=pa.int64())
        else:
            out[name] = _typed_like(result[spec], source.schema.field(spec.column).type)
    return pa.StructArray.from_arrays(list(out.values()), list(out))


def _reduced(runs: Runs, source: pa.Table, group: list[Agg]) -> dict[Agg, np.ndarray]:
    """The aggregates of ``group`` (one op, one span): sums NaN (NULL) over no non-null
    value, maxima and minima NaN where all are NULL, distinct counts 0 over no row."""
    lo, hi = runs.span(group[0])
    op, out = group[0].op, {}
    for agg in group:
        if op == "distinct":
            words = runs.rows(_bits(source[agg.column], _values(source["cid"])))
            held = (reduce_runs(np.bitwise_or, w, lo, hi, 0) for w in words.T)
            out[agg] = sum((np.bitwise_count(h).astype(np.int64) for h in held), start=0 * lo)
            continue
        values = runs.rows(_floats(source[agg.column]))
        if op in ("max", "min"):
            ufunc = np.fmax if op == "max" else np.fmin  # NaN (NULL) only if all are
            out[agg] = reduce_runs(ufunc, values, lo, hi, np.nan)
            continue
        present = ~np.isnan(values)
        if present.all():  # a run has a value if it has a row
            out[agg] = reduce_runs(np.add, values, lo, hi, 0.0)
            out[agg][hi <= lo] = np.nan
        else:
            out[agg] = reduce_runs(np.add, np.where(present, values, 0.0), lo, hi, 0.0)
            out[agg][reduce_runs(np.add, present * 1, lo, hi, 0) == 0] = np.nan
    return out


def _values(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy())


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A source column as float64, NaN for NULL (dates: days since 1970; flags: 0 or 1)."""
    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.date32()).cast(pa.int32())
    return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy())


def _bits(column: pa.ChunkedArray, cid: np.ndarray) -> np.ndarray:
    """One bit per distinct non-null value of ``column`` within each client (``cid``): row i
    has the bit of its value (uint64 words of 64 values each), no bit where it is NULL.

    Values are numbered per client, so the width is the most distinct values one client
    has, not the book's (a bank may have thousands of codes).
    """
    indices = pc.dictionary_encode(column.combine_chunks()).indices
    codes = np.asarray(pc.fill_null(indices, -1).to_numpy(), dtype=np.int64)
    valid = codes >= 0
    rank = np.full(len(codes), -1, dtype=np.int64)
    if valid.any():
        n_codes = int(codes.max()) + 1
        pairs, inverse = np.unique(
            cid[valid].astype(np.int64) * n_codes + codes[valid], return_inverse=True
        )
        owner = pairs // n_codes  # sorted: each client's pairs are one run
        rank[valid] = (np.arange(len(pairs)) - np.searchsorted(owner, owner))[inverse]
    n_words = max(1, -(-(int(rank.max(initial=-1)) + 1) // 64))
    words = np.zeros((len(codes), n_words), dtype=np.uint64)
    rows = np.flatnonzero(rank >= 0)
    bit = (rank[rows] % 64).astype(np.uint64)
    words[rows, rank[rows] // 64] = np.left_shift(np.uint64(1), bit)
    return words


def _nullable(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    return pa.array(values, type=kind, mask=np.isnan(values))


def _typed_like(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Maxima (float64, NaN: NULL) back in their column's type."""
    mask = np.isnan(values)
    filled = np.where(mask, 0, values)
    if pa.types.is_date(kind):
        return pa.array(filled.astype(np.int32), type=pa.int32(), mask=mask).cast(pa.date32())
    if pa.types.is_boolean(kind):
        return pa.array(filled > 0, type=pa.bool_(), mask=mask)
    if pa.types.is_integer(kind):
        return pa.array(filled.astype(np.int64), type=pa.int64(), mask=mask)
    return pa.array(values, type=pa.float64(), mask=mask)
