"""DVC stage `train`: one LightGBM model per target (`--target`), calibrated, evaluated.

- reads: data/split/ (and data/synthetic_truth/ when it holds a truth)
- params: `train`
- writes: models/<target>/, metrics/<target>.json (headline; the detail in
  metrics/detail/<target>.json), plots/<target>/, an MLflow run

Options: `predict train --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("train"))
