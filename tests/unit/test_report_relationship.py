"""Branch and RM league tables, time series and life-cycle stages on tiny hand-checked frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, from_dict
from predict.features.lifecycle import STAGES
from predict.report import ReportConfig, ReportInputError, load_report_config
from predict.report.branches import (
    RANKED_STAGES,
    TOO_FEW,
    RelationshipConfig,
    index_series,
    league_table,
    league_views,
    ranked_clients,
    relationship_series,
    survey_answers,
    survey_by_group,
    survey_per_client,
)
from predict.report.inputs import load_contribution_reference
from predict.report.kpis import ALL, KpiConfig, client_groups, survey_kpis, window_start
from predict.report.stages import NOT_BEFORE, flow_matrix, stage_table, stage_views
from predict.scoring.dimensions import DimensionsConfig

AS_OF = pd.Timestamp("2024-12-31")
KPIS = KpiConfig(retention_months=12, inactivity_months=6, survey_months=12)


def _dates(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="object").pipe(pd.to_datetime).astype("datetime64[s]")


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    """Branch b1: A, B, C; b2: D. RM r1: A, B; r2: C, D.
    Facilities: A and C open throughout, B closed 2024-05-15, D opened 2024-06-30.
    Survey answers (nps, csat): A 2024-01-10 (10, 5), 2024-11-10 (9, 4), 2025-01-05 (0, 1:
    after the as-of date); B 2023-12-31 (0, 1), 2024-02-01 (6, 2), 2024-10-01 (3, -);
    C 2024-06-01 (8, 3); D 2024-12-31 (10, 5)."""
    ids = pd.Series(list("ABCD"), dtype="str")
    clients = pd.DataFrame(
        {
            "client_id": ids,
            "segment": pd.Series(["x", "x", "y", "y"], dtype="str"),
            "branch_id": pd.Series(["b1", "b1", "b1", "b2"], dtype="str"),
            "rm_id": pd.Series(["r1", "r1", "r2", "r2"], dtype="str"),
        }
    )
    facilities = pd.DataFrame(
        {
            "facility_id": pd.Series(["fa", "fb", "fc", "fd"], dtype="str"),
            "client_id": ids,
            "origination_date": _dates(["2020-01-31", "2020-01-31", "2020-01-31", "2024-06-30"]),
            "closed_date": _dates([None, "2024-05-15", None, None]),
        }
    )
    when = ["2024-01-10", "2024-11-10", "2025-01-05", "2023-12-31", "2024-02-01", "2024-10-01"]
    interactions = pd.DataFrame(
        {
            "client_id": pd.Series(list("AAABBBCD"), dtype="str"),
            "date": _dates([*when, "2024-06-01", "2024-12-31"]),
            "kind": pd.Series(["survey"] * 8, dtype="str"),
            "nps": pd.array([10, 9, 0, 0, 6, 3, 8, 10], dtype="Int64"),
            "csat": pd.array([5, 4, 1, 1, 2, None, 3, 5], dtype="Int64"),
        }
    )
    return {"clients": clients, "facilities": facilities, "interactions": interactions}


@pytest.fixture
def scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(list("ABCD"), dtype="str"),
            "as_of": AS_OF,
            "churn_probability": [0.1, 0.2, 0.3, 0.4],
            "default_probability": [0.01, 0.02, 0.03, 0.04],
            "expected_contribution": [100.0, 200.0, 300.0, 400.0],
            "expected_loss": [1.0, 2.0, 3.0, 4.0],
            "lifecycle_stage": pd.Series(["active", "active", "new", "dormant"], dtype="str"),
        }
    )


def test_branch_league_table_by_hand(tables: dict, scores: pd.DataFrame) -> None:
    out = league_table(scores, tables, AS_OF, "branch_id", KPIS, min_answers=2).set_index(
        "branch_id"
    )
    b1 = out.loc["b1"]
    # respondents of 2024, each by its latest answer: A 9 (10 before), B 3 (6 before), C 8
    # -> 1 promoter, 1 detractor of 3; the 2025 and 2023 answers are outside the window
    assert b1["nps"] == pytest.approx(0.0)
    assert b1["nps_respondents"] == 3
    assert b1["csat"] == pytest.approx((5 + 4 + 2 + 3) / 4)
    assert b1["csat_answers"] == 4
    # active 2023-12-31: A, B, C; still active 2024-12-31: A, C
    assert (b1["active_before"], b1["retained"]) == (3, 2)
    assert b1["retention_rate"] == pytest.approx(2 / 3)
    assert b1["clients"] == 3
    assert b1["contribution"] == pytest.approx(600.0)
    b2 = out.loc["b2"]  # one answer: too few for a number
    assert b2["nps"] == TOO_FEW and b2["csat"] == TOO_FEW
    assert b2["nps_respondents"] == 1
    total = out.loc[ALL]  # A 9, D 10 promoters, B 3 detractor, C 8 of 4 respondents
    assert total["nps"] == pytest.approx(100 * (2 / 4 - 1 / 4))
    assert total["csat"] == pytest.approx((5 + 4 + 2 + 3 + 5) / 5)
    assert out.index.tolist() == ["b1", "b2", ALL]  # ranked by NPS, too few last, All last


def test_too_few_is_at_the_threshold_not_beyond(tables: dict, scores: pd.DataFrame) -> None:
    out = league_table(scores, tables, AS_OF, "branch_id", KPIS, min_answers=4).set_index(
        "branch_id"
    )
    assert out.loc["b1", "csat"] == pytest.approx(3.5)  # 4 CSAT answers: enough
    assert out.loc["b1", "nps"] == TOO_FEW  # 3 NPS respondents (5 answers): too few


def test_league_ranks_by_the_index_and_shows_dimension_means(
    tables: dict, scores: pd.DataFrame
) -> None:
    with_index = scores.assign(relationship_index=[80.0, 60.0, np.nan, 90.0])
    out = league_table(with_index, tables, AS_OF, "branch_id", KPIS, 2).set_index("branch_id")
    assert out.index.tolist() == ["b2", "b1", ALL]
    assert out.loc["b1", "relationship_index"] == pytest.approx(70.0)  # C unknown: left out
    assert out.loc[ALL, "relationship_index"] == pytest.approx(230 / 3)


def test_index_means_and_rank_leave_out_former_clients(tables: dict, scores: pd.DataFrame) -> None:
    """b1 (A 80, B 60) ranks below b2 (D 75); a former client of b2 with index 0 changes
    neither b2's index mean nor its rank, only its count of clients (all stages)."""
    ranked = scores.assign(relationship_index=[80.0, 60.0, np.nan, 75.0])
    before = league_table(ranked, tables, AS_OF, "branch_id", KPIS, 2).set_index("branch_id")
    former = pd.DataFrame(
        {
            "client_id": pd.Series(["E"], dtype="str"),
            "as_of": AS_OF,
            "churn_probability": [np.nan],
            "default_probability": [np.nan],
            "expected_contribution": [0.0],
            "expected_loss": [0.0],
            "lifecycle_stage": pd.Series(["churned"], dtype="str"),
            "relationship_index": [0.0],
        }
    )
    clients = pd.DataFrame(
        {
            "client_id": pd.Series(["E"], dtype="str"),
            "segment": pd.Series(["y"], dtype="str"),
            "branch_id": pd.Series(["b2"], dtype="str"),
            "rm_id": pd.Series(["r2"], dtype="str"),
        }
    )
    more = {**tables, "clients": pd.concat([tables["clients"], clients], ignore_index=True)}
    after = league_table(
        pd.concat([ranked, former], ignore_index=True), more, AS_OF, "branch_id", KPIS, 2
    ).set_index("branch_id")
    assert before.index.tolist() == after.index.tolist() == ["b2", "b1", ALL]
    assert after.loc["b2", "relationship_index"] == before.loc["b2", "relationship_index"] == 75.0
    assert (after.loc["b2", "clients"], after.loc["b2", "clients_ranked"]) == (2, 1)
    assert after.loc[ALL, "relationship_index"] == pytest.approx((80 + 60 + 75) / 3)
    assert after.loc[ALL, "clients_ranked"] == 4  # A, B, C (index unknown), D
    # over every client, as before the fix, E's 0 would pull b2 to 37.5, below b1's 70


def test_clients_in_default_and_prospects_are_not_ranked(scores: pd.DataFrame) -> None:
    assert set(RANKED_STAGES) <= set(STAGES)
    assert set(STAGES) - set(RANKED_STAGES) == {"potential", "churned", "in_default"}
    stages = pd.Series(["in_default", "potential", "active", None], dtype="str")
    assert ranked_clients(scores.assign(lifecycle_stage=stages)).tolist() == [
        False,
        False,
        True,
        False,  # a missing stage is not ranked
    ]
    with pytest.raises(ValueError, match="no column 'lifecycle_stage'"):
        ranked_clients(scores.drop(columns="lifecycle_stage"))


def test_rm_table_and_its_absence(tables: dict, scores: pd.DataFrame) -> None:
    config = RelationshipConfig(min_answers=2)
    views = {v["by"]: v for v in league_views(scores, tables, AS_OF, KPIS, config)}
    rm = views["rm_id"]["table"]
    assert rm is not None and rm["id"] == "league-rm_id"
    first = {c["label"]: cell["text"] for c, cell in zip(rm["columns"], rm["rows"][0], strict=True)}
    # r1 (A, B): answers 10, 9, 6, 3 -> NPS 0; r2 (C, D): 8, 10 -> 50 - 0 = +50 ranks first
    assert first["Relationship manager"] == "r2" and first["NPS"] == "+50"
    no_rm = {**tables, "clients": tables["clients"].drop(columns="rm_id")}
    views = {v["by"]: v for v in league_views(scores, no_rm, AS_OF, KPIS, config)}
    assert views["rm_id"]["table"] is None
    assert "clients.rm_id" in views["rm_id"]["note"]
    assert views["branch_id"]["table"] is not None


def test_too_few_is_written_not_a_number(tables: dict, scores: pd.DataFrame) -> None:
    views = league_views(scores, tables, AS_OF, KPIS, RelationshipConfig(min_answers=2))
    branch = next(v["table"] for v in views if v["by"] == "branch_id")
    labels = [c["label"] for c in branch["columns"]]
    b2 = next(r for r in branch["rows"] if r[0]["text"] == "b2")
    assert b2[labels.index("NPS")]["text"] == TOO_FEW
    assert b2[labels.index("NPS")]["sort"] == ""  # sorts with the missing


def test_time_series_points_are_point_in_time(tables: dict, scores: pd.DataFrame) -> None:
    config = RelationshipConfig(min_answers=2, series_months=3, step_months=3)
    out = relationship_series(scores, tables, AS_OF, ["branch_id"], KPIS, config)
    by = out.set_index(["date", "group"])
    sep = by.loc[(pd.Timestamp("2024-09-30"), "b1")]
    # window 2023-10..2024-09: A 10; B 0 then 6 -> 6; C 8: 1 promoter, 1 detractor of 3
    # respondents (per answer, B's two detractor answers read 25 - 50 = -25 of 4)
    assert sep["nps"] == pytest.approx(0.0)
    assert sep["nps_respondents"] == 3
    assert sep["csat"] == pytest.approx((5 + 1 + 2 + 3) / 4)
    # active 2023-09-30: A, B, C; at 2024-09-30: A, C (B closed in May), D
    assert sep["retention_rate"] == pytest.approx(2 / 3)
    dec = by.loc[(AS_OF, "b1")]
    assert dec["nps"] == pytest.approx(0.0) and dec["csat"] == pytest.approx(3.5)
    # b2: no answer and nobody active a year before in September -> no point at all;
    # one answer in December -> still too few for a number
    assert (pd.Timestamp("2024-09-30"), "b2") not in by.index
    assert by.loc[(AS_OF, "b2"), "nps_respondents"] == 1
    assert np.isnan(by.loc[(AS_OF, "b2"), "nps"])
    assert sorted(out["date"].unique()) == [pd.Timestamp("2024-09-30"), AS_OF]
    assert set(out["group"]) == {"b1", "b2", ALL}


def test_league_table_and_series_count_defaults_apart_point_in_time(
    tables: dict, scores: pd.DataFrame
) -> None:
    """B defaults on 2024-04-01 (then its facility closes), C is written off on 2024-11-15
    and keeps its facility open: neither is attrition, and C's write-off is not seen at
    2024-09-30."""
    events = pd.DataFrame(
        {
            "client_id": pd.Series(["B", "C"], dtype="str"),
            "date": _dates(["2024-04-01", "2024-11-15"]),
            "kind": pd.Series(["default", "WRITE_OFF"], dtype="str"),
        }
    )
    book = {**tables, "credit_events": events}
    out = league_table(scores, book, AS_OF, "branch_id", KPIS, min_answers=2).set_index("branch_id")
    # b1 active 2023-12-31: A, B, C; B and C defaulted since; of A alone, A still active
    b1 = out.loc["b1"]
    assert (b1["active_before"], b1["defaulted"], b1["retained"]) == (3, 2, 1)
    assert b1["retention_rate"] == pytest.approx(1.0)  # not 2 / 3: B left through default
    assert b1["contribution_clients"] == 3
    config = RelationshipConfig(min_answers=2, series_months=3, step_months=3)
    series = relationship_series(scores, book, AS_OF, ["branch_id"], KPIS, config)
    by = series.set_index(["date", "group"])
    sep = by.loc[(pd.Timestamp("2024-09-30"), "b1")]
    assert (sep["active_before"], sep["defaulted"], sep["retained"]) == (3, 1, 2)
    dec = by.loc[(AS_OF, "b1")]
    assert (dec["active_before"], dec["defaulted"], dec["retained"]) == (3, 2, 1)
    # without a credit_events or facility_balances table no default can be seen: missing
    plain = relationship_series(scores, tables, AS_OF, ["branch_id"], KPIS, config)
    assert plain["defaulted"].isna().all()


def test_time_series_leaves_out_dates_without_data(tables: dict, scores: pd.DataFrame) -> None:
    config = RelationshipConfig(min_answers=1, series_months=120, step_months=12)
    out = relationship_series(scores, tables, AS_OF, ["segment"], KPIS, config)
    # facilities start 2020-01: nobody is active at 2019-12-31, so the first point with a
    # retention is 2021-12-31 (active at 2020-12-31); the first answer is dated 2023-12-31
    assert out["date"].min() == pd.Timestamp("2021-12-31")
    assert set(out["group"]) == {"x", "y", ALL}
    assert set(out["by"]) == {"segment"}


def _stages(now: list[str], before: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series([f"c{i}" for i in range(len(now))], dtype="str"),
            "lifecycle_stage": pd.Series(now, dtype="str"),
            "previous_lifecycle_stage": pd.Series(before, dtype="str"),
        }
    )


def test_flow_matrix_counts() -> None:
    scores = _stages(
        ["active", "active", "dormant", "churned", "new", "in_default"],
        ["active", "new", "active", "dormant", None, "active"],
    )
    flows = flow_matrix(scores)
    assert flows is not None
    m = flows.set_index("previous_stage")
    assert m.loc["active", "active"] == 1
    assert m.loc["new", "active"] == 1
    assert m.loc["active", "dormant"] == 1
    assert m.loc["active", "in_default"] == 1
    assert m.loc["dormant", "churned"] == 1
    assert m.loc[NOT_BEFORE, "new"] == 1
    assert m.loc["active", "Total"] == 3
    assert m.loc["Total", "active"] == 2
    assert m.loc["Total", "Total"] == 6
    assert m.index.tolist() == [*STAGES, NOT_BEFORE, "Total"]
    assert m.loc["potential"].sum() == 0
    assert flow_matrix(scores.drop(columns="previous_lifecycle_stage")) is None


def test_stage_table_counts_clients_with_their_strategy() -> None:
    config = RelationshipConfig()
    scores = _stages(["active", "active", "dormant", "new"], ["active"] * 4)
    out = stage_table(scores, config.stage_strategies).set_index("lifecycle_stage")
    assert out.index.tolist() == list(STAGES)  # every stage, even without clients
    assert out.loc["active", "clients"] == 2
    assert out.loc["active", "share"] == pytest.approx(0.5)
    assert out.loc["churned", "clients"] == 0
    assert out.loc["dormant", "strategy"] == config.stage_strategies["dormant"].strategy
    with pytest.raises(ValueError, match=r"unknown stage.*'vip'"):
        stage_table(_stages(["vip"], ["active"]), config.stage_strategies)
    views = stage_views(scores.drop(columns="previous_lifecycle_stage"), config.stage_strategies)
    assert views["flows"] is None and views["table"]["id"] == "stages"


def _strategies(stages: tuple[str, ...]) -> dict:
    return {s: {"strategy": f"serve {s}", "action": f"act on {s}"} for s in stages}


def test_strategies_for_every_stage_else_a_clear_error(tmp_path: Path) -> None:
    given = from_dict(RelationshipConfig, {"stage_strategies": _strategies(STAGES)})
    assert given.stage_strategies["dormant"].action == "act on dormant"
    missing = [s for s in STAGES if s != "dormant"]
    with pytest.raises(ConfigError, match=r"no strategy for stage\(s\) \['dormant'\]"):
        from_dict(RelationshipConfig, {"stage_strategies": _strategies(tuple(missing))})
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) \['vip'\]"):
        from_dict(RelationshipConfig, {"stage_strategies": _strategies((*STAGES, "vip"))})
    with pytest.raises(ConfigError, match="non-empty"):
        bad = _strategies(STAGES) | {"new": {"strategy": " ", "action": "x"}}
        from_dict(RelationshipConfig, {"stage_strategies": bad})
    params = tmp_path / "params.yaml"
    params.write_text(
        "report:\n  relationship:\n    stage_strategies:\n      new: {strategy: a, action: b}\n"
    )
    with pytest.raises(ConfigError, match=r"report\.relationship: stage_strategies: no strategy"):
        load_report_config(params)


@pytest.mark.parametrize(
    ("key", "value"),
    [("min_answers", 0), ("step_months", 0), ("series_months", -1), ("series_groups", 6)],
)
def test_bad_relationship_params_are_refused(key: str, value: int) -> None:
    with pytest.raises(ConfigError, match=key):
        from_dict(ReportConfig, {"relationship": {key: value}})


def test_series_survey_sums_equal_the_portfolio_kpis(tables: dict, scores: pd.DataFrame) -> None:
    """The per-client figures of the time series give the KPI table's NPS and CSAT exactly."""
    groups = client_groups(scores, tables["clients"], "rm_id")
    answers = survey_answers(tables["interactions"])
    window = answers[(answers["date"] >= window_start(AS_OF, 12)) & (answers["date"] <= AS_OF)]
    fast = survey_by_group(survey_per_client(window), groups)
    slow = survey_kpis(tables["interactions"], AS_OF, groups, 12)
    pd.testing.assert_frame_equal(fast.sort_index(), slow.sort_index(), check_dtype=False)


# --- the relationship index from the data at each past date (features snapshots) ---


def _dims() -> DimensionsConfig:
    """One input per dimension, linear anchors, so each score is easy to compute by hand."""
    one = {"weight": 1.0, "anchors": [[0, 0], [100, 100]]}
    return from_dict(
        DimensionsConfig,
        {
            "min_dimensions": 3,
            "contribution_min_rows": 1,
            "satisfaction": {"inputs": [{"feature": "csat_mean_12m", **one}]},
            "loyalty": {"inputs": [{"feature": "nps_mean_12m", **one}]},
            "retention": {
                "inputs": [
                    {"feature": "churn_probability", "weight": 2.0, "anchors": [[0, 100], [1, 0]]},
                    {"feature": "months_since_revenue", **one},
                ]
            },
            "contribution": {
                "inputs": [
                    {"feature": "expected_contribution_percentile", **one},
                    {"feature": "realised_contribution_percentile", **one},
                ]
            },
            "trust": {"inputs": [{"feature": "max_dpd_12m", **one}]},
        },
    )


REFERENCE = {
    "levels": [0, 50, 100],
    "all": {"rows": 10, "expected": [0.0, 10.0, 20.0], "realised": [0.0, 100.0, 200.0]},
    "segments": {},
}


def _snapshots() -> pd.DataFrame:
    """Clients A, B, C (branch b1) and D (b2) at 2024-09-30 and 2024-12-31; D has no
    survey answer and no DPD known in September."""
    rows = {
        "client_id": list("ABCDABCD"),
        "as_of": ["2024-09-30"] * 4 + ["2024-12-31"] * 4,
        "segment": list("xxyy" * 2),
        "csat_mean_12m": [80, 40, 60, None, 90, 50, 70, 10],
        "nps_mean_12m": [50, 20, None, None, 60, 30, 40, 20],
        "months_since_revenue": [10, 20, 30, 40, 0, 0, 0, 0],
        "revenue_12m": [50.0, 100.0, 150.0, None, 0.0, 0.0, 0.0, 0.0],
        "max_dpd_12m": [0, 90, 30, None, 0, 0, 0, 0],
    }
    out = pd.DataFrame(rows)
    out["client_id"] = out["client_id"].astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[ms]")
    return out


def _groups(tables: dict, scores: pd.DataFrame) -> dict:
    return {"branch_id": client_groups(scores, tables["clients"], "branch_id")}


def test_index_from_data_group_mean_by_hand(tables: dict, scores: pd.DataFrame) -> None:
    dates = [pd.Timestamp("2024-09-30"), AS_OF]
    out = index_series(_snapshots(), _groups(tables, scores), dates, REFERENCE, _dims())
    sep = out.set_index(["date", "group"]).loc[(pd.Timestamp("2024-09-30"), "b1")]
    # b1 in September: A, B, C. Satisfaction = csat: (80 + 40 + 60) / 3 = 60.
    assert sep["satisfaction_score_from_data"] == pytest.approx(60.0)
    assert sep["satisfaction_score_from_data_clients"] == 3
    # loyalty: A 50, B 20 (C unknown) -> 35 over 2 clients
    assert sep["loyalty_score_from_data"] == pytest.approx(35.0)
    assert sep["loyalty_score_from_data_clients"] == 2
    # retention: churn_probability is a model output, missing at past dates and dropped:
    # months_since_revenue alone, (10 + 20 + 30) / 3
    assert sep["retention_score_from_data"] == pytest.approx(20.0)
    # contribution: realised percentile only (expected is a model output): revenue 50, 100,
    # 150 against the frozen quantiles 0 / 100 / 200 at levels 0 / 50 / 100 -> 25, 50, 75
    assert sep["contribution_score_from_data"] == pytest.approx(50.0)
    # trust: dpd 0, 90, 30 -> 0, 90, 30
    assert sep["trust_score_from_data"] == pytest.approx(40.0)
    # index per client (equal weights, >= 3 dimensions known):
    # A (80, 50, 10, 25, 0) -> 33; B (40, 20, 20, 50, 90) -> 44; C (60, -, 30, 75, 30) -> 48.75
    assert sep["relationship_index_from_data"] == pytest.approx((33 + 44 + 48.75) / 3)
    assert sep["relationship_index_from_data_clients"] == 3
    # b2 in September: D has only retention (40) and contribution missing (no revenue): no
    # index (1 dimension < 3), the group mean rests on 0 clients
    d = out.set_index(["date", "group"]).loc[(pd.Timestamp("2024-09-30"), "b2")]
    assert d["relationship_index_from_data_clients"] == 0
    assert np.isnan(d["relationship_index_from_data"])
    assert d["retention_score_from_data"] == pytest.approx(40.0)
    # All: the four clients
    every = out.set_index(["date", "group"]).loc[(pd.Timestamp("2024-09-30"), ALL)]
    assert every["retention_score_from_data_clients"] == 4
    assert every["retention_score_from_data"] == pytest.approx(25.0)


def test_index_from_data_counts_the_clients_ranked_at_each_date(
    tables: dict, scores: pd.DataFrame
) -> None:
    # the league table's population: in September B had churned and C was a prospect, so
    # b1's means rest on A alone; in December all four are active
    snaps = _snapshots()
    snaps["lifecycle_stage"] = ["active", "churned", "potential", "new"] + ["active"] * 4
    dates = [pd.Timestamp("2024-09-30"), AS_OF]
    out = index_series(snaps, _groups(tables, scores), dates, REFERENCE, _dims())
    sep = out.set_index(["date", "group"]).loc[(pd.Timestamp("2024-09-30"), "b1")]
    assert sep["satisfaction_score_from_data"] == pytest.approx(80.0)  # A's alone
    assert sep["satisfaction_score_from_data_clients"] == 1
    every = out.set_index(["date", "group"]).loc[(pd.Timestamp("2024-09-30"), ALL)]
    assert every["retention_score_from_data_clients"] == 2  # A and D
    dec = out.set_index(["date", "group"]).loc[(AS_OF, "b1")]
    assert dec["satisfaction_score_from_data_clients"] == 3


def test_index_from_data_is_point_in_time(tables: dict, scores: pd.DataFrame) -> None:
    dates = [pd.Timestamp("2024-09-30"), AS_OF]
    groups = _groups(tables, scores)
    before = index_series(_snapshots(), groups, dates, REFERENCE, _dims())
    later = _snapshots()
    december = later["as_of"] == pd.Timestamp("2024-12-31")
    later.loc[december, ["csat_mean_12m", "max_dpd_12m", "revenue_12m"]] = [0, 90, 0.0]
    after = index_series(later, groups, dates, REFERENCE, _dims())
    sep = pd.Timestamp("2024-09-30")
    pd.testing.assert_frame_equal(
        before[before["date"] == sep].reset_index(drop=True),
        after[after["date"] == sep].reset_index(drop=True),
    )
    dec_before = before[before["date"] == AS_OF]["satisfaction_score_from_data"].to_numpy()
    dec_after = after[after["date"] == AS_OF]["satisfaction_score_from_data"].to_numpy()
    assert not np.allclose(dec_before, dec_after)  # the change does show at its own date


def test_index_from_data_leaves_out_dates_without_a_snapshot(
    tables: dict, scores: pd.DataFrame
) -> None:
    dates = [pd.Timestamp("2024-06-30"), pd.Timestamp("2024-09-30")]
    out = index_series(_snapshots(), _groups(tables, scores), dates, REFERENCE, _dims())
    assert set(out["date"]) == {pd.Timestamp("2024-09-30")}
    twice = pd.concat([_snapshots(), _snapshots().iloc[:1]])
    with pytest.raises(ValueError, match="several rows"):
        index_series(twice, _groups(tables, scores), dates, REFERENCE, _dims())


def test_index_series_reads_score_dimensions_not_a_report_param(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("report: {}\nscore:\n  dimensions:\n    min_dimensions: 2\n")
    assert load_report_config(params).dimensions.min_dimensions == 2
    params.write_text("report:\n  dimensions: {min_dimensions: 2}\n")
    with pytest.raises(ConfigError, match=r"score\.dimensions"):
        load_report_config(params)
    params.write_text("report: {}\nscore:\n  dimensions:\n    min_dimensions: 9\n")
    with pytest.raises(ConfigError, match="min_dimensions"):
        load_report_config(params)


def test_a_malformed_frozen_reference_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "contribution"
    folder.mkdir()
    assert load_contribution_reference(tmp_path) is None  # no references.json: none
    (folder / "references.json").write_text(json.dumps({"contribution_quantiles": REFERENCE}))
    assert load_contribution_reference(tmp_path) == REFERENCE
    bad = REFERENCE | {"levels": [0, 60, 50]}
    (folder / "references.json").write_text(json.dumps({"contribution_quantiles": bad}))
    with pytest.raises(ReportInputError, match="levels"):
        load_contribution_reference(tmp_path)
