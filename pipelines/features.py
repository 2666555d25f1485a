"""DVC stage `features`: validated tables -> point-in-time features and labels of every as-of.

- reads: data/validated/
- params: `features`
- writes: data/features/features.parquet (snapshots.json beside it)

Options: `predict features --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("features"))
