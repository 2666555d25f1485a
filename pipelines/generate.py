"""DVC stage `generate`: the synthetic portfolio (six contract tables) and, apart, its known truth.

- reads: nothing
- params: `generate`, `data.raw_dir`, `features.horizon_months`, `features.inactivity_months`
- writes: data/synthetic/, data/synthetic_truth/ (with `--stand-aside`, only a README.txt
  in both when `data.raw_dir` is another folder: you brought your own data)

Options: `predict generate --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("generate"))
