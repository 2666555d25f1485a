"""Exact TreeSHAP from precomputed leaf tables (scoring/treeshap.py) against LightGBM's own
``pred_contrib`` on real boosters trained here, a hand-computed table, the fallback above the
memory cap, and the settings."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, from_dict
from predict.models.training import train_model
from predict.scoring import treeshap
from predict.scoring.chunks import explain_chunk, score_chunks
from predict.scoring.config import ScoreConfig
from predict.scoring.explain import contributions
from predict.scoring.reasons import catalogue_templates
from tests.support.splits import fast_config, make_split

TOLERANCE = 1e-6  # the brief's bar; measured differences are ~1e-14


def _book(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Numbers with missing values and exact zeros, a category with missing values, a
    target depending on all of them."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.normal(size=n),
            "zeros": rng.choice([0.0, 0.0, 1.0, 2.5], n),
            "count": rng.integers(0, 6, n).astype("float64"),
            "cat": pd.Categorical(rng.choice(list("pqrstuvw"), n)),
        }
    )
    X.loc[rng.random(n) < 0.2, "a"] = np.nan
    X.loc[rng.random(n) < 0.1, "zeros"] = np.nan
    X.loc[rng.random(n) < 0.15, "cat"] = np.nan
    cat_effect = X["cat"].map({"p": 1.0, "q": -1.0, "r": 0.5}).astype("float64").fillna(0.0)
    signal = (
        X["a"].fillna(-1.0) + X["b"] * X["count"] / 3 - X["zeros"].fillna(1.0) + cat_effect
    ).to_numpy()
    return X, signal + rng.normal(0, 0.5, n)


def _train(objective: str, extra: dict[str, Any], rounds: int = 40, seed: int = 3) -> lgb.Booster:
    X, signal = _book(1500, seed)
    if objective == "binary":
        y = (signal > 0).astype("float64")
    else:  # tweedie / regression: a non-negative amount
        y = np.exp(signal / 2) * (signal > -0.5)
    params = {
        "objective": objective,
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1.0,
        "verbose": -1,
        "seed": seed,
        "num_threads": 1,
        "deterministic": True,
    } | extra
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=rounds)


def _rows(n: int = 400, seed: int = 99) -> pd.DataFrame:
    X, _ = _book(n, seed)
    # values the training never saw: beyond the range, a category not in training, negatives
    X.loc[0, "a"] = 1e9
    X.loc[1, "b"] = -1e9
    X.loc[2, "cat"] = np.nan
    X.loc[3, "zeros"] = -0.0
    return X


def _max_diff(booster: lgb.Booster, X: pd.DataFrame) -> float:
    ours = contributions(booster, X, "tables")
    theirs = np.asarray(booster.predict(X, pred_contrib=True), dtype="float64")
    assert ours.shape == theirs.shape == (len(X), X.shape[1] + 1)
    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(X, raw_score=True), atol=1e-9)
    return float(np.abs(ours - theirs).max())


BOOSTERS = {
    "binary, numeric + categorical + missing": ("binary", {}),
    "binary, monotone constraints": ("binary", {"monotone_constraints": [1, 0, -1, 1, 0]}),
    "binary, zero as missing (missing_type Zero)": ("binary", {"zero_as_missing": True}),
    "binary, no missing handling (missing_type None)": ("binary", {"use_missing": False}),
    "tweedie": ("tweedie", {"tweedie_variance_power": 1.3}),
    "regression, deep leaf-wise trees": ("regression", {"num_leaves": 63, "max_depth": -1}),
}


@pytest.mark.parametrize("name", list(BOOSTERS))
def test_tables_equal_pred_contrib(name: str) -> None:
    objective, extra = BOOSTERS[name]
    booster = _train(objective, extra)
    assert isinstance(treeshap.model_tables(booster, 2**30), treeshap.ModelTables)
    assert _max_diff(booster, _rows()) < TOLERANCE


def test_the_boosters_cover_every_kind_of_split() -> None:
    """The cases above reach categorical splits and the three missing-value types."""
    kinds: set[tuple[str, str]] = set()
    for objective, extra in BOOSTERS.values():
        for tree in _train(objective, extra).dump_model()["tree_info"]:
            stack = [tree["tree_structure"]]
            while stack:
                node = stack.pop()
                if "leaf_value" not in node:
                    kinds.add((node["decision_type"], node["missing_type"]))
                    stack += [node["left_child"], node["right_child"]]
    assert {("==", "NaN"), ("<=", "NaN"), ("<=", "Zero"), ("<=", "None")} <= kinds


def test_single_leaf_trees() -> None:
    """A model whose first tree is a single leaf (no split met the gain bar), then trees
    grown on: the leaf is in the base value, never in a feature's value."""
    X, signal = _book(800, 5)
    y = (signal > 0).astype("float64")
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    stump = lgb.train(params | {"min_gain_to_split": 1e12}, lgb.Dataset(X, y), 1)
    assert stump.dump_model()["tree_info"][0]["num_leaves"] == 1
    only = contributions(stump, _rows(), "tables")
    assert np.all(only[:, :-1] == 0.0)
    np.testing.assert_allclose(only[:, -1], stump.predict(_rows(), raw_score=True), atol=1e-12)
    grown = lgb.train(params, lgb.Dataset(X, y), 20, init_model=stump)
    trees = grown.dump_model()["tree_info"]
    assert trees[0]["num_leaves"] == 1 and trees[1]["num_leaves"] > 1
    assert _max_diff(grown, _rows()) < TOLERANCE


def test_leaf_table_by_hand() -> None:
    """d = 2 path features, z = (0.5, 0.25), v = 1: w(0) = w(1) = 1/2 and
    B(H) = sum over S in H of w(|S|) prod of z off S: B({}) = 0.5 * 0.5 * 0.25 = 0.0625,
    B({0}) = 0.0625 + 0.5 * 0.25 = 0.1875, B({1}) = 0.0625 + 0.5 * 0.5 = 0.3125."""
    out = np.full(4, np.nan)
    treeshap._leaf_table(1.0, np.array([0.5, 0.25]), out)
    np.testing.assert_allclose(out[:3], [0.0625, 0.1875, 0.3125], rtol=0, atol=1e-15)


def test_stump_by_hand() -> None:
    """One split on x at 0, 30 rows left (value 2), 70 right (value -1): base
    E = 0.3 * 2 + 0.7 * -1 = -0.1; a row going left has SHAP 2 - E = 2.1, right -1 - E = -0.9."""
    x = np.r_[np.full(30, -1.0), np.full(70, 1.0)]
    y = np.r_[np.full(30, 2.0), np.full(70, -1.0)]
    booster = lgb.train(
        {
            "objective": "regression",
            "learning_rate": 1.0,
            "num_leaves": 2,
            "min_data_in_leaf": 1,
            "boost_from_average": False,
            "verbose": -1,
        },
        lgb.Dataset(pd.DataFrame({"x": x}), y),
        1,
    )
    got = contributions(booster, pd.DataFrame({"x": [-1.0, 1.0]}), "tables")
    np.testing.assert_allclose(got, [[2.1, -0.1], [-0.9, -0.1]], atol=1e-12)


@pytest.fixture(scope="module")
def project_models() -> tuple[dict[str, Any], pd.DataFrame]:
    """The three models as the project trains them, on a small book."""
    book = make_split(n_clients=600, seed=0)
    config = fast_config(30, 10)
    targets = ("churn", "default", "contribution")
    return {t: train_model(book.train, book.valid, t, config) for t in targets}, book.test


@pytest.mark.parametrize("target", ["churn", "default", "contribution"])
def test_project_models_tables_equal_lightgbm(
    target: str, project_models: tuple[dict[str, Any], pd.DataFrame]
) -> None:
    bundles, frame = project_models
    bundle = bundles[target]
    tables = explain_chunk(frame, bundle, engine="tables")
    lightgbm = explain_chunk(frame, bundle, engine="lightgbm")
    assert np.abs(tables.shap - lightgbm.shap).max() < TOLERANCE
    assert np.abs(tables.base - lightgbm.base).max() < TOLERANCE
    np.testing.assert_allclose(tables.raw, bundle.predict_raw(frame), rtol=0, atol=1e-9)


def test_scores_and_reasons_are_the_same_with_either_engine(
    project_models: tuple[dict[str, Any], pd.DataFrame],
) -> None:
    bundles, frame = project_models
    config = ScoreConfig()
    got = {
        engine: score_chunks(
            frame, bundles, dataclasses.replace(config, shap_engine=engine), catalogue_templates()
        )
        for engine in ("tables", "lightgbm")
    }
    pd.testing.assert_frame_equal(got["tables"], got["lightgbm"], rtol=1e-9)


def test_over_the_cap_falls_back_to_lightgbm(caplog: pytest.LogCaptureFixture) -> None:
    booster = _train("binary", {})
    built = treeshap.model_tables(booster, 2**30)
    assert isinstance(built, treeshap.ModelTables)
    reason = treeshap.model_tables(booster, built.table_bytes - 8)
    assert isinstance(reason, str) and "score.shap_table_mib" in reason
    X = _rows()
    cap_mib = (built.table_bytes - 8) / 2**20
    with caplog.at_level(logging.WARNING, logger="predict.scoring.treeshap"):
        got = contributions(booster, X, "tables", cap_mib)
    assert "pred_contrib" in caplog.text and "MiB" in caplog.text
    np.testing.assert_array_equal(got, booster.predict(X, pred_contrib=True))


def test_no_rows_no_values() -> None:
    booster = _train("binary", {}, rounds=3)
    assert contributions(booster, _rows().iloc[:0], "tables").shape == (0, 6)


def test_tables_are_sized_as_documented() -> None:
    """sum over leaves of 2^d float64, d the leaf's distinct path features."""
    booster = _train("binary", {})
    built = treeshap.model_tables(booster, 2**30)
    assert isinstance(built, treeshap.ModelTables)
    d = np.diff(built.path_start)
    assert built.table_bytes == int((2**d).sum()) * 8
    assert d.max() <= booster.dump_model()["tree_info"][0]["num_leaves"]


def test_unsupported_models_say_why() -> None:
    X, signal = _book(600, 1)
    y = (signal > 0).astype("int64") + (signal > 1)
    multi = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X, y), 3
    )
    reason = treeshap.model_tables(multi, 2**30)
    assert isinstance(reason, str) and "multiclass" in reason


def test_settings_are_validated() -> None:
    assert ScoreConfig().shap_engine == "tables"
    with pytest.raises(ValueError, match=r"score\.shap_engine"):
        ScoreConfig(shap_engine="fast")
    for bad in (0, -1.0, float("inf")):
        with pytest.raises(ValueError, match=r"score\.shap_table_mib"):
            ScoreConfig(shap_table_mib=bad)
    with pytest.raises((ConfigError, ValueError)):
        from_dict(ScoreConfig, {"shap_table_mib": "lots"}, where="params.yaml:score")
    with pytest.raises(ValueError, match="SHAP engine"):
        contributions(_train("binary", {}, rounds=2), _rows(5), "fast")


def test_concurrent_calls_give_the_serial_values() -> None:
    """Threads (Dask's threaded scheduler) may explain at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    booster = _train("binary", {})
    parts = [_rows(200, seed) for seed in range(4)]
    serial = [contributions(booster, X, "tables") for X in parts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda X: contributions(booster, X, "tables"), parts))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
