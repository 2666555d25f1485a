"""Driver memory of ``predict train``: one machine against a cluster whose workers read the
train split (``predict train --scheduler``), at growing train sizes.

A split of ``n`` clients x ``--train-dates`` training as-of dates (one valid and one test
as-of date after them) is made with the planted-signal book of ``tests/support/splits.py``
and ``--extra`` noise features (float64) on top of its 8, so the rows are about as wide as
the project's feature table (~70 features), in a process of its own; ``train.parquet`` is
written in row groups of ``--row-group-rows`` (65,536: ``split.row_group_rows`` as a
cluster run would set it; the default, 1,048,576, would make these sets one partition).
Each run is a fresh process, so its peak resident memory (``ru_maxrss`` of the process that runs
:func:`predict.models.training.run_training`: the driver) is that run's alone:

- ``single``: the single-machine path (``read_split``: the three sets on the driver);
- ``cluster``: the same with a ``LocalCluster`` of 2 single-threaded worker processes (its
  scheduler runs in the driver process and is counted in its peak; start-up not timed),
  the workers reading the train split a row group per task.

Same training settings for both (churn, at most ``--rounds`` trees, early stopping after 10,
the drift reference on every train row up to ``--drift-rows`` (200,000, the default of
``train.drift_reference.max_rows``), a seeded sample beyond: the cluster's driver gathers
those rows). Prints
per size: train rows, file size, seconds, the driver's peak, the ratio, and the test AUC of
both (the trees differ: data-parallel LightGBM).

    python benchmarks/bench_train_split.py --clients 25000 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def make_split_folder(
    folder: Path, clients: int, train_dates: int, extra: int, row_group_rows: int
) -> int:
    """The split of ``clients`` clients (see the module) in ``folder``; its train rows."""
    import pandas as pd

    from predict.io import write_parquet
    from tests.support.splits import Book, make_book, write_split

    ends = pd.date_range("2019-06-30", periods=train_dates + 2, freq="6ME")
    book = make_book(n_clients=clients, as_of_dates=tuple(str(d.date()) for d in ends), seed=3)
    book = book.drop(columns=[c for c in book.columns if c.startswith("true_")])
    rng = np.random.default_rng(0)
    noise = pd.DataFrame(
        rng.normal(size=(len(book), extra)), columns=[f"noise_{i:02d}" for i in range(extra)]
    )
    book = pd.concat([book, noise], axis=1)
    dates = sorted(book["as_of"].unique())
    parts = {
        "train": book[book["as_of"] <= dates[-3]],
        "valid": book[book["as_of"] == dates[-2]],
        "test": book[book["as_of"] == dates[-1]],
    }
    parts = {k: v.reset_index(drop=True) for k, v in parts.items()}
    write_split(Book(parts["train"], parts["valid"], parts["test"], book.iloc[0:0]), folder)
    for name, frame in parts.items():  # as the split stage writes them
        write_parquet(frame, folder / f"{name}.parquet", row_group_rows=row_group_rows)
    return len(parts["train"])


def child(mode: str, split: Path, out: Path, rounds: int, drift_rows: int) -> dict[str, Any]:
    """One training run in this process: seconds, this process's peak memory, test AUC."""
    from predict.models.bins import DriftReferenceConfig
    from predict.models.training import BoosterConfig, run_training
    from tests.support.splits import fast_config

    config = fast_config(rounds, 10)
    config = dataclasses.replace(
        config,
        booster=dataclasses.replace(config.booster, min_data_in_leaf=200),
        drift_reference=DriftReferenceConfig(max_rows=drift_rows),
    )
    dirs = {"models_dir": out / "models", "metrics_dir": out / "metrics", "plots_dir": out / "p"}
    assert isinstance(config.booster, BoosterConfig)
    if mode == "single":
        start = time.perf_counter()
        result = run_training(split, "churn", config, **dirs)
        seconds = time.perf_counter() - start
    else:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
            Client(cluster) as client,
        ):
            start = time.perf_counter()
            result = run_training(split, "churn", config, client=client, **dirs)
            seconds = time.perf_counter() - start
    assert not isinstance(result, str) and hasattr(result, "metrics")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "seconds": round(seconds, 1),
        "driver_peak_mib": round(peak),
        "vm_hwm_mib": round(vm_hwm() / 1024),
        "auc": result.metrics["test"]["auc"],
        "trees": result.bundle.booster.current_iteration(),
    }


def vm_hwm() -> float:
    """This process's peak resident memory in KiB by the kernel's ``VmHWM`` (Linux; it
    counts this program only, where ``ru_maxrss`` keeps the peak of the process it was
    forked from across ``exec``; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--train-dates", type=int, default=4)
    parser.add_argument("--extra", type=int, default=60, help="noise features added")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--row-group-rows", type=int, default=65_536)
    parser.add_argument(
        "--drift-rows", type=int, default=200_000, help="train.drift_reference.max_rows"
    )
    parser.add_argument("--child", nargs=5, metavar=("MODE", "SPLIT", "OUT", "ROUNDS", "DRIFT"))
    parser.add_argument("--make", nargs=2, metavar=("FOLDER", "CLIENTS"))
    args = parser.parse_args()
    if args.make:  # in a process of its own: the parent stays small (see vm_hwm)
        folder, clients = Path(args.make[0]), int(args.make[1])
        rows = make_split_folder(folder, clients, args.train_dates, args.extra, args.row_group_rows)
        print(json.dumps({"rows": rows}))
        return
    if args.child:
        mode, split, out, rounds, drift = args.child
        print(json.dumps(child(mode, Path(split), Path(out), int(rounds), int(drift))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for clients in args.clients:
            folder = Path(tmp) / f"split-{clients}"
            make = [sys.executable, __file__, "--make", str(folder), str(clients),
                    "--train-dates", str(args.train_dates), "--extra", str(args.extra),
                    "--row-group-rows", str(args.row_group_rows)]  # fmt: skip
            made = subprocess.run(make, check=True, capture_output=True, text=True)
            rows = json.loads(made.stdout.strip().splitlines()[-1])["rows"]
            size = (folder / "train.parquet").stat().st_size / 2**20
            runs = {}
            for mode in ("single", "cluster"):
                cmd = [sys.executable, __file__, "--child", mode, str(folder),
                       str(Path(tmp) / f"out-{clients}-{mode}"), str(args.rounds),
                       str(args.drift_rows)]  # fmt: skip
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            single, cluster = runs["single"], runs["cluster"]
            print(
                f"{clients:,} clients: train {rows:,} rows x {args.extra + 8} features "
                f"({size:.0f} MiB parquet) | single {single['seconds']} s, driver peak "
                f"{single['driver_peak_mib']} MiB, AUC {single['auc']:.4f} ({single['trees']} "
                f"trees) | cluster {cluster['seconds']} s, driver peak "
                f"{cluster['driver_peak_mib']} MiB, AUC {cluster['auc']:.4f} "
                f"({cluster['trees']} trees) | driver peak single / cluster "
                f"{single['driver_peak_mib'] / cluster['driver_peak_mib']:.2f} "
                f"(VmHWM {single['vm_hwm_mib']} / {cluster['vm_hwm_mib']} MiB)",
                flush=True,
            )


if __name__ == "__main__":
    main()
