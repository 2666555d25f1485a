"""Models (stages ``split`` and ``train``): out-of-time split, LightGBM training,
calibration, baselines, evaluation, the model folder on disk, MLflow tracking.

May import: the core, :mod:`predict.contract`, :mod:`predict.features`. Modules: split,
training, calibration, baselines, evaluation, store (the only model-file I/O), references
(what is frozen from the training book into references.json), tracking
(runs, registry, promotion) and mlflow_model (the logged pyfunc's code): the only modules
that import MLflow.
"""
