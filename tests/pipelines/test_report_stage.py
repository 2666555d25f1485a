"""Smoke tests of the ``report`` stage script, the ``predict report`` command and the stage."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import yaml
from typer.testing import CliRunner

from predict.cli import app, run_stage
from predict.config import load_section
from predict.report import ReportConfig
from tests.support.report_inputs import write_portfolio

REPO = Path(__file__).resolve().parents[2]


def _stage_main() -> Callable[[list[str]], int]:
    """What `pipelines/report.py` runs: the `predict report` command."""
    return functools.partial(run_stage, "report")


def _params(tmp_path: Path) -> Path:
    """The project's report section, with fewer client pages to keep the test quick."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    section = {**params["report"], "max_client_pages": 3, "queue_size": 1}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"report": section}), encoding="utf-8")
    return path


def test_stage_script_writes_the_site_under_reports_review(tmp_path: Path) -> None:
    run = write_portfolio(tmp_path, n_clients=12)
    out = tmp_path / "reports"
    _stage_main()(
        [
            "--scores",
            str(run.scores),
            "--models",
            str(run.models),
            "--metrics",
            str(run.metrics),
            "--plots",
            str(run.plots),
            "--tables",
            str(run.tables),
            "--out",
            str(out),
            "--params",
            str(_params(tmp_path)),
            "--client",
            "C0010",
        ]
    )
    site = out / "review"
    assert (site / "index.html").is_file() and (site / "model_card.html").is_file()
    pages = sorted(p.name for p in (site / "clients").iterdir())
    # at most one per queue section (queue_size 1), 3 from the lists, the requested one
    index = (site / "index.html").read_text(encoding="utf-8")
    sections = index.count('<section class="queue"')
    assert "C0010.html" in pages and 4 < len(pages) <= 4 + sections
    assert json.loads((site / "kpis.json").read_text())["headline"]["clients"] == 12
    assert sorted(p.name for p in out.iterdir()) == ["review"]  # nothing else, no temp folder


def test_cli_report_command_prints_the_entry_page(tmp_path: Path) -> None:
    run = write_portfolio(tmp_path, n_clients=12)
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--scores",
            str(run.scores),
            "--models",
            str(run.models),
            "--metrics",
            str(run.metrics),
            "--tables",
            str(run.tables),
            "--plots",
            str(run.plots),
            "--out",
            str(tmp_path / "reports"),
            "--params",
            str(_params(tmp_path)),
            "--client",
            "C0004",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    index = tmp_path / "reports" / "review" / "index.html"
    assert str(index) in result.output and index.is_file()
    assert (tmp_path / "reports" / "review" / "clients" / "C0004.html").is_file()


def test_cli_report_names_an_unknown_client(tmp_path: Path) -> None:
    run = write_portfolio(tmp_path, n_clients=6)
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--scores",
            str(run.scores),
            "--tables",
            str(run.tables),
            "--models",
            str(run.models),
            "--out",
            str(tmp_path / "reports"),
            "--params",
            str(_params(tmp_path)),
            "--client",
            "X999",
            "--quiet",
        ],
    )
    assert result.exit_code == 2
    assert "X999" in result.output
    assert not (tmp_path / "reports" / "review").exists()


def test_dvc_stage_reads_its_inputs_and_owns_only_reports_review() -> None:
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["report"]
    assert stage["outs"] == ["reports/review"]
    assert stage["params"] == [
        "report",
        "features.inactivity_months",
        "features.default",
        "score.dimensions",
        "score.relationship",
        "score.drift",
    ]
    for dep in (
        "data/scores",
        "models",
        "metrics",
        "data/validated",
        "data/features/features.parquet",
        "pipelines/report.py",
        "src/predict/report",
    ):
        assert dep in stage["deps"], dep
        assert dep in stage["cmd"] or dep in ("pipelines/report.py", "src/predict/report")


def test_params_report_section_loads() -> None:
    config = load_section(REPO / "params.yaml", "report", ReportConfig)
    assert set(config.action_lists) == {"retain", "watch", "grow", "workout", "win_back", "convert"}
    assert 0 < config.kpis.churn_threshold < 1
