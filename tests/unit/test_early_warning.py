"""The early-warning list: each trigger, and what "previous" was."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from predict.scoring import early_warning as ew_module
from predict.scoring.early_warning import (
    EARLY_WARNING_COLUMNS,
    EarlyWarningConfig,
    event_windows,
)
from predict.scoring.grades import GradesConfig, add_grades

AS_OF = pd.Timestamp("2024-06-30")
PREV = pd.Timestamp("2024-05-31")
IDS = ["down", "ratio", "dpd", "old_dpd", "event", "complaint", "old_complaint", "detractor",
       "promoter", "revenue", "churn", "quiet", "pd_up", "newcomer", "old_revenue",
       "dpd_new_facility"]  # fmt: skip
CFG = EarlyWarningConfig()


def early_warning(*args: Any, horizon_months: int = 12) -> pd.DataFrame:
    """The list at H = 12 unless a test says otherwise (the horizon is required there)."""
    return ew_module.early_warning(*args, horizon_months=horizon_months)


def _d(*days: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(days)))


def _previous() -> pd.DataFrame:
    pd_before = {"down": 0.0015, "ratio": 0.006, "pd_up": 0.03}
    churn_before = {"churn": 0.10}
    ids = [c for c in IDS if c != "newcomer"]  # a new client: no previous row
    return pd.DataFrame(
        {
            "client_id": ids,
            "as_of": PREV,
            "default_probability": [pd_before.get(c, 0.01) for c in ids],
            "churn_probability": [churn_before.get(c, 0.05) for c in ids],
        }
    )


def _scores(with_previous: bool = True) -> pd.DataFrame:
    pd_now = {"down": 0.0045, "ratio": 0.013, "pd_up": 0.055}
    churn_now = {"churn": 0.45, "newcomer": 0.40}
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(IDS, dtype="str"),
            "as_of": AS_OF,
            "segment": "sme",
            "branch_id": "b1",
            "default_probability": [pd_now.get(c, 0.01) for c in IDS],
            "churn_probability": [churn_now.get(c, 0.05) for c in IDS],
            "action": "maintain",
            "default_reasons": "arrears",
            "churn_reasons": "fewer contacts",
        }
    )
    if not with_previous:
        return add_grades(scores, None, GradesConfig())
    prev = _previous()
    # as add_previous joins it: the clients of the previous scoring carry its date
    scores["previous_as_of"] = scores["client_id"].map(prev.set_index("client_id")["as_of"])
    for c in ("default_probability", "churn_probability"):
        scores[f"previous_{c}"] = scores["client_id"].map(prev.set_index("client_id")[c])
    return add_grades(scores, prev, GradesConfig())


def _tables() -> dict[str, pd.DataFrame]:
    facilities = pd.DataFrame(
        {"facility_id": ["f1", "f2", "f3"], "client_id": ["dpd", "old_dpd", "dpd_new_facility"]}
    )
    balances = pd.DataFrame(  # f3 has no balance at the previous month end
        {
            "facility_id": ["f1", "f1", "f2", "f2", "f3"],
            "month_end": _d("2024-05-31", "2024-06-30", "2024-05-31", "2024-06-30", "2024-06-30"),
            "days_past_due": [0, 35, 40, 70, 35],
        }
    )
    events = pd.DataFrame(
        {
            "client_id": ["event", "event", "quiet"],
            "date": _d("2024-06-10", "2024-06-11", "2024-05-10"),
            "kind": ["watchlist", "restructuring", "watchlist"],  # quiet's is before the window
        }
    )
    interactions = pd.DataFrame(
        {
            "client_id": ["complaint", "old_complaint", "detractor", "promoter"],
            "date": _d("2024-06-05", "2024-05-20", "2024-06-15", "2024-06-15"),
            "kind": ["complaint", "complaint", "survey", "survey"],
            "nps": pd.array([None, None, 4, 9], dtype="Int64"),
        }
    )
    # old_revenue: 100 a month Dec-Feb, then 10 a month Mar-Jun. At the as-of (Jun 30):
    # Apr-Jun 30 vs Jan-Mar 210, -86%; but at the window's start (May 31) already Mar-May 30
    # vs Dec-Feb 300, -90%: not new, suppressed
    old = ["2023-12-15", *[f"2024-0{m}-15" for m in range(1, 7)]]
    revenue = pd.DataFrame(
        {
            "client_id": ["revenue"] * 6 + ["quiet"] * 2 + ["old_revenue"] * 7,
            "date": _d(*[f"2024-0{m}-15" for m in range(1, 7)], "2024-01-15", "2024-06-15", *old),
            "amount": [100.0, 100.0, 100.0, 20.0, 20.0, 20.0, 100.0, 60.0]
            + [100.0] * 3
            + [10.0] * 4,
        }
    )
    return {
        "facilities": facilities,
        "facility_balances": balances,
        "credit_events": events,
        "interactions": interactions,
        "revenue": revenue,
    }


def test_each_trigger_names_itself() -> None:
    ew = early_warning(_scores(), _tables(), CFG, "previous.parquet")
    assert tuple(ew.columns) == EARLY_WARNING_COLUMNS
    got = dict(zip(ew["client_id"], ew["triggers"], strict=True))
    assert got == {
        "down": "downgrade",  # grade 3 -> 5 (PD 0.15% -> 0.45%: x3, but below 0.5%)
        "ratio": "pd_ratio",  # PD 0.6% -> 1.3%: x2.2, one notch only
        "dpd": "new_dpd",  # 0 -> 35 days; old_dpd was already 30+
        "event": "credit_event",  # watchlist in the window; restructuring is not a trigger
        "complaint": "complaint",  # old_complaint's is before the window
        "detractor": "detractor",  # NPS 4; the promoter's 9 is not
        "revenue": "revenue_drop",  # 60 in Apr-Jun vs 300 in Jan-Mar: -80%
        "churn": "churn_rise, churn_crossed",  # 10% -> 45%
        # PD 3% -> 5.5%: up 2.5 points >= 2, crosses 5%; x1.83 < 2 and grade 7 -> 8, one notch
        "pd_up": "default_rise, default_crossed",
        "newcomer": "churn_new_above",  # no previous row, churn 40% >= 30%
        "dpd_new_facility": "new_dpd",  # no balance at the previous month end, 35 now
        # old_revenue: down -86% but already down at the window's start: not listed
    }
    # most triggers first (two each), then the higher PD (5.5% before 1%)
    assert list(ew["client_id"].iloc[:2]) == ["pd_up", "churn"]
    by = ew.set_index("client_id")
    assert by.loc["down", "details"] == "grade 3 -> 5"
    assert by.loc["revenue", "details"] == "revenue -80%"
    assert by.loc["dpd", "details"] == "DPD 0 -> 35"
    assert by.loc["dpd_new_facility", "details"] == "DPD none -> 35"  # not an invented 0
    assert by.loc["pd_up", "details"] == "default 3.0% -> 5.5%; default 3.0% -> 5.5%"
    assert by.loc["newcomer", "details"] == "churn 40.0%, new"
    assert by.loc["churn", "reasons"] == "fewer contacts"
    assert by.loc["dpd", "reasons"] == "arrears"
    assert (ew["previous_source"] == "previous.parquet").all()
    assert (ew.set_index("client_id").drop(index="newcomer")["previous_as_of"] == PREV).all()


def test_without_previous_only_events_fire_and_the_list_says_so() -> None:
    ew = early_warning(_scores(with_previous=False), _tables(), CFG, "none")
    assert set(ew["client_id"]) == {
        "dpd",
        "dpd_new_facility",
        "event",
        "complaint",
        "detractor",
        "revenue",
    }
    assert (ew["previous_source"] == "none").all() and ew["previous_as_of"].isna().all()


def test_nothing_triggered_gives_an_empty_list_with_the_columns() -> None:
    scores = _scores().query("client_id == 'quiet'")
    ew = early_warning(scores, {}, CFG)
    assert ew.empty and tuple(ew.columns) == EARLY_WARNING_COLUMNS


def test_a_missing_table_is_reported_not_silently_no_trigger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = _tables()
    for name in ("facility_balances", "interactions"):
        del tables[name]
    skipped: list[str] = []
    with caplog.at_level("WARNING"):
        ew = early_warning(_scores(), tables, CFG, "previous.parquet", skipped)
    assert skipped == [
        "new_dpd: no facility_balances",
        "complaint: no interactions",
        "detractor: no interactions",
    ]
    assert "new_dpd not evaluated: no facility_balances" in caplog.text
    assert not {"dpd", "complaint", "detractor"} & set(ew["client_id"])
    assert "event" in set(ew["client_id"])  # the triggers with their tables still fire


def test_bank_codes_match_whatever_their_case_and_spaces() -> None:
    # the features map " Complaint" and "WATCHLIST" to their families: so does the list
    tables = _tables()
    tables["credit_events"]["kind"] = ["WATCHLIST", "restructuring", "watchlist"]
    tables["interactions"]["kind"] = [" Complaint", "complaint", "Survey", "survey"]
    ew = early_warning(_scores(), tables, CFG, "previous.parquet").set_index("client_id")
    assert ew.loc["event", "triggers"] == "credit_event"
    assert ew.loc["event", "details"] == "watchlist"
    assert ew.loc["complaint", "triggers"] == "complaint"


def test_a_book_without_any_nps_answer_says_detractor_was_not_evaluated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = _tables()
    tables["interactions"]["nps"] = pd.array([None] * 4, dtype="Int64")
    skipped: list[str] = []
    with caplog.at_level("WARNING"):
        ew = early_warning(_scores(), tables, CFG, "previous.parquet", skipped)
    assert skipped == ["detractor: no interactions.nps"]
    assert "detractor not evaluated: no interactions.nps" in caplog.text
    assert "complaint" in set(ew["client_id"])  # the interactions' other trigger still fires


def test_a_client_of_the_previous_scoring_without_its_score_is_not_called_new() -> None:
    # "quiet" was in the previous scoring but had no default probability (out of scope, or
    # the model not run); now at 6%: listed above the threshold, "not scored before"
    scores = _scores()
    scores.loc[scores["client_id"] == "quiet", "default_probability"] = 0.06
    scores.loc[scores["client_id"] == "quiet", "previous_default_probability"] = float("nan")
    scores.loc[scores["client_id"] == "down", "churn_probability"] = float("nan")  # not scored
    ew = early_warning(scores, _tables(), CFG, "previous.parquet").set_index("client_id")
    assert ew.loc["quiet", "triggers"] == "default_new_above"
    assert ew.loc["quiet", "details"] == "default 6.0%, not scored before"
    assert ew.loc["newcomer", "details"] == "churn 40.0%, new"  # not in the previous scoring


# Each client's own window: A was last scored at the end of March, B at the end of May, C
# never (its window: the last month, May 31 - June 30).
A_PREV, B_PREV = pd.Timestamp("2024-03-31"), pd.Timestamp("2024-05-31")


def _book() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    ids = ["A", "B", "C"]
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(ids, dtype="str"),
            "as_of": AS_OF,
            "segment": "sme",
            "branch_id": "b1",
            "default_probability": [0.01, 0.01, 0.01],
            "churn_probability": [0.05, 0.05, 0.05],
            "action": "maintain",
            "default_reasons": "arrears",
            "churn_reasons": "fewer contacts",
            "previous_as_of": pd.Series([A_PREV, B_PREV, pd.NaT], dtype="datetime64[s]"),
            "previous_default_probability": [0.01, 0.01, float("nan")],
            "previous_churn_probability": [0.05, 0.05, float("nan")],
        }
    )
    tables = {
        "facilities": pd.DataFrame({"facility_id": ["fa"], "client_id": ["A"]}),
        # A: 0 days past due at its previous as-of (March), 40 in May, 45 now: new since
        # A's own previous scoring, though not since B's
        "facility_balances": pd.DataFrame(
            {
                "facility_id": ["fa", "fa", "fa"],
                "month_end": _d("2024-03-31", "2024-05-31", "2024-06-30"),
                "days_past_due": [0, 40, 45],
            }
        ),
        "credit_events": pd.DataFrame(
            {"client_id": ["B"], "date": _d("2024-06-10"), "kind": ["watchlist"]}
        ),
        # April complaints: in A's window (Mar 31, Jun 30], not in B's (May 31, Jun 30];
        # C's on June 5 is in its last month
        "interactions": pd.DataFrame(
            {
                "client_id": ["A", "B", "C"],
                "date": _d("2024-04-15", "2024-04-20", "2024-06-05"),
                "kind": ["complaint", "complaint", "complaint"],
                "nps": pd.array([None, None, None], dtype="Int64"),
            }
        ),
    }
    return scores, tables


def test_each_client_is_warned_on_its_own_window() -> None:
    scores, tables = _book()
    ew = early_warning(scores, tables, CFG, "previous.parquet").set_index("client_id")
    assert dict(ew["triggers"]) == {
        "A": "new_dpd, complaint",  # DPD 0 at March 31 -> 45; the April complaint
        "B": "credit_event",  # its April complaint is before its own window
        "C": "complaint",  # no previous scoring: the last month
    }
    assert ew.loc["A", "details"] == "DPD 0 -> 45; complaint"
    assert ew.loc["A", "previous_as_of"] == A_PREV  # each client's own previous as-of
    assert ew.loc["B", "previous_as_of"] == B_PREV
    assert pd.isna(ew.loc["C", "previous_as_of"])


def test_a_clients_row_is_the_same_alone_and_within_the_book() -> None:
    scores, tables = _book()
    book = early_warning(scores, tables, CFG, "previous.parquet")
    for client in ("A", "B", "C"):
        alone = early_warning(scores[scores["client_id"] == client], tables, CFG,
                              "previous.parquet")  # fmt: skip
        pd.testing.assert_frame_equal(
            alone, book[book["client_id"] == client].reset_index(drop=True), obj=client
        )


def test_event_windows_come_from_each_clients_own_dates() -> None:
    scores, _ = _book()
    start, end = event_windows(scores, CFG)
    assert list(start) == [A_PREV, B_PREV, pd.Timestamp("2024-05-31")]
    assert (end == AS_OF).all()
    with pytest.raises(ValueError, match=r"no window end for client\(s\) \['B'\]"):
        event_windows(scores.assign(as_of=[AS_OF, pd.NaT, AS_OF]), CFG)


def test_the_default_triggers_read_the_one_year_pd_at_another_horizon() -> None:
    """At H = 24 a PD of 5% over the horizon is 2.53% a year (grade 7): not above the 5%
    threshold of the one-year PD; 9.75% over 24 months is 5.0% a year: it crossed it."""
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(["low", "high"], dtype="str"),
            "as_of": AS_OF,
            "previous_as_of": PREV,
            "default_probability": [0.05, 0.0975],
            "previous_default_probability": [0.04, 0.04],
            "churn_probability": [0.05, 0.05],
            "previous_churn_probability": [0.05, 0.05],
        }
    )
    tables: dict[str, pd.DataFrame] = {}
    at_12 = early_warning(scores, tables, CFG, "previous.parquet").set_index("client_id")
    assert at_12.loc["low", "triggers"] == "default_crossed"  # 4% -> 5% over 12 months
    at_24 = early_warning(scores, tables, CFG, "previous.parquet", horizon_months=24)
    at_24 = at_24.set_index("client_id")
    assert "low" not in at_24.index  # 2.02% -> 2.53% a year: no trigger
    # 1 - 0.96^0.5 = 2.02% -> 1 - 0.9025^0.5 = 5.0% a year: x2.5, rose 2.98 points, crossed
    assert at_24.loc["high", "triggers"] == "pd_ratio, default_rise, default_crossed"
    assert at_24.loc["high", "details"].startswith(
        "one-year PD x2.5; one-year default 2.02% -> 5.0%"
    )
