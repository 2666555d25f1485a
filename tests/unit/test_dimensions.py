"""The five relationship dimensions and the index (src/predict/scoring/dimensions.py):
hand-computed anchors and means, the direction of each score, missing inputs, frozen
contribution percentiles, point in time and the params' checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, from_dict
from predict.features.build import build_features
from predict.models.references import (
    ContributionQuantilesError,
    check_contribution_quantiles,
    contribution_quantiles,
)
from predict.scoring.config import ScoreConfig
from predict.scoring.dimensions import (
    DIMENSION_COLUMNS,
    DIMENSIONS,
    DimensionConfig,
    DimensionInput,
    DimensionsConfig,
    add_dimensions,
    contribution_percentiles,
    percentile_of,
    relationship_index,
    score_dimension,
)
from tests.support.scoring import Book
from tests.support.tables import history_at, tiny_tables

D = dt.date
DEFAULT = DimensionsConfig()


def _input(feature: str, weight: float, anchors: list[list[float]]) -> DimensionInput:
    return DimensionInput(feature, weight, tuple(tuple(a) for a in anchors))


def _frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"client_id": [f"c{i}" for i in range(n)], **columns})


def _dimension(frame: pd.DataFrame, name: str, config: DimensionsConfig = DEFAULT) -> pd.Series:
    return score_dimension(frame, config.dimension(name), {})[0]


def test_anchors_interpolate_and_hold_beyond_the_ends() -> None:
    item = _input("csat_mean_12m", 1.0, [[1, 0], [3, 40], [5, 100]])
    values = pd.Series([0.0, 1.0, 2.0, 4.5, 6.0, np.nan])
    # 2 is half-way from (1, 0) to (3, 40): 20; 4.5 is 3/4 from (3, 40) to (5, 100): 85.
    expected = [0.0, 0.0, 20.0, 85.0, 100.0, np.nan]
    np.testing.assert_allclose(item.score(values).to_numpy(), expected)


def test_a_dimension_is_the_weighted_mean_of_its_known_inputs() -> None:
    config = DimensionConfig(
        inputs=(
            _input("csat_mean_12m", 3.0, [[1, 0], [5, 100]]),
            _input("complaints_12m", 1.0, [[0, 100], [2, 0]]),
        )
    )
    frame = _frame(csat_mean_12m=[4.5, np.nan, 4.5], complaints_12m=[1.0, 1.0, np.nan])
    score, reason = score_dimension(frame, config, {})
    # (87.5 x 3 + 50 x 1) / 4 = 78.125; a missing input drops out: 50, then 87.5.
    np.testing.assert_allclose(score.to_numpy(), [78.125, 50.0, 87.5])
    # The strongest input: the largest weight x |score - 50| (CSAT: 3 x 37.5).
    assert reason.iloc[0] == "Average satisfaction of 4.5 out of 5 in the last 12 months"
    assert reason.iloc[1] == "1 complaints in the last 12 months"


def test_a_complaint_lowers_satisfaction() -> None:
    frame = _frame(csat_mean_12m=[4.6, 4.6], complaints_12m=[0.0, 2.0])
    score = _dimension(frame, "satisfaction")
    assert score.iloc[1] < score.iloc[0]


def test_satisfaction_needs_a_survey_answer_not_only_the_absence_of_complaints() -> None:
    frame = _frame(csat_mean_12m=[np.nan], survey_score_all=[np.nan], complaints_12m=[0.0])
    score, reason = score_dimension(frame, DEFAULT.satisfaction, {})
    assert np.isnan(score.iloc[0])
    assert reason.iloc[0] == "not scored: needs one of csat_mean_12m"


def test_an_old_survey_answer_alone_does_not_make_satisfaction_known() -> None:
    # one neutral answer years ago (survey_score_all 0.5), none in the last 12 months and no
    # complaint: not a measure of satisfaction today (it read 76, "0 complaints"); with a
    # CSAT answer this year the old answers still count as an input
    frame = _frame(csat_mean_12m=[np.nan, 4.0], survey_score_all=[0.5, 0.5],
                   complaints_12m=[0.0, 0.0])  # fmt: skip
    score, reason = score_dimension(frame, DEFAULT.satisfaction, {})
    assert np.isnan(score.iloc[0]) and reason.iloc[0] == "not scored: needs one of csat_mean_12m"
    # 4.0 -> 70 (x3), 0.5 -> 40 (x1), no complaint -> 100 (x1.5): 400 / 5.5 = 72.7
    assert score.iloc[1] == pytest.approx((3 * 70 + 40 + 1.5 * 100) / 5.5)


def test_a_renewal_raises_loyalty_and_trust() -> None:
    base = {"tenure_months": [48.0, 48.0], "n_products": [1.0, 1.0], "max_dpd_12m": [0.0, 0.0]}
    frame = _frame(**base, repeat_financings=[0.0, 1.0])
    for name in ("loyalty", "trust"):
        score = _dimension(frame, name)
        assert score.iloc[1] > score.iloc[0], name


def test_ninety_days_past_due_lowers_trust() -> None:
    frame = _frame(max_dpd_12m=[0.0, 95.0], current_dpd=[0.0, 95.0])
    score = _dimension(frame, "trust")
    # Hand-computed with the defaults: only the two DPD inputs known, both at 100 or at 0.
    np.testing.assert_allclose(score.to_numpy(), [100.0, 0.0])


def test_a_client_in_default_has_a_trust_of_at_most_ten_even_without_payment_records() -> None:
    # row 0: in default, DPD 95 known: DPD 0 (x2, x1), ever defaulted 0 (x1), no event 100
    #   (x3), one renewal 70 (x1): mean 370 / 8 = 46.25, capped at 10;
    # row 1: in default, no DPD record, no event (counts 0 -> 100), one renewal (70): the
    #   mean (100 x 3 + 0 + 70) / 5 = 74 is capped at 10, and known without requires_any;
    # row 2: not in default, no DPD record: still missing (no payment history);
    # row 3: status unknown (missing in_default): no cap, missing as before
    frame = _frame(
        max_dpd_12m=[95.0, np.nan, np.nan, np.nan], current_dpd=[95.0, np.nan, np.nan, np.nan],
        covenant_breach_24m=[0.0] * 4, watchlist_24m=[0.0] * 4, restructuring_24m=[0.0] * 4,
        ever_defaulted=[1.0, 1.0, 0.0, np.nan], repeat_financings=[1.0] * 4,
        in_default=[1.0, 1.0, 0.0, np.nan],
    )  # fmt: skip
    score, reason = score_dimension(frame, DEFAULT.trust, {})
    np.testing.assert_allclose(score.to_numpy(), [10.0, 10.0, np.nan, np.nan])
    assert reason.iloc[0] == reason.iloc[1] == "In default (flag 1)"
    assert reason.iloc[2].startswith("not scored: needs one of max_dpd_12m")
    assert reason.iloc[3].startswith("not scored: needs one of max_dpd_12m")
    # without the cap the same row reads (300 + 0 + 70) / 5 = 74: the cap is what binds
    uncapped = dataclasses.replace(DEFAULT.trust, caps=(), requires_any=())
    np.testing.assert_allclose(score_dimension(frame, uncapped, {})[0].to_numpy()[:2], [46.25, 74])


def test_the_lowest_cap_hit_binds() -> None:
    from predict.scoring.dimensions import DimensionCap

    config = DimensionConfig(
        inputs=(_input("max_dpd_12m", 1.0, [[0, 100], [90, 0]]),),
        caps=(DimensionCap("watchlist_24m", 1.0, 40.0), DimensionCap("in_default", 1.0, 10.0)),
    )
    frame = _frame(max_dpd_12m=[0.0, 0.0, 0.0, 81.0], watchlist_24m=[1.0, 1.0, 0.0, 1.0],
                   in_default=[0.0, 1.0, 0.0, 0.0])  # fmt: skip
    score, reason = score_dimension(frame, config, {})
    # 100 capped at 40; at 10 (both hit); 100 uncapped; 81 DPD -> 10, under the cap of 40
    np.testing.assert_allclose(score.to_numpy(), [40.0, 10.0, 100.0, 10.0])
    assert reason.iloc[1] == "In default (flag 1)"
    assert reason.iloc[3].startswith("Days past due")


def test_retention_falls_with_the_churn_probability_and_months_without_revenue() -> None:
    frame = _frame(churn_probability=[0.1, 0.6, 0.1], months_since_revenue=[0.0, 0.0, 6.0])
    score = _dimension(frame, "retention")
    # (90 x 2 + 100) / 3, (40 x 2 + 100) / 3, (90 x 2 + 30) / 3
    np.testing.assert_allclose(score.to_numpy(), [280 / 3, 60.0, 70.0])


def test_a_dimension_with_no_known_input_is_missing_with_its_reason() -> None:
    frame = _frame(churn_probability=[np.nan])
    why = {"months_since_revenue": "no revenue table"}
    score, reason = score_dimension(frame, DEFAULT.retention, why)
    assert np.isnan(score.iloc[0])
    assert reason.iloc[0] == (
        "not scored: none of churn_probability, months_since_revenue known (no revenue table)"
    )


def test_the_index_is_the_weighted_mean_of_the_known_dimensions_and_counts_them() -> None:
    config = dataclasses.replace(
        DEFAULT,
        satisfaction=dataclasses.replace(DEFAULT.satisfaction, weight=2.0),
        trust=dataclasses.replace(DEFAULT.trust, weight=0.5),
    )
    dims = pd.DataFrame(
        {
            "satisfaction_score": [80.0, 80.0, np.nan],
            "loyalty_score": [60.0, np.nan, np.nan],
            "retention_score": [50.0, 50.0, 90.0],
            "contribution_score": [np.nan, np.nan, np.nan],
            "trust_score": [100.0, 100.0, 100.0],
        }
    )
    index, count = relationship_index(dims, config)
    # (80 x 2 + 60 + 50 + 100 x 0.5) / 4.5; (80 x 2 + 50 + 50) / 3.5; 2 dimensions < 3.
    np.testing.assert_allclose(index.to_numpy()[:2], [320 / 4.5, 260 / 3.5])
    assert np.isnan(index.iloc[2])
    assert count.tolist() == [4, 3, 2]


def test_percentiles_interpolate_and_take_the_middle_rank_of_ties() -> None:
    levels = np.array([0.0, 25.0, 50.0, 75.0, 100.0])
    quantiles = np.array([0.0, 0.0, 10.0, 20.0, 40.0])
    values = np.array([-1.0, 0.0, 5.0, 30.0, 40.0, 50.0, np.nan])
    # 0 is the quantile at levels 0 and 25: 12.5 (middle of the tie); 5 is half-way from
    # (0, 25: above every tied zero) to (10, 50): 37.5.
    expected = [0.0, 12.5, 37.5, 87.5, 100.0, 100.0, np.nan]
    np.testing.assert_allclose(percentile_of(values, quantiles, levels), expected)


def test_a_value_just_above_a_mass_of_ties_reads_the_share_at_or_below_it() -> None:
    # 41% of the training labels are 0 (percentiles 0..40), then 100, 101, ...: a revenue of
    # 1 lies 1% of the way from 0 (level 40) to 100 (level 41): 40.01, not the tie's middle 20
    levels = np.arange(101.0)
    quantiles = np.r_[np.zeros(41), 100.0 + np.arange(60.0)]
    got = percentile_of(np.array([1.0, 100.0]), quantiles, levels)
    np.testing.assert_allclose(got, [40.01, 41.0])


def _reference(rows_b: int = 100) -> dict:
    test = pd.DataFrame(
        {
            "client_id": [f"c{i}" for i in range(200)],
            "as_of": pd.Timestamp("2024-12-31"),
            "segment": ["a"] * 100 + ["b"] * 100,
            "label_contribution": 1.0,  # any known label: the row is in the population
            "revenue_12m": np.r_[np.arange(100.0), np.arange(100.0) * 10],
        }
    )
    predicted = np.r_[np.arange(100.0), np.arange(100.0) * 10]
    reference = contribution_quantiles(test, predicted)
    reference["segments"]["b"]["rows"] = rows_b
    return reference


def test_contribution_quantiles_are_frozen_per_segment_from_test_predictions() -> None:
    reference = _reference()
    check_contribution_quantiles(reference)
    assert reference["known_at"] == "2024-12-31"
    assert reference["segments"]["a"]["expected"][50] == pytest.approx(49.5)
    assert reference["segments"]["b"]["realised"][100] == pytest.approx(990.0)
    assert reference["all"]["rows"] == 200
    bad = _reference()
    bad["segments"]["a"]["expected"] = bad["segments"]["a"]["expected"][::-1]
    with pytest.raises(ContributionQuantilesError, match=r"segments\.a\.expected"):
        check_contribution_quantiles(bad)


def test_contribution_is_placed_within_the_segment_or_among_all_when_it_is_small() -> None:
    scores = pd.DataFrame(
        {"segment": ["a", "b", "c"], "expected_contribution": [49.5, 495.0, 49.5]}
    )
    realised = pd.Series([99.0, 0.0, np.nan])
    out = contribution_percentiles(scores, realised, _reference(), min_rows=50)
    # Segment a is 0..99, b is 0, 10, ..., 990: 49.5 and 495 are their medians; among all 200,
    # 55 lie below 49.5 (50 of a, 5 of b): about percentile 27.5.
    pct = out["expected_contribution_percentile"]
    np.testing.assert_allclose(pct, [50.0, 50.0, 27.5], atol=0.3)
    assert out["contribution_basis"].tolist() == [
        "segment a",
        "segment b",
        "all clients at training",
    ]
    np.testing.assert_allclose(out["realised_contribution_percentile"].to_numpy()[:2], [100, 0])
    small = contribution_percentiles(scores, realised, _reference(rows_b=10), min_rows=50)
    assert small["contribution_basis"].iloc[1] == "all clients at training"


def _scores(features: pd.DataFrame) -> pd.DataFrame:
    """Model outputs made up from the client id (the models' own point in time is proved
    elsewhere): what add_dimensions takes beside the features."""
    ids = features["client_id"].astype("str")
    number = ids.str.extract(r"(\d+)")[0].astype("float64")
    return pd.DataFrame(
        {
            "client_id": ids,
            "segment": features["segment"].astype("str"),
            "churn_probability": (number % 10) / 10,
            "expected_contribution": number * 1000.0,
        }
    )


def test_retention_reads_the_churn_probability_of_the_scores() -> None:
    # the churn model's output is a column of the scores, not a feature: both clients have
    # revenue this month (months_since_revenue 0: score 100, weight 1); churn 0.9 scores
    # 100 x (1 - 0.9) = 10 (weight 2): (2 x 10 + 100) / 3 = 40; churn 0.01: (2 x 99 + 100) / 3
    # = 99.33 (before, the churn input never reached the dimension: both read 100)
    features = pd.DataFrame({"client_id": ["a", "b"], "months_since_revenue": [0.0, 0.0]})
    scores = pd.DataFrame({"client_id": ["a", "b"], "segment": ["sme", "sme"],
                           "churn_probability": [0.9, 0.01]})  # fmt: skip
    out = add_dimensions(scores, features, None, DEFAULT)
    assert out["retention_score"].tolist() == pytest.approx([40.0, 99.0 + 1 / 3])
    assert out["retention_reason"].str.contains("churn", case=False).all()


def test_a_client_scored_alone_scores_as_within_the_book() -> None:
    tables = tiny_tables()
    features = build_features(tables, [D(2022, 12, 31)])
    reference = _reference()
    book = add_dimensions(_scores(features), features, reference, DEFAULT)
    for i in range(len(features)):
        one = features.iloc[[i]].reset_index(drop=True)
        alone = add_dimensions(_scores(one), one, reference, DEFAULT)
        pd.testing.assert_frame_equal(alone, book.iloc[[i]].reset_index(drop=True))


def test_the_dimensions_at_t_do_not_move_when_data_after_t_changes() -> None:
    tables = tiny_tables()
    as_of = D(2022, 3, 31)
    full = build_features(tables, [as_of, D(2022, 12, 31)])
    at_t = full[full["as_of"] == pd.Timestamp(as_of)].reset_index(drop=True)
    cut = build_features(history_at(tables, as_of), [as_of], names=list(full.columns[2:]))
    a = add_dimensions(_scores(at_t), at_t, _reference(), DEFAULT)
    b = add_dimensions(_scores(cut), cut, _reference(), DEFAULT)
    pd.testing.assert_frame_equal(a[list(DIMENSION_COLUMNS)], b[list(DIMENSION_COLUMNS)])
    assert a["trust_score"].notna().any() and a["satisfaction_score"].notna().any()


def test_repeat_financings_counts_deals_after_the_first_point_in_time() -> None:
    tables = tiny_tables()
    # c1: f1 originated 2020-02-01, f2 2021-03-15; c2: f3 only.
    features = build_features(tables, [D(2020, 12, 31), D(2021, 12, 31)])
    by = features.set_index(["client_id", features["as_of"].dt.date])["repeat_financings"]
    assert by[("c1", D(2020, 12, 31))] == 0 and by[("c1", D(2021, 12, 31))] == 1
    assert by[("c2", D(2021, 12, 31))] == 0
    # A renewal in the book raises c1's loyalty and trust at 2021-12-31 against a book
    # without it (f2 removed).
    without = {**tables, "facilities": tables["facilities"].query("facility_id != 'f2'")}
    at = [D(2021, 12, 31)]
    scored = {}
    for name, book in (("with", tables), ("without", without)):
        f = build_features(book, at)
        scored[name] = add_dimensions(_scores(f), f, None, DEFAULT).set_index("client_id")
    for dim in ("loyalty_score", "trust_score"):
        with_, without_ = (scored[k][dim].astype("float64")["c1"] for k in ("with", "without"))
        assert with_ > without_, dim


def test_without_frozen_quantiles_contribution_is_missing_and_says_why() -> None:
    features = build_features(tiny_tables(), [D(2022, 12, 31)])
    out = add_dimensions(_scores(features), features, None, DEFAULT)
    assert out["contribution_score"].isna().all()
    assert out["contribution_reason"].str.contains("retrain").all()
    assert out["relationship_dimensions"].le(4).all()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"happiness": {}}, "unknown key"),
        ({"trust": {"inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[0, 100], [30, 20], [90, 50]]}]}}, "monotone"),
        ({"trust": {"inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[30, 100], [0, 0]]}]}}, "increase strictly"),
        ({"trust": {"inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[0, 120], [90, 0]]}]}}, "0-100"),
        ({"trust": {"inputs": [{"feature": "max_dpd", "weight": 1,
                                "anchors": [[0, 100], [90, 0]]}]}}, "unknown input"),
        ({"trust": {"inputs": [{"feature": "max_dpd_12m", "weight": 0,
                                "anchors": [[0, 100], [90, 0]]}]}}, "weight must be > 0"),
        ({"trust": {"inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[0, 100, 3], [90, 0]]}]}}, "pairs"),
        ({"trust": {"requires_any": ["csat_mean_12m"], "inputs": [
            {"feature": "max_dpd_12m", "weight": 1, "anchors": [[0, 100], [90, 0]]}]}},
         "not among its inputs"),
        ({"trust": {"weight": 0.5}}, "needs at least one input"),
        ({"trust": {"caps": [{"feature": "in_default", "at_least": 1, "max_score": 120}],
                    "inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[0, 100], [90, 0]]}]}}, "max_score"),
        ({"trust": {"caps": [{"feature": "defaulted", "at_least": 1, "max_score": 10}],
                    "inputs": [{"feature": "max_dpd_12m", "weight": 1,
                                "anchors": [[0, 100], [90, 0]]}]}}, "unknown input"),
        ({"min_dimensions": 6}, "min_dimensions"),
    ],
)  # fmt: skip
def test_bad_params_are_refused_with_a_clear_message(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(ScoreConfig, {"dimensions": section}, where="params.yaml:score")


def test_the_params_file_matches_the_built_in_defaults() -> None:
    from predict.config import load_section

    root = Path(__file__).resolve().parents[2]
    loaded = load_section(root / "params.yaml", "score", ScoreConfig)
    assert loaded.dimensions == DimensionsConfig()


def test_scoring_writes_the_dimensions_with_the_frozen_contribution_quantiles(
    scoring_book: Book, tmp_path: Path
) -> None:
    from predict.features.build import FeaturesConfig
    from predict.scoring.run import score_folder

    config = ScoreConfig(chunk_size=128, previous="none")
    score_folder(
        scoring_book.raw, scoring_book.models, tmp_path / "out", config, FeaturesConfig(),
        validated=True, quiet=True,
    )  # fmt: skip
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert set(DIMENSION_COLUMNS) <= set(scores.columns)
    for d in DIMENSIONS:
        assert scores[f"{d}_score"].dropna().between(0, 100).all(), d
        assert scores[f"{d}_score"].notna().any(), d
    known = scores["relationship_index"].notna()
    assert known.any() and scores.loc[known, "relationship_dimensions"].ge(3).all()


def test_a_book_without_interactions_has_no_satisfaction_and_says_which_inputs_lack() -> None:
    tables = {k: v for k, v in tiny_tables().items() if k != "interactions"}
    features = build_features(tables, [D(2022, 12, 31)])
    out = add_dimensions(_scores(features), features, None, DEFAULT)
    assert out["satisfaction_score"].isna().all()
    assert out["satisfaction_reason"].str.contains("csat_mean_12m not in this scoring's data").all()
    assert out["trust_score"].notna().any()  # the other dimensions stand
