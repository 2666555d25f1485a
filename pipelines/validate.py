"""DVC stage `validate`: contract tables -> typed tables, quarantine, a validation report.

- reads: the folder `data.raw_dir` (CSV or Parquet; docs/data_dictionary.md)
- params: `validate`
- writes: data/validated/, data/quarantine/, reports/validation/

Options: `predict validate --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("validate"))
