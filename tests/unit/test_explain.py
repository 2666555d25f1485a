"""SHAP additivity on real LightGBM boosters, the ``shap`` library and the definition as
oracles, long explanations and the chunk writer."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from predict.models.store import ModelBundle, load_bundle, save_bundle
from predict.models.training import train_model
from predict.scoring.chunks import explain_chunk
from predict.scoring.explain import (
    EXPLANATION_SCHEMA,
    ExplanationWriter,
    contributions,
    explain_matrix,
    keep_mask,
    long_table,
    output_impact,
)
from tests.support.scoring import FEATURES, feature_frame, train_bundle
from tests.support.splits import fast_config, make_split

with warnings.catch_warnings():  # shap's matplotlib import warns of a pending deprecation
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    import shap

TARGETS = ("churn", "default", "contribution")


@pytest.mark.parametrize("target", TARGETS)
def test_contributions_plus_base_equal_raw_output_for_every_client(
    target: str, tmp_path: Path
) -> None:
    bundle = load_bundle(save_bundle(train_bundle(target), tmp_path / target))  # via text files
    frame = feature_frame(n=200, seed=5)
    contrib = contributions(bundle.booster, bundle.matrix(frame))
    assert contrib.shape == (200, len(FEATURES) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), bundle.predict_raw(frame), rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, ModelBundle], pd.DataFrame]:
    """The three models as the project trains them (small book: categorical ``segment`` and
    ``industry``, missing values), and the out-of-time rows to explain."""
    book = make_split(n_clients=600, seed=0)
    config = fast_config(30, 10)
    bundles = {t: train_model(book.train, book.valid, t, config) for t in TARGETS}
    return bundles, book.test


@pytest.mark.parametrize("target", TARGETS)
def test_explanations_equal_the_shap_library(
    target: str, trained: tuple[dict[str, ModelBundle], pd.DataFrame]
) -> None:
    """What scoring writes (explain_chunk: model input, then explain_matrix) is what
    ``shap.TreeExplainer`` gives, values and base value."""
    bundles, frame = trained
    bundle = bundles[target]
    assert _split_kinds(bundle) >= {"==", "<="}  # categorical and numeric splits
    assert frame[["industry", "utilisation"]].isna().any().all()  # a category, a number missing
    ex = explain_chunk(frame, bundle)
    explainer = shap.TreeExplainer(bundle.booster)
    with warnings.catch_warnings():  # binary models: a note that the output format changed
        warnings.filterwarnings("ignore", "LightGBM binary classifier", UserWarning)
        values = np.asarray(explainer.shap_values(bundle.matrix(frame)))
    assert values.shape == ex.shap.shape == (len(frame), len(bundle.features.names))
    np.testing.assert_allclose(ex.shap, values, rtol=1e-9, atol=1e-9)
    base = float(np.ravel(explainer.expected_value)[0])
    np.testing.assert_allclose(ex.base, base, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("target", TARGETS)
def test_explanations_are_shapley_values_of_the_trees_expectations(
    target: str, trained: tuple[dict[str, ModelBundle], pd.DataFrame]
) -> None:
    """An oracle independent of LightGBM's C++ (which ``shap`` itself calls for a LightGBM
    booster): TreeSHAP is, per tree, the Shapley value of v(S) = E[tree | features S as the
    client's, the others split by the training counts]; summed over the trees."""
    bundles, frame = trained
    bundle = bundles[target]
    rows = frame.iloc[::6]
    assert rows[["industry", "utilisation"]].isna().any().all()
    ex = explain_chunk(rows, bundle)
    X, raw = _lightgbm_values(bundle.matrix(rows)), bundle.predict_raw(rows)
    trees = [t["tree_structure"] for t in bundle.booster.dump_model()["tree_info"]]
    for i, x in enumerate(X):
        phi, base, full = np.zeros(X.shape[1]), 0.0, 0.0
        for tree in trees:
            tree_phi, empty, whole = _tree_shapley(tree, x)
            phi, base, full = phi + tree_phi, base + empty, full + whole
        np.testing.assert_allclose(full, raw[i], rtol=1e-9, atol=1e-9)  # LightGBM's traversal
        np.testing.assert_allclose(ex.shap[i], phi, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ex.base[i], base, rtol=1e-9, atol=1e-9)


def _splits(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The split nodes of a tree of ``Booster.dump_model``."""
    if "leaf_value" not in node:
        yield node
        yield from _splits(node["left_child"])
        yield from _splits(node["right_child"])


def _split_kinds(bundle: ModelBundle) -> set[str]:
    trees = bundle.booster.dump_model()["tree_info"]
    return {n["decision_type"] for t in trees for n in _splits(t["tree_structure"])}


def _lightgbm_values(X: pd.DataFrame) -> np.ndarray:
    """The numbers LightGBM sees: a category's code (missing: NaN), numbers as they are."""
    columns = {
        name: col.cat.codes.replace(-1, np.nan)
        if isinstance(col.dtype, pd.CategoricalDtype)
        else col
        for name, col in X.items()
    }
    return pd.DataFrame(columns).to_numpy(dtype="float64")


def _goes_left(node: Mapping[str, Any], x: float) -> bool:
    """LightGBM's decision at a split (its tree.h), from the node of ``dump_model``."""
    if node["decision_type"] == "==":  # categories listed go left; missing or negative: right
        listed = {int(c) for c in node["threshold"].split("||")}
        return not np.isnan(x) and x >= 0 and int(x) in listed
    missing = node["missing_type"]
    if np.isnan(x) and missing != "NaN":
        x = 0.0
    if (missing == "Zero" and abs(x) <= 1e-35) or (missing == "NaN" and np.isnan(x)):
        return bool(node["default_left"])
    return bool(x <= node["threshold"])


def _expectation(node: Mapping[str, Any], x: np.ndarray, known: set[int]) -> float:
    """The tree's output following ``x`` on the features in ``known`` and, on the others,
    both branches weighted by their training counts."""
    if "leaf_value" in node:
        return float(node["leaf_value"])
    left, right = node["left_child"], node["right_child"]
    if node["split_feature"] in known:
        return _expectation(left if _goes_left(node, x[node["split_feature"]]) else right, x, known)
    n_left, n_right = (c.get("leaf_count", c.get("internal_count")) for c in (left, right))
    both = n_left * _expectation(left, x, known) + n_right * _expectation(right, x, known)
    return float(both / node["internal_count"])


def _tree_shapley(tree: Mapping[str, Any], x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Shapley values of one tree's expectation game over the features it uses (the others
    are null players), by the definition; also v(no feature) and v(every feature)."""
    used = sorted({n["split_feature"] for n in _splits(tree)})
    m = len(used)
    v = [_expectation(tree, x, {used[j] for j in range(m) if s >> j & 1}) for s in range(2**m)]
    phi = np.zeros(len(x))
    for j, feature in enumerate(used):
        for s in range(2**m):
            if not s >> j & 1:
                k = bin(s).count("1")
                weight = math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m)
                phi[feature] += weight * (v[s | 1 << j] - v[s])
    return phi, v[0], v[-1]


@pytest.mark.parametrize("target", TARGETS)
def test_from_raw_agrees_with_lightgbms_own_link(target: str) -> None:
    """The link written in Python (for SHAP -> probability points) is LightGBM's own."""
    bundle = train_bundle(target)
    frame = feature_frame(n=100, seed=3)
    own = np.asarray(bundle.booster.predict(bundle.matrix(frame)), dtype="float64")
    np.testing.assert_allclose(
        bundle.uncalibrated_from_raw(bundle.predict_raw(frame)),
        _inverse(bundle, own),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        bundle.from_raw(bundle.predict_raw(frame)),
        bundle.calibrator.transform(_inverse(bundle, own)),
        rtol=1e-9,
        atol=1e-12,
    )


def _inverse(bundle: ModelBundle, pred: np.ndarray) -> np.ndarray:
    kind = bundle.metadata.get("target_transform", "none") if bundle.task == "regression" else ""
    return np.sign(pred) * np.expm1(np.abs(pred)) if kind == "slog" else pred


def test_explain_matrix_marks_missing_values_as_absent() -> None:
    bundle = train_bundle("default")
    frame = feature_frame(n=20, seed=4)
    frame.loc[1, "utilisation"] = np.nan
    frame.loc[2, "segment"] = None
    ex = explain_matrix(
        "default",
        bundle.booster,
        bundle.matrix(frame),
        frame[list(FEATURES)],
        bundle.from_raw,
    )
    seg, util = FEATURES.index("segment"), FEATURES.index("utilisation")
    assert not ex.present[1, util] and not ex.present[2, seg]
    assert ex.present[0].all()
    np.testing.assert_allclose(ex.raw, bundle.predict_raw(frame), atol=1e-6)


def test_keep_mask_drops_zeros_and_keeps_top_k() -> None:
    s = np.array([[0.0, 0.5, -2.0, 0.1], [0.3, 0.0, 0.0, 0.0]])
    assert keep_mask(s, 0).tolist() == [[False, True, True, True], [True, False, False, False]]
    assert keep_mask(s, 2).tolist() == [[False, True, True, False], [True, False, False, False]]


def test_long_table_rows_carry_value_strings_and_shap() -> None:
    values = pd.DataFrame({"x": [1.5, np.nan], "seg": pd.Series(["a", None], dtype="str")})
    s = np.array([[0.2, -0.1], [0.0, 0.4]])
    table = long_table(["c1", "c2"], pd.Timestamp("2024-06-30"), "default", values, s)
    assert table.schema == EXPLANATION_SCHEMA
    df = table.to_pandas()
    assert df["client_id"].tolist() == ["c1", "c1", "c2"]
    assert df["feature"].astype(str).tolist() == ["x", "seg", "seg"]
    assert df["value"].tolist()[:2] == ["1.5", "a"] and pd.isna(df["value"].iloc[2])
    assert df["shap"].tolist() == [0.2, -0.1, 0.4]
    assert set(df["target"].astype(str)) == {"default"}


def test_writer_appends_chunks_and_publishes_only_on_success(tmp_path: Path) -> None:
    values = pd.DataFrame({"x": [1.0, 2.0]})
    s = np.array([[0.5], [0.25]])
    path = tmp_path / "explanations.parquet"
    with ExplanationWriter(path) as writer:
        for target in ("churn", "default"):
            writer.write(long_table(["a", "b"], pd.Timestamp("2024-06-30"), target, values, s))
    assert writer.rows == 4
    assert pq.read_table(path).num_rows == 4
    failed = tmp_path / "failed.parquet"
    with pytest.raises(KeyError), ExplanationWriter(failed) as writer:
        writer.write(long_table(["a", "b"], pd.Timestamp("2024-06-30"), "x", values, s))
        raise KeyError("boom")
    assert not failed.exists() and not list(tmp_path.glob(".failed*"))


def test_output_impact_is_probability_change_without_the_feature() -> None:
    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-z))

    raw = np.array([0.0])
    impact = output_impact(raw, np.array([[1.0, -1.0]]), sigmoid)
    assert impact[0, 0] == pytest.approx(0.5 - sigmoid(np.array(-1.0)))
    assert impact[0, 1] == pytest.approx(0.5 - sigmoid(np.array(1.0)))
