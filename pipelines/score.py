"""DVC stage `score`: the portfolio scored at the scoring as-of, explained and checked.

- reads: data/validated/, models/ (with the drift bins frozen in references.json)
- params: `score` and parts of `features`
- writes: data/scores/ (scores, explanations, drift, early warning)

Options: `predict score --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("score"))
