"""DVC stage `train@<target>`: one LightGBM model, calibrated, evaluated, tracked in MLflow.

The generator's truth (``--truth``, synthetic data only) is read when the folder has a
``truth.parquet`` and skipped otherwise; it is not a DVC dependency (see docs/models.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from predict.config import load_section
from predict.contract.spec import TARGETS
from predict.models.tracking import tracking_uri
from predict.models.training import TrainConfig, run_training


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--target", required=True, choices=TARGETS)
    parser.add_argument("--split", required=True, help="folder with train/valid/test.parquet")
    parser.add_argument("--models", required=True, help="bundle goes to <models>/<target>/")
    parser.add_argument("--metrics", required=True, help="<metrics>/[detail/]<target>.json")
    parser.add_argument(
        "--plots", required=True, help="<plots>/<target>/{roc,calibration,lift}.csv"
    )
    parser.add_argument("--truth", default=None, help="generator truth folder, used if present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    config = load_section(args.params, "train", TrainConfig)
    try:
        result = run_training(
            args.split,
            args.target,
            config,
            models_dir=args.models,
            metrics_dir=args.metrics,
            plots_dir=args.plots,
            truth_dir=args.truth,
            tracking_uri=tracking_uri(os.environ, Path.cwd()),
        )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    summary = {
        "version": result.bundle.version,
        "test": result.metrics["test"],
        "baseline": result.metrics["baseline"],
    }
    print(f"{args.target}: {json.dumps(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
