"""SHAP additivity on real LightGBM boosters, long explanations and the chunk writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.support.scoring import FEATURES, feature_frame, train_bundle

from predict.models.store import ModelBundle, load_bundle, save_bundle
from predict.scoring.explain import (
    EXPLANATION_SCHEMA,
    ExplanationWriter,
    contributions,
    explain_matrix,
    keep_mask,
    long_table,
    output_impact,
    shap_explanation,
)

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


def test_shap_library_gives_the_same_values_as_lightgbm() -> None:
    bundle = train_bundle("default")
    X = bundle.matrix(feature_frame(n=50, seed=2))
    explanation = shap_explanation(bundle.booster, X)
    contrib = contributions(bundle.booster, X)
    np.testing.assert_allclose(explanation.values, contrib[:, :-1], atol=1e-9)  # type: ignore[attr-defined]
    np.testing.assert_allclose(explanation.base_values, contrib[:, -1], atol=1e-9)  # type: ignore[attr-defined]


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
