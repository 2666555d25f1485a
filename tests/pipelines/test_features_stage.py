"""Smoke tests of the ``features`` and ``split`` stage scripts, ``predict features`` and
their DVC stages, on the tiny hand-made book written as validated Parquet."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predict.cli import app, run_stage
from predict.config import load_section
from predict.features.build import FeaturesConfig
from predict.features.catalogue import FEATURES
from predict.features.labels import LABEL_COLUMNS
from predict.models.split import SplitConfig
from tests.support.tables import tiny_tables

REPO = Path(__file__).resolve().parents[2]


def _stage_main(name: str) -> Callable[[list[str]], int]:
    """What `pipelines/<name>.py` runs: the `predict <name>` command."""
    return functools.partial(run_stage, name)


def _validated(tmp_path: Path) -> Path:
    folder = tmp_path / "validated"
    folder.mkdir()
    for name, frame in tiny_tables().items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _params(tmp_path: Path) -> Path:
    """The project's sections with a 6-month horizon and monthly as-of dates (tiny book)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    features = {**params["features"], "horizon_months": 6}
    features["as_of"] = {**features["as_of"], "step_months": 1}
    split = {**params["split"], "valid_as_ofs": 1}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"features": features, "split": split}), encoding="utf-8")
    return path


def test_features_then_split_stage_scripts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params, out = _params(tmp_path), tmp_path / "features" / "features.parquet"
    with caplog.at_level(logging.INFO):
        code = _stage_main("features")(
            ["--params", str(params), "--input", str(_validated(tmp_path)), "--out", str(out)]
        )
    assert code == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["client_id", "as_of", *FEATURES, *LABEL_COLUMNS]
    summary = json.loads((out.parent / "snapshots.json").read_text())
    # Monthly from 2021-01-31 (12 months after the first balance) to 2022-12-31, the latest
    # month end balances and revenue cover; data end 2022-12-31 (the last balance; c4's
    # onboarding on 2023-03-01 is no event), so t + 6 months is inside up to 2022-06-30.
    dates = [s["as_of"] for s in summary["snapshots"]]
    assert dates[0] == "2021-01-31" and dates[-1] == "2022-12-31" and len(dates) == 24
    censored = [s["as_of"] for s in summary["snapshots"] if s["censored"]]
    assert censored[0] == "2022-07-31" and len(censored) == 6
    assert summary["censored_rows"] == int(frame["as_of"].isin(pd.to_datetime(censored)).sum())
    assert frame.loc[frame["as_of"] >= "2022-07-31", list(LABEL_COLUMNS)].isna().all().all()
    assert summary["scoring_as_of"] == "2022-12-31" and summary["features_left_out"] == {}
    assert any("censored" in r.getMessage() for r in caplog.records)

    split_dir, metrics = tmp_path / "split", tmp_path / "metrics" / "split.json"
    code = _stage_main("split")(
        [
            "--params",
            str(params),
            "--features",
            str(out),
            "--out",
            str(split_dir),
            "--metrics",
            str(metrics),
        ]
    )
    assert code == 0
    report = json.loads((metrics.parent / "detail" / "split.json").read_text())
    assert report["method"] == "time" == json.loads(metrics.read_text())["method"]
    assert report["sets"]["test"]["as_of"] == ["2022-06-30"]
    assert report["sets"]["valid"]["as_of"] == ["2021-12-31"]  # + 6 months = the test as-of
    assert report["sets"]["train"]["as_of"][-1] == "2021-06-30"
    for name in ("train", "valid", "test"):
        part = pd.read_parquet(split_dir / f"{name}.parquet")
        assert len(part) == report["sets"][name]["rows"] > 0
        assert part[list(LABEL_COLUMNS)].notna().any(axis=1).all()


def test_features_stage_reports_a_missing_input_folder(tmp_path: Path) -> None:
    code = _stage_main("features")(
        [
            "--params",
            str(_params(tmp_path)),
            "--input",
            str(tmp_path / "nowhere"),
            "--out",
            str(tmp_path / "f.parquet"),
        ]
    )
    assert code == 1 and not (tmp_path / "f.parquet").exists()


def test_cli_features_command(tmp_path: Path) -> None:
    out = tmp_path / "out" / "features.parquet"
    result = CliRunner().invoke(
        app,
        [
            "features",
            "--input",
            str(_validated(tmp_path)),
            "--out",
            str(out),
            "--params",
            str(_params(tmp_path)),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "24 as-of dates" in result.output and out.exists()


def test_dvc_stages_list_their_deps_and_params() -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    features, split = stages["features"], stages["split"]
    assert features["params"] == ["features"] and split["params"] == ["split"]
    assert {"data/validated", "pipelines/features.py", "src/predict/features"} <= set(
        features["deps"]
    )
    assert {"data/features", "pipelines/split.py", "src/predict/models"} <= set(split["deps"])
    assert features["outs"] == ["data/features"]
    assert split["outs"] == ["data/split", {"metrics/detail/split.json": {"cache": False}}]
    assert "--out data/features/features.parquet" in " ".join(features["cmd"].split())


def test_params_sections_load_into_their_configs() -> None:
    config = load_section(REPO / "params.yaml", "features", FeaturesConfig)
    assert config == FeaturesConfig()  # the documented defaults are the code's defaults
    assert load_section(REPO / "params.yaml", "split", SplitConfig) == SplitConfig()
