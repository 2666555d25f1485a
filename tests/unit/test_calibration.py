"""Calibrators: they calibrate, stay monotone, and survive a JSON round trip exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from predict.models.calibration import (
    CALIBRATOR_KINDS,
    CalibrationError,
    IsotonicCalibrator,
    LinearCalibrator,
    PlattCalibrator,
    ScaleCalibrator,
    calibrator_from_dict,
    make_calibrator,
)
from predict.models.evaluation import expected_calibration_error


def _distorted(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities, labels drawn from them, and an over-confident score."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 6, n)
    y = (rng.random(n) < p).astype(float)
    score = p**0.5  # monotone in p, badly calibrated (too high)
    return p, y, score


def test_isotonic_reduces_calibration_error_and_is_non_decreasing() -> None:
    _, y, score = _distorted()
    cal = IsotonicCalibrator().fit(score, y)
    fitted = cal.transform(score)
    assert expected_calibration_error(y, fitted) < 0.3 * expected_calibration_error(y, score)
    grid = np.linspace(0, 1, 501)
    assert np.all(np.diff(cal.transform(grid)) >= 0)


def test_isotonic_respects_its_floor() -> None:
    cal = IsotonicCalibrator(floor=0.01).fit(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    out = cal.transform(np.array([0.0, 0.5, 1.0]))
    assert out.min() >= 0.01 and out.max() <= 0.99


def test_isotonic_reads_a_block_of_one_outcome_at_its_jeffreys_estimate() -> None:
    # PAV: 0, 0 | 1, 0 pooled to 0.5 | 1, 1. The lowest block (2 rows, no event) reads
    # 0.5 / 3, the highest (2 rows, all events) 2.5 / 3, never 0 or 1; the middle is as fitted
    score = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    cal = IsotonicCalibrator().fit(score, np.array([0, 0, 1, 0, 1, 1]))
    np.testing.assert_allclose(cal.transform(score), [1 / 6, 1 / 6, 0.5, 0.5, 5 / 6, 5 / 6])
    # perfectly separated, 3 rows each: 0.5 / 4 and 3.5 / 4, still ordered
    cal = IsotonicCalibrator().fit(score, np.array([0, 0, 0, 1, 1, 1]))
    np.testing.assert_allclose(cal.transform(score), [0.125] * 3 + [0.875] * 3)
    # one block of 1 row under a block at 10%: bounded by its neighbour (0.5 / 2 > 0.1)
    many = np.r_[0.05, np.linspace(0.1, 0.9, 10)]
    cal = IsotonicCalibrator().fit(many, np.r_[0, 1, np.zeros(9)])
    out = cal.transform(many)
    assert np.all(np.diff(out) >= 0) and out.min() > 0


def test_platt_recovers_a_known_sigmoid() -> None:
    rng = np.random.default_rng(1)
    score = rng.uniform(0.01, 0.99, 20000)
    true = 1 / (1 + np.exp(-(2.0 * np.log(score / (1 - score)) - 1.0)))
    y = (rng.random(len(score)) < true).astype(float)
    cal = PlattCalibrator().fit(score, y)
    assert cal.a_ == pytest.approx(2.0, abs=0.1)
    assert cal.b_ == pytest.approx(-1.0, abs=0.1)


def test_linear_recovers_a_line() -> None:
    s = np.linspace(0, 10, 50)
    cal = LinearCalibrator().fit(s, 3.0 + 0.5 * s)
    assert (cal.a_, cal.b_) == (pytest.approx(3.0), pytest.approx(0.5))


@pytest.mark.parametrize("kind", CALIBRATOR_KINDS)
def test_json_round_trip_gives_identical_output(kind: str) -> None:
    _, y, score = _distorted(500, seed=2)
    cal = make_calibrator(kind).fit(score, y)
    again = calibrator_from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again.kind == kind
    np.testing.assert_array_equal(again.transform(score), cal.transform(score))


def test_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(CalibrationError, match="pickle"):
        calibrator_from_dict({"kind": "pickle"})
    with pytest.raises(CalibrationError, match="beta"):
        make_calibrator("beta")


def test_malformed_json_is_refused() -> None:
    with pytest.raises(CalibrationError, match="malformed isotonic"):
        calibrator_from_dict({"kind": "isotonic", "floor": 0.0, "x": [1.0]})
    with pytest.raises(CalibrationError, match="sorted"):
        calibrator_from_dict({"kind": "isotonic", "floor": 0.0, "x": [2.0, 1.0], "y": [0.1, 0.2]})


@pytest.mark.parametrize("kind", ["platt", "linear"])
def test_two_parameter_json_is_checked(kind: str) -> None:
    with pytest.raises(CalibrationError, match=f"malformed {kind}"):
        calibrator_from_dict({"kind": kind, "a": 1.0})
    with pytest.raises(CalibrationError, match="finite"):
        calibrator_from_dict({"kind": kind, "a": float("nan"), "b": 0.0})


def test_unfitted_calibrator_says_so() -> None:
    with pytest.raises(CalibrationError, match="not fitted"):
        IsotonicCalibrator().transform(np.array([0.5]))


def test_nan_labels_are_refused() -> None:
    with pytest.raises(CalibrationError, match="finite"):
        IsotonicCalibrator().fit(np.array([0.1, 0.2]), np.array([0.0, np.nan]))


def test_scale_factor_is_the_validation_total_over_the_score_total() -> None:
    # hand case: scores sum to 10, labels to 12 -> b = 1.2; a zero score stays zero
    cal = ScaleCalibrator().fit(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 6.0, 0.0]))
    assert cal.b_ == pytest.approx(1.2)
    np.testing.assert_allclose(cal.transform(np.array([0.0, 5.0, -1.0])), [0.0, 6.0, -1.2])
    assert cal.to_dict() == {"kind": "scale", "b": pytest.approx(1.2)}


def test_scale_keeps_the_sign_when_validation_labels_have_reversals() -> None:
    # net validation total 100 - 30 = 70 over scores summing to 140: b = 0.5 and every
    # non-negative score stays non-negative, unlike the least-squares line
    s, y = np.array([10.0, 20.0, 40.0, 70.0]), np.array([-30.0, 0.0, 20.0, 80.0])
    scale = ScaleCalibrator().fit(s, y)
    assert scale.b_ == pytest.approx(0.5)
    assert scale.transform(s).min() >= 0
    assert LinearCalibrator().fit(s, y).transform(s).min() < 0


def test_scale_fails_closed_without_a_positive_factor() -> None:
    with pytest.raises(CalibrationError, match="both must be positive"):
        ScaleCalibrator().fit(np.array([1.0, 2.0]), np.array([-1.0, 0.0]))
    with pytest.raises(CalibrationError, match="both must be positive"):
        ScaleCalibrator().fit(np.array([-1.0, 0.5]), np.array([1.0, 2.0]))
    with pytest.raises(CalibrationError, match="malformed scale"):
        calibrator_from_dict({"kind": "scale", "b": -2.0})
    with pytest.raises(CalibrationError, match="not fitted"):
        ScaleCalibrator().transform(np.array([1.0]))


def test_a_calibrator_of_the_wrong_kind_for_the_task_is_refused() -> None:
    with pytest.raises(CalibrationError, match="'isotonic' does not fit a regression"):
        make_calibrator("isotonic", "regression")
    with pytest.raises(CalibrationError, match="'scale' does not fit a binary"):
        make_calibrator("scale", "binary")
    assert make_calibrator("scale", "regression").kind == "scale"


def test_auto_calibration_is_isotonic_on_enough_rows_of_each_class_else_platt() -> None:
    from predict.models.calibration import resolve_calibration

    many = np.r_[np.ones(60), np.zeros(940)]  # 1,000 rows, 60 events
    assert resolve_calibration("auto", many) == "isotonic"
    assert resolve_calibration("auto", many[:999]) == "platt"  # 999 rows
    assert resolve_calibration("auto", np.r_[np.ones(49), np.zeros(2000)]) == "platt"  # 49 events
    assert resolve_calibration("auto", np.r_[np.zeros(49), np.ones(2000)]) == "platt"  # 49 non
    assert resolve_calibration("isotonic", many[:10]) == "isotonic"  # a kind given is kept


def test_platt_fits_platts_targets_on_a_separable_set() -> None:
    # 3 non-events at score 0.2, 2 events at 0.8: the plain fit has no finite solution
    # (perfect separation). With Platt's targets, 1 / (3 + 2) = 0.2 and (2 + 1) / (2 + 2) =
    # 0.75, two scores and two parameters fit them exactly
    score = np.array([0.2, 0.2, 0.2, 0.8, 0.8])
    cal = PlattCalibrator().fit(score, np.array([0, 0, 0, 1, 1]))
    np.testing.assert_allclose(cal.transform(np.array([0.2, 0.8])), [0.2, 0.75], rtol=1e-9)
    assert np.isfinite(cal.a_) and np.isfinite(cal.b_)
