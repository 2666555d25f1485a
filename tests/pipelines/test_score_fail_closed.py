"""Scoring fails closed: a model whose source tables are absent or empty is not applied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predict.cli import app
from predict.models.store import load_bundle
from predict.scoring.support import model_support
from tests.support.scoring import Book

ROOT = Path(__file__).resolve().parents[2]


def _only(book: Book, tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "input"
    folder.mkdir()
    for name in names:
        shutil.copy(book.raw / f"{name}.parquet", folder / f"{name}.parquet")
    return folder


def _score(folder: Path, book: Book, out: Path, *extra: str) -> object:
    return CliRunner().invoke(app, [
        "score", "--input", str(folder), "--models", str(book.models), "--out", str(out),
        "--quiet", "--as-of", "2025-11-30", *extra,
    ])  # fmt: skip


def test_only_clients_stops_naming_the_tables_and_models(
    scoring_book: Book, tmp_path: Path
) -> None:
    folder = _only(scoring_book, tmp_path, "clients")
    result = _score(folder, scoring_book, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert "churn" in result.output and "facility_balances" in result.output
    assert not (tmp_path / "out" / "scores.parquet").exists()


def _params(tmp_path: Path, **score: object) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["score"].update(score)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_partial_scoring_leaves_unsupported_targets_missing_with_the_reason(
    scoring_book: Book, tmp_path: Path
) -> None:
    names = ("clients", "facilities", "facility_balances", "credit_events", "revenue")
    folder = _only(scoring_book, tmp_path, *names)  # no interactions
    # the limit between the fixture models' own shares of gain from interactions features:
    # above the contribution model's, below churn's and default's
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in names}
    share = {
        t: model_support(load_bundle(scoring_book.models / t), tables, None).gain_share
        for t in ("churn", "default", "contribution")
    }
    assert share["contribution"] < min(share["churn"], share["default"]), share
    limit = (share["contribution"] + min(share["churn"], share["default"])) / 2
    params = _params(tmp_path, unsupported="missing", max_unavailable_gain=limit)
    out = tmp_path / "out"
    result = _score(folder, scoring_book, out, "--params", str(params))
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out / "scores.parquet")
    summary = json.loads((out / "score_summary.json").read_text())
    assert set(summary["unsupported"]) == {"churn", "default"}
    for target, column in (("churn", "churn_probability"), ("default", "default_probability")):
        assert scores[column].isna().all()
        assert summary["unsupported"][target]["tables"] == ["interactions"]
        assert summary["unsupported"][target]["gain_share"] == round(share[target], 6)
        assert "interactions" in summary["skipped_targets"][target]
        assert scores[f"{target}_reasons"].str.startswith("Not scored: ").all()
        assert scores[f"{target}_model_version"].isna().all()
    assert scores["expected_contribution"].notna().all()
    assert scores["expected_contribution"].nunique() > 10
    assert "skipped churn" in result.output


def test_an_empty_table_and_a_fully_quarantined_one_count_as_absent(
    scoring_book: Book, tmp_path: Path
) -> None:
    folder = _only(scoring_book, tmp_path, *scoring_book.tables)
    balances = pd.read_parquet(folder / "facility_balances.parquet")
    balances.head(0).to_parquet(folder / "facility_balances.parquet", index=False)
    result = _score(folder, scoring_book, tmp_path / "out")
    assert result.exit_code == 1 and "facility_balances absent, empty" in result.output
    orphans = balances.assign(facility_id="no-such-facility")
    orphans.to_parquet(folder / "facility_balances.parquet", index=False)
    result = _score(folder, scoring_book, tmp_path / "out2")
    assert result.exit_code == 1, result.output
    assert "facility_balances" in result.output and "default" in result.output
    kept = tmp_path / "out2.failed" / "quarantine" / "facility_balances.parquet"  # run stopped
    quarantine = pd.read_parquet(kept)
    assert len(quarantine) == len(balances)  # every row kept, with its reason


@pytest.fixture(scope="module")
def book_scores(scoring_book: Book, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The whole fixture book scored with every table (what the partial runs compare with)."""
    out = tmp_path_factory.mktemp("full") / "scores"
    assert _score(scoring_book.raw, scoring_book, out).exit_code == 0
    return pd.read_parquet(out / "scores.parquet").set_index("client_id")


def test_without_a_default_trigger_table_the_models_knew_only_shown_defaults_are_known(
    scoring_book: Book, book_scores: pd.DataFrame, tmp_path: Path
) -> None:
    """The fixture models were trained with credit_events. Without it (every model applied:
    ``unsupported: missing`` with a limit no model reaches), a client the balances show in
    default is in default; every other client's status is unknown, so no client in default
    through a credit event alone is scored for churn or default as if performing. The
    contribution model does not depend on the status and is scored."""
    assert load_bundle(scoring_book.models / "churn").metadata["default_status_from"] == [
        "credit_events", "facility_balances",
    ]  # fmt: skip
    book = book_scores
    names = ("clients", "facilities", "facility_balances", "interactions", "revenue")
    folder = _only(scoring_book, tmp_path, *names)
    params = _params(tmp_path, unsupported="missing", max_unavailable_gain=0.99)
    out = tmp_path / "out"
    result = _score(folder, scoring_book, out, "--params", str(params))
    assert result.exit_code == 0, result.output
    assert "default status known only where the other tables show a default" in result.output
    summary = json.loads((out / "score_summary.json").read_text())
    assert summary["default_status_lacking"] == ["credit_events"] and not summary["unsupported"]
    scores = pd.read_parquet(out / "scores.parquet").set_index("client_id")
    shown = scores["in_default"].fillna(False).to_numpy(bool)  # unknown (NA) for the others
    assert shown.any() and scores.loc[shown, "default_probability"].eq(1.0).all()
    others = scores.loc[~shown]
    assert others["in_default"].isna().all()
    assert others["default_probability"].isna().all() and others["churn_probability"].isna().all()
    partial = "default status unknown: a default-trigger table the models were trained with"
    assert others["default_not_scored_reason"].str.startswith(partial).all()
    assert others["churn_reasons"].str.startswith("Default status unknown: a default-trigger").all()
    assert scores["expected_contribution"].notna().all()
    # the clients in default through a credit event alone: scored as performing before
    in_book = book["in_default"].fillna(False).astype(bool)
    events_only = book.index[in_book & ~scores["in_default"].fillna(False).astype(bool)]
    assert len(events_only) and scores.loc[events_only, "churn_probability"].isna().all()
    # their stage (churned, ... out of default) and a past default only an event showed are
    # unknown too: no stage rule fires on them (a win-back), prospects keep theirs
    assert scores.loc[events_only, "lifecycle_stage"].isna().all()
    assert not others["action"].eq("win_back").any()
    assert others["ever_defaulted"].isna().sum() > 0 and not others["ever_defaulted"].eq(0).any()
    prospects = book.index[book["lifecycle_stage"].eq("potential")]
    assert len(prospects) and scores.loc[prospects, "lifecycle_stage"].eq("potential").all()


def test_without_an_activity_table_the_models_knew_only_proven_stages_are_known(
    scoring_book: Book, book_scores: pd.DataFrame, tmp_path: Path
) -> None:
    """The fixture models were trained with facilities and revenue. Without revenue (every
    model applied), a client with revenue but no open line would read as churned or a
    prospect: only the stages the facilities prove (in default, active) are kept, the
    others are unknown, churn is not scored for them and no action is decided (any stage
    rule may have been theirs); the rescored previous month end says the same. Without
    credit_events too, a prospect is no longer proven either."""
    assert load_bundle(scoring_book.models / "churn").metadata["lifecycle_stage_from"] == [
        "facilities", "revenue",
    ]  # fmt: skip
    book = book_scores
    params = _params(tmp_path, unsupported="missing", max_unavailable_gain=0.99)
    cases = {
        "no revenue": ("clients", "facilities", "facility_balances", "credit_events",
                       "interactions"),
        "no revenue, no credit_events": ("clients", "facilities", "facility_balances",
                                         "interactions"),
    }  # fmt: skip
    for case, names in cases.items():
        (tmp_path / str(len(names))).mkdir()
        folder = _only(scoring_book, tmp_path / str(len(names)), *names)
        out = tmp_path / f"out_{len(names)}"
        result = _score(folder, scoring_book, out, "--params", str(params))
        assert result.exit_code == 0, result.output
        assert "life-cycle stage known only where the other table proves it" in result.output
        summary = json.loads((out / "score_summary.json").read_text())
        assert summary["lifecycle_stage_lacking"] == ["revenue"], case
        scores = pd.read_parquet(out / "scores.parquet").set_index("client_id")
        stages = scores["lifecycle_stage"]
        assert set(stages.dropna()) <= {"in_default", "active"} and stages.isna().any(), case
        kept = stages.dropna()
        assert (book.loc[kept.index, "lifecycle_stage"] == kept).all(), case
        assert set(scores["previous_lifecycle_stage"].dropna()) <= {"in_default", "active"}
        unknown = scores.loc[stages.isna()]
        assert unknown["churn_probability"].isna().all()
        assert unknown["action"].isna().all(), case
        assert unknown["action_rule"].eq("none decided: life-cycle stage unknown").all()
        # active in the book through revenue alone (no open line), churned and prospects:
        # unknown now, not read as churned or prospects
        revenue_only = book["lifecycle_stage"].eq("active") & book["open_facilities"].eq(0)
        for who in (revenue_only, book["lifecycle_stage"].isin(["churned", "potential"])):
            assert who.any() and stages[who[who].index].isna().all(), case
    no_status = unknown["churn_reasons"]  # the second case: the status decides first
    assert no_status.str.startswith("Default status unknown").all()
