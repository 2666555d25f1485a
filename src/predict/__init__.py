"""predict: evaluate lending client relationships (churn, default risk, contribution).

The library mirrors the pipeline (``dvc.yaml``), one folder per stage over a small core:

- core: :mod:`predict.config` (typed params sections), :mod:`predict.io` (atomic writes),
  :mod:`predict.progress`; the command line :mod:`predict.cli` (one Typer app, also behind
  every ``pipelines/`` stage script);
- :mod:`predict.synthetic` (stage ``generate``), :mod:`predict.contract` (``validate``),
  :mod:`predict.features` (``features``), :mod:`predict.models` (``split``, ``train``),
  :mod:`predict.scoring` (``score``), :mod:`predict.report` (``report``);
  :mod:`predict.distributed` runs the per-client steps on Dask.

Each folder's ``__init__`` says what lives there and what it may import; a test
(``tests/unit/test_layout.py``) holds the layering: nothing imports upward.
"""
