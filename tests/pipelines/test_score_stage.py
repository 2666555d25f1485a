"""Smoke tests of the `score` stage script, the `predict score` command and `dvc repro score`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predict.cli import app, run_stage
from predict.contract.validation import ValidationConfig, validate_folder, write_validated
from tests.support.scoring import Book

ROOT = Path(__file__).resolve().parents[2]

OUTPUTS = ("scores.parquet", "scores.csv", "explanations.parquet", "drift.parquet",
           "early_warning.parquet", "score_summary.json")  # fmt: skip


@pytest.fixture(scope="module")
def validated(scoring_book: Book, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw tables of ``scoring_book`` through strict validation."""
    root = tmp_path_factory.mktemp("stage")
    result = validate_folder(scoring_book.raw, ValidationConfig(mode="strict"))
    write_validated(result, root / "validated", root / "quarantine", root / "reports")
    return root / "validated"


def test_stage_script_scores_validated_tables(
    scoring_book: Book, validated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    args = ["--params", str(ROOT / "params.yaml"), "--input", str(validated), "--validated",
            "--models", str(scoring_book.models), "--out", str(out), "--quiet"]  # fmt: skip
    assert run_stage("score", args) == 0
    assert all((out / name).is_file() for name in OUTPUTS)
    scores = pd.read_parquet(out / "scores.parquet")
    assert scores["client_id"].is_unique and len(scores) > 100
    assert not (out / "validation").exists()  # --validated: no second validation


def test_stage_script_reports_a_missing_models_folder(
    validated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--input", str(validated), "--validated", "--models", str(tmp_path / "none"),
            "--out", str(tmp_path / "out"), "--params", str(ROOT / "params.yaml")]  # fmt: skip
    assert run_stage("score", args) == 1
    assert "models folder" in capsys.readouterr().err


def test_predict_score_command_validates_and_scores_a_raw_folder(
    scoring_book: Book, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    result = CliRunner().invoke(app, [
        "score", "--input", str(scoring_book.raw), "--models", str(scoring_book.models),
        "--out", str(out), "--params", str(ROOT / "params.yaml"), "--quiet",
        "--as-of", "2025-11-30",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scored" in result.output and "as of 2025-11-30" in result.output
    assert (out / "validation" / "report.json").is_file()
    assert (pd.read_parquet(out / "scores.parquet")["as_of"] == pd.Timestamp("2025-11-30")).all()
    bad = CliRunner().invoke(
        app,
        [
            "score",
            "--input",
            str(scoring_book.raw),
            "--models",
            str(scoring_book.models),
            "--out",
            str(out),
            "--as-of",
            "2025-11-15",
            "--quiet",
        ],
    )
    assert bad.exit_code == 1 and "not a month end" in bad.output


@pytest.mark.slow  # a DVC project in tmp_path and a subprocess: ~20-50 s
def test_dvc_repro_runs_the_score_stage(
    scoring_book: Book, validated: Path, tmp_path: Path
) -> None:
    work = tmp_path / "project"
    (work / "data").mkdir(parents=True)
    shutil.copytree(validated, work / "data" / "validated")
    # no data/split: the drift bins are frozen in the model folders
    shutil.copytree(scoring_book.models, work / "models")
    shutil.copytree(ROOT / "pipelines", work / "pipelines")
    shutil.copytree(
        ROOT / "src" / "predict",
        work / "src" / "predict",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "params.yaml", work / "params.yaml")
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    kept = {"partition": stages["partition"], "score": stages["score"]}
    (work / "dvc.yaml").write_text(yaml.safe_dump({"stages": kept}))
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / "site"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=work, env=env, check=True)
    run = subprocess.run([*dvc, "repro"], cwd=work, env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert all((work / "data" / "scores" / name).is_file() for name in OUTPUTS)
    assert (work / "dvc.lock").is_file()
    # the partition stage stood aside: data.score_input is data/validated
    assert [p.name for p in (work / "data" / "partitioned").iterdir()] == ["README.txt"]
    scores = pd.read_parquet(work / "data" / "scores" / "scores.parquet").drop(columns="run_id")
    # the params switch: the same stage scores the dataset the partition stage now writes,
    # on a LocalCluster, each worker reading its own partitions; the same scores
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["data"]["score_input"] = "data/partitioned"
    params["score"].update(distributed="local", partitions=2)
    params["partition"]["partitions"] = 3
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    run = subprocess.run([*dvc, "repro", "score"], cwd=work, env=env, capture_output=True,
                         text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Running stage 'partition'" in run.stdout
    assert (work / "data" / "partitioned" / "digest.json").is_file()
    again = pd.read_parquet(work / "data" / "scores" / "scores.parquet").drop(columns="run_id")
    pd.testing.assert_frame_equal(again, scores, check_exact=True)
