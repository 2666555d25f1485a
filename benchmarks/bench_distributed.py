"""Benchmark of the Dask path: features (and labels) on Dask vs one machine, same run.

Generates a synthetic book (``--clients``), then times, median of ``--repeats``:

- ``single``: :func:`predict.features.build.build_feature_table` (one DuckDB statement);
- ``threads``: :func:`predict.distributed.steps.build_feature_table_dask`, Dask's threads;
- ``cluster``: the same on a ``LocalCluster(n_workers=--workers, threads_per_worker=1)``
  (cluster start-up not counted, printed apart);

checks the results equal and prints each time and its ratio to ``single``. On one small
machine the Dask path is *not* faster (each partition pays the statement's fixed cost and
the data travels to the workers); it is there for books that outgrow one machine. The
ratios say what the overhead is, and how it shrinks as the book grows.

    python benchmarks/bench_distributed.py --clients 3000 --partitions 4 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from predict.distributed import steps as dd
from predict.features.build import FeaturesConfig, FeatureTable, build_feature_table
from predict.synthetic import GenerateConfig, generate_portfolio


def _timed(run: Callable[[], FeatureTable], repeats: int) -> tuple[float, FeatureTable]:
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    assert result is not None
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=3000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    book = GenerateConfig(
        seed=7, n_clients=args.clients, months=args.months, end_date=dt.date(2024, 12, 31)
    )
    tables = generate_portfolio(dataclasses.replace(book, truth_paths=0)).tables
    events = sum(len(tables[t]) for t in tables if t != "clients")
    config, parts = FeaturesConfig(), args.partitions
    single, expected = _timed(lambda: build_feature_table(tables, config), args.repeats)
    threads, got = _timed(
        lambda: dd.build_feature_table_dask(tables, config, partitions=parts), args.repeats
    )
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    start = time.perf_counter()
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        startup = time.perf_counter() - start
        dd.build_feature_table_dask(tables, config, partitions=parts, client=client)  # warm
        on_cluster, got = _timed(
            lambda: dd.build_feature_table_dask(tables, config, partitions=parts, client=client),
            args.repeats,
        )
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    results = {
        "clients": args.clients,
        "event_rows": events,
        "feature_rows": len(expected.frame),
        "partitions": parts,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "single_s": round(single, 2),
        "threads_s": round(threads, 2),
        "cluster_s": round(on_cluster, 2),
        "cluster_startup_s": round(startup, 2),
        "threads_vs_single": round(threads / single, 2),
        "cluster_vs_single": round(on_cluster / single, 2),
    }
    for key, value in results.items():
        print(f"{key:>20}: {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
