"""The synthetic portfolio: contract shape, determinism, the processes behind it, the stage."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from predict.contract.spec import TABLES
from predict.synthetic import (
    GenerateConfig,
    SyntheticPortfolio,
    generate_portfolio,
    write_portfolio,
)
from tests.support.synthetic import SMALL, TINY, WINDOW

ROOT = Path(__file__).resolve().parents[2]

KIND_DTYPES = {"string": "str", "date": "datetime64[s]", "float": "float64"}


@pytest.fixture(scope="module")
def small_book() -> SyntheticPortfolio:
    return generate_portfolio(SMALL, WINDOW)


@pytest.fixture(scope="module")
def tables(small_book: SyntheticPortfolio) -> dict[str, pd.DataFrame]:
    return small_book.tables


def test_tables_have_exactly_the_contract_columns_and_dtypes(tables):
    assert set(tables) == set(TABLES)
    for name, table in TABLES.items():
        frame = tables[name]
        assert tuple(frame.columns) == table.column_names, name
        assert len(frame) > 0, name
        for col in table.columns:
            expected = KIND_DTYPES.get(
                col.kind, "Int64" if col.name in ("csat", "nps") else "int64"
            )
            assert str(frame[col.name].dtype) == expected, (name, col.name)
            if col.required:
                assert frame[col.name].notna().all(), (name, col.name)


def test_keys_are_unique_and_foreign_keys_hold(tables):
    for name, table in TABLES.items():
        if table.key:
            assert not tables[name].duplicated(list(table.key)).any(), name
        for fk in table.foreign_keys:
            values = tables[name][fk.column].dropna()
            assert values.isin(tables[fk.table][fk.ref_column]).all(), (name, fk.column)
    events = tables["credit_events"].dropna(subset=["facility_id"])
    owner = events.merge(tables["facilities"], on="facility_id", suffixes=("", "_f"))
    assert len(owner) == len(events)
    assert (owner["client_id"] == owner["client_id_f"]).all()


def test_values_keep_the_contract_rules(tables):
    end = pd.Timestamp(SMALL.end_date)
    f, b = tables["facilities"], tables["facility_balances"]
    assert (f["maturity_date"] >= f["origination_date"]).all()
    closed = f.dropna(subset=["closed_date"])
    assert (closed["closed_date"] >= closed["origination_date"]).all()
    assert (f["limit_amount"] >= 0).all() and (
        tables["clients"]["annual_turnover"].dropna() >= 0
    ).all()
    assert b["month_end"].dt.is_month_end.all()
    assert (b["outstanding"] >= 0).all() and (b["days_past_due"] >= 0).all()
    answers = tables["interactions"]
    assert answers["csat"].dropna().between(1, 5).all()
    assert answers["nps"].dropna().between(0, 10).all()
    for name, table in TABLES.items():
        for col in table.columns:
            if col.kind == "date" and col.name != "maturity_date":
                assert (tables[name][col.name].dropna() <= end).all(), (name, col.name)


def test_balances_are_reported_exactly_while_a_facility_is_open(tables):
    b = tables["facility_balances"].merge(tables["facilities"], on="facility_id")
    assert (b["origination_date"] <= b["month_end"]).all()
    assert (b["closed_date"].isna() | (b["closed_date"] > b["month_end"])).all()
    f = tables["facilities"]
    start = pd.Timestamp(SMALL.end_date) - pd.DateOffset(months=SMALL.months - 1)
    open_at_end = f[f["closed_date"].isna()]
    last = b[b["month_end"] == pd.Timestamp(SMALL.end_date)]
    assert set(open_at_end["facility_id"]) == set(last["facility_id"])
    assert (f["origination_date"] < start).any()  # seasoned loans from before the data


def test_same_seed_gives_the_same_book_and_another_seed_does_not():
    first, second = generate_portfolio(TINY, WINDOW), generate_portfolio(TINY, WINDOW)
    for name in TABLES:
        pd.testing.assert_frame_equal(first.tables[name], second.tables[name])
    pd.testing.assert_frame_equal(first.truth, second.truth)
    other = generate_portfolio(dataclasses.replace(TINY, seed=TINY.seed + 1), WINDOW)
    assert not first.tables["revenue"]["amount"].equals(other.tables["revenue"]["amount"])
    assert not first.truth["p_default"].equals(other.truth["p_default"])


def test_written_files_are_byte_identical_for_the_same_seed(tmp_path):
    digests = []
    for run in ("a", "b"):
        write_portfolio(TINY, tmp_path / run / "data", tmp_path / run / "truth", WINDOW)
        files = sorted(p for p in (tmp_path / run).rglob("*") if p.is_file())  # as DVC sees
        digests.append(
            {
                p.relative_to(tmp_path / run): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in files
            }
        )
    assert len(digests[0]) == 12 and digests[0] == digests[1]  # 10 tables, summary, README
    memory = generate_portfolio(TINY, WINDOW).tables["revenue"]
    on_disk = pq.read_table(tmp_path / "a" / "data" / "revenue.parquet").to_pandas()
    assert np.allclose(on_disk["amount"].to_numpy(), memory["amount"].to_numpy())


def test_the_book_has_segments_industries_branches_and_prospects(tables, small_book):
    c, traits = tables["clients"], small_book.traits
    assert set(c["segment"].dropna()) == {
        "sme",
        "mid_corporate",
        "large_corporate",
        "project_finance",
    }
    assert c["industry"].nunique() == 12 and c["region"].nunique() == 5
    assert c["branch_id"].nunique() == SMALL.n_branches
    assert c["rm_id"].nunique() >= 2 * SMALL.n_branches
    prospects = traits.loc[traits["prospect"], "client_id"]
    assert len(prospects) > 50
    assert not prospects.isin(tables["facilities"]["client_id"]).any()
    assert not prospects.isin(tables["revenue"]["client_id"]).any()
    start = pd.Timestamp(SMALL.end_date) - pd.DateOffset(months=SMALL.months)
    assert (c["onboarding_date"] < start).mean() > 0.2 and (
        c["onboarding_date"] > start
    ).mean() > 0.4
    for col in ("segment", "industry", "annual_turnover", "rm_id"):
        assert 0 < c[col].isna().mean() < 0.06, col


def test_products_are_priced_renewed_and_closed_like_loans(tables):
    f = tables["facilities"]
    assert set(f["product"]) == {
        "term_loan",
        "revolving_credit",
        "trade_finance",
        "guarantee",
        "project_finance",
    }
    assert f.loc[f["product"] == "guarantee", "interest_rate"].isna().all()
    rates = f.dropna(subset=["interest_rate"])["interest_rate"]
    assert rates.between(0.004, 0.2).all()
    pf = f[f["product"] == "project_finance"]
    assert (
        pf["limit_amount"].median()
        > 10 * f.loc[f["product"] == "term_loan", "limit_amount"].median()
    )
    closed = f.dropna(subset=["closed_date"])
    early = closed["closed_date"] < closed["maturity_date"]
    assert 0.05 < early.mean() < 0.8  # prepayments, attrition, workouts; the rest at maturity
    renewed = closed.merge(
        f,
        left_on=["client_id", "product", "closed_date"],
        right_on=["client_id", "product", "origination_date"],
    )
    assert len(renewed) > 20


def _limit_in_force(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Balances with their facility and the limit in force at each month end (the latest
    facility_terms row on or before it; facilities records only the latest limit)."""
    b = tables["facility_balances"].merge(
        tables["facilities"].drop(columns="limit_amount"), on="facility_id"
    )
    terms = tables["facility_terms"][["facility_id", "effective_date", "limit_amount"]]
    out = pd.merge_asof(
        b.sort_values("month_end"),
        terms.sort_values("effective_date"),
        left_on="month_end",
        right_on="effective_date",
        by="facility_id",
    )
    assert out["limit_amount"].notna().all()  # every facility has its opening terms row
    return out


def test_term_changes_are_dated_and_the_facility_records_the_latest(tables):
    terms, fac = tables["facility_terms"], tables["facilities"]
    first = terms.groupby("facility_id").head(1).merge(fac, on="facility_id", suffixes=("", "_f"))
    assert len(first) == len(fac)  # one opening row per facility, at origination
    assert (first["effective_date"] == first["origination_date"]).all()
    assert not terms.duplicated(["facility_id", "effective_date"]).any()
    last = terms.groupby("facility_id").tail(1).merge(fac, on="facility_id", suffixes=("", "_f"))
    for column in ("limit_amount", "interest_rate", "maturity_date"):
        same = (last[column] == last[f"{column}_f"]) | last[[column, f"{column}_f"]].isna().all(
            axis=1
        )
        assert same.all(), column
    before = terms.groupby("facility_id").shift()
    changed = before["effective_date"].notna()
    assert (changed & (terms["limit_amount"] < before["limit_amount"])).any()  # cuts
    assert (changed & (terms["interest_rate"] != before["interest_rate"])).any()  # repricings
    assert (changed & (terms["maturity_date"] > before["maturity_date"])).any()  # extensions


def test_available_follows_the_facility_model(tables):
    b = _limit_in_force(tables)
    avail = b["available"]
    assert (avail >= 0).all() and avail.notna().all()
    # a term loan's repaid principal cannot be redrawn
    assert (avail[b["product"] == "term_loan"] == 0).all()
    # lines can draw their headroom (0 once their client defaulted)
    lines = b[b["product"].isin(["revolving_credit", "trade_finance", "guarantee"])]
    headroom = (lines["limit_amount"] - lines["outstanding"]).clip(lower=0).round(2)
    frozen = lines["available"] == 0
    assert (lines["available"].where(~frozen, headroom) == headroom).all()
    assert ((lines["available"] - headroom).abs() < 0.01).mean() > 0.9
    # project finance draws during construction, then amortises with nothing left to draw
    pf = b[b["product"] == "project_finance"]
    assert (pf["available"] > 0).any() and (pf["available"] == 0).any()


def _buckets(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    b = tables["facility_balances"].sort_values(["facility_id", "month_end"]).copy()
    b["bucket"] = np.minimum((b["days_past_due"] + 29) // 30, 4)
    b["prev"] = b.groupby("facility_id")["bucket"].shift()
    gap = b.groupby("facility_id")["month_end"].diff()
    return b[gap.notna() & (gap <= pd.Timedelta(days=31))]


def test_arrears_roll_bucket_by_bucket_with_cures(tables):
    t = _buckets(tables)
    moves = pd.crosstab(t["prev"], t["bucket"])
    for k in (1, 2, 3):
        assert moves.loc[k, 0] > 0, f"no cure from bucket {k}"
    for k in (0, 1, 2, 3):
        assert moves.loc[k, k + 1] > 0, f"no roll from bucket {k}"
    entries = t[(t["bucket"] == 4) & (t["prev"] < 4)]
    assert len(entries) > 10 and (entries["prev"] == 3).mean() > 0.95  # 90+ only through 60-89
    jumps = t[(t["prev"] == 0) & (t["bucket"] >= 2)]
    assert jumps.empty
    roll_from_1 = moves.loc[1, 2] / moves.loc[1].sum()
    assert 0.1 < roll_from_1 < 0.5 and moves.loc[1, 0] > moves.loc[1, 2]


def test_every_90_days_past_due_comes_with_a_default_event(tables):
    b = tables["facility_balances"].merge(tables["facilities"][["facility_id", "client_id"]])
    first_90 = b[b["days_past_due"] >= 90].groupby("client_id")["month_end"].min()
    ev = tables["credit_events"]
    first_default = ev[ev["kind"] == "default"].groupby("client_id")["date"].min()
    joined = pd.concat([first_90.rename("dpd"), first_default.rename("event")], axis=1)
    assert joined["event"].notna().all()
    assert (joined["dpd"].isna() | (joined["event"] <= joined["dpd"])).all()
    kinds = set(ev["kind"])
    assert {"default", "write_off", "restructuring", "covenant_breach", "watchlist"} <= kinds


def test_revenue_has_its_sources_reversals_and_a_late_month(tables):
    r = tables["revenue"]
    assert set(r["source"]) == {"interest", "fee", "fx", "cash_management", "trade"}
    assert (r["amount"] < 0).any() and (r["amount"] != 0).all()
    assert (r["date"].dt.day <= 27).all()  # never on a month end: windows are unambiguous
    interest = r[r["source"] == "interest"]
    per_month = interest.groupby(["client_id", interest["date"].dt.to_period("M")]).size()
    late = pd.Period(SMALL.late_revenue_month, "M") + 1
    doubled = per_month[per_month > 1].index.get_level_values(1)
    assert set(doubled) == {late}


def test_interactions_have_kinds_unanswered_surveys_and_silent_clients(tables, small_book):
    i, traits = tables["interactions"], small_book.traits
    assert set(i["kind"]) == {
        "rm_meeting",
        "call",
        "email",
        "service_request",
        "complaint",
        "survey",
    }
    surveys = i[i["kind"] == "survey"]
    unanswered = surveys["csat"].isna() & surveys["nps"].isna()
    assert 0.3 < unanswered.mean() < 0.9
    assert (surveys["csat"].isna() != surveys["nps"].isna()).any()  # half-answered
    assert 0 < i["channel"].isna().mean() < 0.05
    silent = traits.loc[~traits["interactions_recorded"], "client_id"]
    assert len(silent) > 10 and not silent.isin(i["client_id"]).any()
    answers = surveys.dropna(subset=["csat"]).merge(traits[["client_id", "satisfaction"]])
    ranks = answers["csat"].astype(float).rank(), answers["satisfaction"].rank()
    assert ranks[0].corr(ranks[1]) > 0.3  # answers follow the latent satisfaction


def test_activity_stops_after_attrition_and_default(tables, small_book):
    traits = small_book.traits
    gone = traits.dropna(subset=["attrition_month"])[["client_id", "attrition_month"]]
    assert len(gone) > 20
    late_post = pd.offsets.MonthEnd(1)
    r = tables["revenue"].merge(gone)
    assert (r["date"] <= r["attrition_month"] + late_post).all()
    i = tables["interactions"].merge(gone)
    assert (i["date"] <= i["attrition_month"]).all()
    f = tables["facilities"].merge(gone)
    assert f["closed_date"].notna().all() and (f["closed_date"] <= f["attrition_month"]).all()
    bad = traits.dropna(subset=["default_month"])[["client_id", "default_month"]]
    r = tables["revenue"].merge(bad)
    assert (r["date"] <= r["default_month"] + late_post).all()
    months_late = tables["facility_balances"].merge(tables["facilities"]).merge(bad)
    after = months_late[months_late["month_end"] > months_late["default_month"]]
    assert len(after) > 20 and (after["days_past_due"] > 0).all()  # in arrears until the exit
    assert (after["days_past_due"] >= 90).mean() > 0.8


def test_config_rejects_a_date_that_is_not_a_month_end():
    with pytest.raises(ValueError, match="last day of a month"):
        GenerateConfig(end_date=dt.date(2025, 12, 30))


def _params(tmp_path: Path, raw_dir: str) -> Path:
    params = {
        "data": {"raw_dir": raw_dir},
        "generate": {
            "seed": 3,
            "n_clients": 200,
            "months": 15,
            "truth_paths": 2,
            "truth_step_months": 6,
        },
        "features": {"horizon_months": 6, "inactivity_months": 3, "other_key": "ignored"},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def _run_stage(argv: list[str]) -> int:
    """Run ``pipelines/generate.py`` as DVC does, in a process of its own: its exit status
    (its log goes to the test's captured output)."""
    script = ROOT / "pipelines" / "generate.py"
    done = subprocess.run(
        [sys.executable, str(script), *argv, "--stand-aside"],
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout, done.stderr, sep="\n")
    return done.returncode


def test_stage_writes_tables_and_truth(tmp_path):
    out, truth = tmp_path / "data" / "synthetic", tmp_path / "truth"
    params = _params(tmp_path, str(out))
    assert _run_stage(["--params", str(params), "--out", str(out), "--truth", str(truth)]) == 0
    assert sorted(p.stem for p in out.glob("*.parquet")) == sorted(TABLES)
    t = pq.read_table(truth / "truth.parquet").to_pandas()
    assert list(t.columns) == [
        "client_id",
        "as_of",
        "p_churn",
        "p_default",
        "expected_contribution",
    ]
    assert {"traits.parquet", "macro.parquet", "summary.json", "README.txt"} <= {
        p.name for p in truth.iterdir()
    }
    summary = yaml.safe_load((truth / "summary.json").read_text(encoding="utf-8"))
    assert summary["horizon_months"] == 6 and summary["inactivity_months"] == 3


def test_stage_stands_aside_when_you_bring_your_own_data(tmp_path):
    out, truth = tmp_path / "synthetic", tmp_path / "truth"
    params = _params(tmp_path, str(tmp_path / "raw"))
    assert _run_stage(["--params", str(params), "--out", str(out), "--truth", str(truth)]) == 0
    for folder in (out, truth):
        assert [p.name for p in folder.iterdir()] == ["README.txt"]
        assert "raw" in (folder / "README.txt").read_text(encoding="utf-8")


def test_cli_generate_takes_size_and_seed(tmp_path):
    from predict.cli import app

    params = _params(tmp_path, "data/synthetic")
    out, truth = tmp_path / "out", tmp_path / "truth"
    args = [
        "generate",
        "--out",
        str(out),
        "--truth",
        str(truth),
        "--clients",
        "120",
        "--seed",
        "9",
        "--params",
        str(params),
        "--quiet",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pq.read_table(out / "clients.parquet").num_rows == 120
    bad = CliRunner().invoke(app, [*args[:-3], "--clients", "0", "--params", str(params)])
    assert bad.exit_code == 2 and "n_clients" in bad.output
