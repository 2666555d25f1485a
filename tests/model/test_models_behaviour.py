"""Behaviour of the trained models on the real split (opt-in: ``pytest -m model``).

Uses ``models/<target>`` when it was trained on the current ``data/split`` (same data hash),
otherwise trains with the ``train`` section of params.yaml (tracking off). Checks: better
than the baseline, calibrated (ECE bound), monotone where params ask for it, invariant to
column order and extra columns, and (synthetic data) close enough to the generator's truth.
Skipped when ``data/split`` is absent. Override the folders with PREDICT_SPLIT_DIR,
PREDICT_MODELS_DIR, PREDICT_TRUTH_DIR.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predict.config import load_section
from predict.models.evaluation import EvaluationConfig, target_metrics, truth_comparison
from predict.models.store import ModelBundle, load_bundle
from predict.models.tracking import TrackingConfig
from predict.models.training import (
    LABEL_PREFIX,
    SPLITS,
    TrainConfig,
    evaluate_model,
    labelled_rows,
    read_split,
    read_truth,
    split_fingerprint,
    train_model,
)

pytestmark = pytest.mark.model
Metrics = dict[str, dict[str, Any]]

ROOT = Path(__file__).resolve().parents[2]
SPLIT = Path(os.environ.get("PREDICT_SPLIT_DIR", ROOT / "data" / "split"))
MODELS = Path(os.environ.get("PREDICT_MODELS_DIR", ROOT / "models"))
TRUTH = Path(os.environ.get("PREDICT_TRUTH_DIR", ROOT / "data" / "synthetic_truth"))
ECE_BOUND = 0.02  # test-period ECE of churn/default (equal-frequency deciles)
TRUTH_AUC_GAP = 0.08  # the model's AUC may fall this far below the truth's at most

if not all((SPLIT / f"{s}.parquet").exists() for s in SPLITS):
    pytest.skip(f"no split in {SPLIT}: run `dvc repro split` first", allow_module_level=True)


@pytest.fixture(scope="module")
def config() -> TrainConfig:
    from predict.cli import _with_revenue_scale

    cfg = load_section(ROOT / "params.yaml", "train", TrainConfig)
    # what the train stage does: revenue scale and offset scale auto from the horizon
    cfg = _with_revenue_scale(cfg, ROOT / "params.yaml")
    return dataclasses.replace(cfg, tracking=TrackingConfig(enabled=False))


@pytest.fixture(scope="module")
def split() -> dict[str, pd.DataFrame]:
    return read_split(SPLIT)


@pytest.fixture(scope="module")
def bundles(split: dict[str, pd.DataFrame], config: TrainConfig) -> dict[str, ModelBundle]:
    data_hash = split_fingerprint(SPLIT / f"{s}.parquet" for s in SPLITS)
    out: dict[str, ModelBundle] = {}
    for target in ("churn", "default", "contribution"):
        folder = MODELS / target
        bundle = load_bundle(folder) if (folder / "model.txt").exists() else None
        if bundle is None or bundle.metadata.get("data_hash") != data_hash:
            bundle = train_model(split["train"], split["valid"], target, config)
        out[target] = bundle
    return out


@pytest.fixture(scope="module")
def evaluations(
    bundles: dict[str, ModelBundle], split: dict[str, pd.DataFrame], config: TrainConfig
) -> dict[str, dict[str, Any]]:
    truth = read_truth(TRUTH)
    return {
        t: evaluate_model(b, split["train"], split["valid"], split["test"], config, truth)[0]
        for t, b in bundles.items()
    }


@pytest.mark.parametrize("target", ["churn", "default"])
def test_binary_model_beats_the_scorecard_baseline(evaluations: Metrics, target: str) -> None:
    m = evaluations[target]
    assert m["test"]["auc"] > m["baseline"]["auc"], (m["test"], m["baseline"])
    assert m["test"]["brier"] <= m["baseline"]["brier"] * 1.02


def test_contribution_model_beats_the_carry_forward(evaluations: Metrics) -> None:
    m = evaluations["contribution"]
    assert m["test"]["rmse"] < m["baseline"]["rmse"], (m["test"], m["baseline"])
    assert m["test"]["spearman"] > m["baseline"]["spearman"] - 0.01


@pytest.mark.parametrize("target", ["churn", "default"])
def test_probabilities_are_calibrated_on_the_test_period(evaluations: Metrics, target: str) -> None:
    m = evaluations[target]["test"]
    assert m["ece"] < ECE_BOUND, m
    assert abs(m["mean_predicted"] - m["base_rate"]) < max(0.01, 0.25 * m["base_rate"]), m


def test_default_probability_never_falls_as_arrears_rise(
    bundles: dict[str, ModelBundle], split: dict[str, pd.DataFrame], config: TrainConfig
) -> None:
    bundle = bundles["default"]
    wanted = {f: s for f, s in config.monotone.get("default", {}).items() if s}
    present = [f for f in wanted if f in bundle.features.names]
    if not present:
        pytest.skip("no monotone constraint for default on a present feature")
    rows = split["test"].sample(n=min(300, len(split["test"])), random_state=0)
    for feature in present:
        values = pd.to_numeric(split["train"][feature]).dropna()
        grid = np.unique(np.quantile(values, np.linspace(0, 1, 21)))
        grid = np.union1d(grid, [grid.max() * 2 + 1])
        frame = rows.loc[rows.index.repeat(len(grid))].assign(**{feature: np.tile(grid, len(rows))})
        pred = bundle.predict(frame).reshape(len(rows), len(grid)) * wanted[feature]
        assert np.all(np.diff(pred, axis=1) >= -1e-12), feature


@pytest.mark.parametrize("target", ["churn", "default", "contribution"])
def test_predictions_ignore_column_order_and_extra_columns(
    bundles: dict[str, ModelBundle], split: dict[str, pd.DataFrame], target: str
) -> None:
    test = split["test"].head(2000)
    shuffled = test[list(reversed(test.columns))].assign(unrelated_column="x")
    np.testing.assert_array_equal(bundles[target].predict(shuffled), bundles[target].predict(test))


@pytest.mark.parametrize("target", ["churn", "default"])
def test_model_is_not_far_from_the_generator_truth(
    bundles: dict[str, ModelBundle], split: dict[str, pd.DataFrame], target: str
) -> None:
    truth = read_truth(TRUTH)
    if truth is None:
        pytest.skip("no generator truth (not synthetic data)")
    rows = labelled_rows(split["test"], target, "test")
    y = rows[LABEL_PREFIX + target].to_numpy("float64")
    out = truth_comparison(rows, y, bundles[target].predict(rows), truth, target,
                           EvaluationConfig(truth_min_coverage=0.5))  # fmt: skip
    assert out["available"], out
    assert out["gap_auc"] < TRUTH_AUC_GAP, out
    assert target_metrics("binary", y, bundles[target].predict(rows))["auc"] > 0.6
