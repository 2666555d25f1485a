"""The notebooks run top to bottom against a small fabricated run, so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.report_inputs import PortfolioPaths, write_portfolio

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PortfolioPaths:
    paths = write_portfolio(tmp_path, n_clients=12)
    for name, value in {
        "PREDICT_ROOT": tmp_path,
        "PREDICT_SCORES_DIR": paths.scores,
        "PREDICT_MODELS_DIR": paths.models,
        "PREDICT_METRICS_DIR": paths.metrics,
        "PREDICT_TABLES_DIR": paths.tables,
        "PREDICT_PARAMS": REPO / "params.yaml",
    }.items():
        monkeypatch.setenv(name, str(value))
    return paths


def _execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(str(out.get("text", "")))
            parts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(parts)


@pytest.mark.parametrize("name", ["explore_portfolio.ipynb", "review_client.ipynb"])
def test_notebook_imports_predict_and_copies_no_logic(name: str) -> None:
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from predict.report" in code
    assert "def " not in code  # logic lives in the library


def test_explore_portfolio_runs(run: PortfolioPaths, tmp_path: Path) -> None:
    text = _text(_execute("explore_portfolio.ipynb", tmp_path))
    assert "12 clients scored at 2024-12-31" in text
    assert "retention_rate" in text and "contribution_at_risk" in text
    assert "<svg" in text


def test_review_client_runs_for_a_requested_client(
    run: PortfolioPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREDICT_CLIENT_ID", "C0007")
    text = _text(_execute("review_client.ipynb", tmp_path))
    assert "client C0007" in text
    assert "SHAP contributions" in text and "Drawn balance" in text
