"""Backtest of the final refit: refit vs no refit, judged on the next period, per target.

Reads a features table (``--features``, default ``data/features/features.parquet``, with its
``snapshots.json`` beside it) and the ``train`` and ``split`` sections of ``--params``; for
each ``--judge`` as-of date (default: the latest uncensored one) applies the procedure as if
the data ended one horizon earlier and judges every variant on the rows at that date
(:func:`predict.models.backtest.refit_backtest`). Prints a Markdown table per judge date and
writes ``<out>/refit_backtest.csv``.

    python benchmarks/refit_backtest.py                       # the full synthetic book
    python benchmarks/refit_backtest.py --judge 2024-06-30 --targets default
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

import pandas as pd

from predict.config import load_section
from predict.io import read_json, write_csv
from predict.models.backtest import refit_backtest
from predict.models.refit import ROUND_RULES
from predict.models.split import SplitConfig, labelled_as_ofs
from predict.models.training import TASKS, TrainConfig

COLUMNS = {
    "binary": ["variant", "trees", "fit_rows", "calibration", "auc", "brier", "ece",
               "mean_predicted", "base_rate"],
    "regression": ["variant", "trees", "fit_rows", "calibration", "rmse", "mae", "spearman",
                   "bias", "mean_actual"],
}  # fmt: skip


def markdown(table: pd.DataFrame) -> str:
    """The backtest rows as one Markdown table per (judge date, target)."""
    parts = []
    for (judge, target), rows in table.groupby(["judge_as_of", "target"], sort=False):
        task = "binary" if TASKS[str(target)] == "binary" else "regression"
        cols = [c for c in COLUMNS[task] if c in rows]
        parts.append(
            f"\n**{target}**, judged on {judge} ({int(rows['judge_rows'].iloc[0])} rows)\n"
        )
        parts.append("| " + " | ".join(cols) + " |")
        parts.append("|" + "---|" * len(cols))
        for _, r in rows.iterrows():
            cells = [f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols]
            parts.append("| " + " | ".join(cells) + " |")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("data/features/features.parquet"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--judge", action="append", default=[], help="ISO as-of date; repeatable")
    parser.add_argument("--targets", nargs="+", default=list(TASKS))
    parser.add_argument("--rules", nargs="+", default=list(ROUND_RULES))
    parser.add_argument(
        "--no-all-dates", action="store_true", help="leave out the refit_all_<rule> variants"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/refit_backtest"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    config = load_section(args.params, "train", TrainConfig)
    split_config = load_section(args.params, "split", SplitConfig)
    summary = read_json(args.features.with_name("snapshots.json"))
    frame = pd.read_parquet(args.features)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[s]")
    labelled = labelled_as_ofs(summary)
    judges = [dt.date.fromisoformat(j) for j in args.judge] or [max(labelled)]
    tables = []
    for judge in judges:
        start = time.perf_counter()
        table = refit_backtest(
            frame,
            labelled,
            int(summary["horizon_months"]),
            config,
            split_config,
            judge=judge,
            targets=args.targets,
            rules=args.rules,
            all_dates=not args.no_all_dates,
        )
        print(markdown(table), f"\n({time.perf_counter() - start:.0f} s)", flush=True)
        tables.append(table)
    write_csv(pd.concat(tables, ignore_index=True), args.out / "refit_backtest.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
