"""Model flags: below the baseline on the test period, event rate shift train -> test."""

from __future__ import annotations

from predict.models.flags import below_baseline, event_rate_shift, model_flags
from predict.models.metrics_files import headline_metrics


def test_a_model_below_its_baseline_is_flagged() -> None:
    # the case: AUC 0.67 against its own logistic baseline's 0.73
    text = below_baseline("binary", {"auc": 0.67}, {"auc": 0.73, "name": "logistic_regression"})
    assert text == "below its baseline on the test period: AUC 0.67 vs logistic_regression 0.73"
    assert below_baseline("binary", {"auc": 0.75}, {"auc": 0.73}) is None
    assert below_baseline("regression", {"rmse": 110.0}, {"rmse": 100.0}) is not None
    assert below_baseline("regression", {"rmse": 90.0}, {"rmse": 100.0}) is None
    assert below_baseline("binary", {"auc": 0.6}, {}) is None  # baseline skipped: no flag


def test_event_rates_more_than_the_ratio_apart_are_flagged() -> None:
    assert event_rate_shift(0.02, 0.06, 3.0) is None  # exactly 3x: not more
    assert "more than 3 times apart" in str(event_rate_shift(0.02, 0.0601, 3.0))
    assert event_rate_shift(0.09, 0.02, 3.0) is not None  # 4.5x the other way
    assert event_rate_shift(0.0, 0.01, 3.0) is not None  # an event only in test
    assert event_rate_shift(0.0, 0.0, 3.0) is None


def test_flags_reach_the_detail_and_the_headline() -> None:
    detail = {"test": {"auc": 0.67, "n": 100.0}, "baseline": {"auc": 0.73}}
    detail |= model_flags("binary", detail, (0.01, 0.05), 3.0, "default")
    assert len(detail["flags"]) == 2
    assert detail["flag_codes"] == {"below_baseline": True, "event_rate_shift": True}
    head = headline_metrics(detail, "binary")
    assert head["flag_below_baseline"] == 1.0 and head["flag_event_rate_shift"] == 1.0
    calm = {"test": {"auc": 0.8}, "baseline": {"auc": 0.7}}
    calm |= model_flags("binary", calm, (0.05, 0.06), 3.0, "churn")
    assert calm["flags"] == [] and headline_metrics(calm, "binary")["flag_below_baseline"] == 0.0
