"""The known truth: defined where the contract's targets are, informative and calibrated.

On a small book (3,000 clients, 48 months, 8 futures per client) the truth at each as-of
date is set against what then happened in the generated tables, computed with the
contract's definitions (:func:`predict.synthetic.realised_outcomes`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from predict.synthetic import SyntheticPortfolio, generate_portfolio, realised_outcomes
from tests.support.synthetic import TRUTH, WINDOW


@pytest.fixture(scope="module")
def truth_book() -> SyntheticPortfolio:
    return generate_portfolio(TRUTH, WINDOW)


@pytest.fixture(scope="module")
def joined(truth_book: SyntheticPortfolio) -> pd.DataFrame:
    """Truth beside the realised outcomes, for the as-of dates whose horizon is in the data."""
    as_of = sorted(truth_book.truth["as_of"].unique())
    real = realised_outcomes(truth_book.tables, as_of, WINDOW, data_end=TRUTH.end_date)
    both = real.merge(truth_book.truth, on=["client_id", "as_of"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all(), "truth rows != clients onboarded by each as-of"
    segments = truth_book.traits[["client_id", "segment"]]
    return both.merge(segments, on="client_id").assign(
        uncensored=lambda d: d["default"].notna() | d["churn"].notna() | d["contribution"].notna()
    )


def test_truth_is_given_every_step_back_from_the_end_with_valid_values(truth_book):
    truth = truth_book.truth
    dates = sorted(pd.to_datetime(truth["as_of"].unique()))
    assert dates[-1] == pd.Timestamp(TRUTH.end_date)
    assert all(d.is_month_end for d in dates)
    assert {(b.year - a.year) * 12 + b.month - a.month for a, b in itertools.pairwise(dates)} == {6}
    for col in ("p_churn", "p_default"):
        assert truth[col].dropna().between(0.0, 1.0).all()
    assert truth["expected_contribution"].notna().all()
    assert not truth.duplicated(["client_id", "as_of"]).any()


def test_truth_is_undefined_exactly_where_the_targets_are(joined):
    seen = joined[joined["uncensored"]]
    # churn: undefined at t for a client not active or in default at t (both NaN); a default
    # in (t, t+H] also blanks the realised churn, which the truth cannot know at t
    assert not (seen["churn"].notna() & seen["p_churn"].isna()).any()
    blanked_later = seen["churn"].isna() & seen["p_churn"].notna()
    assert (seen.loc[blanked_later, "default_within"] == 1).all()
    assert (seen["default"].isna() == seen["p_default"].isna()).all()  # already in default


@pytest.mark.parametrize(("target", "truth_col"), [("default", "p_default"), ("churn", "p_churn")])
def test_truth_ranks_what_happened(joined, target, truth_col):
    d = joined[[target, truth_col]].dropna()
    assert d[target].sum() > 100
    assert roc_auc_score(d[target], d[truth_col]) > 0.8


@pytest.mark.parametrize(("target", "truth_col"), [("default", "p_default"), ("churn", "p_churn")])
def test_truth_is_calibrated_overall(joined, target, truth_col):
    d = joined[[target, truth_col]].dropna()
    realised, predicted = d[target].mean(), d[truth_col].mean()
    # Four standard errors of a rate over this many client-years (outcomes of one client
    # at several as-of dates are correlated, so this is about two to three in truth).
    tolerance = 4 * np.sqrt(realised * (1 - realised) / len(d))
    assert abs(predicted - realised) < tolerance, (predicted, realised)


def test_expected_contribution_matches_the_revenue_that_came(joined):
    d = joined[["contribution", "expected_contribution"]].dropna()
    assert d["contribution"].abs().sum() > 0
    ratio = d["expected_contribution"].sum() / d["contribution"].sum()
    assert 0.93 < ratio < 1.07
    assert d["contribution"].corr(d["expected_contribution"]) > 0.9


def test_traits_stay_out_of_the_contract_tables(truth_book):
    traits = truth_book.traits
    assert traits["client_id"].is_unique and len(traits) == TRUTH.n_clients
    hidden = set(traits.columns) - {"client_id", "segment", "industry", "annual_turnover"}
    for frame in truth_book.tables.values():
        assert not hidden & set(frame.columns)
    defaults = traits["default_month"].notna().mean()
    assert 0.02 < defaults < 0.3
