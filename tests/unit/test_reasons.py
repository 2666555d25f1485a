"""Reason codes: plain sentences from templates, grouped by family, never citing a missing value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.scoring.explain import Explained, explain_matrix
from predict.scoring.reasons import (
    SEPARATOR,
    ReasonsConfig,
    ReasonTemplate,
    format_impact,
    reasons_text,
    select_drivers,
    sentence,
)
from tests.support.scoring import FEATURES, feature_frame, train_bundle

TEMPLATES = {
    "dpd": ReasonTemplate("Days past due reached {value} in the last 3 months", "arrears"),
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


def test_impacts_are_written_in_points_or_money() -> None:
    assert format_impact(0.021, "default") == "+2.1 pts"
    assert format_impact(-0.008, "churn") == "−0.8 pts"
    assert format_impact(0.0001, "churn") == "+<0.1 pts"
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
        "Arrears: Days past due reached 45 in the last 3 months; 2 missed payments in a year (+"
    )
    assert parts[0].endswith("pts, raises default risk)")
    assert parts[1].startswith("Usage: Limits are 90% drawn (+")
    assert parts[2].startswith("Relationship: Client for 12 years (−")
    assert parts[2].endswith("lowers default risk)")
    assert len(parts) == 3  # zero SHAP: segment is not cited


def test_a_missing_value_is_never_cited_whatever_its_shap() -> None:
    values = pd.DataFrame(
        {"dpd": [np.nan, 30.0], "util": [0.5, np.nan], "seg": pd.Series([None, "sme"], dtype="str")}
    )
    shap = np.array([[2.0, 0.1, -1.0], [0.2, 3.0, -2.0]])
    first, second = reasons_text(_explained(values, shap), TEMPLATES, ReasonsConfig())
    assert "Days past due" not in first and "Segment" not in first
    assert "Limits are 50% drawn" in first
    assert "Limits" not in second
    assert "Days past due reached 30" in second and "Segment is sme" in second


def test_select_drivers_respects_counts_and_floor() -> None:
    shap = np.array([[0.5, -0.2, 0.3, 0.0, -0.9]])
    present = np.ones_like(shap, dtype=bool)
    up, down = select_drivers(shap, present, ReasonsConfig(top_up=3, top_down=1))
    assert up.tolist() == [[0, 2, -1]]  # only two features push up
    assert down.tolist() == [[4]]


def test_reasons_on_a_real_model_never_cite_missing_features() -> None:
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
        assert ("Days past due" in text) is False or i >= 100
        assert not (util_missing[i] and "Utilisation" in text)
    # missing dpd still gets a SHAP value from LightGBM: the rule, not the model, drops it
    assert np.abs(ex.shap[:100, FEATURES.index("dpd_max_3m")]).max() > 0
    assert any("Days past due" in t for t in texts[100:])


@pytest.mark.parametrize("target", ["churn", "contribution"])
def test_reason_words_follow_the_target(target: str) -> None:
    values = pd.DataFrame({"dpd": [10.0]})
    (text,) = reasons_text(
        _explained(values, np.array([[1.0]]), target), TEMPLATES, ReasonsConfig()
    )
    assert ("raises churn risk" in text) == (target == "churn")
    assert ("raises expected contribution" in text) == (target == "contribution")


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
    assert up.endswith("(+<0.1 pts, raises default risk)")
    assert down.endswith("(−<0.1 pts, lowers default risk)")
