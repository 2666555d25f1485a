"""Benchmark the synthetic generator: clients/s, rows/s and peak memory (medians of repeats).

    python benchmarks/bench_generate.py                      # 20k and 200k clients, tables only
    python benchmarks/bench_generate.py --million            # ... and 1,000,000 clients
    python benchmarks/bench_generate.py --sizes 20000 --truth-paths 8 --repeats 3

Every run is a fresh child process writing the Parquet tables to a scratch folder (deleted
afterwards), so its peak resident memory is its own. Other settings come from the
``generate`` section of ``--params`` (seed, months, ...); ``--truth-paths 0`` (the default)
leaves the truth out, which is what scales with clients x paths x as-of dates.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(params: Path, clients: int, truth_paths: int, workdir: Path) -> dict[str, float]:
    from predict.config import load_params, load_section
    from predict.synthetic import GenerateConfig, outcome_window, write_portfolio

    base = load_section(params, "generate", GenerateConfig)
    config = dataclasses.replace(base, n_clients=clients, truth_paths=truth_paths)
    scratch = Path(tempfile.mkdtemp(dir=workdir, prefix="bench_generate_"))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        info = write_portfolio(
            config, scratch / "data", scratch / "truth", outcome_window(load_params(params))
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(p.stat().st_size for p in scratch.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = sum(info["rows"].values())
    return {
        "clients": clients,
        "wall_s": wall,
        "cpu_s": cpu,
        "truth_s": info["seconds_truth"],
        "rows": rows,
        "clients_per_s": clients / wall,
        "rows_per_s": rows / wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parquet_mb": size / 2**20,
    }


def run_child(args: argparse.Namespace, clients: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(clients), "--params", str(args.params)]
    cmd += ["--truth-paths", str(args.truth_paths), "--workdir", str(args.workdir)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--million", action="store_true", help="also 1,000,000 clients")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--truth-paths", type=int, default=0)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.params, args.child, args.truth_paths, args.workdir)))
        return 0
    sizes = [*args.sizes, *([1_000_000] if args.million else [])]
    keys = (
        "wall_s",
        "cpu_s",
        "truth_s",
        "rows",
        "clients_per_s",
        "rows_per_s",
        "peak_rss_mb",
        "parquet_mb",
    )
    print(f"truth_paths={args.truth_paths}, {args.repeats} runs each, medians")
    print(f"{'clients':>9} " + " ".join(f"{k:>13}" for k in keys))
    for clients in sizes:
        runs = [
            run_child(args, clients) for _ in range(1 if clients >= 1_000_000 else args.repeats)
        ]
        med = {k: statistics.median(r[k] for r in runs) for k in keys}
        print(f"{clients:>9} " + " ".join(f"{med[k]:>13,.1f}" for k in keys), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
