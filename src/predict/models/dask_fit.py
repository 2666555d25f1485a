"""Training on a Dask cluster with ``lightgbm.dask``, early stopping on the whole validation period.

The booster is fitted data-parallel on the workers (``DaskLGBMClassifier`` /
``DaskLGBMRegressor``, the same LightGBM parameters as on one machine). ``lightgbm.dask``
(4.7) evaluates a validation set per worker, on that worker's share only, so its own early
stopping cannot be trusted. Instead every worker runs the callback
:class:`StopOnValidation`, which holds the whole validation period: after each round it adds
the new tree's raw scores to its running total and computes the first metric of the
parameters, as LightGBM defines it (:func:`metric_value`). Data-parallel LightGBM gives every
worker the same trees, so every worker reaches the same decision at the same round and the
training stops once ``early_stopping_rounds`` rounds bring no improvement (LightGBM's own
rule), instead of fitting all ``num_boost_round`` rounds; LightGBM then hands back the trees
up to the workers' best round (the later ones are dropped). The driver evaluates the
validation period itself on those trees (:func:`metric_path`), applies the same rule
(:func:`best_iteration`: with identical trees and data it finds the same round; it warns if
not, and can then only keep fewer trees) and keeps the trees up to it. The result is an
ordinary LightGBM text model, saved and scored as on one machine.

With a fixed number of rounds (the final refit, :mod:`predict.models.refit`) no callback
runs and every tree is kept.

Data-parallel LightGBM finds its histogram bins from each worker's rows, so the trees are
not bit-identical to the single-machine ones: quality is, within noise (docs/scaling.md).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import dask.dataframe as dd
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


class StopOnValidation:
    """A LightGBM callback (after each round) that stops the training by LightGBM's
    early-stopping rule on the metric ``name`` of the whole validation set ``(x, y)``, each
    row starting from ``init`` (a model's offset; none: 0).

    Sent to every Dask worker: each keeps its running raw scores per booster (a worker in
    the driver's process may share this object with another), so a fit's decision depends
    only on its own trees. It raises ``EarlyStopException`` at the round where
    :func:`best_iteration` would stop scanning; LightGBM keeps the trees up to the best
    round and the driver checks that choice (:func:`fit_booster_dask`).
    """

    order = 30
    before_iteration = False

    def __init__(
        self,
        x: pd.DataFrame,
        y: np.ndarray,
        name: str,
        params: dict[str, Any],
        rounds: int,
        init: np.ndarray | None = None,
    ) -> None:
        if rounds < 1:
            raise ValueError(f"early_stopping_rounds must be at least 1, got {rounds}")
        self.x, self.name, self.params, self.rounds = x, name, dict(params), int(rounds)
        self.y = np.asarray(y, dtype="float32").astype("float64")  # as LightGBM stores labels
        self.init = None if init is None else np.asarray(init, dtype="float64")
        self.higher = higher_is_better(name)
        self._state: dict[int, list[Any]] = {}  # id(booster) -> [raw, best round, best score]
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_state"], state["_lock"] = {}, None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __call__(self, env: lgb.callback.CallbackEnv) -> None:
        model = env.model
        if not isinstance(model, lgb.Booster):
            raise TypeError("StopOnValidation stops a training (lgb.train), not a cv")
        with self._lock:
            state = self._state.setdefault(
                id(model),
                [np.zeros(len(self.x)) if self.init is None else self.init.copy(), -1, None],
            )
        raw, best_round, best = state
        raw += model.predict(self.x, raw_score=True, start_iteration=env.iteration, num_iteration=1)
        score = metric_value(self.name, self.y, raw, self.params)
        i = env.iteration - env.begin_iteration
        if best is None or (score > best if self.higher else score < best):
            state[1], state[2] = i, score
        elif i - best_round >= self.rounds:
            with self._lock:
                self._state.pop(id(model), None)
            raise lgb.callback.EarlyStopException(best_round + env.begin_iteration, [])
        if env.iteration + 1 >= env.end_iteration:
            with self._lock:
                self._state.pop(id(model), None)


def fit_booster_dask(
    train: tuple[pd.DataFrame | dd.DataFrame, np.ndarray | dd.Series],
    valid: tuple[pd.DataFrame, np.ndarray] | None,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int | None,
    client: Client,
    init_score: tuple[np.ndarray | dd.Series, np.ndarray | None] | None = None,
) -> lgb.Booster:
    """``lightgbm.dask`` on the cluster of ``client`` with ``params``.

    With ``early_stopping_rounds``: the workers stop by LightGBM's rule on the whole
    ``valid`` set (:class:`StopOnValidation`) and the trees up to the best iteration on
    ``valid`` are kept (chosen on the driver, :func:`best_iteration`). Without (``None``: the
    final refit): exactly ``num_boost_round`` trees; ``valid`` is not used.
    ``init_score``: each train and valid row's starting raw score (a model's offset), as
    the single-machine fit's ``init_score``. ``train`` (and the train ``init_score``) as Dask
    collections (the train split read by the workers, :mod:`predict.models.dask_train`):
    used as they are, partition by partition; else split into one partition per worker."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

    workers = max(1, len(client.scheduler_info().get("workers", {})))
    x_d, y_d = train
    if not isinstance(x_d, dd.DataFrame):
        x_d = dd.from_pandas(x_d.reset_index(drop=True), npartitions=workers, sort=False)
    if not isinstance(y_d, dd.Series):
        y_d = dd.from_pandas(pd.Series(y_d, name="label"), npartitions=workers, sort=False)
    kind = DaskLGBMClassifier if params["objective"] == "binary" else DaskLGBMRegressor
    # the seed under its scikit-learn name; the threads are each worker's (lightgbm.dask sets
    # num_threads to the worker's --nthreads); the others pass as they are
    settings = {k: v for k, v in params.items() if k not in ("metric", "num_threads", "seed")}
    model = kind(
        client=client, n_estimators=num_boost_round, random_state=params["seed"], **settings
    )
    first = next(iter(params["metric"]))
    valid_init = None if init_score is None else init_score[1]
    fit_kwargs: dict[str, Any] = {}
    if early_stopping_rounds is not None:
        if valid is None:
            raise ValueError("early stopping needs a validation set")
        stop = StopOnValidation(
            valid[0], valid[1], first, params, early_stopping_rounds, valid_init
        )
        # sent to the workers once, as data (not inside the task graph); each gets its copy
        fit_kwargs["callbacks"] = [client.scatter(stop, broadcast=True, hash=False)]
    if init_score is not None:
        init_d = init_score[0]
        if not isinstance(init_d, dd.Series):
            init = pd.Series(np.asarray(init_d, dtype="float64"), name="init_score")
            init_d = dd.from_pandas(init, npartitions=workers, sort=False)
        fit_kwargs["init_score"] = init_d
    start = time.perf_counter()
    with warnings.catch_warnings():  # lightgbm.dask warns of the n_jobs it always replaces
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(x_d, y_d, **fit_kwargs)
    booster = model.booster_
    fitted = booster.current_iteration()
    if early_stopping_rounds is None:
        log.info(
            "dask training: %d worker(s), %.1f s; %d rounds (fixed)",
            workers, time.perf_counter() - start, fitted,
        )  # fmt: skip
        return lgb.Booster(model_str=booster.model_to_string(num_iteration=-1))
    assert valid is not None
    # stopped by the callback: LightGBM hands back the trees up to the workers' best round,
    # which was fitted early_stopping_rounds rounds before the stop
    stopped = int(getattr(model, "best_iteration_", 0) or 0)
    if stopped:
        fitted = stopped + early_stopping_rounds
    path = metric_path(booster, valid[0], valid[1], first, params, valid_init)
    best = best_iteration(path, higher_is_better(first), early_stopping_rounds)
    if stopped and best != stopped:  # cannot happen with identical trees and data: say so
        log.warning("dask training: the workers stopped at best round %d, the driver's best "
                    "is %d (kept)", stopped, best)  # fmt: skip
    log.info(
        "dask training: %d worker(s), %.1f s; %d of at most %d rounds fitted, best iteration "
        "%d (valid %s %.5f)",
        workers, time.perf_counter() - start, fitted, num_boost_round, best, first, path[best - 1],
    )  # fmt: skip
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


__all__ = [
    "StopOnValidation",
    "best_iteration",
    "fit_booster_dask",
    "metric_path",
    "metric_value",
]
