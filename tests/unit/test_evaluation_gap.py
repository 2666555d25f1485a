"""The interval of the AUC gap to the generator's truth (paired bootstrap over test rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.models.evaluation import EvaluationConfig, gap_interval, truth_comparison


def _rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 12, n)
    y = (rng.random(n) < p).astype(float)
    frame = pd.DataFrame(
        {"client_id": [f"c{i}" for i in range(n)], "as_of": pd.Timestamp("2024-12-31")}
    )
    return frame, y, p


def test_the_interval_holds_the_gap_and_narrows_with_more_rows() -> None:
    widths = []
    for n in (2_000, 20_000):
        frame, y, p = _rows(n, seed=1)
        noisy = np.clip(p + np.random.default_rng(2).normal(0, 0.05, n), 0, 1)
        truth = frame.assign(p_default=p)
        out = truth_comparison(frame, y, noisy, truth, "default", EvaluationConfig())
        assert out["gap_auc_low"] < out["gap_auc"] < out["gap_auc_high"]
        assert out["gap_auc_low"] > 0  # a noisier copy of the truth is worse, beyond noise
        assert out["gap_auc_se"] > 0 and out["gap_bootstrap"] == 500
        widths.append(out["gap_auc_high"] - out["gap_auc_low"])
    assert widths[1] < widths[0] / 2  # ~ 1 / sqrt(rows)


def test_the_truth_against_itself_has_a_zero_gap_and_no_spread() -> None:
    _, y, p = _rows(3_000, seed=3)
    out = gap_interval(y, p, p, EvaluationConfig(gap_bootstrap=50))
    assert out["gap_auc_low"] == out["gap_auc_high"] == 0.0


def test_the_interval_is_seeded_and_can_be_switched_off() -> None:
    frame, y, p = _rows(1_500, seed=4)
    noisy = p[::-1].copy()
    config = EvaluationConfig(gap_bootstrap=100, gap_bootstrap_seed=7)
    first = gap_interval(y, noisy, p, config)
    assert first == gap_interval(y, noisy, p, config)
    assert first != gap_interval(y, noisy, p, EvaluationConfig(gap_bootstrap=100))
    off = truth_comparison(
        frame, y, noisy, frame.assign(p_churn=p), "churn", EvaluationConfig(gap_bootstrap=0)
    )
    assert "gap_auc_low" not in off and off["gap_auc"] == pytest.approx(
        off["truth_auc"] - off["model_auc"]
    )


def test_one_class_rows_give_no_interval() -> None:
    y = np.zeros(50)
    assert gap_interval(y, np.linspace(0, 1, 50), np.linspace(0, 1, 50), EvaluationConfig()) == {}
