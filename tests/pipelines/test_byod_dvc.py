"""Bring-your-own-data books through `dvc repro`, from validate to the report: a target the
data cannot support is skipped with its record, the others are scored and reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from predict.cli import app
from tests.support.byod import dvc, dvc_project, no_churn_book, retail_csv

SHORT = {"horizon_months": 6, "as_of": {"step_months": 1}}


def _check_skipped(work: Path, target: str, why: str) -> None:
    record = json.loads((work / "models" / target / "skipped.json").read_text())
    assert record["skipped"] is True and why in record["reason"]
    assert [p.name for p in (work / "models" / target).iterdir()] == ["skipped.json"]
    assert json.loads((work / "metrics" / f"{target}.json").read_text()) == {"skipped": True}
    assert json.loads((work / "metrics" / "detail" / f"{target}.json").read_text())["skipped"]
    scores = pd.read_parquet(work / "data" / "scores" / "scores.parquet")
    column = {"churn": "churn_probability", "default": "default_probability"}[target]
    assert scores[column].isna().all()
    assert scores[f"{target}_reasons"].str.startswith("Not scored: not trained").all()
    summary = json.loads((work / "data" / "scores" / "score_summary.json").read_text())
    assert why in summary["skipped_targets"][target]
    index = (work / "reports" / "review" / "index.html").read_text()
    assert f"{target}: no model (not trained: " in index and why in index
    card = (work / "reports" / "review" / "model_card.html").read_text()
    assert f"{target} model: not trained" in card


def _repro(work: Path, target: str, why: str) -> pd.DataFrame:
    """``dvc repro`` to the report; ``target`` skipped for ``why``; the scores."""
    done = dvc(work, "repro")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _check_skipped(work, target, why)
    return pd.read_parquet(work / "data" / "scores" / "scores.parquet")


@pytest.mark.slow  # import, then seven stages on 240 clients: 1-4 min
def test_a_clients_and_revenue_book_skips_default_and_reaches_the_report(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    src = retail_csv(tmp_path / "retail.csv")
    imported = CliRunner().invoke(
        app, ["import-online-retail", "--src", str(src), "--out", str(raw)]
    )
    assert imported.exit_code == 0, imported.output
    features = {**SHORT, "inactivity_months": 3, "lifecycle": {"dormant_months": 2},
                "as_of": {"step_months": 1, "min_history_months": 6}}  # fmt: skip
    work = dvc_project(tmp_path / "project", raw, {"features": features})
    scores = _repro(work, "default", "no labelled rows in train, valid, test")
    assert scores["churn_probability"].nunique() > 5
    assert scores["expected_contribution"].nunique() > 5
    assert (work / "models" / "churn" / "model.txt").is_file()


@pytest.mark.slow  # seven stages on 300 generated clients: 1-4 min
def test_a_book_where_nobody_churns_skips_churn_and_reaches_the_report(tmp_path: Path) -> None:
    raw = no_churn_book(tmp_path / "raw")
    work = dvc_project(tmp_path / "project", raw, {"features": SHORT})
    scores = _repro(work, "churn", "one class only in train (all 0)")
    assert scores["expected_contribution"].nunique() > 5
    for name in ("roc", "calibration", "lift"):
        assert pd.read_csv(work / "plots" / "churn" / f"{name}.csv").empty
