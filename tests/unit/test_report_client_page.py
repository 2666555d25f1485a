"""A client page's first screen and tables (predict.report.client_page), hand-checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from predict import io
from predict.report import ReportConfig, build_report, load_inputs, site_dir
from predict.report.client_page import (
    EVENT_COLS,
    action_sentence,
    dated_table,
    exposure_facts,
    facility_table,
    profile,
    relationship_facts,
    segment_percentile,
)
from predict.report.explanations import feature_label
from predict.report.formatting import MISSING
from tests.support.report_inputs import write_portfolio

AS_OF = pd.Timestamp("2025-12-31")


def test_action_sentence_names_the_rule_and_the_clients_values() -> None:
    row = pd.Series(
        {
            "action": "watch",
            "action_rule": "watch: default_probability >= 0.05",
            "default_probability": 0.0756,
        }
    )
    assert action_sentence(row) == (
        "Watch: review the credit and agree mitigating steps, because default probability "
        "≥ 0.05 (this client: default probability 7.6%)."
    )


def test_the_fallback_rule_does_not_read_as_a_credit_default() -> None:
    row = pd.Series({"action": "maintain", "action_rule": "default"})
    text = action_sentence(row)
    assert text == "Maintain: no action needed: no action rule matched, so the fallback applies."
    assert "default" not in text
    assert "no action rule" in action_sentence(pd.Series({"action": "grow", "action_rule": None}))


def test_exposure_block_formats_amounts_and_shares_with_the_currency() -> None:
    row = pd.Series(
        {
            "limit_total": 1_457_000.0,
            "drawn": 1_077_004.85,
            "undrawn": 262_995.15,
            "utilisation": 0.803735,
            "ead": 1_129_603.88,
            "lgd": 0.39143,
            "expected_loss": 33_440.77,
            "rating_grade": "9",
        }
    )
    got = dict(exposure_facts(row, "EUR"))
    assert got["Limit, EUR"] == "1,457,000"
    assert got["Drawn, EUR"] == "1,077,005"
    assert got["Utilisation"] == "80.4%"
    assert got["LGD"] == "39.1%"
    assert got["Rating grade"] == "9"
    assert "Grade at the previous scoring" not in got  # not in the row: not shown


def _facilities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3", "F4"],
            "product": ["term_loan", "revolving_credit", "term_loan", "guarantee"],
            "limit_amount": [163_000_000.0, 5_000.0, 1_000.0, 9.0],
            "interest_rate": [0.0647, 0.05, 0.04, 0.01],
            "origination_date": pd.to_datetime(
                ["2020-01-01", "2021-01-01", "2019-01-01", "2026-02-01"]
            ),
            "maturity_date": pd.to_datetime(
                ["2025-11-30", "2027-01-01", "2024-01-01", "2030-01-01"]
            ),
            "closed_date": pd.to_datetime([pd.NaT, pd.NaT, "2024-01-01", pd.NaT]),
        }
    )


def test_facility_table_states_open_matured_and_closed_and_leaves_out_the_future() -> None:
    table = facility_table(_facilities(), AS_OF, "EUR")
    assert table is not None
    ids = [r[0]["text"] for r in table["rows"]]
    status = [r[-1]["text"] for r in table["rows"]]
    # F4 opens after the as-of date (point in time); open ones first by maturity, closed last
    assert ids == ["F1", "F2", "F3"]
    assert status == ["past maturity, not closed", "open", "closed"]
    assert table["rows"][0][2]["text"] == "163,000,000"
    assert table["rows"][0][3]["text"] == "6.47%"
    assert table["columns"][2]["label"] == "Limit, EUR"
    assert facility_table(None, AS_OF) is None
    # a client whose only facility opens after the as-of date: an empty table, no crash
    later = facility_table(_facilities().iloc[[3]], AS_OF, "EUR")
    assert later is not None and later["rows"] == []


def test_dated_table_is_newest_first_capped_and_says_how_many_were_left_out() -> None:
    events = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-09-01", "2025-11-15", "2026-01-05", "2025-10-01"]),
            "kind": ["watchlist", "default", "write_off", "covenant_breach"],
            "facility_id": ["F1", "F1", "F1", "F2"],
        }
    )
    table = dated_table(events, AS_OF, EVENT_COLS, "credit-events", 2)
    assert table is not None
    assert [r[1]["text"] for r in table["rows"]] == ["default", "covenant_breach"]
    assert table["caption"] == "The latest 2 of 3."
    assert "write_off" not in str(table)  # dated after the as-of date: never shown


def test_waterfall_labels_are_the_features_meaning_with_the_value_in_units() -> None:
    assert feature_label("avg_interest_rate", "0.06473") == "Average interest rate of 6.47%"
    assert feature_label("months_since_revenue", "1.0") == "Last revenue booked 1 month ago"
    assert feature_label("months_to_last_maturity", None) == "No open facility left to mature"
    assert feature_label("segment", "sme") == "Segment is sme"
    assert feature_label("not_in_the_catalogue", "1.5") == "not_in_the_catalogue = 1.5"


def test_relationship_block_shows_each_dimension_with_its_reason_and_the_index() -> None:
    row = pd.Series(
        {
            "satisfaction_score": 87.6,
            "satisfaction_reason": "Average satisfaction of 4.6 out of 5 in the last 12 months",
            "trust_score": float("nan"),
            "trust_reason": "not scored: needs one of max_dpd_12m, current_dpd",
            "relationship_index": 71.2,
            "relationship_dimensions": 4,
        }
    )
    assert relationship_facts(row) == [
        ("Satisfaction", "88: Average satisfaction of 4.6 out of 5 in the last 12 months"),
        ("Trust", "–: not scored: needs one of max_dpd_12m, current_dpd"),
        ("Relationship index", "71 (4 of 5)"),
    ]
    assert relationship_facts(pd.Series({"client_id": "c1"})) == []


def _book() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d", "e"],
            "segment": ["sme", "sme", "sme", "sme", "large"],
            "trust_score": [10.0, 40.0, 40.0, None, 90.0],
            "relationship_index": [55.0, 20.0, 80.0, 60.0, 5.0],
        }
    )


def test_segment_percentile_counts_the_segments_clients_at_or_below() -> None:
    book = _book()
    row = book.iloc[1]  # trust 40 in sme: 10, 40, 40 scored (d has none) -> 3 of 3 at or below
    assert segment_percentile(book, row, "trust_score") == (100.0, 3)
    assert segment_percentile(book, book.iloc[0], "trust_score") == (pytest.approx(100 / 3), 3)
    # index 60 in sme: 55, 20, 60 at or below, 80 above -> 75%, 4 peers (e is another segment)
    assert segment_percentile(book, book.iloc[3], "relationship_index") == (75.0, 4)
    pct, n = segment_percentile(book, book.iloc[3], "trust_score")  # no score: no percentile
    assert n == 0 and pct != pct
    assert segment_percentile(book, book.iloc[0], "loyalty_score")[1] == 0  # column absent


def test_profile_shows_scores_potential_dimensions_present_and_changes() -> None:
    book = _book()
    row = pd.concat(
        [
            book.iloc[3],
            pd.Series(
                {
                    "churn_probability": 0.123,
                    "default_probability": 0.0104,
                    "expected_contribution": 25_400.0,
                    "rating_grade": "4",
                    "previous_rating_grade": "3",
                    "potential_value": float("nan"),
                    "potential_not_scored_reason": "stage active: x",
                    "growth_potential": True,
                    "churn_probability_change": 0.021,
                    "contribution_change": -1500.0,
                }
            ),
        ]
    )
    got = profile(row, book, "EUR")
    facts = dict(got["facts"])
    assert facts["Churn probability"] == "12.3%" and facts["Rating grade"] == "4"
    assert facts["Expected contribution, EUR"] == "25,400"
    assert facts["Potential value, EUR"] == "– (stage active: x)".replace("–", MISSING)
    assert facts["Growth potential"].startswith("yes")
    assert "Relationship value" not in facts  # not in the scores: not shown
    dims = {d["label"]: d for d in got["dimensions"]}
    assert set(dims) == {"Trust", "Relationship index"}  # only the columns the scores have
    assert dims["Relationship index"]["percentile"] == "75" and dims["Trust"]["peers"] == 0
    assert dict(got["changes"]) == {
        "Churn probability": "+2.1 pp",
        "Expected contribution": "-1,500",
        "Rating grade": "3 → 4",
    }
    assert profile(book.iloc[0], book)["changes"] == []


def test_the_rendered_client_page_opens_with_the_profile(tmp_path: Path) -> None:
    run = write_portfolio(tmp_path)
    scores = pd.read_parquet(run.scores / "scores.parquet")
    scores["loyalty_score"] = [float(i) for i in range(len(scores))]
    scores = scores.drop(columns=["trust_score", "trust_reason"], errors="ignore")
    scores["potential_value"] = 12_345.0
    scores["growth_potential"] = pd.array([True] * len(scores), dtype="boolean")
    as_of = pd.Timestamp(scores["as_of"].iloc[0]).date().isoformat()
    io.write_parquet(
        scores,
        run.scores / "scores.parquet",
        {"predict.run_id": "fixture0run0id00", "predict.as_of": as_of},
    )
    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables, run.plots)
    config = ReportConfig(max_client_pages=0)
    site = build_report(inputs, site_dir(tmp_path / "reports"), config, clients=["C0011"]).site
    page = (site / "clients" / "C0011.html").read_text(encoding="utf-8")
    assert page.index('id="profile"') < page.index('id="first-screen"')
    profile_html = page[page.index('id="profile"') : page.index('id="first-screen"')]
    assert "Potential value" in profile_html and "12,345" in profile_html
    assert "Growth potential" in profile_html and 'id="dimensions"' in profile_html
    segment = scores.loc[scores["client_id"] == "C0011", "segment"].iloc[0]
    peers = scores.loc[scores["segment"] == segment, "loyalty_score"]
    expected = 100.0 * (peers <= 11.0).mean()
    assert f'<td class="num">{expected:.0f}</td>' in profile_html
    assert "Trust" not in profile_html  # no trust_score column: not drawn
    assert "Since the previous scoring" in profile_html
