"""Automatic settings that follow the data or other params: the carry-forward baseline's
revenue scale (``train.baseline.revenue_scale: auto`` = H / 12), and the calendar features
checked at scoring against the range frozen at training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.features.build import FeaturesConfig
from predict.features.catalogue import (
    CALENDAR,
    FAMILIES,
    FEATURES,
    CatalogueError,
    parse_catalogue,
)
from predict.models.baselines import BaselineConfig, make_baseline, resolve_revenue_scale
from predict.models.store import FeatureSpec, ModelBundle, load_bundle, save_bundle
from predict.models.training import feature_ranges
from predict.report.notes import input_lines
from predict.scoring.align import calendar_out_of_range
from predict.scoring.config import ScoreConfig
from predict.scoring.result import ScoringReport
from predict.scoring.run import score_folder
from tests.support.scoring import Book as ScoringBook
from tests.support.splits import Book

SPEC = FeatureSpec(("revenue_12m",))
FRAME = pd.DataFrame({"revenue_12m": [1200.0, None, -60.0]})


def test_revenue_scale_auto_is_the_horizon_over_twelve() -> None:
    config = BaselineConfig()
    assert config.revenue_scale == "auto"
    six = resolve_revenue_scale(config, 6)
    assert six.revenue_scale == 0.5
    baseline = make_baseline("regression", SPEC, six, FRAME.columns)
    assert baseline is not None
    # 12 months of revenue carried over 6 months: half; missing revenue counts as 0
    np.testing.assert_allclose(baseline.predict(FRAME), [600.0, 0.0, -30.0])
    assert resolve_revenue_scale(config, 18).revenue_scale == 1.5


@pytest.mark.parametrize(("features", "scale"), [("{}", 1.0), ("{horizon_months: 6}", 0.5)])
def test_the_train_command_resolves_auto_from_the_features_section(
    tmp_path: Path, features: str, scale: float
) -> None:
    # as the features stage reads it: its default horizon (12 -> 12/12) when left out
    from predict.cli import _with_revenue_scale
    from predict.models.training import TrainConfig

    params = tmp_path / "params.yaml"
    params.write_text(f"features: {features}\ntrain: {{}}\n")
    resolved = _with_revenue_scale(TrainConfig(), params)
    assert resolved.baseline.revenue_scale == scale


def test_a_revenue_scale_given_wins_over_auto() -> None:
    given = BaselineConfig(revenue_scale=2.0)
    assert resolve_revenue_scale(given, 6) is given
    baseline = make_baseline("regression", SPEC, given, FRAME.columns)
    assert baseline is not None
    np.testing.assert_allclose(baseline.predict(FRAME), [2400.0, 0.0, -120.0])


def test_an_unresolved_or_bad_revenue_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="auto is not resolved"):
        make_baseline("regression", SPEC, BaselineConfig(), FRAME.columns)
    with pytest.raises(ValueError, match="horizon_months must be >= 1"):
        resolve_revenue_scale(BaselineConfig(), 0)
    for bad in ("twice", 0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="revenue_scale"):
            BaselineConfig(revenue_scale=bad)


# Calendar features: marked in the catalogue, range frozen at training, checked at scoring.


def test_calendar_features_are_marked_in_the_catalogue_and_checked_strictly() -> None:
    assert {"tenure_months", "months_since_revenue", "months_to_maturity"} <= set(CALENDAR)
    assert "revenue_12m" not in CALENDAR and not FEATURES["revenue_12m"].calendar
    entry = "  - name: tenure_x\n    requires: clients\n    description: x.\n"
    entry += "    reason: '{value}'\n"
    families = "".join(f"{f}:\n{entry.replace('tenure_x', f'{f}_x')}" for f in FAMILIES[1:])
    ok = f"relationship:\n{entry}    calendar: true\n{families}"
    assert parse_catalogue(ok)["tenure_x"].calendar
    with pytest.raises(CatalogueError, match="'tenure_x': calendar must be true or false"):
        parse_catalogue(ok.replace("calendar: true", "calendar: yes please"))
    with pytest.raises(CatalogueError, match=r"true: numeric only"):
        parse_catalogue(ok.replace("calendar: true", "calendar: true\n    kind: categorical"))


def test_training_freezes_each_numeric_features_range() -> None:
    spec = FeatureSpec(("tenure_months", "segment", "empty"), {"segment": ("a", "b")})
    train = pd.DataFrame(
        {"tenure_months": [3.0, 40.0, None], "segment": ["a", "b", "a"], "empty": [None] * 3}
    )
    valid = pd.DataFrame({"tenure_months": [55.0, 1.0], "segment": ["a", "a"], "empty": [None] * 2})
    # over the train and validation rows; categorical and all-missing features have none
    assert feature_ranges(spec, (train, valid)) == {"tenure_months": [1.0, 55.0]}


def test_a_trained_model_carries_its_ranges(default_bundle: ModelBundle, split_book: Book) -> None:
    rows = pd.concat([split_book.train, split_book.valid])
    rows = rows[rows["label_default"].notna()]
    frozen = default_bundle.metadata["feature_ranges"]["tenure_months"]
    assert frozen == [rows["tenure_months"].min(), rows["tenure_months"].max()]


def test_a_tenure_beyond_the_training_range_is_counted_not_changed(
    default_bundle: ModelBundle, caplog: pytest.LogCaptureFixture
) -> None:
    metadata = {**default_bundle.metadata, "feature_ranges": {"tenure_months": [12.0, 120.0]}}
    bundle = dataclasses.replace(default_bundle, metadata=metadata)
    frame = pd.DataFrame({"tenure_months": [6.0, 12.0, 60.0, 120.0, 130.0, 400.0, None]})
    report = ScoringReport()
    calendar_out_of_range(frame, {"default": bundle}, report)
    found = {"below": 1, "above": 2, "min": 12.0, "max": 120.0}
    assert report.calendar_out_of_range == {"default": {"tenure_months": found}}
    assert "calendar feature 'tenure_months' outside its training range [12, 120]" in caplog.text
    assert frame["tenure_months"].iloc[5] == 400.0  # the value is left as it is
    line = input_lines({"calendar_out_of_range": report.calendar_out_of_range})
    assert line == [
        "default model: tenure_months outside its training range [12, 120] for 3 clients "
        "(below 1, above 2); scored as the nearest edge"
    ]
    inside = ScoringReport()
    calendar_out_of_range(frame.iloc[1:4], {"default": bundle}, inside)
    assert inside.calendar_out_of_range == {}
    # only the clients the model scored count: 6 (below) and 400 (above) left out of its
    # population, so 1 above (130)
    population = ScoringReport()
    scored = {"default": np.array([False, True, True, True, True, False, True])}
    calendar_out_of_range(frame, {"default": bundle}, population, scored)
    assert population.calendar_out_of_range["default"]["tenure_months"]["above"] == 1
    assert population.calendar_out_of_range["default"]["tenure_months"]["below"] == 0


def test_scoring_reports_calendar_features_outside_the_range(
    scoring_book: ScoringBook, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    for target in ("churn", "default", "contribution"):
        bundle = load_bundle(scoring_book.models / target)
        if target == "churn":  # a range no client's tenure reaches: every client is above
            ranges = {**bundle.metadata.get("feature_ranges", {}), "tenure_months": [-5.0, -1.0]}
            bundle = dataclasses.replace(bundle, metadata={**bundle.metadata,
                                                           "feature_ranges": ranges})  # fmt: skip
        save_bundle(bundle, models / target)
    config, features = ScoreConfig(chunk_size=128, previous="none"), FeaturesConfig()
    result = score_folder(scoring_book.raw, models, tmp_path / "out", config, features,
                          validated=True, quiet=True)  # fmt: skip
    summary = json.loads((tmp_path / "out" / "score_summary.json").read_text())
    tenure = summary["calendar_out_of_range"]["churn"]["tenure_months"]
    # counted on the churn model's population only (the clients it gave a score)
    churn_scored = int(result.scores["churn_probability"].notna().sum())
    assert 0 < churn_scored < result.report.clients
    assert tenure == {"below": 0, "above": churn_scored, "min": -5.0, "max": -1.0}
    assert list(summary["calendar_out_of_range"]) == ["churn"]  # the others have no range
    plain = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "plain", config,
                         features, validated=True, quiet=True)  # fmt: skip
    pd.testing.assert_series_equal(  # reported, not changed
        result.scores["churn_probability"], plain.scores["churn_probability"]
    )
