"""The `validate` stage: the script on small folders, and `dvc repro validate` for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from predict.cli import run_stage
from tests.support.contract_folder import AS_OF, contract_frames, write_folder

ROOT = Path(__file__).resolve().parents[2]


def _params(path: Path, mode: str) -> Path:
    section = yaml.safe_load((ROOT / "params.yaml").read_text())["validate"]
    section |= {"mode": mode, "as_of": AS_OF.isoformat()}
    path.write_text(yaml.safe_dump({"data": {"raw_dir": "data/raw"}, "validate": section}))
    return path


def _run(tmp_path: Path, raw: Path, mode: str) -> int:
    args = [str(raw), "--params", str(_params(tmp_path / "params.yaml", mode))]
    args += ["--out", str(tmp_path / "validated"), "--quarantine", str(tmp_path / "quarantine")]
    args += ["--report", str(tmp_path / "report")]
    code = run_stage("validate", args)
    return code


def _broken_folder(tmp_path: Path) -> Path:
    frames = contract_frames()
    frames["facilities"].loc[0, "limit_amount"] = "abc"
    return write_folder(tmp_path / "raw", frames)


def test_strict_stage_fails_with_the_first_issues_and_writes_no_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, _broken_folder(tmp_path), "strict") == 1
    err = capsys.readouterr().err
    assert "facilities.limit_amount [facility_id=F1, row 1] type" in err
    assert str(tmp_path / "report" / "report.md") in err
    assert not (tmp_path / "validated").exists() and not (tmp_path / "quarantine").exists()
    assert json.loads((tmp_path / "report" / "report.json").read_text())["status"] == "failed"


def test_lenient_stage_quarantines_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, _broken_folder(tmp_path), "lenient") == 0
    out = capsys.readouterr().out
    assert "facility_balances" in out and "quarantined" in out
    bad = pd.read_parquet(tmp_path / "quarantine" / "facilities.parquet")
    assert bad["facility_id"].tolist() == ["F1"]
    # F1's balances follow their facility into the quarantine
    assert len(pd.read_parquet(tmp_path / "quarantine" / "facility_balances.parquet")) == 2
    assert len(pd.read_parquet(tmp_path / "validated" / "facilities.parquet")) == 1


def test_missing_input_folder_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, tmp_path / "nowhere", "strict") == 1
    assert "nowhere does not exist" in capsys.readouterr().err


def test_dvc_repro_runs_the_validate_stage(tmp_path: Path) -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["validate"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"validate": stage}}))
    _params(tmp_path / "params.yaml", "strict")
    shutil.copytree(
        ROOT / "src/predict", tmp_path / "src/predict", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "pipelines").mkdir()
    shutil.copy(ROOT / "pipelines/validate.py", tmp_path / "pipelines/validate.py")
    write_folder(tmp_path / "data/raw")
    env = os.environ | {
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(tmp_path / ".dvc-site"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    (tmp_path / ".dvc").mkdir()  # what `dvc init --no-scm` writes, without a second DVC start
    (tmp_path / ".dvc/config").write_text("[core]\n    no_scm = True\n    analytics = false\n")
    run = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "validate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in (tmp_path / "data/validated").iterdir()) == sorted(
        [f"{name}.parquet" for name in contract_frames()] + ["skeleton"]  # the book's skeleton
    )
    assert (tmp_path / "reports/validation/report.md").exists()
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]["validate"]
    assert {o["path"] for o in lock["outs"]} == {
        "data/validated",
        "data/quarantine",
        "reports/validation",
    }
    assert lock["params"]["params.yaml"]["validate"]["mode"] == "strict"
