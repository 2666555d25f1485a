"""Training on a Dask cluster: the code lives in :mod:`predict.models.dask_fit` (the models
folder may not import this one); re-exported here for the scale-out docs and callers."""

from predict.models.dask_fit import (
    StopOnValidation,
    best_iteration,
    fit_booster_dask,
    higher_is_better,
    metric_path,
    metric_value,
)

__all__ = [
    "StopOnValidation",
    "best_iteration",
    "fit_booster_dask",
    "higher_is_better",
    "metric_path",
    "metric_value",
]
