"""Features on the tiny hand-made book: values worked out by hand, absent inputs, dtypes."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

from predict.features.build import (
    FeaturesConfig,
    RevenueSources,
    available_features,
    build_features,
)
from predict.features.catalogue import FEATURES
from tests.support.tables import tiny_tables

D = dt.date
MONTH = 30.4375
DATES = [D(2021, 6, 30), D(2021, 12, 31), D(2022, 5, 31), D(2022, 6, 30), D(2022, 12, 31)]


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    return build_features(tiny_tables(), DATES)


def at(frame: pd.DataFrame, client: str, day: dt.date) -> pd.Series:
    rows = frame[(frame["client_id"] == client) & (frame["as_of"] == pd.Timestamp(day))]
    assert len(rows) == 1, f"{client} at {day}: {len(rows)} rows"
    return rows.iloc[0]


def test_every_catalogue_feature_is_built_with_its_dtype(feats: pd.DataFrame) -> None:
    assert list(feats.columns) == ["client_id", "as_of", *FEATURES]
    assert feats["client_id"].dtype == "str"
    assert feats["as_of"].dtype == "datetime64[s]"
    for name, spec in FEATURES.items():
        expected = "str" if spec.kind == "categorical" else "float64"
        assert feats[name].dtype == expected, name
    assert not feats.duplicated(["client_id", "as_of"]).any()
    assert feats.equals(feats.sort_values(["client_id", "as_of"]).reset_index(drop=True))


def test_clients_onboarded_after_the_as_of_date_have_no_row(feats: pd.DataFrame) -> None:
    present = feats.groupby("as_of")["client_id"].apply(sorted).to_dict()
    assert present[pd.Timestamp("2021-06-30")] == ["c1", "c2"]  # c2 onboarded 2021-06-01
    assert "c3" not in feats["client_id"].to_numpy()  # onboarded 2023-01-10
    later = build_features(tiny_tables(), [D(2023, 1, 31)])
    assert sorted(later["client_id"]) == ["c1", "c2", "c3"]
    assert at(later, "c3", D(2023, 1, 31))["lifecycle_stage"] == "potential"


def test_a_facility_closed_after_t_is_open_at_t(feats: pd.DataFrame) -> None:
    before, after = at(feats, "c1", D(2022, 5, 31)), at(feats, "c1", D(2022, 6, 30))
    assert before["n_open_facilities"] == 2 and before["total_limit"] == 150_000
    assert after["n_open_facilities"] == 1 and after["total_limit"] == 100_000
    assert after["facilities_closed_12m"] == 1 and before["facilities_closed_12m"] == 0
    assert before["n_products"] == 2 and after["n_products"] == 1


def test_a_facility_originated_after_t_is_not_seen(feats: pd.DataFrame) -> None:
    c2 = at(feats, "c2", D(2021, 6, 30))  # f3 starts 2021-07-01
    assert c2["n_open_facilities"] == 0 and c2["total_limit"] == 0
    assert np.isnan(c2["utilisation"]) and np.isnan(c2["months_to_maturity"])
    assert c2["lifecycle_stage"] == "potential"


def test_loan_features_by_hand(feats: pd.DataFrame) -> None:
    c1 = at(feats, "c1", D(2021, 12, 31))
    assert c1["drawn_balance"] == 105_000  # 80k on f1 + 25k on f2
    assert c1["utilisation"] == pytest.approx(105_000 / 150_000)
    assert c1["avg_interest_rate"] == pytest.approx((100_000 * 0.05 + 50_000 * 0.07) / 150_000)
    days = (pd.Timestamp("2022-03-15") - pd.Timestamp("2021-12-31")).days
    assert c1["months_to_maturity"] == pytest.approx(days / MONTH)  # f2 matures first
    assert c1["facilities_opened_12m"] == 1  # f2, 2021-03-15
    assert at(feats, "c1", D(2022, 6, 30))["utilisation_change_3m"] == pytest.approx(
        105_000 / 100_000 - 105_000 / 150_000
    )


def test_arrears_features_by_hand(feats: pd.DataFrame) -> None:
    mid = at(feats, "c2", D(2022, 6, 30))  # 30 dpd in April, 60 in May, 0 in June
    assert mid["current_dpd"] == 0 and mid["max_dpd_12m"] == 60
    assert mid["months_in_arrears_3m"] == 2 and mid["cures_12m"] == 1
    end = at(feats, "c2", D(2022, 12, 31))  # 30, 60, 90, 120, 150 from August
    assert end["current_dpd"] == 150 and end["max_dpd_12m"] == 150
    assert [end[f"months_in_arrears_{n}m"] for n in (3, 6, 12, 24)] == [3, 5, 7, 7]
    assert end["ever_defaulted"] == 1 and at(feats, "c2", D(2022, 6, 30))["ever_defaulted"] == 0


def test_revenue_features_by_hand(feats: pd.DataFrame) -> None:
    c1 = at(feats, "c1", D(2021, 12, 31))  # 500 interest a month, 100 fee in Mar/Jun/Sep/Dec
    assert c1["revenue_3m"] == 1600 and c1["revenue_12m"] == 6400
    assert c1["revenue_interest_12m"] == 6000 and c1["revenue_fee_12m"] == 400  # "Fee" too
    assert c1["revenue_other_12m"] == 0 and c1["revenue_trend_3m"] == 0
    monthly = [500, 500, 600] * 4
    assert c1["revenue_volatility_12m"] == pytest.approx(np.std(monthly, ddof=1))
    assert c1["revenue_to_turnover_12m"] == pytest.approx(6400 / 1_000_000)
    assert c1["interest_margin_12m"] == pytest.approx(6000 / c1["avg_drawn_12m"])
    assert c1["months_since_revenue"] == 0  # the December fee is booked on the 31st
    c2 = at(feats, "c2", D(2021, 12, 31))  # onboarded June; 800 a month from August
    assert c2["revenue_volatility_12m"] == pytest.approx(
        np.std([0, 0, 800, 800, 800, 800, 800], ddof=1)
    )
    assert at(feats, "c2", D(2022, 12, 31))["revenue_trend_3m"] == -2400


def test_interaction_features_by_hand(feats: pd.DataFrame) -> None:
    c1 = at(feats, "c1", D(2022, 6, 30))
    assert c1["contacts_12m"] == 4 and c1["contacts_3m"] == 0
    assert c1["complaints_12m"] == 1 and c1["service_requests_12m"] == 1
    assert c1["months_since_complaint"] == pytest.approx(
        (pd.Timestamp("2022-06-30") - pd.Timestamp("2021-11-03")).days / MONTH
    )
    assert c1["months_since_rm_contact"] == pytest.approx(
        (pd.Timestamp("2022-06-30") - pd.Timestamp("2021-05-10")).days / MONTH
    )
    assert c1["csat_mean_12m"] == 2 and c1["csat_last"] == 2 and c1["csat_trend_12m"] == -2
    assert c1["nps_last"] == 5 and c1["nps_status"] == "detractor"
    assert c1["survey_nonresponse_12m"] == 0.5
    c2 = at(feats, "c2", D(2022, 6, 30))  # one call, no RM meeting, no survey
    assert c2["contacts_12m"] == 1 and np.isnan(c2["months_since_complaint"])
    assert np.isnan(c2["csat_mean_12m"]) and pd.isna(c2["nps_status"])


def test_credit_event_features_by_hand(feats: pd.DataFrame) -> None:
    c1 = at(feats, "c1", D(2022, 6, 30))  # covenant breach 2021-08-01
    assert c1["covenant_breach_12m"] == 1 and c1["watchlist_24m"] == 0
    late = at(feats, "c1", D(2022, 12, 31))
    assert late["covenant_breach_12m"] == 0 and late["covenant_breach_24m"] == 1
    c2 = at(feats, "c2", D(2022, 12, 31))  # watchlist April, default October
    assert c2["watchlist_12m"] == 1
    assert c2["months_since_credit_event"] == pytest.approx(61 / MONTH)


def test_relationship_features_by_hand(feats: pd.DataFrame) -> None:
    c1 = at(feats, "c1", D(2021, 12, 31))
    days = (pd.Timestamp("2021-12-31") - pd.Timestamp("2020-01-15")).days
    assert c1["tenure_months"] == pytest.approx(days / MONTH)
    assert c1["limit_to_turnover"] == pytest.approx(0.15)
    assert (c1["segment"], c1["industry"], c1["region"]) == ("sme", "A", "north")
    assert c1["lifecycle_stage"] == "active"
    assert at(feats, "c2", D(2022, 6, 30))["lifecycle_stage"] == "new"  # first loan 2021-07
    assert at(feats, "c2", D(2022, 12, 31))["lifecycle_stage"] == "in_default"  # 90+ dpd


def test_dormant_then_churned_when_the_loan_closes_and_revenue_stops() -> None:
    tables = tiny_tables()
    fac = tables["facilities"]
    fac.loc[fac["facility_id"] == "f3", "closed_date"] = pd.Timestamp("2022-10-31")
    dates = [D(2022, 9, 30), D(2022, 12, 31), D(2023, 4, 30)]
    frame = build_features(tables, dates)
    stages = [at(frame, "c2", d)["lifecycle_stage"] for d in dates]
    assert stages == ["active", "in_default", "churned"]  # default 2022-10; cured 2023-04
    bal = tables["facility_balances"]
    tables["facility_balances"] = bal.assign(days_past_due=bal["days_past_due"].clip(upper=60))
    tables["credit_events"] = tables["credit_events"].iloc[:2]  # no default
    frame = build_features(tables, dates)
    stages = [at(frame, "c2", d)["lifecycle_stage"] for d in dates]
    assert stages == ["active", "dormant", "churned"]  # last revenue 2022-09-20


def test_absent_tables_leave_their_features_out_and_say_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = {"clients": tiny_tables()["clients"]}
    with caplog.at_level(logging.INFO, logger="predict.features.build"):
        frame = build_features(tables, [D(2022, 12, 31)])
    assert list(frame.columns) == [
        "client_id",
        "as_of",
        "tenure_months",
        "annual_turnover",
        "segment",
        "industry",
        "region",
    ]
    messages = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert len(messages) == 1 and "needs facilities" in messages[0]
    assert "utilisation" in messages[0] and "csat_last" in messages[0]


def test_revenue_alone_gives_lifecycle_and_contribution_features() -> None:
    tiny = tiny_tables()
    frame = build_features(
        {"clients": tiny["clients"], "revenue": tiny["revenue"]}, [D(2022, 12, 31)]
    )
    assert "lifecycle_stage" in frame and "revenue_12m" in frame
    assert "total_limit" not in frame and "interest_margin_12m" not in frame
    assert at(frame, "c2", D(2022, 12, 31))["lifecycle_stage"] == "dormant"  # last: September


def test_an_empty_optional_column_leaves_its_features_out_unless_asked_for() -> None:
    tables = tiny_tables()
    tables["interactions"]["csat"] = pd.array([None] * len(tables["interactions"]), dtype="Int64")
    names, left_out = available_features(tables)
    assert "csat_last" in left_out and "nps_last" in names and "survey_nonresponse_12m" in names
    frame = build_features(tables, [D(2022, 6, 30)], names=["csat_last", "tenure_months"])
    assert list(frame.columns) == ["client_id", "as_of", "tenure_months", "csat_last"]
    assert frame["csat_last"].isna().all()
    with pytest.raises(ValueError, match="absent"):
        build_features({"clients": tables["clients"]}, [D(2022, 6, 30)], names=["csat_last"])
    with pytest.raises(KeyError, match="no_such"):
        build_features(tables, [D(2022, 6, 30)], names=["no_such"])


def test_revenue_source_codes_come_from_params() -> None:
    tables = tiny_tables()
    tables["revenue"]["source"] = tables["revenue"]["source"].replace({"interest": "INT_INC"})
    default = at(build_features(tables, [D(2021, 12, 31)]), "c1", D(2021, 12, 31))
    assert default["revenue_interest_12m"] == 0 and default["revenue_other_12m"] == 6000
    config = FeaturesConfig(revenue_sources=RevenueSources(interest=("int_inc",), fee=("fee",)))
    mapped = at(build_features(tables, [D(2021, 12, 31)], config), "c1", D(2021, 12, 31))
    assert mapped["revenue_interest_12m"] == 6000 and mapped["revenue_other_12m"] == 0


def test_a_code_in_two_families_is_a_config_error() -> None:
    with pytest.raises(ValueError, match=r"'fee'.*both"):
        FeaturesConfig(revenue_sources=RevenueSources(interest=("fee",), fee=("fee",)))


def test_bad_as_of_dates_and_missing_clients_are_refused() -> None:
    with pytest.raises(ValueError, match="not a month end"):
        build_features(tiny_tables(), [D(2022, 6, 15)])
    with pytest.raises(ValueError, match="clients is required"):
        build_features({"revenue": tiny_tables()["revenue"]}, [D(2022, 6, 30)])
    with pytest.raises(ValueError, match="dormant_months"):
        FeaturesConfig(inactivity_months=3)


def test_no_client_yet_gives_an_empty_typed_frame() -> None:
    frame = build_features(tiny_tables(), [D(2019, 12, 31)])
    assert frame.empty and frame["tenure_months"].dtype == "float64"
    assert frame["segment"].dtype == "str" and frame["as_of"].dtype == "datetime64[s]"


def test_ranges_of_clients_give_the_same_table_as_one_pass(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = tiny_tables()
    with caplog.at_level(logging.INFO, logger="predict.features.build"):
        chunked = build_features(tables, DATES, FeaturesConfig(events_per_pass=40))
    assert any("passes over ranges of clients" in r.getMessage() for r in caplog.records)
    pd.testing.assert_frame_equal(chunked, build_features(tables, DATES))


def test_a_window_reaching_before_the_data_is_missing_not_a_short_sum() -> None:
    """The tiny book's first event row is in February 2020 (balances): at 2021-06-30 the
    24-month window (2019-07..2021-06) and the 12-month trend (24 months) reach before it,
    so they are missing; the 12-month window (2020-07..2021-06) is whole and counted. A
    later data_start (params) masks the 12-month windows too, and nothing else moves."""
    from predict.features.build import history_months, mask_short_windows
    from predict.features.snapshots import data_start

    tables = tiny_tables()
    start = data_start(tables)
    assert (start.year, start.month) == (2020, 2)
    feats = build_features(tables, DATES)
    early = at(feats, "c1", D(2021, 6, 30))
    assert np.isnan(early["months_in_arrears_24m"]) and np.isnan(early["covenant_breach_24m"])
    assert np.isnan(early["csat_trend_12m"])  # the 12 months before the last 12: from 2019-07
    assert early["revenue_12m"] == 6400  # 2020-07..2021-06: 12 x 500 + 4 x 100
    assert early["covenant_breach_12m"] == 0
    late = at(feats, "c1", D(2022, 12, 31))  # 2021-01..2022-12: whole
    assert late["covenant_breach_24m"] == 1  # the breach of 2021-08-01
    # params: the data begin in 2020-09 -> the 12-month windows of 2021-06 reach before it
    later = build_features(tables, DATES, FeaturesConfig(data_start="2020-09-30"))
    row = at(later, "c1", D(2021, 6, 30))
    assert np.isnan(row["revenue_12m"]) and row["revenue_6m"] == early["revenue_6m"]
    same = [c for c in feats.columns if history_months(c) is None]
    pd.testing.assert_frame_equal(later[same], feats[same])
    # the rule, by hand: W months for a window, 2W for a trend, W + 1 for a change
    assert history_months("revenue_12m") == 12 and history_months("csat_trend_12m") == 24
    assert history_months("utilisation_change_3m") == 4
    assert history_months("maturing_limit_share_12m") is None  # looks forward
    assert history_months("tenure_months") is None
    frame = pd.DataFrame({"as_of": pd.to_datetime(["2020-11-30", "2020-12-31"]),
                          "revenue_12m": [5.0, 6.0], "tenure_months": [1.0, 2.0]})  # fmt: skip
    masked = mask_short_windows(frame, D(2020, 1, 1))
    assert masked["revenue_12m"].isna().tolist() == [True, False]  # 2019-12..2020-11 vs 2020-01..
    assert masked["tenure_months"].tolist() == [1.0, 2.0]
