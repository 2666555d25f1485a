"""Training on a Dask cluster with ``lightgbm.dask``, early stopping decided on the driver.

The booster is fitted data-parallel on the workers (``DaskLGBMClassifier`` /
``DaskLGBMRegressor``, the same LightGBM parameters as on one machine) for
``train.booster.num_boost_round`` rounds: ``lightgbm.dask`` (4.7) evaluates a validation
set per worker, on that worker's share only, so its early stopping cannot be trusted. The
driver then evaluates the validation period itself, tree by tree (:func:`metric_path`:
the first metric of the parameters, as LightGBM defines it), picks the best iteration by
LightGBM's own early-stopping rule (:func:`best_iteration`: the first best score, stopping
once ``early_stopping_rounds`` rounds bring no improvement) and keeps the trees up to it.
The result is an ordinary LightGBM text model, saved and scored as on one machine.

Data-parallel LightGBM finds its histogram bins from each worker's rows, so the trees are
not bit-identical to the single-machine ones: quality is, within noise (docs/scaling.md).
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

EPS = 1e-10  # LightGBM's floor for a tweedie prediction in its metric


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw))


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def metric_value(name: str, y: np.ndarray, raw: np.ndarray, params: dict[str, Any]) -> float:
    """LightGBM's metric ``name`` of the raw scores ``raw`` against labels ``y`` (mean loss
    per row, AUC for ``auc``)."""
    if name == "auc":
        return _auc(y, raw)
    if name == "binary_logloss":
        p = np.clip(_sigmoid(raw), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if name == "tweedie":
        rho = float(params.get("tweedie_variance_power", 1.5))
        mu = np.maximum(np.exp(raw), EPS)
        loss = -y * np.exp((1 - rho) * np.log(mu)) / (1 - rho) + np.exp((2 - rho) * np.log(mu)) / (
            2 - rho
        )
        return float(np.mean(loss))
    if name in ("regression", "l2"):
        return float(np.mean((raw - y) ** 2))
    if name == "huber":
        alpha = float(params.get("alpha", 0.9))
        diff = np.abs(raw - y)
        return float(np.mean(np.where(diff <= alpha, 0.5 * diff**2, alpha * (diff - 0.5 * alpha))))
    raise ValueError(f"metric {name!r}: no driver-side evaluation for distributed training")


def higher_is_better(name: str) -> bool:
    return name == "auc"


def metric_path(
    booster: lgb.Booster,
    x: pd.DataFrame,
    y: np.ndarray,
    name: str,
    params: dict[str, Any],
    init_score: np.ndarray | None = None,
) -> np.ndarray:
    """The metric ``name`` on ``(x, y)`` after each iteration 1..n of ``booster`` (labels
    rounded to float32, as LightGBM stores them), each row starting from its ``init_score``
    (a model's offset, :mod:`predict.models.offset`; none: 0)."""
    y = np.asarray(y, dtype="float32").astype("float64")
    raw = np.zeros(len(x), dtype="float64")
    if init_score is not None:
        raw += np.asarray(init_score, dtype="float64")
    out = np.empty(booster.current_iteration(), dtype="float64")
    for i in range(booster.current_iteration()):
        raw += booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1)
        out[i] = metric_value(name, y, raw, params)
    return out


def best_iteration(path: np.ndarray, higher: bool, rounds: int) -> int:
    """LightGBM's early stopping on a metric path: the (1-based) iteration of the first best
    score, the scan stopping once ``rounds`` iterations in a row bring no strict improvement."""
    best_i, best = 0, path[0]
    for i in range(1, len(path)):
        if (path[i] > best) if higher else (path[i] < best):
            best_i, best = i, path[i]
        elif i - best_i >= rounds:
            break
    return best_i + 1


def fit_booster_dask(
    train: tuple[pd.DataFrame, np.ndarray],
    valid: tuple[pd.DataFrame, np.ndarray],
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    client: Client,
    init_score: tuple[np.ndarray, np.ndarray] | None = None,
) -> lgb.Booster:
    """``lightgbm.dask`` on the cluster of ``client`` with ``params``; the trees up to the
    best iteration on ``valid`` (chosen on the driver, :func:`best_iteration`).
    ``init_score``: each train and valid row's starting raw score (a model's offset), as
    the single-machine fit's ``init_score``."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    x = train[0].reset_index(drop=True)
    y = pd.Series(train[1], name="label")
    x_d = dd.from_pandas(x, npartitions=workers, sort=False)
    y_d = dd.from_pandas(y, npartitions=workers, sort=False)
    kind = DaskLGBMClassifier if params["objective"] == "binary" else DaskLGBMRegressor
    # the seed under its scikit-learn name; the threads are each worker's (lightgbm.dask sets
    # num_threads to the worker's --nthreads); the others pass as they are
    settings = {k: v for k, v in params.items() if k not in ("metric", "num_threads", "seed")}
    model = kind(
        client=client, n_estimators=num_boost_round, random_state=params["seed"], **settings
    )
    start = time.perf_counter()
    with warnings.catch_warnings():  # lightgbm.dask warns of the n_jobs it always replaces
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        if init_score is None:
            model.fit(x_d, y_d)
        else:
            init = pd.Series(np.asarray(init_score[0], dtype="float64"), name="init_score")
            model.fit(x_d, y_d, init_score=dd.from_pandas(init, npartitions=workers, sort=False))
    booster = model.booster_
    first = next(iter(params["metric"]))
    valid_init = None if init_score is None else init_score[1]
    path = metric_path(booster, valid[0], valid[1], first, params, valid_init)
    best = best_iteration(path, higher_is_better(first), early_stopping_rounds)
    log.info(
        "dask training: %d worker(s), %.1f s; best iteration %d of %d (valid %s %.5f)",
        workers,
        time.perf_counter() - start,
        best,
        booster.current_iteration(),
        first,
        path[best - 1],
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


__all__ = ["best_iteration", "fit_booster_dask", "metric_path", "metric_value"]
