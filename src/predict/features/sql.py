"""The DuckDB SQL behind :mod:`predict.features.build`: every as-of date at once.

Every as-of date t is a month end, so "dated on or before t" is "in month m(t) or earlier"
(month index m = year * 12 + month) and a window "the last W months" is the months
(m(t) - W, m(t)]. A pass over a range of clients works in three steps:

1. *Buckets* (DuckDB). Every month is a bucket (:func:`bucket_frame`: the same buckets
   whatever the as-of dates, so a snapshot's sums do not depend on the other dates built
   with it). Each event row's month index and bucket (:class:`Buckets`) are computed once
   when the pass is loaded, so every window of every as-of date is a run of whole buckets.
   Each event table is aggregated once to one row per (client, bucket), whatever the
   number of as-of dates (balances, and revenue for its volatility, first per
   client-month, which those features need): the ``*_b`` CTEs, each one statement of its
   own.
2. *Windows* (numpy, :mod:`predict.features.windows`). The windowed CTEs (``*_f``, "the
   latest X on or before t", sums over all history) are not SQL: for each snapshot its
   window is a contiguous run of the client's bucket rows, and each aggregate is one
   ``reduceat`` over those runs. Joining each bucket row to every as-of date whose window
   covers it and grouping (the SQL way) made 12 as-of dates cost ~3x one.
3. *Features* (DuckDB). One statement joins the windows (one registered table, a struct
   column per windowed CTE), the per-snapshot facility CTEs and the client attributes onto
   the snapshots and evaluates every feature expression.

Every feature is per client, so a large book runs in passes over ranges of clients
(:func:`client_range`) with the same result and a bounded memory. Clients are keyed by an
integer ``cid`` (grouping and joining on integers is much faster than on strings). Bank
codes (revenue sources, interaction and credit event kinds) are never literals in the
SQL: :func:`family_column` maps them (params, via ``code_map_t``) to a ``family`` column
once per distinct code before the statements run.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from predict.contract.spec import TABLES
from predict.contract.tables import KIND_DTYPES
from predict.features import rates
from predict.features import windows as fw
from predict.features.catalogue import CREDIT_EVENT_FAMILIES, REVENUE_FAMILIES
from predict.features.snapshots import add_months, month_index

VIEWS: dict[str, str] = {
    "clients": "clients_t",
    "facilities": "facilities_t",
    "facility_balances": "balances_t",
    "revenue": "revenue_t",
    "interactions": "interactions_t",
    "credit_events": "events_t",
    "facility_terms": "terms_t",
}
WINDOWS_VIEW = "windows_t"  # the windowed CTEs of every snapshot (Statement.run)
DAYS_PER_MONTH = 30.4375  # "months since": days / average month length
EVENT_VIEWS = ("facility_balances", "revenue", "interactions")  # the big tables
# Tables whose bank codes map to families: table -> (code column, code_map domain).
CODED: dict[str, tuple[str, str]] = {
    "revenue": ("source", "revenue"),
    "interactions": ("kind", "interaction"),
    "credit_events": ("kind", "credit_event"),
}
FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "revenue": ("interest", "fee"),  # anything else: "other"
    "interaction": ("rm_contact", "service_request", "complaint", "survey"),
    "credit_event": (*CREDIT_EVENT_FAMILIES, "default", "write_off"),
}
DEFAULT_FAMILIES = "('default', 'write_off')"  # credit event families that are a default
WINDOWS = (3, 6, 12, 24)  # the feature windows in months (catalogue names *_3m ... *_24m)
Grain = Literal["snapshot", "client", "none"]


@dataclass(frozen=True)
class Cte:
    """One named subquery; ``grain`` says how the final select joins it onto ``snap``."""

    name: str
    sql: str
    deps: tuple[str, ...] = ()
    grain: Grain = "none"
    materialized: bool = False  # computed once (it feeds several others)
    windowed: fw.Windowed | None = None  # computed in numpy from its source's rows (no SQL)


@dataclass(frozen=True)
class Windows:
    """Window lengths (months) the SQL needs, from the features config."""

    inactivity: int
    dormant: int

    @property
    def starts(self) -> tuple[int, ...]:
        """Every window length: the earliest m(t) - w is where the buckets start."""
        return tuple(sorted({*WINDOWS, self.inactivity, self.dormant}))


def family_column(codes: pd.Series, domain: str, code_map: pd.DataFrame) -> pd.Series:
    """The family of each of the bank's codes (case-insensitive, trimmed); NULL: unmapped.

    Mapped once per distinct code (factorized; missing codes are -1), not once per row.
    """
    rows = code_map[code_map["domain"] == domain]
    lookup = dict(zip(rows["code"], rows["family"], strict=True))
    names = list(FAMILY_NAMES[domain])
    row_codes, distinct = pd.factorize(codes)
    per_code = [lookup.get(str(c).strip().lower()) for c in distinct]
    index = np.array([names.index(f) if f else -1 for f in per_code] + [-1], dtype=np.int64)
    family = pd.Categorical.from_codes(index[row_codes], dtype=pd.CategoricalDtype(names))
    return pd.Series(family, index=codes.index)


def contract_frame(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The table's contract columns; an absent optional column becomes typed nulls."""
    table = TABLES[name]
    columns = {}
    for col in table.columns:
        if col.name in frame.columns:
            columns[col.name] = frame[col.name]
        else:
            columns[col.name] = pd.Series(
                pd.array([None] * len(frame), dtype=KIND_DTYPES[col.kind]), index=frame.index
            )
    return pd.DataFrame(columns, copy=False)  # DuckDB only reads it: no copy of the rows


def present_columns(tables: Mapping[str, pd.DataFrame]) -> dict[str, frozenset[str]]:
    """Each contract table present, with its columns that hold at least one value."""
    return {
        name: frozenset(c for c in frame.columns if frame[c].notna().any())
        for name, frame in tables.items()
        if name in VIEWS
    }


def calendar_frame(as_of_dates: Sequence[dt.date]) -> pd.DataFrame:
    """The as-of calendar: date, month index, the previous as-of's month index, and the
    month ends 3, 6 and 12 months before."""
    days = sorted(set(as_of_dates))
    return pd.DataFrame(
        {
            "as_of": pd.to_datetime(days).astype("datetime64[s]"),
            "midx": [month_index(d) for d in days],
            "prev_midx": [0] + [month_index(d) for d in days[:-1]],  # 0: before all data
            **{
                f"as_of_m{k}": pd.to_datetime([add_months(d, -k) for d in days]).astype(
                    "datetime64[s]"
                )
                for k in (3, 6, 12)
            },
        }
    )


def bucket_frame(
    as_of_dates: Sequence[dt.date], starts: Iterable[int], first_month: int | None = None
) -> pd.DataFrame:
    """Month index -> bucket: every month is its own bucket, from ``first_month`` (the
    data's first month) or the earliest window start m(t) - w, whichever is earlier, up to
    the last as-of month; months after it have no bucket (they are in every snapshot's
    future).

    One bucket per month, whatever the as-of dates: a window's sum adds the same monthly
    subtotals in the same order whichever other dates are built with it, so a snapshot's
    features are bit-identical built alone or with other as-of dates (the features stage's
    many dates, the scoring date with its previous month end). Buckets that ended at the
    as-of months and window starts only (fewer rows) summed a month's events into
    different subtotals for different sets of dates: the revenue windows differed in
    their last bits.
    """
    months = sorted({month_index(d) for d in as_of_dates})
    lowest = min(m - w for m in months for w in (0, *starts))
    span = range(min(lowest, first_month or lowest), months[-1] + 1)
    return pd.DataFrame(
        {
            "m": pd.array(list(span), dtype="int32"),
            "b": pd.array(list(span), dtype="int32"),
        }
    )


def first_month(tables: Mapping[str, pd.DataFrame]) -> int | None:
    """The month index of the earliest event date in the tables (None without events)."""
    columns = {"revenue": "date", "interactions": "date", "credit_events": "date"}
    columns |= {"facility_balances": "month_end"}
    firsts = [
        tables[name][column].min()
        for name, column in columns.items()
        if name in tables and tables[name][column].notna().any()
    ]
    return min(month_index(pd.Timestamp(f).date()) for f in firsts) if firsts else None


def connect(
    tables: Mapping[str, pd.DataFrame],
    as_of_dates: Sequence[dt.date],
    code_map: pd.DataFrame,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the present tables, the calendar and the code map, for
    statements over string ``client_id`` joined to ``ids`` (:mod:`predict.features.labels`).

    The feature CTEs need :func:`load_pass` instead: integer client keys, event months and
    buckets, one range of clients.
    """
    calendar = Calendar(tuple(as_of_dates), code_map)
    frames = {n: typed_frame(n, f, code_map) for n, f in tables.items() if n in VIEWS}
    con = open_connection(frames, calendar)
    client_range(con, 1, len(tables["clients"]))
    return con


@dataclass(frozen=True)
class Calendar:
    """What a connection holds besides the tables: as-of dates, window lengths, the data's
    first month (the buckets, :func:`bucket_frame`) and the code map."""

    as_of_dates: tuple[dt.date, ...]
    code_map: pd.DataFrame
    starts: tuple[int, ...] = WINDOWS
    first_month: int | None = None
    # ``rate_ref_t`` (predict.features.rates): None gives none (no rate spreads)
    rates: pd.DataFrame | None = field(default=None, compare=False)

    @functools.cached_property
    def buckets(self) -> Buckets:
        """The bucket of every month (built once, read by every pass)."""
        return Buckets.of(self)


def open_connection(
    frames: Mapping[str, pd.DataFrame], calendar: Calendar
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``frames`` (:func:`typed_frame`, by table) and ``calendar``."""
    # One thread: DuckDB's parallel float SUM/AVG/STDDEV combine partial states in a
    # run-dependent order, which changed the last bits of money features between runs
    # (and then the models). Reproducibility first: parallelism comes from running ranges
    # of clients at once, each on its own connection (predict.features.build.build_features).
    con = duckdb.connect(config={"preserve_insertion_order": False, "threads": 1})
    con.execute("SET enable_progress_bar = false")  # a pass over 2 s would draw one on stdout
    for name, frame in frames.items():
        con.register(VIEWS[name], frame)
    con.register("asof_t", calendar_frame(calendar.as_of_dates))
    con.register("code_map_t", calendar.code_map)
    con.register("rate_ref_t", rates.empty_table() if calendar.rates is None else calendar.rates)
    return con


EVENT_DATES = {"revenue": "date", "interactions": "date", "credit_events": "date"}
EVENT_DATES |= {"facility_balances": "month_end"}  # the date that places a row in a month


def typed_frame(
    name: str,
    frame: pd.DataFrame,
    code_map: pd.DataFrame,
    keys: np.ndarray | None = None,
    buckets: Buckets | None = None,
) -> pd.DataFrame:
    """What DuckDB reads of a table: its :func:`contract_frame`, the ``family`` of its bank
    codes and, given ``keys`` (:func:`client_keys`), integer client keys as ``client_id``.
    (``facility_balances`` gets the key of its facility's client.)

    Given ``buckets``, an event table also gets the month index ``midx`` of its date and
    that month's bucket ``b`` (0 for a missing date, and ``b`` 0 after the last bucket),
    computed once here rather than per row in every statement.
    """
    typed = contract_frame(name, frame)
    if name in CODED:
        typed["family"] = family_column(typed[CODED[name][0]], CODED[name][1], code_map)
    if keys is not None:  # facility_balances too: its facility's client
        typed["client_id"] = keys
    if buckets is not None and name in EVENT_DATES:
        typed["midx"], typed["b"] = buckets.of_dates(typed[EVENT_DATES[name]])
    return typed


def month_indexes(dates: pd.Series) -> np.ndarray:
    """year * 12 + month of each date (int64), 0 where it is missing.

    Through whole days and a lookup over the days spanned (numpy's conversion to months
    is a calendar computation per row, several times slower at millions of rows).
    """
    values = dates.to_numpy() if pd.api.types.is_datetime64_dtype(dates) else None
    if values is None:
        values = pd.to_datetime(dates).to_numpy()
    days = np.asarray(values).astype("datetime64[D]")
    present = ~np.isnat(days)
    months = np.zeros(len(days), dtype=np.int64)
    if present.any():
        day = days[present].astype(np.int64)
        first = int(day.min())
        span = np.arange(first, int(day.max()) + 1).astype("datetime64[D]")
        lookup = span.astype("datetime64[M]").astype(np.int64) + (1970 * 12 + 1)  # from 1970-01
        months[present] = lookup[day - first]
    return months


@dataclass(frozen=True)
class Buckets:
    """The bucket of every month (:func:`bucket_frame`) as a lookup array."""

    first: int  # the month index of ``of_month[0]``
    of_month: np.ndarray  # int32 bucket, one per month from ``first``

    @classmethod
    def of(cls, calendar: Calendar) -> Buckets:
        frame = bucket_frame(calendar.as_of_dates, calendar.starts, calendar.first_month)
        return cls(int(frame["m"].iloc[0]), frame["b"].to_numpy(dtype=np.int32))

    def of_dates(self, dates: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Month index (year * 12 + month; 0 where the date is missing) and bucket of each
        date (0: missing date or a month after the last bucket)."""
        months = month_indexes(dates)
        missing = months == 0
        offset = months - self.first
        inside = ~missing & (offset >= 0) & (offset < len(self.of_month))
        bucket = np.zeros(len(months), dtype=np.int32)
        bucket[inside] = self.of_month[offset[inside]]
        return months.astype(np.int32), bucket


def client_range(con: duckdb.DuckDBPyConnection, first: int, last: int) -> None:
    """Limit the next statements to the clients numbered ``first``..``last`` (1-based).

    Every feature is per client, so a book too large for one pass in memory is done in
    ranges of clients, each one pass over every as-of date.
    """
    con.execute(f"SET VARIABLE first_cid = {int(first)}")
    con.execute(f"SET VARIABLE last_cid = {int(last)}")


def id_strings(values: pd.Series) -> pa.ChunkedArray:
    """An id column as Arrow large strings (hashed and sorted in Arrow, without the GIL)."""
    array = pa.array(values, from_pandas=True)
    chunked = array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])
    return chunked.cast(pa.large_string())


def positions(values: pd.Series, ordered: pa.Array) -> np.ndarray:
    """1 + the position in ``ordered`` of each of ``values`` (int32); 0: absent or missing."""
    found = pc.index_in(id_strings(values), value_set=ordered)
    return np.asarray(pc.fill_null(pc.add(found, 1), 0).to_numpy(), dtype=np.int32)


def primary_key(table: str, column: str, values: pd.Series) -> pa.Array:
    """The values sorted (as DuckDB sorts strings: by bytes); ValueError when one is missing
    or repeated (rule: primary key)."""
    ids = id_strings(values)
    if ids.null_count:
        raise ValueError(
            f"table {table}, column {column}: {ids.null_count} missing value(s) (rule: required)"
        )
    ordered = ids.take(pc.sort_indices(ids)).combine_chunks()
    repeated = pc.equal(ordered[1:], ordered[:-1]) if len(ordered) > 1 else pa.array([False])
    if pc.any(repeated).as_py():
        first = ordered[int(np.flatnonzero(repeated.to_numpy(zero_copy_only=False))[0])]
        raise ValueError(
            f"table {table}, column {column}: {column}={first.as_py()!r} repeated "
            "(rule: primary key, unique)"
        )
    return ordered


@dataclass(frozen=True)
class ClientKeys:
    """Integer client keys: key k is the k-th client in client_id order (k = 1, 2, ...),
    which is also its ``cid`` in the statement (``ids``); joins on them are faster."""

    ordered: pa.Array  # the client ids in key order (key k at position k - 1)
    rows: dict[str, np.ndarray]  # per table: the key of each row's client (0: none)

    def client_ids(self, keys: np.ndarray) -> pd.Series:
        """The client ids of ``keys`` (str)."""
        index = pa.array(np.asarray(keys, dtype=np.int64) - 1, type=pa.int64())
        return pd.Series(self.ordered.take(index).to_pandas(), dtype="str")


def client_keys(tables: Mapping[str, pd.DataFrame]) -> ClientKeys:
    """The key of every row's client: tables with ``client_id``, and ``facility_balances``
    through its facility; 0 where that client or facility is absent (statements read only
    their range of keys, from 1, so no feature reads such a row)."""
    ordered = primary_key("clients", "client_id", tables["clients"]["client_id"])
    rows = {
        name: positions(frame["client_id"], ordered)
        for name, frame in tables.items()
        if name in VIEWS and "client_id" in frame.columns
    }
    if "facility_balances" in tables and "facilities" in rows:
        facilities = tables["facilities"]["facility_id"]
        primary_key("facilities", "facility_id", facilities)
        facility = positions(
            tables["facility_balances"]["facility_id"], id_strings(facilities).combine_chunks()
        )
        owner = np.concatenate([np.zeros(1, np.int32), rows["facilities"]])
        rows["facility_balances"] = owner[facility]
    return ClientKeys(ordered, rows)


def split_rows(keys: np.ndarray, starts: Sequence[int]) -> tuple[np.ndarray | None, np.ndarray]:
    """How to cut rows with client ``keys`` into the ranges of clients beginning at the keys
    ``starts`` (ascending): the order to read the rows in (None: as they are, already grouped
    by range, e.g. sorted by client) and the bounds: range k is rows bounds[k]:bounds[k+1]
    of that order. A row of key 0 (no client) is in no range."""
    edges = np.asarray([*starts, np.iinfo(np.int64).max], dtype=np.int64)
    if fw.ascending(keys):  # sorted by client: no work
        return None, np.searchsorted(keys, edges)
    part = np.searchsorted(edges, keys, side="right") - 1
    order = None
    if bool((part[1:] < part[:-1]).any()):
        order = np.argsort(part, kind="stable")  # row order kept within a range
        part = part[order]
    return order, np.searchsorted(part, np.arange(len(starts) + 1))


@dataclass(frozen=True)
class ClientPasses:
    """The tables cut into ranges of clients (``ranges``: first and last key), one pass
    each: every feature is per client, so the passes are independent."""

    tables: Mapping[str, pd.DataFrame]
    keys: ClientKeys
    ranges: tuple[tuple[int, int], ...]
    cuts: dict[str, tuple[np.ndarray | None, np.ndarray]]  # table -> split_rows(...)

    def part(self, k: int) -> dict[str, tuple[pd.DataFrame, np.ndarray | None]]:
        """Pass k's rows of each table, with their client keys: the big event tables'
        rows of its clients only (a copy only if they were not grouped by client), the
        small tables whole (the statement keeps its clients' rows)."""
        out: dict[str, tuple[pd.DataFrame, np.ndarray | None]] = {}
        for name, frame in self.tables.items():
            if name not in VIEWS:
                continue
            keys = self.keys.rows.get(name)
            if name in self.cuts and keys is not None:
                order, bounds = self.cuts[name]
                rows = np.s_[bounds[k] : bounds[k + 1]]
                taken = rows if order is None else order[rows]
                frame, keys = frame.iloc[taken], keys[taken]
            out[name] = (frame, keys)
        return out


def client_passes(
    tables: Mapping[str, pd.DataFrame], keys: ClientKeys, ranges: Sequence[tuple[int, int]]
) -> ClientPasses:
    """The tables with their client ``keys`` (:func:`client_keys`), cut into ``ranges``.

    With one range nothing is cut. Otherwise each event table (:data:`EVENT_VIEWS`) is cut
    once, so a pass scans its own clients' rows, not the whole book again.
    """
    starts = [first for first, _ in ranges]
    cuts = {}
    if len(ranges) > 1:
        cuts = {n: split_rows(keys.rows[n], starts) for n in EVENT_VIEWS if n in keys.rows}
    return ClientPasses(tables, keys, tuple(ranges), cuts)


def load_pass(
    con: duckdb.DuckDBPyConnection, passes: ClientPasses, k: int, calendar: Calendar
) -> None:
    """Register pass k's rows in ``con`` (typed, integer client keys, event months and
    buckets; replacing the previous pass's) and limit its statements to its clients."""
    for name, (frame, keys) in passes.part(k).items():
        typed = typed_frame(name, frame, calendar.code_map, keys, calendar.buckets)
        con.register(VIEWS[name], typed)
    client_range(con, *passes.ranges[k])


def midx(column: str) -> str:
    """SQL month index of a date expression (year * 12 + month)."""
    return f"(year({column}) * 12 + month({column}))"


def months_since(column: str) -> str:
    return f"date_diff('day', {column}, s.as_of) / {DAYS_PER_MONTH}"


def pass_rows(view: str, bucketed: bool = True) -> str:
    """The rows of event ``view`` (loaded by :func:`load_pass`) of the statement's clients
    (``client_id`` is the integer key, ``cid``) in a bucket (all of them: ``bucketed``
    False)."""
    where = "client_id BETWEEN getvariable('first_cid') AND getvariable('last_cid')"
    return f"(SELECT * FROM {view} WHERE {where}{' AND b > 0' * bucketed})"


def with_cid(view: str, alias: str) -> str:
    """``view`` joined to the client keys: ``ids.cid`` (integer) for its client_id."""
    return f"{view} {alias} JOIN ids ON ids.client_id = {alias}.client_id"


def latest(source: str, column: str) -> tuple[str, tuple[str, ...]]:
    """SQL for "the latest ``column`` of ``source`` on or before t", and the CTE it reads."""
    return f"{source}_latest.{column}", (f"{source}_latest",)


def latest_cte(source: str, columns: Sequence[str]) -> Cte:
    """The latest (largest) value of each of ``columns`` of ``source`` on or before t."""
    return windowed(f"{source}_latest", source, {c: fw.latest(c) for c in columns})


def windowed(name: str, source: str, columns: Mapping[str, fw.Column]) -> Cte:
    """A snapshot-grain table computed in numpy from the bucket rows of ``source``
    (:mod:`predict.features.windows`), not in SQL; the statement joins it like a CTE."""
    return Cte(name, "", (source,), "snapshot", windowed=fw.Windowed(source, columns))


def answer_key(score: str) -> str:
    """A sortable key of a survey answer: latest day first, then the highest score.

    key = days since 1900-01-01 * 16 + score (scores are 0..10); ``key % 16`` gives the
    score back. Its maximum is "the latest answer (the highest if several that day)".
    """
    return f"(date_diff('day', DATE '1900-01-01', i.date::DATE) * 16 + i.{score})"


BASE: tuple[Cte, ...] = (
    Cte(
        "cal",
        "SELECT as_of::DATE AS as_of, midx::INTEGER AS midx, prev_midx::INTEGER AS prev_midx, "
        "as_of_m3::DATE AS as_of_m3, as_of_m6::DATE AS as_of_m6, as_of_m12::DATE AS as_of_m12 "
        "FROM asof_t",
    ),
    # Integer client keys, numbered in client_id order (so sorting on them sorts the ids);
    # the WHERE limits a statement to one range of them (see ``client_range``).
    Cte(
        "ids",
        "SELECT * FROM (SELECT client_id, (row_number() OVER (ORDER BY client_id))::INTEGER "
        "AS cid, onboarding_date::DATE AS onboarded, segment, industry, region, "
        "annual_turnover FROM clients_t) WHERE cid BETWEEN getvariable('first_cid') "
        "AND getvariable('last_cid')",
        materialized=True,
    ),
    Cte(
        "snap",
        f"SELECT c.*, {midx('c.onboarded')} AS onboarded_midx, a.* "
        "FROM ids c JOIN cal a ON c.onboarded <= a.as_of",
        ("ids", "cal"),
        materialized=True,
    ),
)


def facility_ctes(terms: bool = False) -> list[Cte]:
    """Facility features per snapshot, from each facility's terms in force at t (``fac_at``:
    :func:`terms_ctes`; ``terms``: whether ``facility_terms`` is present)."""
    open_t = "(f.closed IS NULL OR f.closed > s.as_of)"

    def open_at(day: str) -> str:
        return f"(f.opened <= {day} AND (f.closed IS NULL OR f.closed > {day}))"

    rated = f"{open_t} AND f.interest_rate IS NOT NULL"
    maturing = f"{open_t} AND f.maturity <= last_day(s.as_of + INTERVAL 12 MONTH)"
    return [
        Cte(
            "fac",
            "SELECT f.facility_id, ids.cid, f.product, f.limit_amount, f.interest_rate, "
            "f.origination_date::DATE AS opened, f.maturity_date::DATE AS maturity, "
            f"f.closed_date::DATE AS closed FROM {with_cid('facilities_t', 'f')}",
            ("ids",),
            materialized=True,
        ),
        *terms_ctes(terms),
        Cte(
            "fac_f",
            f"""SELECT s.cid, s.midx,
  count(*) FILTER (WHERE {open_t}) AS n_open,
  count(DISTINCT f.product) FILTER (WHERE {open_t}) AS n_products,
  {ordered_sum("f.limit_amount", open_t)} AS total_limit,
  {ordered_sum("f.limit_m3", open_at("s.as_of_m3"))} AS limit_m3,
  {ordered_sum("f.limit_m6", open_at("s.as_of_m6"))} AS limit_m6,
  {ordered_sum("f.limit_amount * f.interest_rate", rated)}
    / nullif({ordered_sum("f.limit_amount", rated)}, 0) AS avg_rate,
  min(date_diff('day', s.as_of, f.maturity)) FILTER (WHERE {open_t} AND f.maturity IS NOT NULL)
    / {DAYS_PER_MONTH} AS months_to_maturity,
  max(date_diff('day', s.as_of, f.maturity)) FILTER (WHERE {open_t} AND f.maturity IS NOT NULL)
    / {DAYS_PER_MONTH} AS months_to_last_maturity,
  {ordered_sum("f.limit_amount", maturing)} AS limit_maturing_12m,
  count(*) FILTER (WHERE f.opened > s.as_of_m12) AS opened_12m,
  count(*) FILTER (WHERE f.closed > s.as_of_m12 AND f.closed <= s.as_of) AS closed_12m,
  count(DISTINCT f.opened) AS n_deals,
  min(f.opened) AS first_facility
FROM snap s JOIN fac_at f ON f.cid = s.cid AND f.midx = s.midx
GROUP BY s.cid, s.midx""",
            ("snap", "fac_at"),
            "snapshot",
        ),
        *rate_spread_ctes(open_t),
    ]


# The terms of ``fac_at``: (name, the ``fac`` and ``terms`` column, the snap day it is at).
TERMS_AT: tuple[tuple[str, str, str], ...] = (
    ("limit_amount", "limit_amount", "as_of"),
    ("interest_rate", "interest_rate", "as_of"),
    ("maturity", "maturity", "as_of"),
    ("limit_m3", "limit_amount", "as_of_m3"),
    ("limit_m6", "limit_amount", "as_of_m6"),
)


# Each ``facility_terms`` row with the terms in force from its date (running per facility:
# an empty value keeps the term) and ``rate_set``, the date the rate in force then was set:
# that of the latest row whose running rate differs from the row before it (the first row
# giving a rate included); NULL while no row has given a rate.
TERMS_RUNNING = """SELECT facility_id, effective, limit_amount, interest_rate, maturity,
  last_value(CASE WHEN interest_rate IS DISTINCT FROM prev_rate THEN effective END
    IGNORE NULLS) OVER (PARTITION BY facility_id ORDER BY effective) AS rate_set
FROM (SELECT *, lag(interest_rate) OVER (PARTITION BY facility_id ORDER BY effective)
    AS prev_rate
  FROM (SELECT t.facility_id, t.effective_date::DATE AS effective,
      last_value(t.limit_amount IGNORE NULLS) OVER w AS limit_amount,
      last_value(t.interest_rate IGNORE NULLS) OVER w AS interest_rate,
      last_value(t.maturity_date::DATE IGNORE NULLS) OVER w AS maturity
    FROM terms_t t WINDOW w AS (PARTITION BY t.facility_id ORDER BY t.effective_date)))"""


def terms_ctes(terms: bool) -> list[Cte]:
    """``fac_at``: every facility originated on or before t, per snapshot (cid, midx), with
    its terms in force at t (``limit_amount``, ``interest_rate``, ``maturity``), its
    limit in force 3 and 6 months before (``limit_m3``, ``limit_m6``) and the day its rate
    in force at t was set (``rate_set``).

    A term in force at a day is the latest value given by a ``facility_terms`` row dated on
    or before that day (``terms``: running per facility, an empty value leaving the term
    unchanged), else the value recorded in ``facilities`` (the latest: a look-ahead the
    model card states when the table is absent). Without ``facility_terms`` every term is
    as recorded. The rate in force was set on the date of the row that gave it (the first
    row of the latest run of rows with that rate: a row repeating the rate, e.g. a limit
    cut, sets nothing), else at origination (no row gave a rate: the recorded one).
    The rate reference is not read here: it is the view ``rate_ref_t``
    (:mod:`predict.features.rates`, built from each facility's rate at origination).
    """
    base = "s.cid, s.midx, f.facility_id, f.product, f.opened, f.closed"
    source = "snap s JOIN fac f ON f.cid = s.cid AND f.opened <= s.as_of"
    if not terms:
        recorded = ", ".join(f"f.{column} AS {name}" for name, column, _ in TERMS_AT)
        return [
            Cte(
                "fac_at",
                f"SELECT {base}, {recorded}, f.opened AS rate_set FROM {source}",
                ("snap", "fac"),
            ),
        ]
    joins, columns = [], []
    for k, day in enumerate(dict.fromkeys(d for _, _, d in TERMS_AT)):
        joins.append(
            f"ASOF LEFT JOIN terms t{k} ON t{k}.facility_id = f.facility_id "
            f"AND s.{day} >= t{k}.effective"
        )
        columns += [f"coalesce(t{k}.{c}, f.{c}) AS {n}" for n, c, d in TERMS_AT if d == day]
    columns.append("coalesce(t0.rate_set, f.opened) AS rate_set")  # t0: the terms at t
    return [
        Cte("terms", TERMS_RUNNING, materialized=True),
        Cte(
            "fac_at",
            f"SELECT {base}, {', '.join(columns)}\nFROM {source}\n" + "\n".join(joins),
            ("snap", "fac", "terms"),
            materialized=True,
        ),
    ]


def ordered_sum(expr: str, where: str) -> str:
    """SQL: the sum of ``expr`` over a client's facilities (``fac_at f``) meeting ``where``,
    added in facility_id order (NULL without any). The joins behind ``fac_at`` (ASOF, hash)
    hand the rows over in an order that depends on the other clients of the statement, and
    a float sum's last bit depends on its order: ordered, a client's features are the same
    bits alone, in a partition or within the whole book."""
    return f"list_sum(list({expr} ORDER BY f.facility_id) FILTER (WHERE {where}))"


def rate_spread_ctes(open_t: str) -> list[Cte]:
    """The spread of each facility's rate in force at t over the reference rate of its
    product for the month that rate was set (``fac_at.rate_set``: the origination month
    unless a ``facility_terms`` row repriced it; :mod:`predict.features.rates`).

    The reference (``rate_ref``) is the registered view ``rate_ref_t`` (as-of month,
    product, origination month, rate): at training built point in time from the book, at
    scoring the one frozen in the model folder; never from the clients of the statement.
    A facility takes the reference of its month or, without one, of the latest earlier
    month of its product (ASOF join); without any, it has no spread.
    The sums run over the client's facilities in facility_id order (:func:`ordered_sum`).
    A rate set at origination or at a repricing carries the base rate of that month and a
    premium for the borrower's risk then: the spread keeps the premium. (Against the
    origination month's reference, a line repriced after the base rate moved would carry
    the move: +4.5 points for a 2021 line repriced in 2024 on the synthetic book.)
    """
    return [
        Cte("rate_ref", "SELECT midx, product, omidx, ref_rate FROM rate_ref_t"),
        Cte(
            "spread_f",
            f"""SELECT s.cid, s.midx,
  {ordered_sum("f.limit_amount * (f.interest_rate - r.ref_rate)", open_t)}
    / nullif({ordered_sum("f.limit_amount", open_t)}, 0) AS spread_open,
  list_avg(list(f.interest_rate - r.ref_rate ORDER BY f.facility_id)) AS spread_all
FROM snap s JOIN fac_at f ON f.cid = s.cid AND f.midx = s.midx
ASOF JOIN rate_ref r ON r.midx = s.midx AND r.product = f.product
  AND {midx("f.rate_set")} >= r.omidx
WHERE f.interest_rate IS NOT NULL
GROUP BY s.cid, s.midx""",
            ("snap", "fac_at", "rate_ref"),
            "snapshot",
        ),
    ]


def balance_ctes() -> list[Cte]:
    average = {n: fw.Ratio(fw.total("drawn", n), fw.total("months", n)) for n in (3, 12)}
    return [
        # Client-month balances; a balance of a month before the facility's origination
        # month is not counted. ``cured``: arrears at the month end before, none now.
        Cte(
            "bal_cm",
            f"""SELECT f.cid, b.midx, b.b, sum(b.outstanding) AS drawn,
  max(b.days_past_due) AS dpd
FROM {pass_rows("balances_t", bucketed=False)} b JOIN fac f ON f.facility_id = b.facility_id
WHERE b.midx >= {midx("f.opened")}
GROUP BY ALL""",
            ("fac",),
        ),
        Cte(
            "bal_b",
            """SELECT c.cid, c.b, sum(c.drawn) AS drawn, count(*) AS months,
  count(*) FILTER (WHERE c.dpd > 0) AS arrears, max(c.dpd) AS dpd,
  count(*) FILTER (WHERE c.cured) AS cures,
  sum(c.drawn) FILTER (WHERE c.midx = c.b) AS drawn_end,
  max(c.dpd) FILTER (WHERE c.midx = c.b) AS dpd_end
FROM (SELECT *, coalesce(dpd = 0 AND lag(dpd) OVER w > 0 AND lag(midx) OVER w = midx - 1,
  false) AS cured FROM bal_cm WINDOW w AS (PARTITION BY cid ORDER BY midx)) c
WHERE c.b > 0
GROUP BY c.cid, c.b""",
            ("bal_cm",),
        ),
        # The balance at a month end t - k is that of the bucket ending at t - k: the
        # window of the one month (t - k - 1, t - k].
        windowed(
            "bal_f",
            "bal_b",
            {
                "drawn": fw.total("drawn_end", 1),
                "drawn_m3": fw.total("drawn_end", 4, 3),
                "drawn_m6": fw.total("drawn_end", 7, 6),
                "avg_drawn_12m": average[12],
                "avg_drawn_3m": average[3],
                "current_dpd": fw.Agg("max", "dpd_end", 1),
                "max_dpd_12m": fw.Agg("max", "dpd", 12),
                **{f"arrears_{n}m": fw.total("arrears", n) for n in WINDOWS},
                "cures_12m": fw.total("cures", 12),
            },
        ),
    ]


def revenue_ctes(w: Windows) -> list[Cte]:
    def family(name: str) -> str:
        return "r.family IS NULL" if name == "other" else f"r.family = '{name}'"

    fams = ", ".join(
        f"coalesce(sum(r.amount) FILTER (WHERE {family(f)}), 0) AS {f}" for f in REVENUE_FAMILIES
    )
    sums = {
        f"{col}_{n}m": fw.total(col, n) for col in ("total", *REVENUE_FAMILIES) for n in (3, 6, 12)
    }
    return [
        Cte(
            "rev_b",
            f"""SELECT r.client_id AS cid, r.b, sum(r.amount) AS total, {fams},
  (max(r.date) FILTER (WHERE r.amount <> 0))::DATE AS last_active,
  (min(r.date) FILTER (WHERE r.amount <> 0))::DATE AS first_active,
  bool_or(r.amount <> 0) AS active
FROM {pass_rows("revenue_t")} r
GROUP BY r.client_id, r.b""",
        ),
        windowed(
            "rev_f",
            "rev_b",
            {
                **sums,
                "total_prev_3m": fw.total("total", 6, 3),
                "active_inact": fw.Agg("max", "active", w.inactivity),
                "active_dormant": fw.Agg("max", "active", w.dormant),
            },
        ),
        latest_cte("rev_b", ["last_active"]),
        windowed("rev_first", "rev_b", {"first_revenue": fw.Agg("min", "first_active")}),
        # Monthly totals, for the volatility only (sum of squares and months per bucket).
        Cte(
            "rev_sq",
            f"""SELECT c.cid, c.b, sum(c.total * c.total) AS total_sq, count(*) AS months
FROM (SELECT r.client_id AS cid, r.midx, r.b, sum(r.amount) AS total
  FROM {pass_rows("revenue_t")} r GROUP BY ALL) c
GROUP BY c.cid, c.b""",
        ),
        windowed(
            "rev_sq_f",
            "rev_sq",
            {"total_sq_12m": fw.total("total_sq", 12), "months_12m": fw.total("months", 12)},
        ),
        # Cross-sold services held: distinct source codes outside interest and fees with
        # income, per bucket (a window's count is of distinct codes over its buckets).
        Cte(
            "svc_b",
            f"""SELECT DISTINCT r.client_id AS cid, r.b, lower(trim(r.source)) AS source
FROM {pass_rows("revenue_t")} r
WHERE r.family IS NULL AND r.amount > 0 AND r.source IS NOT NULL""",
        ),
        windowed("svc_f", "svc_b", {"services_3m": fw.Agg("distinct", "source", 3)}),
    ]


LATEST_ITX = ("last_rm", "last_complaint", "csat_key", "nps_key")
SURVEYS = ("csat_sum", "csat_n", "nps_sum", "nps_n", "surveys", "answers")


def interaction_ctes() -> list[Cte]:
    def fam(name: str) -> str:
        return f"i.family = '{name}'"

    def mean(score: str, months: int, skip: int = 0) -> fw.Ratio:
        return fw.Ratio(
            fw.total(f"{score}_sum", months, skip), fw.total(f"{score}_n", months, skip)
        )

    answered = "(i.csat IS NOT NULL OR i.nps IS NOT NULL)"
    counts = {"contacts_3m": fw.total("contacts", 3), "contacts_12m": fw.total("contacts", 12)}
    counts |= {f"{c}_12m": fw.total(c, 12) for c in ("service_requests", "complaints")}
    counts |= {f"{c}_12m": fw.total(c, 12) for c in ("surveys", "answers")}
    return [
        Cte(
            "itx_b",
            f"""SELECT i.client_id AS cid, i.b, count(*) AS contacts,
  count(*) FILTER (WHERE {fam("service_request")}) AS service_requests,
  count(*) FILTER (WHERE {fam("complaint")}) AS complaints,
  (max(i.date) FILTER (WHERE {fam("rm_contact")}))::DATE AS last_rm,
  (max(i.date) FILTER (WHERE {fam("complaint")}))::DATE AS last_complaint,
  max({answer_key("csat")}) AS csat_key, max({answer_key("nps")}) AS nps_key,
  sum(i.csat) AS csat_sum, count(i.csat) AS csat_n, sum(i.nps) AS nps_sum, count(i.nps) AS nps_n,
  count(*) FILTER (WHERE {fam("survey")}) AS surveys,
  count(*) FILTER (WHERE {fam("survey")} AND {answered}) AS answers
FROM {pass_rows("interactions_t")} i
GROUP BY i.client_id, i.b""",
        ),
        windowed(
            "itx_f",
            "itx_b",
            {**counts, "csat_mean_12m": mean("csat", 12), "nps_mean_12m": mean("nps", 12)},
        ),
        latest_cte("itx_b", LATEST_ITX),
        # The year before the last 12 months.
        windowed("itx_prev", "itx_b", {"csat_mean_prev_12m": mean("csat", 24, 12)}),
        # Every survey answer so far.
        windowed("itx_all", "itx_b", {c: fw.total(c) for c in SURVEYS}),
    ]


def credit_event_ctes(event_families: tuple[str, ...]) -> list[Cte]:
    counts = ", ".join(f"count(*) FILTER (WHERE e.family = '{f}') AS {f}" for f in event_families)
    return [
        Cte(
            "cev_b",
            f"""SELECT e.client_id AS cid, e.b, {counts},
  (max(e.date) FILTER (WHERE e.family IS NOT NULL))::DATE AS last_event
FROM {pass_rows("events_t")} e
GROUP BY e.client_id, e.b""",
        ),
        windowed(
            "cev_f",
            "cev_b",
            {f"{f}_{n}m": fw.total(f, n) for f in event_families for n in (12, 24)},
        ),
        latest_cte("cev_b", ["last_event"]),
    ]


def status_ctes(
    dpd_threshold: int,
    probation_months: int,
    restructuring_probation_months: int,
    present: set[str],
) -> list[Cte]:
    """The inputs of the default status at t (:func:`in_default_sql`), as of each bucket.

    ``status_ev``: client-months with a default trigger (a default or write-off event, or a
    facility at >= ``dpd_threshold`` days past due at the month end), a write-off, a
    restructuring event or arrears (a facility past due at the month end). A *distressed*
    restructuring is one in a month with arrears at its month end or the one before, or
    while in default by the trigger and probation rule. ``status_f``, on or before t: the
    last trigger month, whether a write-off happened, the last trigger month with a
    distressed restructuring no more than ``restructuring_probation_months`` before it
    (``last_restr_trigger``) and the last distressed restructuring no more than
    ``probation_months`` after the trigger before it (``last_restr_after``): the two ways a
    restructuring belongs to a default episode.
    """
    parts = []
    if {"facilities", "facility_balances"} <= present:
        parts.append(
            f"SELECT c.cid, c.midx, c.b, c.dpd >= {int(dpd_threshold)} AS trig, false AS wo, "
            "false AS restr, c.dpd > 0 AS arrears FROM bal_cm c"
        )
    if "credit_events" in present:
        parts.append(
            f"SELECT e.client_id AS cid, e.midx, e.b, e.family IN {DEFAULT_FAMILIES} AS trig, "
            "e.family = 'write_off' AS wo, e.family = 'restructuring' AS restr, false AS arrears "
            f"FROM {pass_rows('events_t', bucketed=False)} e "
            "WHERE e.family IN ('default', 'write_off', 'restructuring')"
        )
    p, long = int(probation_months), int(restructuring_probation_months)
    so_far = (
        "OVER (PARTITION BY cid ORDER BY midx ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    )
    distressed = (
        f"restr AND (arrears OR (prev_arrears AND prev_midx = midx - 1) "
        f"OR midx - trig_so_far <= {p})"
    )
    return [
        Cte(
            "status_ev",
            "SELECT cid, midx, b, bool_or(trig) AS trig, bool_or(wo) AS wo, "
            "bool_or(restr) AS restr, bool_or(arrears) AS arrears FROM ("
            + " UNION ALL ".join(parts)
            + ") GROUP BY ALL",
            ("bal_cm",) if {"facilities", "facility_balances"} <= present else (),
        ),
        Cte(
            "status_b",
            f"""SELECT s.cid, s.b, max(s.midx) FILTER (WHERE s.trig) AS last_trigger,
  bool_or(s.wo) AS write_off,
  max(s.midx) FILTER (WHERE s.trig AND s.restr_before) AS last_restr_trigger,
  max(s.midx) FILTER (WHERE s.distressed AND s.midx - s.trig_so_far <= {p}) AS last_restr_after
FROM (SELECT *, bool_or(distressed) OVER (PARTITION BY cid ORDER BY midx
    RANGE BETWEEN {long} PRECEDING AND CURRENT ROW) AS restr_before
  FROM (SELECT *, coalesce({distressed}, false) AS distressed
    FROM (SELECT *, lag(arrears) OVER w AS prev_arrears, lag(midx) OVER w AS prev_midx,
      max(CASE WHEN trig THEN midx END) {so_far} AS trig_so_far
      FROM status_ev WINDOW w AS (PARTITION BY cid ORDER BY midx)))) s
WHERE s.b > 0
GROUP BY s.cid, s.b""",
            ("status_ev",),
        ),
        windowed(
            "status_f",
            "status_b",
            {
                "last_trigger": fw.latest("last_trigger"),
                "write_off": fw.Agg("max", "write_off"),
                "last_restr_trigger": fw.latest("last_restr_trigger"),
                "last_restr_after": fw.latest("last_restr_after"),
            },
        ),
    ]


def in_default_sql(probation_months: int, restructuring_probation_months: int) -> str:
    """In default at t (1/0) from ``status_f`` (:func:`status_ctes`), with m = month of t,
    L the last trigger month on or before t, p = ``probation_months`` and
    P = ``restructuring_probation_months``:

    1 after a write-off (it never cures); else 0 without a trigger on or before t; else 1
    when m - L <= p (the triggers ceased less than the probation ago); else 1 when a
    distressed restructuring R of this default episode (L - P <= R <= L + p) has
    m - max(L, R) <= P; else 0 (cured). A restructuring after L + p, even with arrears, is
    after the cure: it does not bring the client back into default (a new trigger would).
    """
    p, long = int(probation_months), int(restructuring_probation_months)
    last = "status_f.last_trigger"
    before, after = "status_f.last_restr_trigger", "status_f.last_restr_after"
    return (
        f"CASE WHEN coalesce(status_f.write_off, false) THEN 1 WHEN {last} IS NULL THEN 0 "
        f"WHEN s.midx - {last} <= {p} THEN 1 "
        f"WHEN {before} = {last} AND s.midx - {last} <= {long} THEN 1 "
        f"WHEN {after} >= {last} AND s.midx - {after} <= {long} THEN 1 ELSE 0 END"
    )


def _closure(by_name: Mapping[str, Cte], roots: Iterable[str]) -> set[str]:
    """The CTEs ``roots`` need, with their dependencies (not those of a windowed CTE: it is
    computed before the statement, from its own statement's rows)."""
    needed: set[str] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            if by_name[name].windowed is None:
                stack.extend(by_name[name].deps)
    return needed


def _with(ctes: Iterable[Cte], needed: set[str]) -> str:
    return ",\n".join(
        f"{c.name} AS {'MATERIALIZED ' if c.materialized else ''}(\n{c.sql}\n)"
        for c in ctes
        if c.name in needed and c.windowed is None
    )


def assemble(
    ctes: list[Cte], selects: Mapping[str, str], uses: Mapping[str, tuple[str, ...]]
) -> str:
    """The one SQL statement: the CTEs the selected features need, joined onto ``snap``.

    ``selects`` maps output column -> SQL expression; ``uses`` maps output column -> the
    CTE names its expression reads. Per-snapshot CTEs are keyed by (cid, midx), per-client
    ones by cid. The windowed CTEs are struct columns of one table, :data:`WINDOWS_VIEW`,
    registered before the statement runs (:meth:`Statement.run`): ``rev_f.total_3m`` reads
    field ``total_3m`` of its column ``rev_f``. The rows are in no order: see
    :func:`sort_result`.
    """
    by_name = {c.name: c for c in ctes}
    needed = _closure(by_name, ["snap", *(name for names in uses.values() for name in names)])
    joins = []
    if any(c.windowed for c in ctes if c.name in needed):
        joins.append(f"LEFT JOIN {WINDOWS_VIEW} w ON w.cid = s.cid AND w.midx = s.midx")
    for cte in ctes:
        if cte.name not in needed or cte.windowed:
            continue
        on = f"{cte.name}.cid = s.cid"
        if cte.grain == "snapshot":
            joins.append(f"LEFT JOIN {cte.name} ON {on} AND {cte.name}.midx = s.midx")
        elif cte.grain == "client":
            joins.append(f"LEFT JOIN {cte.name} ON {on}")
    keys = ["s.cid AS _cid", "s.midx AS _midx", "s.client_id", "s.as_of"]
    columns = ",\n  ".join([*keys, *(f"{e} AS {n}" for n, e in selects.items())])
    return f"WITH {_with(ctes, needed)}\nSELECT {columns}\nFROM snap s\n" + "\n".join(joins)


@dataclass(frozen=True)
class Statement:
    """The CTEs, output expressions and the CTEs each reads (see :func:`assemble`)."""

    ctes: tuple[Cte, ...]
    selects: Mapping[str, str]
    uses: Mapping[str, tuple[str, ...]]

    def sql(self) -> str:
        """The final statement (windowed CTEs are tables registered by :meth:`run`)."""
        return assemble(list(self.ctes), self.selects, self.uses)

    def run(self, con: duckdb.DuckDBPyConnection) -> pa.Table:
        """The statement's rows on ``con`` (Arrow), its windowed CTEs computed first.

        Each bucket table a windowed CTE reads is one statement of its own (its rows
        fetched once, whatever the number of windowed CTEs reading it); the windows of every
        snapshot (``snap``'s rows) are then computed in numpy (:mod:`predict.features.windows`)
        and registered as :data:`WINDOWS_VIEW`, one struct column per windowed CTE.
        """
        by_name = {c.name: c for c in self.ctes}
        windowed = self._windowed()
        if windowed:
            keys = self._rows(con, by_name, "snap", ["cid", "midx"])
            snap_cid, snap_m = (np.asarray(keys[c].to_numpy()) for c in ("cid", "midx"))
            order = np.lexsort((snap_m, snap_cid))  # in row order: see fw.reduce_runs
            snap_cid, snap_m = snap_cid[order], snap_m[order]
            reads: dict[str, set[str]] = {}
            for spec in windowed.values():
                reads.setdefault(spec.source, set()).update(spec.reads)
            rows = {
                source: self._rows(con, by_name, source, ["cid", "b", *sorted(columns)])
                for source, columns in reads.items()
            }
            columns = {"cid": pa.array(snap_cid), "midx": pa.array(snap_m)}
            for name, spec in windowed.items():
                columns[name] = fw.window_columns(rows[spec.source], snap_cid, snap_m, spec)
            con.register(WINDOWS_VIEW, pa.table(columns))
        return con.sql(self.sql()).to_arrow_table()

    def _windowed(self) -> dict[str, fw.Windowed]:
        """The windowed CTEs the outputs read, each cut to the columns they read (a
        reference ``<cte>.<column>`` in an expression)."""
        text = "\n".join(self.selects.values())
        needed, out = self._needed(), {}
        for cte in self.ctes:
            if cte.windowed is None or cte.name not in needed:
                continue
            read = set(re.findall(rf"\b{cte.name}\.(\w+)", text))
            columns = {k: v for k, v in cte.windowed.columns.items() if k in read}
            if columns:
                out[cte.name] = fw.Windowed(cte.windowed.source, columns)
        return out

    def _needed(self) -> set[str]:
        roots = ["snap", *(name for names in self.uses.values() for name in names)]
        return _closure({c.name: c for c in self.ctes}, roots)

    def _rows(
        self,
        con: duckdb.DuckDBPyConnection,
        by_name: Mapping[str, Cte],
        cte: str,
        columns: Sequence[str],
    ) -> pa.Table:
        """The ``columns`` of the rows of ``cte`` (unused aggregates are not computed)."""
        needed = _closure(by_name, [cte])
        return con.sql(
            f"WITH {_with(self.ctes, needed)}\nSELECT {', '.join(columns)} FROM {cte}"
        ).to_arrow_table()


def sort_result(frame: pd.DataFrame) -> pd.DataFrame:
    """The result of :func:`assemble` sorted by client and as-of date, keys dropped.

    Sorting here, on the integer keys, is much cheaper than an ORDER BY of the wide rows.
    """
    order = np.lexsort((frame["_midx"].to_numpy(), frame["_cid"].to_numpy()))
    return frame.iloc[order].drop(columns=["_cid", "_midx"]).reset_index(drop=True)


def sort_table(table: pa.Table) -> pa.Table:
    """:func:`sort_result` of an Arrow result."""
    keys = (np.asarray(table[c].to_numpy()) for c in ("_midx", "_cid"))
    return table.take(np.lexsort(tuple(keys))).drop_columns(["_cid", "_midx"])


def code_map_frame(domains: Mapping[str, Mapping[str, Sequence[str]]]) -> pd.DataFrame:
    """The ``code_map_t`` table: (domain, code, family), codes lower-cased and trimmed.

    Raises ValueError when one code is mapped to two families of the same domain.
    """
    rows: dict[tuple[str, str], str] = {}
    for domain, fams in domains.items():
        for family, codes in fams.items():
            for raw in codes:
                code = str(raw).strip().lower()
                seen = rows.get((domain, code))
                if seen is not None and seen != family:
                    raise ValueError(
                        f"code {raw!r} of {domain} is mapped to both {seen!r} and {family!r}"
                    )
                rows[(domain, code)] = family
    return pd.DataFrame(
        {
            "domain": pd.Series([k[0] for k in rows], dtype="str"),
            "code": pd.Series([k[1] for k in rows], dtype="str"),
            "family": pd.Series(list(rows.values()), dtype="str"),
        }
    )
