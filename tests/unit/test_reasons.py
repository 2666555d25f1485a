"""Reason codes: plain sentences from templates, grouped by family; missing values in words."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from predict.scoring.explain import Explained, explain_matrix
from predict.scoring.reasons import (
    SEPARATOR,
    ReasonsConfig,
    ReasonTemplate,
    catalogue_templates,
    format_impact,
    reason_impacts,
    reasons_text,
    select_drivers,
    sentence,
)
from tests.support.scoring import FEATURES, feature_frame, train_bundle

TEMPLATES = {
    "dpd": ReasonTemplate(
        "Days past due reached {value} in the last 3 months", "arrears", "No balance to be late on"
    ),
    "missed": ReasonTemplate("{value} missed payments in a year", "arrears"),
    "util": ReasonTemplate("Limits are {value:.0%} drawn", "usage"),
    "tenure": ReasonTemplate("Client for {value} years", "relationship"),
    "seg": ReasonTemplate("Segment is {value}", "profile"),
}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _explained(values: pd.DataFrame, shap: np.ndarray, target: str = "default") -> Explained:
    return Explained(
        target,
        tuple(values.columns),
        values,
        values.notna().to_numpy(),
        shap,
        np.full(len(values), -2.0),
        _sigmoid,
    )


def test_sentences_fill_templates_with_readable_values() -> None:
    assert sentence(TEMPLATES["dpd"], 45.0) == "Days past due reached 45 in the last 3 months"
    assert sentence(TEMPLATES["util"], 0.934) == "Limits are 93% drawn"
    assert sentence(TEMPLATES["tenure"], 12.3456) == "Client for 12.3 years"
    assert sentence(TEMPLATES["seg"], "sme") == "Segment is sme"
    assert sentence(ReasonTemplate("Turnover {value}"), 1234567.8) == "Turnover 1,234,568"


def test_missing_values_and_counts_of_one_read_as_words() -> None:
    assert sentence(TEMPLATES["dpd"], np.nan) == "No balance to be late on"
    assert sentence(TEMPLATES["seg"], None) == "Not known"
    assert sentence(ReasonTemplate("Last revenue {value:.0f} months ago"), 1.0) == (
        "Last revenue 1 month ago"
    )
    assert sentence(ReasonTemplate("{value:.0f} open facilities"), 1.0) == "1 open facility"
    assert sentence(ReasonTemplate("{value:.0f} open facilities"), 11.0) == "11 open facilities"
    templates = catalogue_templates()
    assert sentence(templates["months_to_last_maturity"], np.nan) == (
        "No open facility left to mature"
    )
    assert sentence(templates["tenure_months"], np.nan).startswith("Not known: months since")


def test_impacts_are_written_in_points_or_money() -> None:
    assert format_impact(0.021, "default") == "+2.1 pp"
    assert format_impact(-0.008, "churn") == "−0.8 pp"
    assert format_impact(0.0001, "churn") == "+<0.1 pp"
    assert format_impact(-1234.4, "contribution") == "−1,234"


def test_reasons_group_by_family_up_first_then_down() -> None:
    values = pd.DataFrame(
        {
            "dpd": [45.0],
            "missed": [2.0],
            "util": [0.9],
            "tenure": [12.0],
            "seg": pd.Series(["sme"], dtype="str"),
        }
    )
    shap = np.array([[0.8, 0.3, 0.1, -0.5, 0.0]])
    (text,) = reasons_text(_explained(values, shap), TEMPLATES, ReasonsConfig(top_up=3, top_down=2))
    parts = text.split(SEPARATOR)
    assert parts[0].startswith(
        "Arrears: Days past due reached 45 in the last 3 months; 2 missed payments in a year (adds "
    )
    assert parts[0].endswith("pp to default probability)")
    assert "(adds " in parts[0]
    assert parts[1].startswith("Usage: Limits are 90% drawn (adds ")
    assert parts[2].startswith("Relationship: Client for 12 years (takes ")
    assert parts[2].endswith("off default probability)") and "(takes " in parts[2]
    assert len(parts) == 3  # zero SHAP: segment is not cited


def test_a_missing_value_is_cited_in_words_and_an_absent_feature_never() -> None:
    values = pd.DataFrame(
        {"dpd": [np.nan, 30.0], "util": [0.5, np.nan], "seg": pd.Series([None, "sme"], dtype="str")}
    )
    shap = np.array([[2.0, 0.1, -1.0], [0.2, 3.0, -2.0]])
    first, second = reasons_text(_explained(values, shap), TEMPLATES, ReasonsConfig())
    # the missing dpd is the largest driver of the first client: said in words, first
    assert first.startswith("Arrears: No balance to be late on (adds ")
    assert "Profile: Not known (takes " in first
    assert "Usage: Not known (adds " in second
    absent = dataclasses.replace(_explained(values, shap), absent=frozenset({"dpd", "seg"}))
    first, second = reasons_text(absent, TEMPLATES, ReasonsConfig())
    assert "Arrears" not in first + second and "Profile" not in first + second
    assert first.startswith("Usage: Limits are 50% drawn")


def test_select_drivers_respects_counts_and_floor() -> None:
    shap = np.array([[0.5, -0.2, 0.3, 0.0, -0.9]])
    present = np.ones_like(shap, dtype=bool)
    up, down = select_drivers(shap, present, ReasonsConfig(top_up=3, top_down=1))
    assert up.tolist() == [[0, 2, -1]]  # only two features push up
    assert down.tolist() == [[4]]


def test_reasons_on_a_real_model_cite_missing_values_in_words() -> None:
    bundle = train_bundle("default")
    frame = feature_frame(n=300, seed=9)
    frame.loc[frame.index[:100], "dpd_max_3m"] = np.nan
    templates = {
        "dpd_max_3m": ReasonTemplate("Days past due reached {value}", "arrears"),
        "utilisation": ReasonTemplate("Utilisation {value:.0%}", "usage"),
    }
    ex = explain_matrix(
        "default",
        bundle.booster,
        bundle.matrix(frame),
        frame[list(FEATURES)],
        bundle.from_raw,
    )
    texts = reasons_text(ex, templates, ReasonsConfig(top_up=4, top_down=4))
    assert len(texts) == 300 and all(texts)
    util_missing = frame["utilisation"].isna().to_numpy()
    for i, text in enumerate(texts):
        assert "Days past due" not in text or i >= 100  # a missing value never gets a number
        assert not (util_missing[i] and "Utilisation " in text)
    # missing dpd gets a SHAP value from LightGBM, and is then cited as "Not known"
    assert np.abs(ex.shap[:100, FEATURES.index("dpd_max_3m")]).max() > 0
    assert any("Arrears: Not known" in t for t in texts[:100])
    assert any("Days past due" in t for t in texts[100:])


@pytest.mark.parametrize("target", ["churn", "contribution"])
def test_reason_words_follow_the_target(target: str) -> None:
    values = pd.DataFrame({"dpd": [10.0]})
    (text,) = reasons_text(
        _explained(values, np.array([[1.0]]), target), TEMPLATES, ReasonsConfig()
    )
    assert ("to churn probability" in text) == (target == "churn")
    assert ("to expected contribution" in text) == (target == "contribution")


def test_direction_follows_shap_even_where_the_calibrator_is_flat() -> None:
    values = pd.DataFrame({"dpd": [30.0], "tenure": [12.0]})
    flat = Explained(
        "default",
        ("dpd", "tenure"),
        values,
        np.ones((1, 2), dtype=bool),
        np.array([[0.5, -0.4]]),
        np.array([-3.0]),
        lambda raw: np.full_like(raw, 0.2),
    )
    (text,) = reasons_text(flat, TEMPLATES, ReasonsConfig())
    up, down = text.split(SEPARATOR)
    assert up.endswith("(adds <0.1 pp to default probability)")
    assert down.endswith("(takes <0.1 pp off default probability)")


def test_a_reason_removes_its_drivers_jointly_and_never_claims_more_than_the_score() -> None:
    # Three arrears drivers of +1.5 log-odds each on a raw score of 2.5 (PD 92.4%). One at a
    # time, each would claim sigmoid(2.5) - sigmoid(1.0) = 19.3 pts, "+57.8 pts" summed; taken
    # away together they move the score to sigmoid(-2.0): +80.4 pts, less than the PD itself.
    values = pd.DataFrame({"dpd": [95.0], "missed": [3.0], "util": [0.2]})
    shap = np.array([[1.5, 1.5, 1.5]])
    explained = Explained(
        "default",
        ("dpd", "missed", "util"),
        values,
        np.ones((1, 3), bool),
        shap,
        np.array([-2.0]),
        _sigmoid,
    )  # fmt: skip  (base -2.0: raw score 2.5)
    templates = {**TEMPLATES, "util": ReasonTemplate("Limits are {value:.0%} drawn", "arrears")}
    (text,) = reasons_text(explained, templates, ReasonsConfig(top_up=3, top_down=0))
    joint = _sigmoid(np.array(2.5)) - _sigmoid(np.array(-2.0))
    assert text.count(SEPARATOR) == 0 and text.startswith("Arrears: ")
    assert f"(adds {joint * 100:.1f} pp to default probability)" in text
    assert joint < _sigmoid(np.array(2.5))  # bounded by the score


def test_reasons_of_different_families_are_each_removed_on_their_own() -> None:
    values = pd.DataFrame({"dpd": [95.0], "util": [0.9], "tenure": [2.0]})
    shap = np.array([[1.0, 0.5, -0.7]])
    explained = _explained(values, shap)  # base -2.0: raw score -1.2
    (text,) = reasons_text(explained, TEMPLATES, ReasonsConfig(top_up=2, top_down=1))
    arrears, usage, tenure = text.split(SEPARATOR)
    p = _sigmoid(np.array(-1.2))
    for part, contribution in ((arrears, 1.0), (usage, 0.5), (tenure, -0.7)):
        impact = p - _sigmoid(np.array(-1.2 - contribution))
        verb = "adds" if impact > 0 else "takes"
        assert f"({verb} {abs(impact) * 100:.1f} pp " in part


def test_reason_impacts_on_a_real_model_stay_within_the_probability() -> None:
    bundle = train_bundle("default")
    frame = feature_frame(n=300, seed=4)
    ex = explain_matrix(
        "default", bundle.booster, bundle.matrix(frame), frame[list(FEATURES)], bundle.from_raw
    )
    up, down = select_drivers(ex.shap, ex.present, ReasonsConfig(top_up=5, top_down=5))
    drivers = np.concatenate([up, down], axis=1)
    chosen = np.take_along_axis(ex.shap, np.maximum(drivers, 0), axis=1)
    one_family = ["risk"] * len(FEATURES)  # every driver in one family: the hardest case
    impacts = reason_impacts(ex, drivers, chosen, one_family)
    p = ex.to_output(ex.raw)[:, None]
    cited = drivers >= 0
    assert cited.any()
    ups, downs = cited & (chosen > 0), cited & (chosen < 0)
    assert (impacts[ups] >= 0).all() and (impacts <= p + 1e-12)[ups].all()
    assert (impacts[downs] <= 0).all() and (-impacts <= 1 - p + 1e-12)[downs].all()
