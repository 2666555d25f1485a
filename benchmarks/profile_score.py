"""Where the time of ``predict score`` goes: the whole run on a folder of validated tables,
timed per step, and the same run of another version of the code alternated with it.

Each step is timed by wrapping the function that does it (the code measured is not
changed): reading the tables, the features at the as-of date, the model input, TreeSHAP per
model (and building its tables, once per model and process), the reasons, the long
explanations (the Arrow table, the Parquet write), the previous month end's rescoring (its
features, its outputs: no SHAP), the per-client rows (exposure, value, grades, dimensions),
the book-wide steps (actions, early warning, drift, migration) and writing the outputs. A
step nested in another counts once, in the innermost timer ("self" time); "other" is the
rest of the run (the scoring date checks, the run id, imports made during the run). Each
step gets its wall-clock seconds and its CPU seconds (every thread of the process: TreeSHAP
and LightGBM use both cores), the second less disturbed by other jobs on a shared machine.

    python benchmarks/profile_score.py --input data/validated --models models
    python benchmarks/profile_score.py --compare /tmp/base/src --rounds 3
    python benchmarks/profile_score.py --compare /tmp/base/src --other-models /tmp/models
    python benchmarks/profile_score.py --clients 5000 ...   # the book's first 5,000 clients

``--compare SRC``: ``--rounds`` rounds, each one fresh process of the code at ``SRC`` (e.g.
``git archive <commit> src | tar -x -C /tmp/base``) and one of this checkout's code, in
turn, on the same inputs (``--other-models``: a third, this code on other model folders);
printed: per step the median seconds of each and the totals,
clients per second and the projection for 1,000,000 clients (linear in the clients: the
fixed costs, about 1-2 s per process, are then overstated). ``--clients N``: the run is on
the first N clients (by client_id) of the book and their rows of every table (a temporary
folder), so that two sizes give the fixed cost and the cost per client apart.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (module, attribute, step name): wrapped where the caller looks them up
STEPS: list[tuple[str, str, str]] = [
    ("predict.scoring.run", "load_models", "load models"),
    ("predict.scoring.run", "load_input", "read tables"),
    ("predict.scoring.run", "apply_support", "model support check"),
    ("predict.features.build", "build_features", "features"),
    ("predict.scoring.chunks", "model_input", "model input (casting)"),
    ("predict.scoring.explain", "contributions", "TreeSHAP"),
    ("predict.scoring.treeshap", "tables_for", "TreeSHAP: building the tables"),
    ("predict.scoring.chunks", "reasons_text", "reasons"),
    ("predict.scoring.chunks", "long_table", "explanations: long table"),
    ("predict.scoring.explain", "ExplanationWriter.write", "explanations: Parquet write"),
    ("predict.scoring.previous", "predict_outputs", "previous month end: outputs"),
    ("predict.scoring.run", "client_rows", "client rows (exposure, value, grades, dims)"),
    ("predict.scoring.run", "drift_counts", "drift counts"),
    ("predict.scoring.run", "book_steps", "book steps (actions, early warning, drift)"),
    ("predict.scoring.run", "write_outputs", "write outputs"),
]
# the rescoring less its features and outputs (rescore_previous before 2026-12-06, rescore_at
# since: its features are then built with the as-of date's, in "features")
PREVIOUS = "previous month end: other"

_stack: list[str] = []
_wall: dict[str, float] = defaultdict(float)
_cpu: dict[str, float] = defaultdict(float)
_phase: list[str] = [""]


def _wrap(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        label = name
        if name == "features" and _phase[0]:
            label = "previous month end: features"
        elif name == "TreeSHAP":
            label = f"TreeSHAP {args[0].num_trees()} trees"
        elif name == PREVIOUS:
            _phase[0] = "previous"
        _stack.append(label)
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            _stack.pop()
            _wall[label] += wall
            _cpu[label] += cpu
            if _stack:
                _wall[_stack[-1]] -= wall
                _cpu[_stack[-1]] -= cpu
            if name == PREVIOUS:
                _phase[0] = ""

    return timed


def _install() -> None:
    rescoring = [("predict.scoring.run", a, PREVIOUS) for a in ("rescore_previous", "rescore_at")]
    for module, attr, name in [*STEPS, *rescoring]:
        owner: Any = importlib.import_module(module)
        if "." in attr:
            cls_name, attr = attr.split(".")
            owner = getattr(owner, cls_name)
        if hasattr(owner, attr):  # another version of the code may lack a step
            setattr(owner, attr, _wrap(name, getattr(owner, attr)))


def profile_once(args: argparse.Namespace) -> dict[str, Any]:
    """One ``predict score`` run in this process: its wall and CPU seconds per step."""
    from predict.scoring.config import configs_from_params

    _install()
    from predict.scoring.run import score_folder

    config, features_config = configs_from_params(args.params)
    out = Path(tempfile.mkdtemp(prefix="profile_score_")) / "scores"
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        result = score_folder(
            args.input, args.models, out, config, features_config, validated=True, quiet=True
        )
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    _wall["other"] = wall - sum(_wall.values())
    _cpu["other"] = cpu - sum(_cpu.values())
    return {
        "clients": len(result.scores),
        "wall": wall,
        "cpu": cpu,
        "steps_wall": dict(_wall),
        "steps_cpu": dict(_cpu),
    }


def _median(runs: list[dict[str, Any]], key: str, step: str | None = None) -> float:
    if step is None:
        return statistics.median(float(r[key]) for r in runs)
    return statistics.median(float(r[key].get(step, 0.0)) for r in runs)


def print_table(versions: dict[str, list[dict[str, Any]]]) -> None:
    """Median seconds (wall, CPU) per step and version, with each step's share."""
    first = next(iter(versions.values()))
    steps = sorted(
        {s for runs in versions.values() for r in runs for s in r["steps_wall"]},
        key=lambda s: -_median(first, "steps_wall", s),
    )
    head = "".join(f" | {v + ' wall':>16} {'share':>6} {'cpu':>6}" for v in versions)
    print(f"\n{'step':<46}{head}")
    for step in steps:
        cells = ""
        for runs in versions.values():
            wall, total = _median(runs, "steps_wall", step), _median(runs, "wall")
            cells += f" | {wall:16.2f} {wall / total:6.1%} {_median(runs, 'steps_cpu', step):6.2f}"
        print(f"{step:<46}{cells}")
    cells = "".join(
        f" | {_median(r, 'wall'):16.2f} {'':>6} {_median(r, 'cpu'):6.2f}" for r in versions.values()
    )
    print(f"{'total (median)':<46}{cells}")
    for name, runs in versions.items():
        clients, wall = runs[0]["clients"], _median(runs, "wall")
        walls = ", ".join(f"{r['wall']:.1f}" for r in runs)
        print(
            f"{name}: {clients:,} clients, wall {walls} s; median {clients / wall:,.0f} clients/s,"
            f" 1,000,000 clients in {1e6 / (clients / wall) / 60:.1f} min"
        )


def subset(folder: Path, n: int, out: Path) -> Path:
    """The first ``n`` clients (by client_id) of the validated tables in ``folder`` and every
    row of theirs (facility tables through their facilities), written to ``out``."""
    import pandas as pd

    clients = pd.read_parquet(folder / "clients.parquet")
    keep = set(clients["client_id"].sort_values().iloc[:n])
    facilities = pd.read_parquet(folder / "facilities.parquet")
    kept_facilities = set(facilities.loc[facilities["client_id"].isin(keep), "facility_id"])
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob("*.parquet")):
        frame = pd.read_parquet(path)
        if "client_id" in frame.columns:
            frame = frame[frame["client_id"].isin(keep)]
        elif "facility_id" in frame.columns:
            frame = frame[frame["facility_id"].isin(kept_facilities)]
        frame.to_parquet(out / path.name, index=False)
    return out


def compare(args: argparse.Namespace) -> None:
    """Alternate fresh processes of the code at ``args.compare`` and of this checkout."""
    own = Path(__file__).resolve().parents[1] / "src"
    variants = [("baseline", args.compare, args.models), ("this", own, args.models)]
    if args.other_models is not None:
        variants.append(("this, other models", own, args.other_models))
    versions: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name, src, models in variants:
                out = Path(tmp) / f"{name.replace(' ', '_')}-{i}.json"
                env = dict(os.environ, PYTHONPATH=str(src))
                paths = {"--input": args.input, "--models": models, "--params": args.params}
                cmd = [sys.executable, __file__, "--json", str(out)]
                cmd += [str(x) for kv in paths.items() for x in kv]
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                run = json.loads(out.read_text())
                versions[name].append(run)
                load = os.getloadavg()[0]
                print(f"round {i + 1} {name}: {run['wall']:.1f} s (load {load:.1f})", flush=True)
    print_table(versions)
    base = _median(versions["baseline"], "wall"), _median(versions["baseline"], "cpu")
    for name in list(versions)[1:]:
        wall, cpu = _median(versions[name], "wall"), _median(versions[name], "cpu")
        print(f"baseline / {name}: {base[0] / wall:.2f}x wall, {base[1] / cpu:.2f}x CPU (medians)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=Path("data/validated"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--compare", type=Path, default=None, help="src folder of a baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--other-models", type=Path, default=None, help="with --compare: also this code on these"
    )
    parser.add_argument("--clients", type=int, default=None, help="the book's first N clients")
    parser.add_argument("--json", type=Path, default=None, help="write the run here")
    args = parser.parse_args(argv)
    args.input, args.models, args.params = (
        args.input.resolve(),
        args.models.resolve(),
        args.params.resolve(),
    )
    if args.clients is not None:
        with tempfile.TemporaryDirectory() as tmp:
            args.input = subset(args.input, args.clients, Path(tmp) / "validated")
            args.clients = None
            return main_with(args)
    return main_with(args)


def main_with(args: argparse.Namespace) -> int:
    if args.compare is not None:
        compare(args)
        return 0
    run = profile_once(args)
    if args.json is not None:
        args.json.write_text(json.dumps(run))
    else:
        print_table({"this": [run]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
