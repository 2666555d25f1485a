"""Benchmark of the partitioned dataset on a LocalCluster against one machine, same run.

For each book size (``--clients``, generated), writes the validated tables, partitions them
(``predict partition``), then runs each step in a fresh process, so that each process's
peak resident memory (``ru_maxrss``) is that step's alone:

- ``features``: single machine (:func:`build_feature_table` on the loaded tables) against a
  ``LocalCluster`` (``--workers`` processes, one thread each) whose workers read their own
  partitions (:func:`predict.distributed.steps.build_feature_table_dataset`); results equal;
- ``train``: each target on one machine against ``lightgbm.dask`` (early stopping on the
  driver); test-period quality of both (AUC, RMSE);
- ``score``: features at the scoring date, outputs, TreeSHAP and reasons (explanations
  written) on one machine against :func:`predict.distributed.scoring.score_dataset`;
  outputs equal.

Prints, per size and step: seconds (median of ``--repeats``; cluster start-up not counted),
throughput (clients/s), the driver's peak memory and the workers' peaks, and the ratios.

    python benchmarks/bench_partitioned.py --clients 2000 8000 --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TARGETS = ("churn", "default", "contribution")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _worker_peak_mib() -> float:
    import resource as r

    return r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024


def _median_time(run: Any, repeats: int) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def _split(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, ...]:
    rows = frame[frame[f"label_{target}"].notna()]
    dates = sorted(rows["as_of"].unique())
    return (
        rows[rows["as_of"] <= dates[-3]],
        rows[rows["as_of"] == dates[-2]],
        rows[rows["as_of"] == dates[-1]],
    )


def _quality(bundle: Any, test: pd.DataFrame, target: str) -> float:
    from sklearn.metrics import roc_auc_score

    y = test[f"label_{target}"].to_numpy("float64")
    p = bundle.predict(test)
    if target == "contribution":
        return float(np.sqrt(np.mean((p - y) ** 2)))
    return float(roc_auc_score(y, p))


def child(mode: str, work: Path, workers: int, repeats: int, rounds: int) -> dict[str, Any]:
    """One step in this (fresh) process; its results as JSON-able data."""
    import contextlib

    from predict.distributed import dataset as ds
    from predict.features.build import FeaturesConfig

    config = FeaturesConfig()
    out: dict[str, Any] = {"mode": mode}
    cluster_ctx: Any = contextlib.nullcontext(None)
    if mode.endswith("cluster"):
        from distributed import Client, LocalCluster

        start = time.perf_counter()
        local = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0")
        cluster_ctx = Client(local)
        out["startup_s"] = time.perf_counter() - start
    with cluster_ctx as client:
        if mode == "features-single":
            from predict.features.build import build_feature_table, load_tables

            def run() -> Any:
                return build_feature_table(load_tables(work / "validated"), config)

            out["seconds"], result = _median_time(run, repeats)
            result.frame.to_parquet(work / "features-single.parquet", index=False)
        elif mode == "features-cluster":
            from predict.distributed.steps import build_feature_table_dataset

            def run() -> Any:
                return build_feature_table_dataset(work / "dataset", config, client=client)

            out["seconds"], result = _median_time(run, repeats)
            result.frame.to_parquet(work / "features-cluster.parquet", index=False)
        elif mode.startswith("train"):
            from predict.models.store import save_bundle
            from predict.models.training import TrainConfig, train_model

            frame = pd.read_parquet(work / "features-single.parquet")
            frozen = {"rate": ds.frozen_rate_reference(work / "dataset", max(
                d.date() for d in pd.to_datetime(frame["as_of"].unique())))}  # fmt: skip
            out["seconds"], out["quality"] = 0.0, {}
            booster = dataclasses.replace(TrainConfig().booster, num_boost_round=rounds)
            train_config = TrainConfig(booster=booster)
            for target in TARGETS:
                train, valid, test = _split(frame, target)
                start = time.perf_counter()
                bundle = train_model(train, valid, target, train_config, client)
                out["seconds"] += time.perf_counter() - start
                out["quality"][target] = _quality(bundle, test, target)
                out.setdefault("trees", {})[target] = bundle.booster.current_iteration()
                bundle = dataclasses.replace(bundle, references=frozen)
                save_bundle(bundle, work / f"models-{mode.split('-')[1]}" / target)
        elif mode.startswith("score"):
            from predict.features.snapshots import scoring_as_of
            from predict.models.store import load_bundle
            from predict.scoring.config import ScoreConfig
            from predict.scoring.reasons import catalogue_templates

            bundles = {t: load_bundle(work / "models-single" / t) for t in TARGETS}
            reference = bundles["churn"].references["rate"]
            score, templates = ScoreConfig(), catalogue_templates()
            if mode == "score-single":
                from predict.features import rates as frates
                from predict.features.build import build_features, load_tables
                from predict.scoring.align import add_missing_features
                from predict.scoring.chunks import score_chunks
                from predict.scoring.explain import ExplanationWriter
                from predict.scoring.result import ScoringReport

                def run() -> Any:
                    tables = load_tables(work / "validated")
                    day = scoring_as_of(tables, config.as_of)
                    rates = frates.frozen_table(reference, [day])
                    feats = build_features(tables, [day], config, rate_reference=rates)
                    report = ScoringReport()
                    feats = add_missing_features(feats, bundles, "nan", report)
                    with ExplanationWriter(work / "explanations-single.parquet") as writer:
                        return score_chunks(feats, bundles, score, templates, writer, None,
                                            report.missing_features)  # fmt: skip

                out["seconds"], outputs = _median_time(run, repeats)
            else:
                from predict.distributed.scoring import score_dataset

                day = scoring_as_of(ds.read_skeleton(work / "dataset"), config.as_of)

                def run() -> Any:
                    return score_dataset(
                        work / "dataset", day, bundles, score, templates, config, reference,
                        explanations_dir=work / "explanations-cluster", client=client,
                    )[1]  # fmt: skip

                out["seconds"], outputs = _median_time(run, repeats)
            outputs.to_parquet(work / f"{mode}.parquet", index=False)
            out["clients"] = len(outputs)
        if client is not None:
            out["worker_peak_mib"] = sorted(client.run(_worker_peak_mib).values())
            client.close()
            local.close()
    out["driver_peak_mib"] = _peak_mib()
    return out


def _run_child(mode: str, work: Path, workers: int, repeats: int, rounds: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", mode, "--work", str(work)]
    args += ["--workers", str(workers), "--repeats", str(repeats), "--rounds", str(rounds)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_size(clients: int, months: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from predict.distributed import dataset as ds
    from predict.synthetic import GenerateConfig, generate_portfolio

    work = root / f"book{clients}"
    (work / "validated").mkdir(parents=True)
    book = GenerateConfig(seed=7, n_clients=clients, months=months, truth_paths=0,
                          end_date=dt.date(2024, 12, 31))  # fmt: skip
    tables = generate_portfolio(book).tables
    for name, frame in tables.items():
        frame.to_parquet(work / "validated" / f"{name}.parquet", index=False)
    events = sum(len(tables[n]) for n in tables if n not in ("clients", "facilities"))
    del tables
    start = time.perf_counter()
    ds.write_dataset(work / "validated", work / "dataset",
                     ds.PartitionConfig(partitions=args.partitions))  # fmt: skip
    result: dict[str, Any] = {
        "clients": clients,
        "event_rows": events,
        "partition_s": time.perf_counter() - start,
    }
    for step in ("features", "train", "score"):
        for where in ("single", "cluster"):
            result[f"{step}-{where}"] = _run_child(
                f"{step}-{where}",
                work,
                args.workers,
                args.repeats if step != "train" else 1,
                args.rounds,
            )
    a = pd.read_parquet(work / "features-single.parquet")
    b = pd.read_parquet(work / "features-cluster.parquet")
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        pd.read_parquet(work / "score-single.parquet"),
        pd.read_parquet(work / "score-cluster.parquet"),
    )
    result["equal"] = True
    return result


def _print(result: dict[str, Any]) -> None:
    print(f"\n{result['clients']} clients, {result['event_rows']:,} event rows; "
          f"partition {result['partition_s']:.1f} s")  # fmt: skip
    for step in ("features", "train", "score"):
        s, c = result[f"{step}-single"], result[f"{step}-cluster"]
        ds, dc = s["driver_peak_mib"], c["driver_peak_mib"]
        line = (
            f"  {step:8s} single {s['seconds']:7.1f} s, driver {ds:6.0f} MiB | "
            f"cluster {c['seconds']:7.1f} s (x{c['seconds'] / s['seconds']:.2f}), driver "
            f"{dc:6.0f} MiB (/{ds / dc:.1f}), workers {c['worker_peak_mib']} MiB"
        )
        if "clients" in s:
            rates = s["clients"] / s["seconds"], c["clients"] / c["seconds"]
            line += f"; {rates[0]:.0f} vs {rates[1]:.0f} clients/s"
        print(line)
        if step == "train":
            print(f"           quality single {s['quality']} trees {s['trees']}")
            print(f"           quality dask   {c['quality']} trees {c['trees']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2000, help="train.booster.num_boost_round")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.workers, args.repeats, args.rounds)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for clients in args.clients:
            results.append(bench_size(clients, args.months, args, Path(tmp)))
            _print(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
