"""DVC stage `split`: features + labels -> out-of-time train / valid / test, purged.

- reads: data/features/
- params: `split`
- writes: data/split/, metrics/split.json

Options: `predict split --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("split"))
