"""Evaluation metrics and plot tables: known answers on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from predict.models.evaluation import (
    PLOT_COLUMNS,
    EvaluationConfig,
    binary_metrics,
    calibration_table,
    expected_calibration_error,
    json_ready,
    ks_statistic,
    lift_table,
    metrics_by_segment,
    plot_tables,
    regression_metrics,
    revenue_gini,
    roc_table,
    truth_comparison,
    tweedie_deviance,
    uplift,
)


def _binary(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 5, n)
    return (rng.random(n) < p).astype(float), p


def test_perfect_ranking_gives_auc_gini_ks_of_one() -> None:
    y = np.array([0, 0, 0, 1, 1], dtype=float)
    m = binary_metrics(y, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert (m["auc"], m["gini"], m["ks"], m["pr_auc"]) == (1.0, 1.0, 1.0, 1.0)


def test_binary_metrics_agree_with_sklearn_and_definitions() -> None:
    y, p = _binary()
    m = binary_metrics(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["base_rate"] == pytest.approx(y.mean())
    assert m["n"] == len(y) and m["positives"] == y.sum()


def test_ece_is_small_for_true_probabilities_and_large_for_shifted_ones() -> None:
    y, p = _binary(20000)
    assert expected_calibration_error(y, p) < 0.01
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) == pytest.approx(0.1, abs=0.01)


def test_ece_of_a_hand_made_example() -> None:
    # two bins of two rows: predicted 0.1/0.1 vs observed 0; 0.9/0.9 vs observed 0.5
    ece = expected_calibration_error(np.array([0, 0, 1, 0.0]), np.array([0.1, 0.1, 0.9, 0.9]), 2)
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.4)


def test_binned_figures_do_not_depend_on_the_order_of_tied_predictions() -> None:
    # ten rows on three predictions; deciles of one row cut through the ties. The same
    # (p, y) pairs in two orders gave ECE 0.32 vs 0.28 and top-decile capture 0.40 vs 0.20
    p = np.array([0.5] * 4 + [0.2] * 4 + [0.1] * 2)
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1, 0], dtype=float)
    flipped = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 1], dtype=float)  # same pairs per value
    for n_bins in (2, 3, 10):
        a, b = lift_table(y, p, n_bins), lift_table(flipped, p, n_bins)
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(calibration_table(y, p, n_bins),
                                      calibration_table(flipped, p, n_bins))  # fmt: skip
        assert expected_calibration_error(y, p, n_bins) == expected_calibration_error(
            flipped, p, n_bins
        )
    # top decile (1 row of the four at 0.5, whose outcomes average 0.5): capture 0.5 of 4
    top = lift_table(y, p, 10).iloc[0]
    assert top["observed"] == pytest.approx(0.5) and top["capture"] == pytest.approx(0.5 / 4)
    # two bins of five: 0.5 x4 + one 0.2 row (0.25 of an event) | three 0.2 rows + two 0.1
    ece = expected_calibration_error(y, p, 2)
    high = abs((4 * 0.5 + 0.2) / 5 - (2 + 0.25) / 5)
    low = abs((3 * 0.2 + 2 * 0.1) / 5 - (3 * 0.25 + 2 * 0.5) / 5)
    assert ece == pytest.approx(0.5 * high + 0.5 * low)
    assert binary_metrics(y, p)["top_decile_capture"] == pytest.approx(0.5 / 4)


def test_ks_is_the_largest_cdf_gap() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    assert ks_statistic(y, np.array([0.1, 0.6, 0.4, 0.9])) == pytest.approx(0.5)


def test_lift_table_deciles_cover_everything_highest_first() -> None:
    y, p = _binary(1000)
    table = lift_table(y, p)
    assert table["decile"].tolist() == list(range(1, 11))
    assert table["n"].sum() == 1000
    assert table["capture"].sum() == pytest.approx(1.0)
    assert table["cumulative_capture"].iloc[-1] == pytest.approx(1.0)
    assert table["predicted"].is_monotonic_decreasing
    assert (table["lift"] * table["n"]).sum() / 1000 == pytest.approx(1.0)


def test_calibration_table_bins_are_ordered_and_complete() -> None:
    y, p = _binary(1000)
    table = calibration_table(y, p, 5)
    assert table["n"].sum() == 1000 and len(table) == 5
    assert table["predicted"].is_monotonic_increasing


def test_roc_table_is_thinned_and_spans_the_square() -> None:
    y, p = _binary(5000)
    roc = roc_table(y, p, max_points=50)
    assert len(roc) <= 50
    assert roc.iloc[0].tolist() == [0.0, 0.0] and roc.iloc[-1].tolist() == [1.0, 1.0]
    assert roc["fpr"].is_monotonic_increasing


def test_single_class_gives_nan_auc_and_json_null() -> None:
    m = binary_metrics(np.zeros(10), np.linspace(0, 1, 10))
    assert math.isnan(m["auc"]) and math.isnan(m["ks"])
    assert json_ready(m)["auc"] is None


def test_nan_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN label"):
        binary_metrics(np.array([0.0, np.nan]), np.array([0.1, 0.2]))


def test_regression_metrics_known_values() -> None:
    y = np.array([0.0, 10.0, 0.0, 100.0] * 5)
    pred = np.array([1.0, 9.0, 2.0, 90.0] * 5)
    m = regression_metrics(y, pred)
    assert m["mae"] == pytest.approx((1 + 1 + 2 + 10) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 1 + 4 + 100) / 4))
    assert m["spearman"] > 0.9
    assert m["top_decile_capture"] == pytest.approx(200 / 550)  # the two 100s of 20 rows
    assert m["bias"] == pytest.approx(pred.mean() - y.mean())


def test_plot_tables_share_column_names_across_tasks() -> None:
    y, p = _binary(500)
    cfg = EvaluationConfig()
    binary = plot_tables("binary", y, p, cfg)
    regression = plot_tables("regression", y * 100 - 5, p * 100, cfg)
    assert set(binary) == set(regression) == set(PLOT_COLUMNS)
    for name, columns in PLOT_COLUMNS.items():
        # the declared headers are what a skipped target writes: they must be the real ones
        assert tuple(binary[name].columns) == columns
        assert tuple(regression[name].columns) == columns


def test_uplift_is_model_minus_baseline_on_shared_metrics() -> None:
    up = uplift({"auc": 0.8, "rmse": 5.0, "n": 10}, {"auc": 0.7, "rmse": 6.0, "n": 10})
    assert up == {"auc": pytest.approx(0.1), "rmse": pytest.approx(-1.0)}


def test_small_segments_report_only_their_size() -> None:
    y, p = _binary(300)
    seg = np.array(["big"] * 250 + ["small"] * 49 + [None])
    out = metrics_by_segment(seg, y, p, "binary", EvaluationConfig(min_segment_rows=50))
    assert out["small"] == {"n": 49.0} and out["(missing)"] == {"n": 1.0}
    assert out["big"]["n"] == 250 and "auc" in out["big"]


def _keys(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series([f"c{i}" for i in range(n)], dtype="str"),
            "as_of": pd.Timestamp("2023-12-31"),
        }
    )


def test_truth_comparison_scores_the_truth_beside_the_model() -> None:
    y, p = _binary(2000)
    frame = _keys(2000)
    truth = frame.assign(p_default=p, as_of=frame["as_of"].astype("datetime64[us]"))
    noisy = np.clip(p + np.random.default_rng(1).normal(0, 0.1, len(p)), 0, 1)
    out = truth_comparison(frame, y, noisy, truth, "default", EvaluationConfig())
    assert out["available"] is True and out["coverage"] == 1.0
    assert out["truth_auc"] > out["model_auc"]
    assert out["gap_auc"] == pytest.approx(out["truth_auc"] - out["model_auc"])


def test_truth_that_covers_too_few_rows_is_not_used() -> None:
    y, p = _binary(100)
    frame = _keys(100)
    truth = frame.head(50).assign(p_churn=p[:50])
    out = truth_comparison(frame, y, p, truth, "churn", EvaluationConfig())
    assert out["available"] is False and "50.0%" in out["reason"]


def test_duplicate_truth_rows_are_refused() -> None:
    y, p = _binary(10)
    frame = _keys(10)
    truth = pd.concat([frame, frame.head(1)]).assign(p_churn=0.5)
    with pytest.raises(ValueError, match="duplicate"):
        truth_comparison(frame, y, p, truth, "churn", EvaluationConfig())


def test_revenue_gini_by_hand() -> None:
    y = np.array([0.0, 10.0, 30.0, 60.0])
    # ranked right: captured 0, .6, .9, 1, 1 at 0, 1/4 .. 1 -> area .75 -> Gini .5
    assert revenue_gini(y, np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(0.5)
    # ranked backwards: 0, 0, .1, .4, 1 -> area .25 -> Gini -.5
    assert revenue_gini(y, np.array([4.0, 3.0, 2.0, 1.0])) == pytest.approx(-0.5)
    # all tied: one straight step, whatever the input order -> 0
    assert revenue_gini(y, np.zeros(4)) == pytest.approx(0.0)
    assert revenue_gini(y[::-1], np.zeros(4)) == pytest.approx(0.0)
    # 60 and 30 tied at the top: one step to (.5, .9), then (.75, 1), (1, 1):
    # area .5 * .45 + .25 * .95 + .25 * 1 = .7125 -> Gini .425
    assert revenue_gini(y, np.array([0.0, 1.0, 5.0, 5.0])) == pytest.approx(0.425)
    assert math.isnan(revenue_gini(np.array([0.0, -1.0]), np.array([1.0, 2.0])))


def test_tweedie_deviance_by_hand() -> None:
    # p = 1.5: y = 0, mu = 1 -> 2 * (0 - 0 + 1 / .5) = 4;
    # y = 2, mu = 1 -> 2 * (sqrt 2 / -.25 + 2 / .5 + 2) = 2 * (6 - 4 sqrt 2)
    got = tweedie_deviance(np.array([0.0, 2.0]), np.array([1.0, 1.0]), 1.5)
    assert got == pytest.approx((4.0 + 2 * (6 - 4 * math.sqrt(2))) / 2)
    assert tweedie_deviance(np.array([3.0, 5.0]), np.array([3.0, 5.0]), 1.2) == pytest.approx(0)
    assert math.isnan(tweedie_deviance(np.array([1.0]), np.array([0.0]), 1.2))
    assert math.isnan(tweedie_deviance(np.array([-1.0]), np.array([1.0]), 1.2))
    with pytest.raises(ValueError, match="not in"):
        tweedie_deviance(np.array([1.0]), np.array([1.0]), 2.5)


def test_regression_metrics_report_gini_and_deviance_at_the_given_power() -> None:
    y, pred = np.array([0.0, 10.0, 30.0, 60.0]), np.array([1.0, 2.0, 3.0, 4.0])
    out = regression_metrics(y, pred, tweedie_power=1.3)
    assert out["revenue_gini"] == pytest.approx(0.5)
    assert out["tweedie_deviance"] == pytest.approx(tweedie_deviance(y, pred, 1.3))
    assert "tweedie_deviance" not in regression_metrics(y, pred)
