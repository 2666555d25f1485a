"""Driver memory of ``predict score``: one machine against a cluster reading a partitioned
dataset, at growing book sizes.

A book of ``k`` times the validated tables of ``--input`` is made by copying every table ``k``
times with the client and facility ids suffixed (``_r<i>``): ``k`` times the clients and the
event rows, each copy scored as the original. Each book is written as validated tables and
as a partitioned dataset (``predict partition``); then each run is a fresh process, so that
its peak resident memory (``ru_maxrss`` of the process that runs the command: the driver)
is that run's alone:

- ``single``: :func:`predict.scoring.run.score_folder` on the folder of tables;
- ``cluster``: the same on the dataset with ``--scheduler local`` (a ``LocalCluster``, one
  single-threaded worker process per core; its scheduler runs in the driver process,
  counted in its peak), the workers reading their own partitions.

Both with the models of ``--models`` and the default ``score`` params (previous month end
rescored, explanations written). Prints per size: event rows, clients, seconds, the driver's
peak, and checks that the scores are equal.

    python benchmarks/bench_score_dataset.py --input data/validated --models models --copies 1 6
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ID_COLUMNS = ("client_id", "facility_id")


def replicate(source: Path, out: Path, copies: int) -> int:
    """``copies`` copies of every table of ``source`` into ``out`` (ids suffixed); the rows
    written."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out.mkdir(parents=True)
    rows = 0
    for path in sorted(source.glob("*.parquet")):
        table = pq.read_table(path)
        with pq.ParquetWriter(out / path.name, table.schema) as writer:
            for i in range(copies):
                part = table
                for name in ID_COLUMNS:
                    if name in part.column_names:
                        at = part.schema.get_field_index(name)
                        column = pc.binary_join_element_wise(
                            part.column(name).cast(pa.string()), pa.scalar(f"r{i}"), "_"
                        ).cast(part.schema.field(name).type)
                        part = part.set_column(at, part.schema.field(name), column)
                writer.write_table(part)
                rows += part.num_rows
    return rows


def child(mode: str, work: Path, models: Path, params: Path) -> dict[str, Any]:
    """One scoring run in this process: seconds and this process's peak memory."""
    from predict.distributed.cluster import open_cluster
    from predict.scoring.config import configs_from_params
    from predict.scoring.run import score_folder

    config, features_config = configs_from_params(params)
    start = time.perf_counter()
    if mode == "single":
        result = score_folder(work / "validated", models, work / "scores-single", config,
                              features_config, validated=True, quiet=True)  # fmt: skip
    else:
        result = score_folder(work / "partitioned", models, work / "scores-cluster", config,
                              features_config, quiet=True, scheduler="local",
                              cluster_factory=open_cluster)  # fmt: skip
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "driver_peak_mib": peak, "clients": result.report.clients}


def _run_child(mode: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", mode, "--work", str(work),
               "--models", str(args.models), "--params", str(args.params)]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench_size(copies: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from predict.distributed.dataset import PartitionConfig, read_digest, write_dataset

    work = root / f"x{copies}"
    start = time.perf_counter()
    if not (work / "partitioned").is_dir():  # a kept --work folder is reused
        replicate(args.input, work / "validated", copies)
        write_dataset(work / "validated", work / "partitioned", PartitionConfig(args.partitions))
    prepared = time.perf_counter() - start
    rows = sum(r["rows"] for r in read_digest(work / "partitioned")["tables"].values())
    cluster = _run_child("cluster", work, args)
    if args.cluster_only:
        return {"copies": copies, "rows": rows, "prepare_seconds": prepared, "cluster": cluster}
    single = _run_child("single", work, args)
    a = pd.read_parquet(work / "scores-single" / "scores.parquet").drop(columns="run_id")
    b = pd.read_parquet(work / "scores-cluster" / "scores.parquet").drop(columns="run_id")
    reasons = [c for c in a.columns if c.endswith("_reasons")]
    pd.testing.assert_frame_equal(a.drop(columns=reasons), b.drop(columns=reasons))
    # the reasons quote feature values, rounded: a last-bit difference of a feature between
    # the whole book and a partition shows where the value sits on a rounding tie
    differing = {c: int((a[c].fillna("") != b[c].fillna("")).sum()) for c in reasons}
    return {"copies": copies, "rows": rows, "prepare_seconds": prepared,
            "single": single, "cluster": cluster, "reasons_differing": differing}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=Path("data/validated"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None, help="keep the books here (reused)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--cluster-only", action="store_true", help="no single-machine run")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.work, args.models, args.params)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for copies in args.copies:
            result = bench_size(copies, args, args.work or Path(tmp))
            results.append(result)
            print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
