"""The features that read the long history and the book around the client (issue #4): rate
spreads over the same month's pricing, maturities, services held, survey history and the
effective rate, worked out by hand; the rate reference is the whole book's, in one pass, in
ranges of clients, on Dask partitions and at every point in time."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from predict.distributed import steps as dd
from predict.features import rates
from predict.features.build import FeaturesConfig, available_features, build_features
from predict.features.catalogue import FEATURES
from tests.support.tables import frame, history_at, random_tables, tiny_tables

D = dt.date
DAYS = 30.4375
SPREADS = ["rate_spread_open", "rate_spread_all"]


def _at(feats: pd.DataFrame, client: str, as_of: dt.date, column: str) -> float:
    row = feats[(feats["client_id"] == client) & (feats["as_of"] == pd.Timestamp(as_of))]
    assert len(row) == 1, f"{client} at {as_of}: {len(row)} rows"
    return float(row[column].iloc[0])


def _pricing_book() -> dict[str, pd.DataFrame]:
    """Three term loans in March 2020 (median 5%), one unrated; a lone revolver in March and
    a lone term loan in April (fewer than 3 rated peers: March's reference, the latest
    earlier month of its product)."""
    clients = frame(
        "clients",
        [(f"a{i}", "2020-01-01", "sme", "A", "n", "b1", "rm1", 1e6) for i in range(1, 6)],
    )
    facilities = frame(
        "facilities",
        [
            ("fa", "a1", "term_loan", 100_000.0, 0.040, "2020-03-05", "2025-03-05", None),
            ("fb", "a2", "term_loan", 300_000.0, 0.050, "2020-03-20", "2021-03-20", None),
            ("fc", "a3", "term_loan", 100_000.0, 0.060, "2020-03-25", "2025-03-25", "2020-09-10"),
            ("fu", "a5", "term_loan", 100_000.0, None, "2020-03-26", "2025-03-26", None),
            ("fd", "a1", "revolving_credit", 50_000.0, 0.030, "2020-03-10", "2021-03-10", None),
            ("fe", "a4", "term_loan", 100_000.0, 0.045, "2020-04-02", "2025-04-02", None),
        ],
    )
    return {"clients": clients, "facilities": facilities}


@pytest.mark.parametrize("order", [[0, 1, 2], [1, 2, 0], [2, 0, 1]])
def test_rate_spreads_sum_in_facility_order_whatever_the_row_order(order: list[int]) -> None:
    # Float sums depend on their order: 0.2 + 0.3 + 0.1 = 0.6 but (0.1 + 0.2) + 0.3 =
    # 0.6000000000000001. The spreads sum the client's facilities in facility_id order, so
    # the feature is the same bits however the rows (or, at scale, the ASOF join) order them.
    clients = frame("clients", [("x", "2020-01-01", "sme", "A", "n", "b1", "rm1", 1e6)])
    rows = [
        ("f1", "x", "term_loan", 100_000.0, 0.1, "2020-03-05", "2025-03-05", None),
        ("f2", "x", "term_loan", 100_000.0, 0.2, "2020-03-06", "2025-03-05", None),
        ("f3", "x", "term_loan", 100_000.0, 0.3, "2020-03-07", "2025-03-05", None),
    ]
    book = {"clients": clients, "facilities": frame("facilities", [rows[k] for k in order])}
    zero = {"format": rates.FORMAT, "known_at": "2020-12-31", "min_peers": 3,
            "rows": [{"product": "term_loan", "month": "2020-03", "ref_rate": 0.0}]}  # fmt: skip
    at = D(2020, 12, 31)
    feats = build_features(book, [at], rate_reference=rates.frozen_table(zero, [at]))
    assert _at(feats, "x", at, "rate_spread_all") == ((0.1 + 0.2) + 0.3) / 3  # exactly
    open_ = ((100_000.0 * 0.1 + 100_000.0 * 0.2) + 100_000.0 * 0.3) / 300_000.0
    assert _at(feats, "x", at, "rate_spread_open") == open_
    assert _at(feats, "x", at, "avg_interest_rate") == open_  # the reference is 0


def test_rate_spreads_by_hand() -> None:
    feats = build_features(_pricing_book(), [D(2020, 2, 29), D(2020, 3, 31), D(2020, 12, 31)])
    assert feats.loc[feats["as_of"] == pd.Timestamp(D(2020, 2, 29)), SPREADS].isna().all().all()
    at = D(2020, 12, 31)
    # a1: its March term loan 1 point under the median; its lone revolver has no reference
    assert _at(feats, "a1", at, "rate_spread_open") == pytest.approx(-0.01)
    assert _at(feats, "a1", at, "rate_spread_all") == pytest.approx(-0.01)
    assert _at(feats, "a2", at, "rate_spread_open") == pytest.approx(0.0, abs=1e-12)
    # a3: its loan closed in September: nothing open, but the history keeps it
    assert math.isnan(_at(feats, "a3", at, "rate_spread_open"))
    assert _at(feats, "a3", at, "rate_spread_all") == pytest.approx(0.01)
    # a4: April has no reference of its own: March's (5%) is the latest earlier one
    assert _at(feats, "a4", at, "rate_spread_all") == pytest.approx(-0.005)
    assert math.isnan(_at(feats, "a5", at, "rate_spread_all"))  # no rate
    # the month of origination itself already has its reference
    assert _at(feats, "a3", D(2020, 3, 31), "rate_spread_open") == pytest.approx(0.01)


def _repriced_book() -> dict[str, pd.DataFrame]:
    """The pricing book, three term loans of January 2021 (7%, 8%, 9%: median 8%) and a1's
    March 2020 loan fa (4%, March median 5%) repriced to 7.5% on 2021-01-15, then cut to 80k
    on 2021-02-10 (a row repeating the rate); ``facilities`` records the latest terms."""
    book = _pricing_book()
    clients = frame(
        "clients",
        [(f"a{i}", "2020-01-01", "sme", "A", "n", "b1", "rm1", 1e6) for i in (7, 8, 9)],
    )
    january = ((7, 0.07, "2021-01-05"), (8, 0.08, "2021-01-10"), (9, 0.09, "2021-01-20"))
    loans = frame(
        "facilities",
        [
            (f"j{i}", f"a{i}", "term_loan", 100_000.0, rate, day, "2026-01-31", None)
            for i, rate, day in january
        ],
    )
    fac = pd.concat([book["facilities"], loans], ignore_index=True)
    fac.loc[fac["facility_id"] == "fa", ["limit_amount", "interest_rate"]] = (80_000.0, 0.075)
    terms = frame(
        "facility_terms",
        [
            ("fa", "2020-03-05", 100_000.0, 0.04, "2025-03-05"),
            ("fa", "2021-01-15", None, 0.075, None),
            ("fa", "2021-02-10", 80_000.0, 0.075, None),
        ],
    )
    return {
        "clients": pd.concat([book["clients"], clients], ignore_index=True),
        "facilities": fac,
        "facility_terms": terms,
    }


def test_a_repriced_rate_is_spread_over_the_reference_of_its_own_month() -> None:
    """fa before its repricing: 4% over March 2020's 5%; after it: 7.5% over January 2021's
    8% (not over March 2020's 5%: +2.5 points of base rate move), also after the limit cut
    that repeats the rate; the other loans keep their origination month's reference. Point in
    time: at 2020-12-31 the repricing (dated later, and in the recorded rate) moves nothing."""
    dates = [D(2020, 12, 31), D(2021, 1, 31), D(2021, 3, 31)]
    feats = build_features(_repriced_book(), dates)
    assert _at(feats, "a1", D(2020, 12, 31), "rate_spread_open") == pytest.approx(-0.01)
    assert _at(feats, "a1", D(2020, 12, 31), "rate_spread_all") == pytest.approx(-0.01)
    for at in dates[1:]:
        assert _at(feats, "a1", at, "rate_spread_open") == pytest.approx(-0.005)
        assert _at(feats, "a1", at, "rate_spread_all") == pytest.approx(-0.005)
        assert _at(feats, "a2", at, "rate_spread_all") == pytest.approx(0.0, abs=1e-12)
        assert _at(feats, "a9", at, "rate_spread_open") == pytest.approx(0.01)


def test_rate_reference_excludes_clients_onboarded_after_t() -> None:
    """a6, onboarded in June, holds a March term loan at 8%: known only from June on. At
    2020-03-31 and 04-30 March's median is that of a1-a3 (5%); from 2020-06-30 on it is
    the median of 4%, 5%, 6%, 8% (5.5%)."""
    book = _pricing_book()
    late = frame("clients", [("a6", "2020-06-15", "sme", "A", "n", "b1", "rm1", 1e6)])
    loan = frame(
        "facilities",
        [("fl", "a6", "term_loan", 100_000.0, 0.080, "2020-03-15", "2025-03-15", None)],
    )
    tables = {
        "clients": pd.concat([book["clients"], late], ignore_index=True),
        "facilities": pd.concat([book["facilities"], loan], ignore_index=True),
    }
    dates = [D(2020, 3, 31), D(2020, 4, 30), D(2020, 6, 30)]
    ref = rates.point_in_time(tables, dates)
    march = ref[(ref["product"] == "term_loan") & (ref["omidx"] == 2020 * 12 + 3)]
    assert march.set_index("midx")["ref_rate"].to_dict() == pytest.approx(
        {2020 * 12 + 3: 0.05, 2020 * 12 + 4: 0.05, 2020 * 12 + 6: 0.055}
    )
    feats = build_features(tables, dates)
    assert _at(feats, "a2", D(2020, 4, 30), "rate_spread_open") == pytest.approx(0.0, abs=1e-12)
    assert _at(feats, "a2", D(2020, 6, 30), "rate_spread_open") == pytest.approx(-0.005)
    frozen = rates.freeze(tables, D(2020, 4, 30))
    assert frozen["rows"] == [
        {"product": "term_loan", "month": "2020-03", "ref_rate": 0.05, "facilities": 3}
    ]


def test_frozen_reference_replaces_the_input() -> None:
    """Given a frozen reference, spreads read it, whoever else is in the input; a month
    without one takes the latest earlier month of the product, a product without any has
    no spread."""
    frozen = {
        "format": rates.FORMAT,
        "known_at": "2020-02-29",
        "min_peers": 3,
        "rows": [{"product": "term_loan", "month": "2020-02", "ref_rate": 0.03, "facilities": 9}],
    }
    book = _pricing_book()
    at = D(2020, 12, 31)
    alone = {
        "clients": book["clients"][book["clients"]["client_id"] == "a1"],
        "facilities": book["facilities"][book["facilities"]["client_id"] == "a1"],
    }
    for tables in (book, alone):
        feats = build_features(tables, [at], rate_reference=rates.frozen_table(frozen, [at]))
        # a1: term loan at 4% over February's 3% (limit-weighted with no revolver spread)
        assert _at(feats, "a1", at, "rate_spread_all") == pytest.approx(0.01)
        assert _at(feats, "a1", at, "rate_spread_open") == pytest.approx(0.01)


def _clustered_book(seed: int, n_clients: int = 60) -> dict[str, pd.DataFrame]:
    """A random book whose facilities open in a few months, so most have a reference."""
    tables = random_tables(seed=seed, n_clients=n_clients)
    fac = tables["facilities"].copy()
    rng = np.random.default_rng(seed)
    months = pd.to_datetime(["2019-03-10", "2019-09-12", "2020-02-03", "2020-11-20"])
    fac["origination_date"] = months[rng.integers(0, len(months), len(fac))].astype(
        fac["origination_date"].dtype
    )
    fac["interest_rate"] = np.round(rng.uniform(0.02, 0.08, len(fac)), 4)
    later = fac["closed_date"].notna() & (fac["closed_date"] <= fac["origination_date"])
    fac.loc[later, "closed_date"] = pd.NaT
    fac["maturity_date"] = fac[["maturity_date", "origination_date"]].max(axis=1)
    return {**tables, "facilities": fac}


DATES = [D(2019, 3, 31), D(2019, 12, 31), D(2020, 6, 30), D(2020, 11, 30), D(2022, 6, 30)]


def test_the_reference_is_the_whole_books_in_every_pass_of_clients() -> None:
    tables = _clustered_book(seed=7)
    one = build_features(tables, DATES)
    assert one["rate_spread_all"].notna().sum() > 50 and one["rate_spread_all"].abs().gt(0).any()
    chunked = build_features(tables, DATES, FeaturesConfig(events_per_pass=300))
    pd.testing.assert_frame_equal(chunked, one, check_exact=False, rtol=1e-12, atol=1e-12)


def test_the_reference_is_the_whole_books_on_dask_partitions() -> None:
    tables = _clustered_book(seed=8)
    one = build_features(tables, DATES)
    got = dd.build_features_dask(tables, DATES, FeaturesConfig(), partitions=4)
    assert got[SPREADS].notna().sum().min() > 30
    pd.testing.assert_frame_equal(got, one, check_exact=False, rtol=1e-12, atol=1e-12)


def test_rate_spreads_are_point_in_time() -> None:
    """From the full book and from the book as known at t: the same spreads, although
    facilities of later months (and of other clients) are absent from the cut."""
    tables = _clustered_book(seed=9)
    full = build_features(tables, DATES)
    names = [c for c in full.columns if c not in ("client_id", "as_of")]
    assert {*SPREADS, "survey_score_all", "months_to_last_maturity"} <= set(names)
    checked = 0
    for as_of in DATES:
        cut = build_features(history_at(tables, as_of), [as_of], names=names)
        at_t = full[full["as_of"] == pd.Timestamp(as_of)].reset_index(drop=True)
        pd.testing.assert_frame_equal(at_t, cut, check_exact=False, rtol=1e-9, atol=1e-9)
        checked += int(at_t["rate_spread_all"].notna().sum())
    assert checked > 50


def test_maturity_features_by_hand() -> None:
    feats = build_features(tiny_tables(), [D(2020, 12, 31), D(2021, 12, 31), D(2022, 6, 30)])
    # c1 at 2021-12-31: f1 (100k) matures 2025-02-01, f2 (50k) 2022-03-15 (inside 12 months)
    last = (pd.Timestamp("2025-02-01") - pd.Timestamp("2021-12-31")).days / DAYS
    assert _at(feats, "c1", D(2021, 12, 31), "months_to_last_maturity") == pytest.approx(last)
    assert _at(feats, "c1", D(2021, 12, 31), "maturing_limit_share_12m") == pytest.approx(1 / 3)
    assert _at(feats, "c1", D(2020, 12, 31), "maturing_limit_share_12m") == 0.0
    assert _at(feats, "c1", D(2022, 6, 30), "maturing_limit_share_12m") == 0.0  # f2 closed


def test_effective_rate_by_hand() -> None:
    feats = build_features(tiny_tables(), [D(2020, 12, 31), D(2021, 12, 31)])
    # interest 500 a month on 80k (f1), then on 80k + 25k (f2 from March 2021)
    assert _at(feats, "c1", D(2020, 12, 31), "effective_rate_3m") == pytest.approx(0.075)
    assert _at(feats, "c1", D(2021, 12, 31), "effective_rate_3m") == pytest.approx(6000 / 105000)


def _with_services(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    rows = [
        ("c1", "2020-10-05", 40.0, "fx"),
        ("c1", "2020-11-05", 40.0, " FX"),  # the same code, spelt differently
        ("c1", "2020-12-03", 60.0, "cash_management"),
        ("c1", "2020-12-20", 60.0, "cash_management"),
        ("c1", "2020-12-21", -30.0, "trade"),  # a refund is no service in use
    ]
    revenue = pd.concat([tables["revenue"], frame("revenue", rows)], ignore_index=True)
    return {**tables, "revenue": revenue}


@pytest.mark.parametrize("monthly", [False, True])
def test_services_held_by_hand_whatever_the_calendar(monthly: bool) -> None:
    tables = _with_services(tiny_tables())
    dates = [D(2020, 12, 31), D(2021, 1, 31), D(2021, 3, 31)]
    if monthly:
        dates += [D(2020, 10, 31), D(2020, 11, 30), D(2021, 2, 28)]
    feats = build_features(tables, dates)
    assert _at(feats, "c1", D(2020, 12, 31), "services_held_3m") == 2  # fx, cash_management
    assert _at(feats, "c1", D(2021, 1, 31), "services_held_3m") == 2  # Nov fx, Dec cash
    assert _at(feats, "c1", D(2021, 3, 31), "services_held_3m") == 0  # interest and fees only


@pytest.mark.parametrize(
    "dates",
    [[D(2021, 12, 31), D(2022, 6, 30)], [D(2022, 6, 30)], [D(2021, 3, 31), D(2022, 6, 30)]],
)
def test_survey_history_by_hand_whatever_the_calendar(dates: list[dt.date]) -> None:
    """c1's surveys: CSAT 4 (2021-06), CSAT 2 and NPS 5 (2022-01), one unanswered (2022-02)."""
    feats = build_features(tiny_tables(), dates)
    at = D(2022, 6, 30)
    assert _at(feats, "c1", at, "survey_score_all") == pytest.approx((0.75 + 0.25 + 0.5) / 3)
    assert _at(feats, "c1", at, "survey_response_all") == pytest.approx(2 / 3)
    assert math.isnan(_at(feats, "c2", at, "survey_score_all"))  # never surveyed
    if D(2021, 12, 31) in dates:
        assert _at(feats, "c1", D(2021, 12, 31), "survey_score_all") == pytest.approx(0.75)
        assert _at(feats, "c1", D(2021, 12, 31), "survey_response_all") == 1.0


def test_answers_before_onboarding_and_the_first_as_of_count() -> None:
    tables = tiny_tables()
    early = frame("interactions", [("c2", "2019-05-01", "survey", "portal", 5, 10)])
    tables["interactions"] = pd.concat([tables["interactions"], early], ignore_index=True)
    feats = build_features(tables, [D(2021, 6, 30), D(2022, 6, 30)])
    assert _at(feats, "c2", D(2021, 6, 30), "survey_score_all") == 1.0
    assert _at(feats, "c2", D(2022, 6, 30), "survey_response_all") == 1.0


def test_absent_inputs_leave_the_new_features_out() -> None:
    tables = tiny_tables()
    no_rates = {**tables, "facilities": tables["facilities"].assign(interest_rate=np.nan)}
    kept, left_out = available_features(no_rates)
    assert set(SPREADS) <= set(left_out) and "avg_interest_rate" in left_out
    assert "months_to_last_maturity" in kept
    no_source = {**tables, "revenue": tables["revenue"].assign(source=None)}
    kept, left_out = available_features(no_source)
    # without revenue.source every amount would count as "other": the per-family revenues
    # and the interest-based rates are left out (they read 0 interest), the totals kept
    by_family = [f"revenue_{f}_{m}m" for f in ("interest", "fee", "other") for m in (3, 6, 12)]
    assert {"services_held_3m", *by_family, "interest_margin_12m", "effective_rate_3m"} <= set(
        left_out
    )
    assert {"revenue_3m", "revenue_12m", "revenue_trend_3m"} <= set(kept)
    only_clients = {"clients": tables["clients"]}
    kept, _ = available_features(only_clients)
    new = ["services_held_3m", "months_to_last_maturity", "maturing_limit_share_12m"]
    new += [*SPREADS, "effective_rate_3m", "survey_score_all", "survey_response_all"]
    assert not set(new) & set(kept)
    assert all(name in FEATURES for name in new)


def test_a_pricing_only_book_without_events_builds() -> None:
    """Facilities alone (no balances or revenue): spreads and maturities still come."""
    feats = build_features(_pricing_book(), [D(2020, 12, 31)])
    assert feats["rate_spread_all"].notna().sum() == 4  # a1-a4 (a4: the March reference)
    assert feats["months_to_last_maturity"].notna().sum() == 4
