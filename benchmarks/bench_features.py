"""Benchmark of the feature build (DuckDB buckets, numpy windows, all dates at once) vs pandas.

Builds ``predict.features.build.build_features`` for 12 quarterly as-of dates on a generated book
with >= ``--rows`` event rows (interactions + revenue + facility balances). A book of more
than ``features.events_per_pass`` event rows is done in ranges of clients, each pass on one
single-threaded DuckDB connection over its own clients' rows, up to one pass per CPU at once
(bit-identical whatever the number at once). It prints:

- seconds (median of ``--repeats``) and event rows per second, for 12 snapshots and for 1;
- the 12-vs-1 snapshot cost ratio (target <= 3x);
- peak memory (process RSS sampled every 20 ms during the build; target < 6 GiB);
- the ratio to a straightforward pandas implementation (per as-of date: filter the window,
  groupby client) of a representative subset of 15 features over 4 tables (revenue sums by
  window and source family, contacts, complaints, mean CSAT, drawn balance, max dpd, months
  in arrears, limit and open facilities), measured in the same run against DuckDB on the
  same subset (``names=``) and against DuckDB on all features. Target >= 4x. The pandas
  result is checked equal to DuckDB's on the last as-of date. The subset is also timed with
  one pass at a time (``workers=1``): the ratio when DuckDB, like pandas, has one core;
- the CPUs and the load average before and after (the machine may be shared: Linux shares
  the CPU between sessions, so a busy neighbour leaves this run one core whatever it asks).

The book comes from ``predict.synthetic`` (``--generator synthetic``) or from a fast numpy
generator of contract shape (``--generator numpy``, the default: the synthetic simulator
takes minutes at 20M rows). It is cached as Parquet under ``benchmarks/out/`` (gitignored).

    python benchmarks/bench_features.py --rows 1500000      # development size
    python benchmarks/bench_features.py                     # 20M rows: run it once or twice
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from predict.contract.validation import load_validated
from predict.features.build import FeaturesConfig, build_features
from predict.features.snapshots import add_months

OUT = Path(__file__).resolve().parent / "out"
END = dt.date(2025, 12, 31)
MONTHS = 72
EVENT_TABLES = ("interactions", "revenue", "facility_balances")
SUBSET = [
    "revenue_3m",
    "revenue_6m",
    "revenue_12m",
    "revenue_interest_12m",
    "revenue_fee_12m",
    "revenue_other_12m",
    "contacts_3m",
    "contacts_12m",
    "complaints_12m",
    "csat_mean_12m",
    "drawn_balance",
    "max_dpd_12m",
    "months_in_arrears_12m",
    "total_limit",
    "n_open_facilities",
]
GIB = 1024**3


# --------------------------------------------------------------------------- the book


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    uniq, inverse = np.unique(numbers, return_inverse=True)
    labels = pa.array([f"{prefix}{n:07d}" for n in uniq], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(inverse.astype(np.int32)), labels).cast(
        pa.string()
    )


def _codes(rng: np.random.Generator, values: list[str], p: list[float], n: int) -> pa.Array:
    idx = rng.choice(len(values), size=n, p=p).astype(np.int32)
    dictionary = pa.array(values, type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(idx), dictionary).cast(pa.string())


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype("datetime64[D]"), type=pa.date32())


def numpy_book(n_clients: int, seed: int = 7) -> dict[str, pa.Table]:
    """A contract-shaped book: 72 months to 2025-12-31, ~172 event rows per client."""
    rng = np.random.default_rng(seed)
    start = np.datetime64(add_months(END, -MONTHS + 1).replace(day=1), "M")
    month_starts = start + np.arange(MONTHS)  # datetime64[M]
    month_len = (
        (month_starts + 1).astype("datetime64[D]") - month_starts.astype("datetime64[D]")
    ).astype(int)
    first_day = month_starts.astype("datetime64[D]")
    cid = np.arange(n_clients)
    onboard_m = rng.integers(-60, MONTHS - 6, n_clients)
    onboard = (start + onboard_m).astype("datetime64[D]") + rng.integers(0, 28, n_clients)
    clients = pa.table(
        {
            "client_id": _ids("C", cid),
            "onboarding_date": _dates(onboard),
            "segment": _codes(rng, ["sme", "mid_corporate", "large"], [0.6, 0.3, 0.1], n_clients),
            "industry": _codes(rng, [f"I{k:02d}" for k in range(12)], [1 / 12] * 12, n_clients),
            "region": _codes(rng, ["north", "south", "east", "west"], [0.25] * 4, n_clients),
            "branch_id": _codes(rng, [f"BR{k:02d}" for k in range(20)], [0.05] * 20, n_clients),
            "rm_id": _codes(rng, [f"RM{k:03d}" for k in range(200)], [0.005] * 200, n_clients),
            "annual_turnover": pa.array(np.round(rng.lognormal(15, 1.2, n_clients), -3)),
        }
    )
    active_from = np.clip(onboard_m, 0, MONTHS - 1)
    # Facilities: 0-3 per client, open for 12-60 months; monthly balances while open.
    n_fac = rng.choice(4, n_clients, p=[0.25, 0.35, 0.25, 0.15])
    fcid = np.repeat(cid, n_fac)
    f_open = np.minimum(active_from[fcid] + rng.integers(0, 36, len(fcid)), MONTHS - 1)
    f_len = rng.integers(12, 61, len(fcid))
    f_close = f_open + f_len
    closed = f_close < MONTHS
    limit = np.round(rng.lognormal(13, 1, len(fcid)), -3)
    facilities = pa.table(
        {
            "facility_id": _ids("F", np.arange(len(fcid))),
            "client_id": _ids("C", fcid),
            "product": _codes(
                rng, ["term_loan", "revolver", "trade"], [0.5, 0.35, 0.15], len(fcid)
            ),
            "limit_amount": pa.array(limit),
            "interest_rate": pa.array(np.round(rng.uniform(0.02, 0.09, len(fcid)), 4)),
            "origination_date": _dates(first_day[f_open] + rng.integers(0, 28, len(fcid))),
            "maturity_date": _dates(first_day[np.minimum(f_open, MONTHS - 1)] + 30 * (f_len + 6)),
            "closed_date": pa.array(
                (first_day[np.minimum(f_close, MONTHS - 1)] + 10).astype("datetime64[D]"),
                mask=~closed,
                type=pa.date32(),
            ),
        }
    )
    months_open = np.minimum(f_close, MONTHS - 1) - f_open + 1
    bf = np.repeat(np.arange(len(fcid)), months_open)
    bm = f_open[bf] + (
        np.arange(len(bf)) - np.repeat(np.cumsum(months_open) - months_open, months_open)
    )
    arrears = rng.random(len(bf)) < 0.04
    dpd = np.where(arrears, rng.choice([15, 30, 60, 95, 120], len(bf)), 0)
    balances = pa.table(
        {
            "facility_id": _ids("F", bf),
            "month_end": _dates(first_day[bm] + month_len[bm] - 1),
            "outstanding": pa.array(np.round(limit[bf] * rng.uniform(0.2, 1.0, len(bf)), 2)),
            "days_past_due": pa.array(dpd.astype(np.int64)),
        }
    )
    # Revenue: ~1.6 bookings per active client-month; interactions ~0.9 per client-month.
    months_active = MONTHS - active_from

    def per_month(rate: float) -> tuple[np.ndarray, np.ndarray]:
        counts = rng.poisson(rate * months_active)
        rc = np.repeat(cid, counts)
        m = active_from[rc] + (rng.random(len(rc)) * months_active[rc]).astype(int)
        return rc, first_day[m] + (rng.random(len(rc)) * month_len[m]).astype(int)

    rc, rday = per_month(1.6)
    refund = np.where(rng.random(len(rc)) < 0.02, -1, 1)
    sources = ["interest", "fee", "fx", "cash_management", "trade"]
    revenue = pa.table(
        {
            "client_id": _ids("C", rc),
            "date": _dates(rday),
            "amount": pa.array(np.round(rng.lognormal(6, 1.3, len(rc)) * refund, 2)),
            "source": _codes(rng, sources, [0.45, 0.2, 0.15, 0.12, 0.08], len(rc)),
        }
    )
    ic, iday = per_month(0.9)
    kinds = ["rm_meeting", "call", "email", "service_request", "complaint", "survey"]
    kind = rng.choice(6, len(ic), p=[0.12, 0.3, 0.33, 0.12, 0.03, 0.1])
    answered = (kind == 5) & (rng.random(len(ic)) < 0.6)
    interactions = pa.table(
        {
            "client_id": _ids("C", ic),
            "date": _dates(iday),
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(kind.astype(np.int32)), pa.array(kinds)
            ).cast(pa.string()),
            "channel": _codes(rng, ["branch", "phone", "email", "portal"], [0.25] * 4, len(ic)),
            "csat": pa.array(rng.integers(1, 6, len(ic)), mask=~answered, type=pa.int64()),
            "nps": pa.array(rng.integers(0, 11, len(ic)), mask=~answered, type=pa.int64()),
        }
    )
    ec = rng.choice(n_clients, n_clients // 10)
    event_kinds = ["watchlist", "restructuring", "covenant_breach", "default", "write_off"]
    em = active_from[ec] + (rng.random(len(ec)) * months_active[ec]).astype(int)
    events = pa.table(
        {
            "client_id": _ids("C", ec),
            "facility_id": pa.nulls(len(ec), type=pa.string()),
            "date": _dates(first_day[em] + 14),
            "kind": _codes(rng, event_kinds, [0.4, 0.1, 0.2, 0.2, 0.1], len(ec)),
        }
    )
    return {
        "clients": clients,
        "facilities": facilities,
        "facility_balances": balances,
        "revenue": revenue,
        "interactions": interactions,
        "credit_events": events,
    }


def ensure_book(rows: int, generator: str) -> Path:
    """The cached book folder for ``rows`` event rows (generated on first use)."""
    folder = OUT / f"book_{generator}_{rows}"
    if (folder / "clients.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if generator == "synthetic":
        from predict.synthetic import GenerateConfig, write_portfolio

        n = max(1000, int(rows / 170))  # ~170 event rows per client over 72 months
        write_portfolio(GenerateConfig(n_clients=n, truth_paths=0), folder, OUT / "truth_tmp")
    else:
        for name, table in numpy_book(max(1000, int(rows / 172))).items():
            pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
    print(f"generated {folder.name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return folder


# --------------------------------------------------------------------------- measuring


class PeakRss:
    """Peak resident memory of this process while inside ``measure()`` (20 ms sampling)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0

    @contextmanager
    def measure(self) -> Iterator[None]:
        stop = threading.Event()
        self.peak = self.process.memory_info().rss

        def sample() -> None:
            while not stop.wait(0.02):
                self.peak = max(self.peak, self.process.memory_info().rss)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.peak = max(self.peak, self.process.memory_info().rss)


def timed(fn: Callable[[], object], repeats: int, rss: PeakRss) -> tuple[float, int]:
    """Median seconds over ``repeats`` and the peak RSS over all of them."""
    seconds, peak = [], 0
    for _ in range(repeats):
        gc.collect()
        with rss.measure():
            t0 = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t0)
        peak = max(peak, rss.peak)
    return statistics.median(seconds), peak


# --------------------------------------------------------------------------- pandas


def pandas_features(tables: dict[str, pd.DataFrame], dates: list[dt.date]) -> pd.DataFrame:
    """SUBSET the obvious way: per as-of date, filter each table's window, groupby client."""
    config = FeaturesConfig()
    rev, itx = tables["revenue"], tables["interactions"]
    family = (
        rev["source"]
        .str.lower()
        .map(
            {c: "interest" for c in config.revenue_sources.interest}
            | {c: "fee" for c in config.revenue_sources.fee}
        )
        .fillna("other")
    )
    rev = rev.assign(family=family)
    fac = tables["facilities"]
    bal = tables["facility_balances"].merge(fac[["facility_id", "client_id"]], on="facility_id")
    clients, out = tables["clients"], []
    for day in dates:
        t = pd.Timestamp(day)
        start = {n: pd.Timestamp(add_months(day, -n)) for n in (3, 6, 12)}
        snap = clients.loc[clients["onboarding_date"] <= t, ["client_id"]].set_index("client_id")
        for n in (3, 6, 12):
            window = rev[(rev["date"] > start[n]) & (rev["date"] <= t)]
            snap[f"revenue_{n}m"] = window.groupby("client_id")["amount"].sum()
            if n == 12:
                by_family = window.groupby(["client_id", "family"])["amount"].sum().unstack()
                for f in ("interest", "fee", "other"):
                    snap[f"revenue_{f}_12m"] = by_family.get(f)
        for n in (3, 12):
            window = itx[(itx["date"] > start[n]) & (itx["date"] <= t)]
            snap[f"contacts_{n}m"] = window.groupby("client_id").size()
            if n == 12:
                snap["complaints_12m"] = (
                    window[window["kind"] == "complaint"].groupby("client_id").size()
                )
                snap["csat_mean_12m"] = window.groupby("client_id")["csat"].mean()
        monthly = bal[(bal["month_end"] > start[12]) & (bal["month_end"] <= t)]
        monthly = (
            monthly.groupby(["client_id", "month_end"])
            .agg(drawn=("outstanding", "sum"), dpd=("days_past_due", "max"))
            .reset_index()
        )
        now = monthly[monthly["month_end"] == t].set_index("client_id")
        snap["drawn_balance"] = now["drawn"]
        grouped = monthly.groupby("client_id")
        snap["max_dpd_12m"] = grouped["dpd"].max()
        snap["months_in_arrears_12m"] = monthly[monthly["dpd"] > 0].groupby("client_id").size()
        open_now = fac[(fac["origination_date"] <= t) & ~(fac["closed_date"] <= t)]
        snap["total_limit"] = open_now.groupby("client_id")["limit_amount"].sum()
        snap["n_open_facilities"] = open_now.groupby("client_id").size()
        counts = [c for c in SUBSET if c not in ("csat_mean_12m", "max_dpd_12m")]
        snap[counts] = snap[counts].fillna(0)
        out.append(snap.reset_index().assign(as_of=t))
    frame = pd.concat(out, ignore_index=True)
    return frame.sort_values(["client_id", "as_of"]).reset_index(drop=True)


def check_equal(pandas_frame: pd.DataFrame, duck: pd.DataFrame, day: dt.date) -> None:
    t = pd.Timestamp(day)
    a = pandas_frame[pandas_frame["as_of"] == t].set_index("client_id")[SUBSET]
    b = duck[duck["as_of"] == t].set_index("client_id")[SUBSET]
    pd.testing.assert_frame_equal(
        a.astype("float64"), b.astype("float64"), check_exact=False, rtol=1e-7, check_like=True
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000, help="event rows to generate")
    parser.add_argument("--generator", choices=["numpy", "synthetic"], default="numpy")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pandas-repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    folder = ensure_book(args.rows, args.generator)
    rss = PeakRss()
    t0 = time.perf_counter()
    tables = load_validated(folder)
    events = sum(len(tables[t]) for t in EVENT_TABLES)
    loaded_rss = rss.process.memory_info().rss
    sizes = ", ".join(f"{t} {len(tables[t]):,}" for t in EVENT_TABLES)
    print(
        f"{folder.name}: {events:,} event rows ({sizes}), {len(tables['clients']):,} clients; "
        f"loaded in {time.perf_counter() - t0:.1f} s, RSS {loaded_rss / GIB:.2f} GiB",
        flush=True,
    )
    dates = [add_months(END, -3 * k) for k in range(11, -1, -1)]
    config = FeaturesConfig()
    result: dict[str, pd.DataFrame] = {}

    def duck_all() -> None:
        result["all"] = build_features(tables, dates, config)

    def duck_subset() -> None:
        result["subset"] = build_features(tables, dates, config, names=SUBSET)

    def duck_one() -> None:
        build_features(tables, dates[-1:], config)

    def duck_subset_one_worker() -> None:
        build_features(tables, dates, config, names=SUBSET, workers=1)

    def pandas_subset() -> None:
        result["pandas"] = pandas_features(tables, dates)

    load_start = os.getloadavg()[0]
    s12, peak12 = timed(duck_all, args.repeats, rss)
    print(
        f"duckdb, all {result['all'].shape[1] - 2} features, 12 snapshots: {s12:.2f} s", flush=True
    )
    s1, peak1 = timed(duck_one, args.repeats, rss)
    print(f"duckdb, all features, 1 snapshot: {s1:.2f} s", flush=True)
    sub, peak_sub = timed(duck_subset, args.repeats, rss)
    print(f"duckdb, {len(SUBSET)}-feature subset, 12 snapshots: {sub:.2f} s", flush=True)
    sub_w1, peak_sub_w1 = timed(duck_subset_one_worker, args.repeats, rss)
    print(f"duckdb, subset, 12 snapshots, one pass at a time: {sub_w1:.2f} s", flush=True)
    pds, peak_pd = timed(pandas_subset, args.pandas_repeats, rss)
    print(f"pandas, {len(SUBSET)}-feature subset, 12 snapshots: {pds:.2f} s", flush=True)
    check_equal(result["pandas"], result["subset"], dates[-1])
    figures = {
        "event_rows": events,
        "clients": len(tables["clients"]),
        "rows_out_12": len(result["all"]),
        "duckdb_all_12_s": round(s12, 2),
        "duckdb_all_1_s": round(s1, 2),
        "duckdb_subset_12_s": round(sub, 2),
        "pandas_subset_12_s": round(pds, 2),
        "events_per_s": round(events / s12),
        "ratio_12_vs_1": round(s12 / s1, 2),
        "speedup_vs_pandas_same_subset": round(pds / sub, 2),
        "duckdb_subset_12_s_1_worker": round(sub_w1, 2),
        "speedup_vs_pandas_same_subset_1_worker": round(pds / sub_w1, 2),
        "speedup_vs_pandas_duckdb_all_features": round(pds / s12, 2),
        "peak_rss_gib_duckdb": round(max(peak12, peak1, peak_sub, peak_sub_w1) / GIB, 2),
        "peak_rss_gib_pandas": round(peak_pd / GIB, 2),
        "rss_after_load_gib": round(loaded_rss / GIB, 2),
        "repeats": args.repeats,
        "generator": args.generator,
        "events_per_pass": config.events_per_pass,
        "cpus": len(os.sched_getaffinity(0)),
        "load_avg_1m_start": round(load_start, 2),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, indent=2))
    targets = {
        ">= 4x faster than pandas (same subset)": figures["speedup_vs_pandas_same_subset"] >= 4,
        "12 snapshots <= 3x one snapshot": figures["ratio_12_vs_1"] <= 3,
        "peak memory < 6 GiB": figures["peak_rss_gib_duckdb"] < 6,
    }
    for name, ok in targets.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
