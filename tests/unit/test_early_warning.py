"""The early-warning list: each trigger, and what "previous" was."""

from __future__ import annotations

import pandas as pd

from predict.scoring.early_warning import EARLY_WARNING_COLUMNS, early_warning
from predict.scoring.grades import GradesConfig, add_grades
from predict.scoring.relationship import EarlyWarningConfig

AS_OF = pd.Timestamp("2024-06-30")
PREV = pd.Timestamp("2024-05-31")
IDS = ["down", "ratio", "dpd", "old_dpd", "event", "complaint", "old_complaint", "detractor",
       "promoter", "revenue", "churn", "quiet"]  # fmt: skip
CFG = EarlyWarningConfig()


def _d(*days: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(days)))


def _previous() -> pd.DataFrame:
    pd_before = {"down": 0.0015, "ratio": 0.006}
    churn_before = {"churn": 0.10}
    return pd.DataFrame(
        {
            "client_id": IDS,
            "as_of": PREV,
            "default_probability": [pd_before.get(c, 0.01) for c in IDS],
            "churn_probability": [churn_before.get(c, 0.05) for c in IDS],
        }
    )


def _scores(with_previous: bool = True) -> pd.DataFrame:
    pd_now = {"down": 0.0045, "ratio": 0.013}
    churn_now = {"churn": 0.45}
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
    scores["previous_as_of"] = PREV
    for c in ("default_probability", "churn_probability"):
        scores[f"previous_{c}"] = prev[c]
    return add_grades(scores, prev, GradesConfig())


def _tables() -> dict[str, pd.DataFrame]:
    facilities = pd.DataFrame({"facility_id": ["f1", "f2"], "client_id": ["dpd", "old_dpd"]})
    balances = pd.DataFrame(
        {
            "facility_id": ["f1", "f1", "f2", "f2"],
            "month_end": _d("2024-05-31", "2024-06-30", "2024-05-31", "2024-06-30"),
            "days_past_due": [0, 35, 40, 70],
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
    revenue = pd.DataFrame(
        {
            "client_id": ["revenue"] * 6 + ["quiet"] * 2,
            "date": _d(*[f"2024-0{m}-15" for m in range(1, 7)], "2024-01-15", "2024-06-15"),
            "amount": [100.0, 100.0, 100.0, 20.0, 20.0, 20.0, 100.0, 60.0],
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
    }
    assert ew["client_id"].iloc[0] == "churn"  # most triggers first
    by = ew.set_index("client_id")
    assert by.loc["down", "details"] == "grade 3 -> 5"
    assert by.loc["revenue", "details"] == "revenue -80%"
    assert by.loc["dpd", "details"] == "DPD 0 -> 35"
    assert by.loc["churn", "reasons"] == "fewer contacts"
    assert by.loc["dpd", "reasons"] == "arrears"
    assert (ew["previous_source"] == "previous.parquet").all()
    assert (ew["previous_as_of"] == PREV).all()


def test_without_previous_only_events_fire_and_the_list_says_so() -> None:
    ew = early_warning(_scores(with_previous=False), _tables(), CFG, "none")
    assert set(ew["client_id"]) == {"dpd", "event", "complaint", "detractor", "revenue"}
    assert (ew["previous_source"] == "none").all() and ew["previous_as_of"].isna().all()


def test_nothing_triggered_gives_an_empty_list_with_the_columns() -> None:
    scores = _scores().query("client_id == 'quiet'")
    ew = early_warning(scores, {}, CFG)
    assert ew.empty and tuple(ew.columns) == EARLY_WARNING_COLUMNS
