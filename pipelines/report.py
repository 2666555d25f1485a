"""DVC stage `report`: the static review report for risk teams, with the model card.

- reads: data/scores/, models/, metrics/, plots/, data/validated/,
  data/features/features.parquet
- params: `report`, `score.dimensions`
- writes: reports/review/ (index.html, client pages, explanations, model card)

Options: `predict report --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("report"))
