"""Where the time of ``predict score`` goes: the whole run on a folder of validated tables,
timed per step (wall clock, one process).

Each step is timed by wrapping the function that does it (no change to the code measured):
reading the tables, the features at the as-of date, the model outputs + TreeSHAP per model,
the reasons, the long explanations (building the Arrow table, writing it), the previous month
end's rescoring (its features, its outputs), the per-client rows (exposure, value, grades,
dimensions), the book-wide steps (actions, early warning, drift, migration) and writing the
outputs. A step nested in another is counted once, in the innermost timer ("self" seconds).

    python benchmarks/profile_score.py --input data/validated --models models --repeats 3

Printed: per step the median seconds over ``--repeats`` runs and its share of the total,
and clients per second end to end with the projection for 1,000,000 clients (linear).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import shutil
import statistics
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
    ("predict.scoring.run", "rescore_features", "previous month end: rescoring (no SHAP)"),
    ("predict.scoring.previous", "predict_outputs", "previous month end: outputs"),
    ("predict.scoring.previous", "apply_scope_rules", "previous month end: scope"),
    ("predict.scoring.run", "client_rows", "client rows (exposure, value, grades, dims)"),
    ("predict.scoring.run", "drift_counts", "drift counts"),
    ("predict.scoring.run", "book_steps", "book steps (actions, early warning, drift)"),
    ("predict.scoring.run", "write_outputs", "write outputs"),
]

_stack: list[str] = []
_self: dict[str, float] = defaultdict(float)


def _wrap(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        label = name
        if name == "TreeSHAP":
            booster = args[0]
            label = f"TreeSHAP {booster.num_trees()} trees"
        _stack.append(label)
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            dt_ = time.perf_counter() - t0
            _stack.pop()
            _self[label] += dt_
            if _stack:
                _self[_stack[-1]] -= dt_

    return timed


def _install() -> None:
    for module, attr, name in STEPS:
        owner: Any = importlib.import_module(module)
        if "." in attr:
            cls_name, attr = attr.split(".")
            owner = getattr(owner, cls_name)
        if hasattr(owner, attr):  # an older version of the code may lack a step
            setattr(owner, attr, _wrap(name, getattr(owner, attr)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", type=Path, default=Path("data/validated"))
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the runs here")
    args = parser.parse_args(argv)

    from predict.scoring.config import configs_from_params

    _install()
    from predict.scoring.run import score_folder

    config, features_config = configs_from_params(args.params)
    runs: list[dict[str, float]] = []
    totals: list[float] = []
    clients = 0
    for i in range(args.repeats):
        _self.clear()
        out = Path(tempfile.mkdtemp(prefix="profile_score_")) / "scores"
        t0 = time.perf_counter()
        result = score_folder(
            args.input, args.models, out, config, features_config, validated=True, quiet=True
        )
        total = time.perf_counter() - t0
        shutil.rmtree(out.parent, ignore_errors=True)
        clients = len(result.scores)
        steps = dict(_self)
        steps["other"] = total - sum(steps.values())
        runs.append(steps)
        totals.append(total)
        print(f"run {i + 1}: {total:.1f} s, {clients} clients", flush=True)
    total = statistics.median(totals)
    names = sorted(
        {k for r in runs for k in r},
        key=lambda k: -statistics.median([r.get(k, 0.0) for r in runs]),
    )
    print(f"\n{'step':<48} {'seconds':>8} {'share':>7}")
    for name in names:
        sec = statistics.median([r.get(name, 0.0) for r in runs])
        print(f"{name:<48} {sec:8.2f} {sec / total:7.1%}")
    print(f"{'total (median of ' + str(len(totals)) + ')':<48} {total:8.2f}")
    print(f"totals: {', '.join(f'{t:.1f}' for t in totals)} s")
    rate = clients / total
    if args.json is not None:
        args.json.write_text(json.dumps({"clients": clients, "totals": totals, "steps": runs}))
    print(f"{clients} clients: {rate:,.0f} clients/s; 1,000,000 clients: {1e6 / rate / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
