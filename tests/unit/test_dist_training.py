"""Distributed training (predict.distributed.training): the driver's metric path is
LightGBM's, its early stopping is LightGBM's rule, and a booster fitted with lightgbm.dask on
a two-process LocalCluster is as good as the single-machine one."""

from __future__ import annotations

import dataclasses

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from distributed import Client
from sklearn.metrics import roc_auc_score

from predict.distributed import training as dt_
from predict.features.build import FeaturesConfig, build_feature_table
from predict.models.training import BoosterConfig, TrainConfig, labelled_rows, train_model
from predict.synthetic import generate_portfolio
from tests.support.synthetic import SMALL, WINDOW


def _data(seed: int, n: int = 1500) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    logit = 1.2 * x["a"] - 0.8 * x["b"] + 0.3 * x["c"] ** 2
    binary = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float64")
    amount = rng.gamma(2.0, np.exp(0.5 * x["a"].to_numpy()))
    amount[rng.random(n) < 0.3] = 0.0
    return x, binary, amount


BASE = {"learning_rate": 0.1, "num_leaves": 7, "min_data_in_leaf": 20, "seed": 1, "num_threads": 1,
        "deterministic": True, "force_row_wise": True, "verbosity": -1}  # fmt: skip
CASES = [
    ({"objective": "binary", "metric": ["auc"]}, "binary"),
    ({"objective": "binary", "metric": ["binary_logloss"]}, "binary"),
    ({"objective": "tweedie", "metric": ["tweedie"], "tweedie_variance_power": 1.2}, "amount"),
    ({"objective": "regression", "metric": ["regression"]}, "amount"),
    ({"objective": "huber", "metric": ["huber"], "alpha": 1.0}, "amount"),
]


VALID = slice(1000, None)  # of _data's rows; the first 1,000 train


def _sets(seed: int, label: str) -> tuple[pd.DataFrame, np.ndarray, lgb.Dataset, lgb.Dataset]:
    """``_data(seed)``'s features and ``label`` target, and its train and valid Datasets."""
    x, binary, amount = _data(seed)
    y = binary if label == "binary" else amount
    dtrain = lgb.Dataset(x[:1000], y[:1000], free_raw_data=False)
    return x, y, dtrain, lgb.Dataset(x[VALID], y[VALID], reference=dtrain)


@pytest.mark.parametrize(("extra", "label"), CASES)
def test_driver_metric_path_is_lightgbms_and_so_is_the_early_stopping(
    extra: dict[str, object], label: str
) -> None:
    x, y, dtrain, dvalid = _sets(3, label)
    params = {**BASE, **extra}
    valid = VALID
    seen: dict[str, dict[str, list[float]]] = {}
    full = lgb.train(params, dtrain, 60, valid_sets=[dvalid], valid_names=["v"],
                     callbacks=[lgb.record_evaluation(seen)])  # fmt: skip
    name = next(iter(params["metric"]))  # type: ignore[call-overload]
    path = dt_.metric_path(full, x[valid], y[valid], name, params)
    lgb_name = {"regression": "l2"}.get(name, name)
    np.testing.assert_allclose(path, seen["v"][lgb_name], rtol=1e-9, atol=1e-12)
    stop = lgb.early_stopping(5, first_metric_only=True, verbose=False)
    stopped = lgb.train(params, dtrain, 60, valid_sets=[dvalid], valid_names=["v"],
                        callbacks=[stop])  # fmt: skip
    assert dt_.best_iteration(path, dt_.higher_is_better(name), 5) == stopped.best_iteration


@pytest.mark.parametrize(("extra", "label"), CASES)
def test_the_workers_callback_stops_where_lightgbms_early_stopping_does(
    extra: dict[str, object], label: str
) -> None:
    # the callback every worker runs (on one machine here): the same rounds fitted as
    # LightGBM's own early stopping, which stops `rounds` rounds after the first best
    x, y, dtrain, dvalid = _sets(5, label)
    params = {**BASE, **extra, "learning_rate": 0.3}  # overfits quickly: stops well before 300
    valid = VALID
    own = lgb.train(
        params,
        dtrain,
        300,
        valid_sets=[dvalid],
        valid_names=["v"],
        callbacks=[lgb.early_stopping(7, first_metric_only=True, verbose=False)],
        keep_training_booster=True,
    )  # keeps every tree fitted
    name = next(iter(params["metric"]))  # type: ignore[call-overload]
    stop = dt_.StopOnValidation(x[valid], y[valid], name, params, 7)
    ours = lgb.train(params, dtrain, 300, callbacks=[stop], keep_training_booster=True)
    assert own.current_iteration() == own.best_iteration + 7 < 300
    assert ours.current_iteration() == own.current_iteration()
    assert ours.best_iteration == own.best_iteration
    assert stop._state == {}  # nothing held after the fit


def test_the_callback_keeps_each_boosters_scores_apart() -> None:
    # one callback object shared by two fits at once (workers in one process): each fit's
    # decision is its own, the same as alone
    x, binary, _ = _data(6)
    params = {**BASE, "objective": "binary", "metric": ["auc"], "learning_rate": 0.3}
    train, valid = slice(0, 1000), slice(1000, None)
    stop = dt_.StopOnValidation(x[valid], binary[valid], "auc", params, 5)
    alone = lgb.train(params, lgb.Dataset(x[train], binary[train]), 200, callbacks=[stop])
    other = {**params, "num_leaves": 3}
    b1 = lgb.Booster(params, lgb.Dataset(x[train], binary[train]))
    b2 = lgb.Booster(other, lgb.Dataset(x[train], binary[train]))
    stopped = {}
    for i in range(200):
        for key, b in (("same", b1), ("other", b2)):
            if key in stopped:
                continue
            b.update()
            env = lgb.callback.CallbackEnv(b, params, i, 0, 200, None)
            try:
                stop(env)
            except lgb.callback.EarlyStopException as e:
                stopped[key] = (i + 1, e.best_iteration + 1)
    assert stopped["same"] == (alone.best_iteration + 5, alone.best_iteration)
    assert set(stopped) == {"same", "other"} and stop._state == {}


def test_a_stopping_callback_needs_at_least_one_round() -> None:
    x, binary, _ = _data(7, n=50)
    with pytest.raises(ValueError, match="at least 1"):
        dt_.StopOnValidation(x, binary, "auc", BASE, 0)


def test_driver_metric_path_starts_from_the_offset_as_lightgbm_does() -> None:
    # a tweedie model with an init_score (the contribution offset): the driver's path from
    # the same per-row starting scores is LightGBM's own record
    x, _, amount = _data(4)
    init = np.log1p(np.abs(x["d"].to_numpy()))
    params = {**BASE, "objective": "tweedie", "metric": ["tweedie"], "tweedie_variance_power": 1.2}
    train, valid = slice(0, 1000), slice(1000, None)
    dtrain = lgb.Dataset(x[train], amount[train], init_score=init[train])
    dvalid = lgb.Dataset(x[valid], amount[valid], init_score=init[valid], reference=dtrain)
    seen: dict[str, dict[str, list[float]]] = {}
    full = lgb.train(params, dtrain, 40, valid_sets=[dvalid], valid_names=["v"],
                     callbacks=[lgb.record_evaluation(seen)])  # fmt: skip
    path = dt_.metric_path(full, x[valid], amount[valid], "tweedie", params, init[valid])
    np.testing.assert_allclose(path, seen["v"]["tweedie"], rtol=1e-9, atol=1e-12)
    without = dt_.metric_path(full, x[valid], amount[valid], "tweedie", params)
    assert not np.allclose(without, path)  # the offset matters to the metric


def test_best_iteration_on_a_hand_path() -> None:
    # higher is better, patience 2: 0.6 at iteration 2 (the first best), no improvement for
    # iterations 3 and 4: stop; the later 0.9 is never seen (as LightGBM would have stopped)
    assert dt_.best_iteration(np.array([0.5, 0.6, 0.6, 0.55, 0.9]), True, 2) == 2
    assert dt_.best_iteration(np.array([0.5, 0.6, 0.6, 0.55, 0.9]), True, 3) == 5
    assert dt_.best_iteration(np.array([3.0, 2.0, 2.5, 1.0]), False, 2) == 4
    assert dt_.best_iteration(np.array([1.0]), False, 10) == 1


BOOK = dataclasses.replace(SMALL, seed=31, n_clients=900, months=30, truth_paths=0)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return build_feature_table(generate_portfolio(BOOK, WINDOW).tables, FeaturesConfig()).frame


@pytest.mark.parametrize("target", ["churn", "contribution"])
def test_dask_training_is_as_good_as_one_machine(
    table: pd.DataFrame, cluster: Client, target: str
) -> None:
    dates = sorted(table["as_of"].unique())
    labelled = table[table[f"label_{target}"].notna()]
    dates = sorted(labelled["as_of"].unique())
    train = labelled[labelled["as_of"] <= dates[-3]]
    valid = labelled[labelled["as_of"] == dates[-2]]
    test = labelled_rows(labelled[labelled["as_of"] == dates[-1]], target, "test")
    booster = BoosterConfig(learning_rate=0.1, min_data_in_leaf=20, num_boost_round=150,
                            early_stopping_rounds=15)  # fmt: skip
    config = TrainConfig(num_threads=1, booster=booster)
    single = train_model(train, valid, target, config)
    on_dask = train_model(train, valid, target, config, client=cluster)
    assert on_dask.metadata["fitted_on"].startswith("lightgbm.dask")
    assert 1 <= on_dask.booster.current_iteration() <= 150
    assert on_dask.features.names == single.features.names
    y = test[f"label_{target}"].to_numpy("float64")
    got, expected = on_dask.predict(test), single.predict(test)
    if target == "churn":
        auc = roc_auc_score(y, got), roc_auc_score(y, expected)
        assert auc[0] > 0.6 and abs(auc[0] - auc[1]) < 0.05, auc
    else:
        rmse = [float(np.sqrt(np.mean((p - y) ** 2))) for p in (got, expected)]
        assert rmse[0] < 1.1 * rmse[1], rmse


def test_dask_training_stops_early_on_the_workers(
    table: pd.DataFrame, cluster: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # the workers stop `early_stopping_rounds` after the best round (not all 2,000 rounds),
    # and the driver keeps the trees up to the best iteration
    labelled = table[table["label_churn"].notna()]
    dates = sorted(labelled["as_of"].unique())
    train = labelled[labelled["as_of"] <= dates[-3]]
    valid = labelled[labelled["as_of"] == dates[-2]]
    booster = BoosterConfig(learning_rate=0.3, min_data_in_leaf=20, num_boost_round=2000,
                            early_stopping_rounds=10)  # fmt: skip
    config = TrainConfig(num_threads=1, booster=booster)
    with caplog.at_level("INFO", logger="predict.models.dask_fit"):
        bundle = train_model(train, valid, "churn", config, client=cluster)
    fitted = [r for r in caplog.records if "rounds fitted" in r.getMessage()]
    assert len(fitted) == 1
    n_fitted, best = fitted[0].args[2], fitted[0].args[4]  # type: ignore[index]
    assert n_fitted == best + 10 < 2000  # stopped by the rule, not at num_boost_round
    assert bundle.booster.current_iteration() == best


def test_the_final_refit_runs_on_the_cluster_with_its_fixed_trees(
    table: pd.DataFrame, cluster: Client
) -> None:
    labelled = table[table["label_default"].notna()]
    dates = sorted(labelled["as_of"].unique())
    fit = labelled[labelled["as_of"] <= dates[-2]]
    calibration = labelled[labelled["as_of"] == dates[-1]]
    config = TrainConfig(num_threads=1, booster=BoosterConfig(min_data_in_leaf=20))
    refit = train_model(fit, calibration, "default", config, client=cluster, rounds=17)
    assert refit.booster.current_iteration() == 17
    assert refit.metadata["fit"] == "refit" and refit.metadata["fitted_on"] == "lightgbm.dask"
