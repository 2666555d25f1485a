"""DVC stage `partition`: the validated tables as a Parquet dataset partitioned by client,
for the score stage on a Dask cluster.

- reads: data/validated/
- params: `partition`, `data.score_input`
- writes: data/partitioned/ (with `--stand-aside`, only a README.txt when
  `data.score_input` is another folder: the score stage then reads data/validated)

Options: `predict partition --help`. They are declared once, in :mod:`predict.cli`; this
script only runs that command with the arguments dvc.yaml passes.
"""

import sys

from predict.cli import run_stage

if __name__ == "__main__":
    sys.exit(run_stage("partition"))
