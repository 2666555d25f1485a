"""Per-snapshot windows over bucket rows, in numpy: the step after DuckDB's event aggregation.

DuckDB aggregates each event table once to one row per (client, bucket) (see
:mod:`predict.features_sql`: buckets end at every as-of month and every window start, so a
window of any as-of date is a run of whole buckets). What each snapshot (client, as-of
month t) needs of those rows is then a *contiguous run* of the client's rows sorted by
bucket: the buckets b with ``t - months < b <= t - skip`` (or every bucket up to t). With
the rows sorted by (client, bucket), the run's ends are two binary searches, and every
aggregate of every snapshot is one ``ufunc.reduceat`` over the runs: a sum adds the run's
values in bucket order (exactly, no running-total differences that would leave 1e-9 where
the sum is 0), a maximum takes the largest, a distinct count ORs one bit per code.

Joining every bucket row to every as-of date whose window covers it and grouping the
joined rows (the SQL way) costs a hash aggregate over rows x dates x aggregates; here it is
a few passes of contiguous memory per aggregate, so twelve as-of dates cost little more
than one. NULL follows SQL: an aggregate over no non-null value is NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


class Runs:
    """The snapshots' runs of source rows: rows sorted by (client key, bucket), and per
    snapshot the first row of its client (``start``) and the binary search of its months."""

    def __init__(
        self, row_cid: np.ndarray, row_b: np.ndarray, snap_cid: np.ndarray, snap_m: np.ndarray
    ) -> None:
        keys = (row_cid.astype(np.int64) << SHIFT) + row_b.astype(np.int64)
        self.order = None if _sorted(keys) else np.argsort(keys, kind="stable")
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


def _sorted(keys: np.ndarray) -> bool:
    return len(keys) < 2 or bool((keys[1:] >= keys[:-1]).all())


def reduce_runs(
    ufunc: np.ufunc, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, empty: object
) -> np.ndarray:
    """``ufunc`` over ``values[lo[i]:hi[i]]`` for every i; ``empty`` where the run is empty.

    One ``reduceat`` over the interleaved bounds (lo0, hi0, lo1, hi1, ...): its even
    results are the runs. ``values`` gets one ``empty`` appended so that a bound may be
    ``len(values)``. Its odd results, the gaps (hi0, lo1) ..., are wasted work: with the
    runs in row order (snapshots sorted by client and date) they cover each row at most
    once; in any other order they may cover the whole array each time.
    """
    if len(lo) == 0:
        return np.empty(0, dtype=values.dtype)
    padded = np.append(values, np.array([empty], dtype=values.dtype))
    bounds = np.empty(2 * len(lo), dtype=np.intp)
    bounds[0::2], bounds[1::2] = lo, hi
    out = ufunc.reduceat(padded, bounds)[0::2]
    out[hi <= lo] = empty
    return out


def window_table(
    source: pa.Table, snap_cid: np.ndarray, snap_m: np.ndarray, windowed: Windowed
) -> pa.Table:
    """The columns of ``windowed`` for every snapshot (``cid``, ``midx`` first), from the
    ``source`` rows (``cid``, ``b`` and the columns the aggregates read)."""
    runs = Runs(_values(source["cid"]), _values(source["b"]), snap_cid, snap_m)
    cache: dict[tuple[str, str], np.ndarray] = {}

    def column(name: str, kind: str) -> np.ndarray:
        if (name, kind) not in cache:
            cache[(name, kind)] = runs.rows(_prepared(source[name], kind))
        return cache[(name, kind)]

    out: dict[str, pa.Array] = {
        "cid": pa.array(snap_cid, type=pa.int32()),
        "midx": pa.array(snap_m, type=pa.int32()),
    }
    for name, spec in windowed.columns.items():
        if isinstance(spec, Ratio):
            num, den = _sum(runs, spec.num, column), _sum(runs, spec.den, column)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = num / np.where(den == 0, np.nan, den)
            out[name] = _nullable(values, pa.float64())
        elif spec.op == "sum":
            out[name] = _nullable(_sum(runs, spec, column), pa.float64())
        elif spec.op in ("max", "min"):
            lo, hi = runs.span(spec)
            ufunc = np.fmax if spec.op == "max" else np.fmin  # NaN (NULL) only if all are
            values = reduce_runs(ufunc, column(spec.column, "float"), lo, hi, np.nan)
            out[name] = _typed_like(values, source.schema.field(spec.column).type)
        else:
            lo, hi = runs.span(spec)
            words = column(spec.column, "bits")
            count = np.zeros(len(lo), dtype=np.int64)
            for k in range(words.shape[1]):
                held = reduce_runs(np.bitwise_or, words[:, k], lo, hi, 0)
                count += np.bitwise_count(held)
            out[name] = pa.array(count, type=pa.int64())
    return pa.table(out)


def _sum(runs: Runs, agg: Agg, column: Callable[[str, str], np.ndarray]) -> np.ndarray:
    """The sums of ``agg``'s runs, NaN (NULL) where the run has no non-null value."""
    lo, hi = runs.span(agg)
    values = column(agg.column, "float")
    present = ~np.isnan(values)
    if present.all():  # a run has a value if it has a row
        sums = reduce_runs(np.add, values, lo, hi, 0.0)
        sums[hi <= lo] = np.nan
        return sums
    sums = reduce_runs(np.add, np.where(present, values, 0.0), lo, hi, 0.0)
    counts = reduce_runs(np.add, present.astype(np.int64), lo, hi, 0)
    sums[counts == 0] = np.nan
    return sums


def _values(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy())


def _prepared(column: pa.ChunkedArray, kind: str) -> np.ndarray:
    """A source column as float64 with NaN for NULL (dates: days since 1970; flags: 0/1),
    or for ``bits`` one bit per distinct non-null value (uint64 words, one row each)."""
    if kind == "bits":
        indices = pc.dictionary_encode(column.combine_chunks()).indices
        return _bits(np.asarray(pc.fill_null(indices, -1).to_numpy(), dtype=np.int64))
    if pa.types.is_date(column.type):
        column = pc.cast(column, pa.date32()).cast(pa.int32())
    return np.asarray(pc.fill_null(pc.cast(column, pa.float64()), np.nan).to_numpy())


def _bits(codes: np.ndarray) -> np.ndarray:
    """Row i: bit ``codes[i]`` set (of words of 64 bits); no bit where the code is -1."""
    n_words = max(1, -(-(int(codes.max(initial=-1)) + 1) // 64))
    words = np.zeros((len(codes), n_words), dtype=np.uint64)
    rows = np.flatnonzero(codes >= 0)
    bit = (codes[rows] % 64).astype(np.uint64)
    words[rows, codes[rows] // 64] = np.left_shift(np.uint64(1), bit)
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
