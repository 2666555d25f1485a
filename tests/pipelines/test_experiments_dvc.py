"""Experiments a data scientist can compare (#17): the committed results are the code's
results, ``dvc exp run -S`` against them prints numbers on both sides, and the CI check
fails on a stale metrics file.

A small generated book through validate -> features -> split -> train in a git + DVC
project in ``tmp_path`` (the real DVC, LightGBM; MLflow off).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.byod import ROOT, dvc, dvc_project, git_cmd

STAGES = ("validate", "features", "split", "train")
FEATURES = {"horizon_months": 6, "as_of": {"step_months": 2}}
CHECK = ROOT / "scripts" / "check_results.py"
# the readable `dvc exp show` of docs/experiments.md
SHOW = (
    "--drop",
    ".*",
    "--keep",
    r"Experiment|Created|(.*:)?(auc|ece|rmse|spearman|"
    r"truth_rmse_ratio)$|.*(learning_rate|num_leaves|min_data_in_leaf|horizon_months)$",
)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _check(work: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), "--project", str(work)],
                          capture_output=True, text=True, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project at its first commit: pipeline run, dvc.lock + metrics + plots committed."""
    from predict.synthetic import GenerateConfig, generate_portfolio

    root = tmp_path_factory.mktemp("exp")
    raw = root / "raw"
    raw.mkdir()
    book = generate_portfolio(GenerateConfig(n_clients=300, months=36, truth_paths=0, seed=7))
    for name, frame in book.tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    work = dvc_project(root / "project", raw, {"features": FEATURES}, stages=STAGES, git=True)
    _ok(dvc(work, "remote", "add", "-d", "-f", "local", str(root / "remote")))
    _ok(dvc(work, "repro"))
    git_cmd(work, "add", "-A")
    git_cmd(work, "commit", "-q", "-m", "baseline")
    return work


def test_a_fresh_run_matches_the_commit(project: Path) -> None:
    tracked = git_cmd(project, "ls-files", "metrics", "plots", "dvc.lock").stdout.split()
    assert "metrics/churn.json" in tracked and "plots/default/roc.csv" in tracked
    assert "dvc.lock" in tracked
    _ok(dvc(project, "repro", "--force"))  # every stage again: byte for byte the same results
    done = _check(project)
    assert done.returncode == 0, done.stderr


def test_a_teammate_pulls_the_results_instead_of_rerunning(project: Path, tmp_path: Path) -> None:
    _ok(dvc(project, "push"))
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    _ok(dvc(clone, "pull"))
    for path in ("models/contribution/model.txt", "data/split/test.parquet"):
        assert (clone / path).read_bytes() == (project / path).read_bytes(), path
    status = _ok(dvc(clone, "status"))
    assert "changed" not in status  # nothing to rerun: data, models and results as committed


def test_an_experiment_is_compared_with_main_on_both_sides(project: Path) -> None:
    # the contribution model's own learning rate (train.contribution.booster, docs/models.md)
    faster = "train.contribution.booster.learning_rate=0.2"
    _ok(dvc(project, "exp", "run", "-n", "faster", "-S", faster))
    shown = _ok(dvc(project, "exp", "show", "--csv", "--no-pager"))
    rows = list(csv.DictReader(io.StringIO(shown)))
    by_name = {r["Experiment"] or r["rev"]: r for r in rows}
    # contribution trains on this small book (churn and default are skipped: too few events)
    assert "rmse" in rows[0], list(rows[0])
    for name in ("main", "faster"):
        row = by_name[name]
        assert float(row["rmse"]) > 0.0 and 0.0 < float(row["spearman"]) <= 1.0, (name, row)
        assert "!" not in row.values(), name  # DVC's "no value": the committed results exist
    assert by_name["main"]["rmse"] != by_name["faster"]["rmse"]
    table = _ok(dvc(project, "exp", "show", "--no-pager", "--md", *SHOW))  # docs/experiments.md
    print(table)
    assert "rmse" in table and "learning_rate" in table and "faster" in table
    assert "revenue_sources" not in table  # the params that do not matter are dropped
    diff = json.loads(_ok(dvc(project, "metrics", "diff", "main", "--json")))
    rmse = diff["metrics/contribution.json"]["rmse"]
    assert isinstance(rmse["old"], float) and isinstance(rmse["new"], float)
    assert rmse["old"] != rmse["new"]  # the learning rate changed the model
    plots = _ok(dvc(project, "plots", "diff", "main", "--json", "-o", str(project / "pd")))
    assert "main" in plots and "workspace" in plots
    # an experiment not applied leaves main as it was
    _ok(dvc(project, "exp", "remove", "faster"))
    git_cmd(project, "checkout", "-q", "--", ".")
    _ok(dvc(project, "checkout", "-f"))


def test_ci_fails_on_a_stale_metrics_file(project: Path) -> None:
    metrics = project / "metrics" / "contribution.json"
    headline = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**headline, "rmse": 1.0}, indent=2))  # a hand edit
    git_cmd(project, "commit", "-q", "-am", "stale metrics")
    _ok(dvc(project, "repro"))  # CI: the pipeline rewrites the code's real figure
    done = _check(project)
    assert done.returncode == 1
    assert "metrics/contribution.json" in done.stderr and "commit dvc.lock" in done.stderr
