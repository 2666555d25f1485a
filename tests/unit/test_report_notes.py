"""The report's "Read with care" notes: skipped targets, split fallback, model flags."""

from __future__ import annotations

import pandas as pd

from predict.report.inputs import ReportInputs
from predict.report.model_card import all_figures, card_flags
from predict.report.notes import input_lines, run_notes


def test_notes_gather_what_the_run_could_not_do() -> None:
    split = {"method": "client", "fallback": True, "note": "by-client holdout: too short"}
    inputs = ReportInputs(
        scores=pd.DataFrame(),
        explanations=pd.DataFrame(),
        metrics={"split": split, "churn": {"flags": ["below its baseline on the test period"]}},
        summary={"skipped_targets": {"default": "not trained: one class", "contribution": "x%"}},
        skipped_models={"default": "one class"},
    )
    assert run_notes(inputs) == [
        "default: no model (not trained: one class)",
        "contribution: not scored (x%)",
        "split: by-client holdout: too short (not out of time)",
        "churn model: below its baseline on the test period",
    ]
    assert card_flags(inputs.metrics, "churn") == [
        "below its baseline on the test period",
        "split fell back to a by-client holdout, NOT out of time: by-client holdout: too short",
    ]


def test_a_plain_run_has_no_notes() -> None:
    plain = ReportInputs(scores=pd.DataFrame(), explanations=pd.DataFrame(),
                         metrics={"split": {"method": "time", "fallback": False}})  # fmt: skip
    assert run_notes(plain) == [] and card_flags(plain.metrics, "churn") == []


def test_partial_input_shows_in_the_notes() -> None:
    """A hand-written score_summary.json of a run on partial input: each thing it records
    gives a line, in the order of the summary's keys."""
    summary = {
        "missing_features": {"churn": ["nps_last", "csat_mean"], "default": []},
        "unseen_categories": {"churn": {"segment": {"new": 3}}},
        "quarantined": {"revenue": 7, "clients": 1},
        "unsupported": {"default": {"gain_share": 0.6, "tables": ["facilities"]}},
        "early_warning_not_evaluated": ["dpd_rise: no facilities table"],
        "out_of_range": {"churn": {"x": {}}},  # not a key scoring writes: ignored
    }
    assert input_lines(summary) == [
        "churn model: 2 feature(s) absent from the data, scored as missing: nps_last, csat_mean",
        "churn model: segment has categories unseen in training, scored as missing: "
        "new (3 clients)",
        "input: rows quarantined by validation, not scored from: revenue 7, clients 1",
        "default model: not supported by the data (60% of its gain); tables absent or empty: "
        "facilities",
        "early warning not evaluated: dpd_rise: no facilities table",
    ]
    inputs = ReportInputs(scores=pd.DataFrame(), explanations=pd.DataFrame(), summary=summary)
    assert run_notes(inputs)[-1] == "early warning not evaluated: dpd_rise: no facilities table"
    assert input_lines({}) == []  # an older summary without these keys: no line


def test_model_card_metrics_show_revenue_gini_and_tweedie_deviance_beside_rmse() -> None:
    metrics = {"test": {"rmse": 10.0, "spearman": 0.9, "revenue_gini": 0.6}}
    metrics["test"]["tweedie_deviance"] = 80.0
    assert all_figures(metrics) == [
        ("test.rmse", "10"),
        ("test.spearman", "0.9000"),
        ("test.revenue_gini", "0.6000"),
        ("test.tweedie_deviance", "80"),
    ]
