"""Stage smoke test: `pipelines/train.py` on a tiny split, with MLflow (SQLite) in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predict.cli import app, run_stage
from predict.models.store import load_bundle
from tests.support.splits import Book, write_split

ROOT = Path(__file__).resolve().parents[2]

TRAIN_PARAMS = {
    "seed": 1,
    "num_threads": 1,
    "monotone": {"default": {"dpd_max_12m": 1}},
    "booster": {"num_boost_round": 40, "early_stopping_rounds": 10, "min_data_in_leaf": 20},
    "tracking": {"experiment": "smoke"},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, split_book: Book) -> Path:
    root = tmp_path_factory.mktemp("project")
    write_split(split_book, root / "data" / "split")
    (root / "data" / "synthetic_truth").mkdir()
    split_book.truth.to_parquet(root / "data" / "synthetic_truth" / "truth.parquet", index=False)
    # the split book's labels look 12 months ahead: revenue_scale auto = 12 / 12
    params = {"train": TRAIN_PARAMS, "features": {"horizon_months": 12}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _env(mlflow_uri: str) -> dict[str, str]:
    return {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "MLFLOW_DISABLE_TELEMETRY": "true"}


def _run_stage(root: Path, target: str, uri: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable, str(ROOT / "pipelines" / "train.py"), "--params", "params.yaml",
        "--target", target, "--split", "data/split", "--models", "models",
        "--metrics", "metrics", "--plots", "plots", "--truth", "data/synthetic_truth",
    ]  # fmt: skip
    return subprocess.run(
        cmd, cwd=root, env=_env(uri), capture_output=True, text=True, timeout=600, check=False
    )


def test_train_stage_writes_model_metrics_plots_and_registers_a_challenger(
    project: Path, mlflow_uri: str
) -> None:
    done = _run_stage(project, "default", mlflow_uri)
    assert done.returncode == 0, done.stderr[-3000:]
    bundle = load_bundle(project / "models" / "default")
    assert bundle.metadata["data_hash"] and bundle.metadata["params"]["monotone_constraints"]
    metrics = json.loads((project / "metrics" / "detail" / "default.json").read_text())
    assert metrics["test"]["auc"] > 0.6 and metrics["baseline"]["name"] == "logistic_regression"
    assert metrics["truth"]["available"] is True and metrics["by_segment"]["model"]
    headline = json.loads((project / "metrics" / "default.json").read_text())
    assert headline["auc"] == metrics["test"]["auc"] and "truth_auc" in headline
    assert not [v for v in headline.values() if isinstance(v, (dict, list, str))]
    for name in ("roc", "calibration", "lift"):
        assert len(pd.read_csv(project / "plots" / "default" / f"{name}.csv")) > 1
    assert not (project / "mlruns").exists()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    version = client.get_model_version_by_alias("predict-default", "challenger")
    assert version.tags["model_version"] == bundle.version
    run = client.get_run(version.run_id)  # the stage's params and the provenance (#17)
    assert run.data.params["train.seed"] == str(TRAIN_PARAMS["seed"])
    assert run.data.params["train.booster.num_boost_round"] == "40"
    assert run.data.metrics["auc"] == headline["auc"]
    assert run.data.tags["dvc_experiment"] == "none" and run.data.tags["git_revision"]


def test_cli_trains_contribution_and_promotes_the_first_champion(
    project: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    for key, value in _env(mlflow_uri).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--target", "contribution", "--quiet"])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((project / "metrics" / "detail" / "contribution.json").read_text())
    assert {"rmse", "spearman", "top_decile_capture"} <= set(metrics["test"])
    headline = json.loads((project / "metrics" / "contribution.json").read_text())
    assert headline["rmse"] == metrics["test"]["rmse"] and headline["truth_rmse_ratio"] > 0
    assert metrics["baseline"]["name"] == "revenue_carry_forward"
    promoted = runner.invoke(app, ["promote", "--target", "contribution"])
    assert promoted.exit_code == 0, promoted.output
    assert "PROMOTED (first champion)" in promoted.output
    again = runner.invoke(app, ["promote", "--target", "contribution"])
    assert "challenger is already champion" in again.output


def test_stage_fails_clearly_without_a_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": TRAIN_PARAMS}))
    monkeypatch.chdir(tmp_path)
    argv = ["--target", "churn", "--split", "data/split", "--models", "m", "--metrics", "x",
            "--plots", "p"]  # fmt: skip
    assert run_stage("train", argv) == 1
    err = capsys.readouterr().err
    assert "lacks" in err and "train.parquet" in err
