"""Portfolio KPIs on tiny frames whose answers can be checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from predict.report.kpis import (
    ALL,
    COVERAGE,
    KpiConfig,
    active_clients,
    client_groups,
    default_risk_histogram,
    lifecycle_counts,
    months_before,
    net_promoter_score,
    portfolio_kpis,
    retention,
    score_kpis,
    survey_kpis,
    window_start,
)

AS_OF = pd.Timestamp("2024-12-31")


def _dates(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="object").pipe(pd.to_datetime).astype("datetime64[s]")


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    """A: open facility throughout. B: facility closed 2024-05-15, last revenue 2024-03.
    C: no facility, revenue 2023-10 and 2024-11. D: facility opened 2024-06-30 only.
    E: only a zero-amount revenue row in 2023-11 (a zero does not make a client active)."""
    clients = pd.DataFrame(
        {
            "client_id": pd.Series(list("ABCDE"), dtype="str"),
            "segment": pd.Series(["x", "x", "y", "y", "y"], dtype="str"),
            "branch_id": pd.Series(["b1", "b2", "b1", "b2", "b2"], dtype="str"),
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": pd.Series(["fa", "fb", "fd"], dtype="str"),
            "client_id": pd.Series(["A", "B", "D"], dtype="str"),
            "origination_date": _dates(["2020-01-31", "2020-01-31", "2024-06-30"]),
            "closed_date": _dates([None, "2024-05-15", None]),
        }
    )
    revenue = pd.DataFrame(
        {
            "client_id": pd.Series(["B", "C", "C", "E"], dtype="str"),
            "date": _dates(["2024-03-10", "2023-10-05", "2024-11-20", "2023-11-01"]),
            "amount": [100.0, 50.0, 60.0, 0.0],
        }
    )
    interactions = pd.DataFrame(
        {
            "client_id": pd.Series(["A", "A", "B", "B", "C", "D", "C", "A", "B"], dtype="str"),
            "date": _dates(
                [
                    "2024-01-01",
                    "2024-06-01",
                    "2024-07-01",
                    "2024-12-31",
                    "2024-02-02",
                    "2024-08-08",
                    "2023-12-31",
                    "2025-01-05",
                    "2024-03-03",
                ]
            ),
            "kind": pd.Series(["survey"] * 9, dtype="str"),
            "nps": pd.array([10, 9, 7, 3, 6, 0, 10, 10, None], dtype="Int64"),
            "csat": pd.array([5, None, 4, None, 2, None, 1, 1, None], dtype="Int64"),
        }
    )
    return {
        "clients": clients,
        "facilities": facilities,
        "revenue": revenue,
        "interactions": interactions,
    }


@pytest.fixture
def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(list("ABCD"), dtype="str"),
            "segment": pd.Series(["x", "x", "y", "y"], dtype="str"),
            "churn_probability": [0.1, 0.6, 0.5, np.nan],
            "default_probability": [0.01, 0.02, 0.03, 0.5],
            "expected_contribution": [1000.0, 500.0, -200.0, 800.0],
            "run_rate_revenue": [200.0, 100.0, 50.0, 300.0],
            # churn_probability x run_rate_revenue, as scoring writes it
            "contribution_at_risk": [20.0, 60.0, 25.0, np.nan],
            "expected_loss": [1.0, 2.0, 3.0, 4.0],
            "ead": [10.0, 20.0, 30.0, 40.0],
            "lifecycle_stage": pd.Series(
                ["mature", "decline", "mature", "onboarding"], dtype="str"
            ),
        }
    )


def test_windows_are_calendar_months_ending_with_the_as_of_month() -> None:
    assert months_before(AS_OF, 12) == pd.Timestamp("2023-12-31")
    assert months_before(pd.Timestamp("2024-03-31"), 1) == pd.Timestamp("2024-02-29")
    assert window_start(AS_OF, 6) == pd.Timestamp("2024-07-01")
    assert window_start(pd.Timestamp("2024-11-30"), 6) == pd.Timestamp("2024-06-01")


def test_active_clients_uses_open_facilities_and_recent_nonzero_revenue(
    tables: dict[str, pd.DataFrame],
) -> None:
    assert list(active_clients(tables, pd.Timestamp("2023-12-31"), 6)) == ["A", "B", "C"]
    assert list(active_clients(tables, AS_OF, 6)) == ["A", "C", "D"]


def test_active_clients_ignores_rows_after_the_date(tables: dict[str, pd.DataFrame]) -> None:
    # at 2024-06-30 C's revenue of 2024-11 is in the future and its 2023-10 one is too old
    assert "C" not in set(active_clients(tables, pd.Timestamp("2024-06-30"), 6))


def test_retention_counts_clients_active_a_year_ago_still_active_now(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame
) -> None:
    groups = client_groups(scores, tables["clients"], "segment")
    out = retention(tables, AS_OF, groups, KpiConfig(retention_months=12, inactivity_months=6))
    assert list(out.loc["x", ["active_before", "retained"]]) == [2, 1]  # A stays, B left
    assert out.loc["x", "retention_rate"] == pytest.approx(0.5)
    assert list(out.loc["y", ["active_before", "retained"]]) == [1, 1]  # C; D new, E never
    # no credit_events or facility_balances table: no default can be seen, so "defaulted"
    # is missing (not 0) and the rate is over every client active before, as the label's
    assert out["defaulted"].isna().all()
    total = retention(tables, AS_OF, client_groups(scores, tables["clients"], None), KpiConfig())
    assert total.loc[ALL, "retention_rate"] == pytest.approx(2 / 3)


def _retention_book() -> dict[str, pd.DataFrame]:
    """Five clients with a facility open at 2023-12-31 (12 months before AS_OF):
    S stays; L leaves (facility closed 2024-05-15, a default event after AS_OF is not seen);
    V defaults (a "Default " event in 2024-06, any case and spaces) and its facility is
    closed: an exit through default; W is at 90 days past due at 2024-09-30 and stays open
    (in workout, still active); R defaulted in 2023-06 (before the window), cured and stays.
    Not triggers: a covenant breach of S, 89 days past due of S."""
    ids = ["S", "L", "V", "W", "R"]
    facilities = pd.DataFrame(
        {
            "facility_id": pd.Series([f"f{c}" for c in ids], dtype="str"),
            "client_id": pd.Series(ids, dtype="str"),
            "origination_date": _dates(["2020-01-31"] * 5),
            "closed_date": _dates([None, "2024-05-15", "2024-08-31", None, None]),
        }
    )
    balances = pd.DataFrame(
        {
            "facility_id": pd.Series(["fS", "fW", "fW"], dtype="str"),
            "month_end": _dates(["2024-03-31", "2024-08-31", "2024-09-30"]),
            "outstanding": [100.0, 100.0, 100.0],
            "days_past_due": [89, 60, 90],
        }
    )
    events = pd.DataFrame(
        {
            "client_id": pd.Series(["V", "R", "S", "L"], dtype="str"),
            "date": _dates(["2024-06-10", "2023-06-15", "2024-02-01", "2025-01-15"]),
            "kind": pd.Series(["Default ", "default", "covenant_breach", "default"], dtype="str"),
        }
    )
    clients = pd.DataFrame(
        {"client_id": pd.Series(ids, dtype="str"), "segment": pd.Series(["x"] * 5, dtype="str")}
    )
    return {
        "clients": clients,
        "facilities": facilities,
        "facility_balances": balances,
        "credit_events": events,
    }


def test_retention_counts_exits_through_default_apart_as_the_churn_label() -> None:
    book = _retention_book()
    groups = pd.Series("x", index=pd.Index(list("SLVWR"), dtype="str"))
    out = retention(book, AS_OF, groups, KpiConfig()).loc["x"]
    # active 12 months before: all five; defaulted since: V (event), W (90 DPD) -> 2;
    # of the other three S and R are still active, L left: 2 / 3 (every exit counted as
    # attrition would read 3 / 5: W "retained", V "lost")
    assert list(out[["active_before", "defaulted", "retained"]]) == [5, 2, 2]
    assert out["retention_rate"] == pytest.approx(2 / 3)
    # the labels' trigger: dpd_threshold and the default kinds are params (features.default)
    lower = retention(book, AS_OF, groups, KpiConfig(dpd_threshold=89)).loc["x"]
    assert list(lower[["defaulted", "retained"]]) == [3, 1]  # S's 89 days now a trigger too
    kinds = retention(book, AS_OF, groups, KpiConfig(default_event_kinds=("write_off",)))
    # only W (DPD); V's exit is then attrition: S and R retained of four
    assert list(kinds.loc["x", ["defaulted", "retained"]]) == [1, 2]
    # events alone (no balances): V only
    no_bal = {k: v for k, v in book.items() if k != "facility_balances"}
    assert retention(no_bal, AS_OF, groups, KpiConfig()).loc["x", "defaulted"] == 1
    # nobody left once the defaulted are out: the rate is missing, not 0 or 1
    only_v = {**book, "facilities": book["facilities"].iloc[[2]]}
    gone = retention(only_v, AS_OF, groups, KpiConfig()).loc["x"]
    assert (gone["active_before"], gone["defaulted"]) == (1, 1)
    assert math.isnan(gone["retention_rate"])


def test_net_promoter_score_is_promoters_minus_detractors_in_points() -> None:
    assert net_promoter_score(pd.Series([10, 9, 7, 3])) == pytest.approx(25.0)
    assert net_promoter_score(pd.Series([6, 0])) == pytest.approx(-100.0)
    assert math.isnan(net_promoter_score(pd.Series([], dtype="float64")))


def test_survey_kpis_use_only_answers_in_the_last_12_months(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame
) -> None:
    groups = client_groups(scores, tables["clients"], "segment")
    out = survey_kpis(tables["interactions"], AS_OF, groups, months=12)
    # x, per respondent: A answered 10 then 9 (its 2025 answer is after the as-of date) ->
    # 9, a promoter; B answered 7 then 3 -> 3, a detractor: 50% - 50% = 0 over 2
    # respondents (per answer it read 10, 9, 7, 3 -> +25 over 4 answers)
    assert out.loc["x", "nps"] == pytest.approx(0.0)
    assert out.loc["x", "nps_respondents"] == 2
    # y: C 6, D 0 (C's 2023-12-31 answer is outside the window): two detractors
    assert out.loc["y", "nps"] == pytest.approx(-100.0)
    assert out.loc["y", "nps_respondents"] == 2
    assert out.loc["x", "csat"] == pytest.approx(4.5)
    assert out.loc["y", "csat"] == pytest.approx(2.0)


def test_contribution_at_risk_is_the_sum_of_the_scores_column(scores: pd.DataFrame) -> None:
    groups = client_groups(scores, None, None)
    out = score_kpis(scores, groups, churn_threshold=0.5).loc[ALL]
    # 0.1*200 + 0.6*100 + 0.5*50 = 20 + 60 + 25 = 105 (D: unknown churn p, left out)
    assert out["contribution_at_risk"] == pytest.approx(105.0)
    # clients with p >= 0.5: B (60) and C (25)
    assert out["contribution_at_risk_above_threshold"] == pytest.approx(85.0)
    assert out["expected_leavers"] == pytest.approx(1.2)
    assert out["predicted_churn"] == pytest.approx(0.4)
    assert out["clients"] == 4
    by_segment = score_kpis(scores, client_groups(scores, None, "segment"), 0.5)
    assert by_segment.loc["x", "contribution_at_risk"] == pytest.approx(80.0)  # 20 + 60
    # no column (or no client with a known value): missing, never 0
    bare = scores.drop(columns="contribution_at_risk")
    none = score_kpis(bare, client_groups(bare, None, None), 0.5).loc[ALL]
    assert math.isnan(none["contribution_at_risk"])
    assert math.isnan(none["contribution_at_risk_above_threshold"])


def test_a_sum_with_no_known_value_is_missing_not_zero(scores: pd.DataFrame) -> None:
    # no model applied: every churn probability, contribution, EAD and expected loss missing
    blank = scores.assign(
        churn_probability=np.nan,
        expected_contribution=np.nan,
        contribution_at_risk=np.nan,
        ead=np.nan,
        expected_loss=np.nan,
        in_default=pd.array([False, False, True, False], dtype="boolean"),
    )
    out = score_kpis(blank, client_groups(blank, None, None), 0.5).loc[ALL]
    for key in (
        "expected_leavers",
        "contribution",
        "contribution_at_risk",
        "contribution_at_risk_above_threshold",
        "expected_loss_performing",
        "expected_loss_in_default",
        "ead",
    ):
        assert math.isnan(out[key]), key
        assert out[COVERAGE[key][0]] == 0, key
    assert (out["clients_performing"], out["clients_in_default"]) == (3, 1)


def test_a_sum_over_part_of_its_population_says_how_many_clients() -> None:
    # A, B performing with EL 10 and unknown; C in default with EL 100 and D with unknown EL
    # (the default model not applied to it) -> performing 10 (1 of 2), in default 100 (1 of 2)
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(list("ABCD"), dtype="str"),
            "churn_probability": [0.2, np.nan, np.nan, 0.3],
            "default_probability": [0.01, np.nan, 1.0, np.nan],
            "expected_contribution": [100.0, np.nan, 50.0, 25.0],
            "expected_loss": [10.0, np.nan, 100.0, np.nan],
            "ead": [1000.0, 0.0, 100.0, np.nan],
            "in_default": pd.array([False, False, True, True], dtype="boolean"),
        }
    )
    out = score_kpis(scores, client_groups(scores, None, None), 0.5).loc[ALL]
    assert (out["expected_leavers"], out["expected_leavers_clients"]) == (pytest.approx(0.5), 2)
    assert (out["contribution"], out["contribution_clients"]) == (175.0, 3)
    assert (out["ead"], out["ead_clients"]) == (1100.0, 3)  # a known 0 is known
    assert out["expected_loss_performing"] == 10.0
    assert (out["expected_loss_performing_clients"], out["clients_performing"]) == (1, 2)
    assert out["expected_loss_in_default"] == 100.0
    assert (out["expected_loss_in_default_clients"], out["clients_in_default"]) == (1, 2)
    assert (out["contribution_at_risk_clients"], out["clients"]) == (0, 4)  # no such column


def _performing_and_defaulted() -> pd.DataFrame:
    """P performing (PD 2%, EL 10); D in default, scored at PD 100% (EL = LGD x EAD = 100)."""
    return pd.DataFrame(
        {
            "client_id": pd.Series(["P", "D"], dtype="str"),
            "segment": pd.Series(["x", "x"], dtype="str"),
            "churn_probability": [0.1, np.nan],
            "default_probability": [0.02, 1.0],
            "expected_contribution": [50.0, 0.0],
            "expected_loss": [10.0, 100.0],
            "ead": [1000.0, 250.0],
            "in_default": pd.array([False, True], dtype="boolean"),
            "lifecycle_stage": pd.Series(["active", "in_default"], dtype="str"),
        }
    )


def test_mean_pd_and_expected_loss_leave_clients_in_default_apart() -> None:
    scores = _performing_and_defaulted()
    out = score_kpis(scores, client_groups(scores, None, None), 0.5).loc[ALL]
    assert out["mean_default_probability"] == pytest.approx(0.02)  # not (0.02 + 1) / 2
    assert out["expected_loss_performing"] == pytest.approx(10.0)
    assert out["expected_loss_in_default"] == pytest.approx(100.0)
    assert "expected_loss" not in out  # no total mixing the two
    assert out["ead"] == pytest.approx(1250.0)  # exposure stays the whole book's


def test_expected_loss_split_is_zero_without_members_and_missing_without_status() -> None:
    scores = _performing_and_defaulted()
    scores["segment"] = pd.Series(["x", "y"], dtype="str")
    by = score_kpis(scores, client_groups(scores, None, "segment"), 0.5)
    assert by.loc["x", "expected_loss_in_default"] == 0.0  # status known, none in default
    assert math.isnan(by.loc["y", "mean_default_probability"])  # nobody performing
    assert by.loc["y", "expected_loss_performing"] == 0.0
    # status unknown (in_default missing): in neither sum, not in the mean
    unknown = scores.assign(in_default=pd.array([pd.NA, True], dtype="boolean"))
    by = score_kpis(unknown, client_groups(unknown, None, "segment"), 0.5)
    assert math.isnan(by.loc["x", "expected_loss_performing"])
    assert math.isnan(by.loc["x", "mean_default_probability"])
    # no in_default column: the status is unknown, so the figures are missing, never guessed
    bare = scores.drop(columns="in_default")
    total = score_kpis(bare, client_groups(bare, None, None), 0.5).loc[ALL]
    for key in ("mean_default_probability", "expected_loss_performing", "expected_loss_in_default"):
        assert math.isnan(total[key]), key


def test_in_default_as_zero_one_is_read_and_anything_else_refused() -> None:
    scores = _performing_and_defaulted().assign(in_default=[0.0, 1.0])
    out = score_kpis(scores, client_groups(scores, None, None), 0.5).loc[ALL]
    assert out["expected_loss_in_default"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="column 'in_default' must be a yes/no flag"):
        score_kpis(scores.assign(in_default=[0, 2]), client_groups(scores, None, None), 0.5)


def test_portfolio_kpis_has_a_row_per_group_and_a_total(
    tables: dict[str, pd.DataFrame], scores: pd.DataFrame
) -> None:
    out = portfolio_kpis(scores, tables, AS_OF, KpiConfig(), "branch_id")
    assert out["branch_id"].tolist() == ["b1", "b2", ALL]
    total = out.iloc[-1]
    assert total["retention_rate"] == pytest.approx(2 / 3)
    # each respondent by its latest answer of the window: A 9, B 3, C 6, D 0
    assert total["nps"] == pytest.approx(net_promoter_score(pd.Series([9, 3, 6, 0])))
    assert total["csat"] == pytest.approx(11 / 3)
    assert out.loc[out["branch_id"] == "b1", "clients"].item() == 2


def test_client_groups_fall_back_to_scores_and_mark_unknown() -> None:
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(["A", "Z"], dtype="str"),
            "segment": pd.Series(["s1", None], dtype="str"),
        }
    )
    groups = client_groups(scores, None, "segment")
    assert groups.to_dict() == {"A": "s1", "Z": "(none)"}


def test_default_risk_histogram_counts_each_band_once() -> None:
    p = pd.Series([0.0, 0.004, 0.005, 0.3, 1.0, np.nan])
    out = default_risk_histogram(p, (0.0, 0.005, 0.1, 1.0))
    assert out["clients"].tolist() == [2, 1, 2]
    assert out["band"].tolist() == ["0–0.5%", "0.5–10%", "10–100%"]


def test_lifecycle_counts_largest_first(scores: pd.DataFrame) -> None:
    out = lifecycle_counts(scores)
    assert out.iloc[0].tolist() == ["mature", 2]
    assert out["clients"].sum() == 4


def test_nps_counts_each_respondent_once_by_its_latest_answer() -> None:
    # A answered 0 ten times, B and C 10 once: per respondent 2 promoters, 1 detractor of 3
    # -> +33.3 (per answer it read 2 of 12 minus 10 of 12 = -66.7)
    days = [f"2024-0{m}-1{d}" for m in range(1, 6) for d in range(2)]
    interactions = pd.DataFrame(
        {
            "client_id": pd.Series(["A"] * 10 + ["B", "C"], dtype="str"),
            "date": _dates([*days, "2024-03-01", "2024-04-01"]),
            "kind": pd.Series(["survey"] * 12, dtype="str"),
            "nps": pd.array([0] * 10 + [10, 10], dtype="Int64"),
        }
    )
    groups = pd.Series("x", index=pd.Index(["A", "B", "C"], dtype="str"))
    out = survey_kpis(interactions, AS_OF, groups, months=12)
    assert out.loc["x", "nps"] == pytest.approx(100 / 3)
    assert out.loc["x", "nps_respondents"] == 3
    # the latest answer decides: A's last answer a 10 makes it a promoter
    later = interactions.copy()
    later.loc[9, "nps"] = 10
    assert survey_kpis(later, AS_OF, groups, months=12).loc["x", "nps"] == pytest.approx(100.0)
