"""The report's "Read with care" notes: skipped targets, split fallback, model flags."""

from __future__ import annotations

import pandas as pd

from predict.report.inputs import ReportInputs
from predict.report.model_card import card_flags
from predict.report.notes import run_notes


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
