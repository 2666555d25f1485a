"""The default synthetic book is plausible and its truth informative (opt-in: ``-m model``).

Generates the book of params.yaml's ``generate`` section (20,000 clients, 72 months; about
half a minute on two cores) in memory and checks what docs/synthetic.md promises: annual
default and attrition rates per segment inside the stated ranges, arrears roll rates, and a
truth that ranks and matches what happened.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from predict.config import load_params, load_section
from predict.synthetic import GenerateConfig, generate_portfolio, outcome_window, realised_outcomes

pytestmark = pytest.mark.model
PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"

# Annual rates on each target's population (default: exposure, not in default at t; churn:
# active, not in default, no default in the year: voluntary exits only); docs/synthetic.md.
DEFAULT_RANGE = {
    "sme": (0.02, 0.06),
    "mid_corporate": (0.01, 0.035),
    "large_corporate": (0.002, 0.015),
    "project_finance": (0.005, 0.04),
}
ATTRITION_RANGE = {
    "sme": (0.06, 0.15),
    "mid_corporate": (0.04, 0.10),
    "large_corporate": (0.02, 0.08),
    "project_finance": (0.005, 0.06),  # a project's sponsor rarely leaves mid-project
}


@pytest.fixture(scope="module")
def book():
    config = load_section(PARAMS, "generate", GenerateConfig)
    window = outcome_window(load_params(PARAMS))
    portfolio = generate_portfolio(config, window)
    as_of = sorted(portfolio.truth["as_of"].unique())
    real = realised_outcomes(portfolio.tables, as_of, window, data_end=config.end_date)
    joined = real.merge(portfolio.truth, on=["client_id", "as_of"])
    joined = joined.merge(portfolio.traits[["client_id", "segment"]], on="client_id")
    # each target on its own population (churn is undefined after a default in the horizon)
    return portfolio, joined[joined["churn"].notna() | joined["default"].notna()]


@pytest.mark.parametrize("segment", sorted(DEFAULT_RANGE))
def test_annual_default_and_attrition_rates_are_plausible(book, segment):
    rows = book[1][book[1]["segment"] == segment]
    low, high = DEFAULT_RANGE[segment]
    assert low <= rows["default"].dropna().mean() <= high
    low, high = ATTRITION_RANGE[segment]
    assert low <= rows["churn"].dropna().mean() <= high


def test_arrears_roll_rates_are_those_of_a_corporate_book(book):
    b = book[0].tables["facility_balances"].sort_values(["facility_id", "month_end"])
    bucket = np.minimum((b["days_past_due"] + 29) // 30, 4)
    prev = bucket.groupby(b["facility_id"]).shift()
    moves = pd.crosstab(prev, bucket, normalize="index")
    assert 0.005 < moves.loc[0, 1] < 0.04  # a late payment in a month
    assert moves.loc[1, 0] > 0.5 and 0.15 < moves.loc[1, 2] < 0.35
    assert 0.6 < moves.loc[3, 4] < 0.9


@pytest.mark.parametrize(("target", "truth_col"), [("default", "p_default"), ("churn", "p_churn")])
def test_truth_ranks_and_matches_what_happened_per_segment(book, target, truth_col):
    rows = book[1].dropna(subset=[target, truth_col])
    assert roc_auc_score(rows[target], rows[truth_col]) > 0.85
    for segment, part in rows.groupby("segment"):
        realised, predicted = part[target].mean(), part[truth_col].mean()
        se = np.sqrt(max(realised * (1 - realised), 1e-4) / len(part))
        assert abs(predicted - realised) < 4 * se + 0.002, (segment, predicted, realised)
