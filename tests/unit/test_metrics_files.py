"""The train stage's metrics files: a short headline (the DVC metric) and the full detail."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from predict import io
from predict.models.metrics_files import (
    BINARY_HEADLINE,
    REGRESSION_HEADLINE,
    detail_path,
    headline_metrics,
    read_metrics_folder,
    write_metrics,
)

REPO = Path(__file__).resolve().parents[2]
MAX_HEADLINE = 15


def binary_detail(**truth: Any) -> dict[str, Any]:
    test = {"auc": 0.8, "pr_auc": 0.4, "brier": 0.05, "ece": 0.01, "gini": 0.6, "ks": 0.5}
    test |= {"base_rate": 0.09, "n": 1000.0, "positives": 90.0, "top_decile_capture": 0.5}
    return {
        "target": "churn",
        "rows": {"test": 1000, "test_unlabelled": 7, "train": 5000, "valid": 2000},
        "test": test,
        "baseline": {"name": "logistic_regression", **test, "auc": 0.7, "pr_auc": 0.3},
        "uplift": {"auc": 0.1, "pr_auc": 0.1},
        "truth": truth or {"available": False, "reason": "no truth file (not synthetic data)"},
        "by_segment": {"model": {"sme": {"auc": 0.79, "n": 800.0}}},
    }


def regression_detail() -> dict[str, Any]:
    test = {"rmse": 10.0, "mae": 4.0, "spearman": 0.9, "bias": 1.0, "mean_actual": 50.0}
    test |= {"mean_predicted": 51.0, "n": 300.0, "top_decile_capture": 0.7}
    test |= {"revenue_gini": 0.6, "tweedie_deviance": 80.0}
    truth = {"available": True, "coverage": 0.98, "model_rmse": 9.0, "truth_rmse": 6.0}
    truth |= {"truth_spearman": 0.95, "truth_mae": 3.0, "gap_rmse": -3.0}
    return {
        "target": "contribution",
        "test": test,
        "baseline": {"name": "revenue_carry_forward", **test, "rmse": 12.0},
        "uplift": {"rmse": -2.0},
        "truth": truth,
        "by_segment": {},
    }


def test_binary_headline_copies_the_detail_under_short_keys() -> None:
    truth = {"available": True, "truth_auc": 0.85, "gap_auc": 0.05}
    head = headline_metrics(binary_detail(**truth, gap_auc_low=0.01, gap_auc_high=0.09), "binary")
    assert set(head) == set(BINARY_HEADLINE)
    assert head["auc"] == 0.8 and head["baseline_auc"] == 0.7 and head["uplift_auc"] == 0.1
    assert (head["gap_auc_low"], head["gap_auc"], head["gap_auc_high"]) == (0.01, 0.05, 0.09)
    assert head["n"] == 1000.0 and head["truth_auc"] == 0.85


def test_headline_leaves_out_the_truth_when_there_is_none() -> None:
    head = headline_metrics(binary_detail(), "binary")
    assert not [k for k in head if k.startswith(("truth", "gap"))]
    assert set(head) == {k for k in BINARY_HEADLINE if not k.startswith(("truth", "gap"))}


def test_regression_headline_has_the_ratio_to_truth_on_the_truth_rows() -> None:
    head = headline_metrics(regression_detail(), "regression")
    assert set(head) == set(REGRESSION_HEADLINE) | {"truth_rmse_ratio"}
    assert head["rmse"] == 10.0 and head["baseline_rmse"] == 12.0
    assert head["truth_rmse_ratio"] == pytest.approx(9.0 / 6.0)  # model_rmse, not test.rmse


def test_a_skipped_baseline_and_an_uncomputable_figure() -> None:
    detail = regression_detail()
    detail["baseline"] = {"skipped": "no column 'revenue_12m'"}
    detail["test"]["spearman"] = None
    head = headline_metrics(detail, "regression")
    assert not [k for k in head if k.startswith("baseline")]
    assert "spearman" in head and head["spearman"] is None


def test_write_metrics_puts_the_whole_detail_apart(tmp_path: Path) -> None:
    detail = binary_detail()
    head_path, detail_file = write_metrics(detail, "binary", tmp_path / "metrics", "churn")
    assert head_path == tmp_path / "metrics" / "churn.json"
    assert detail_file == detail_path(tmp_path / "metrics", "churn")
    assert detail_file == tmp_path / "metrics" / "detail" / "churn.json"
    assert json.loads(detail_file.read_text()) == detail
    assert detail_file.read_text() == io.write_json(detail, tmp_path / "old.json").read_text()
    assert json.loads(head_path.read_text()) == headline_metrics(detail, "binary")


def test_read_metrics_folder_gives_the_detail_per_target_and_split_as_is(tmp_path: Path) -> None:
    write_metrics(binary_detail(), "binary", tmp_path, "churn")
    io.write_json({"method": "time"}, tmp_path / "split.json")
    read = read_metrics_folder(tmp_path)
    assert list(read) == ["churn", "split"]
    assert read["churn"] == binary_detail() and read["split"] == {"method": "time"}
    old = tmp_path / "old"  # full metrics at the top, as written before the headline
    io.write_json(binary_detail(), old / "churn.json")
    assert read_metrics_folder(old) == {"churn": binary_detail()}
    assert read_metrics_folder(tmp_path / "absent") == {} and read_metrics_folder(None) == {}


def test_dvc_declares_the_headline_as_the_metric_and_the_detail_as_a_plain_out() -> None:
    train = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["train"]
    stage = train["do"]
    assert stage["metrics"] == [{"metrics/${item}.json": {"cache": False}}]
    assert {"metrics/detail/${item}.json": {"cache": False}} in stage["outs"]
    report = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["report"]
    assert "metrics" in report["deps"]  # the folder: the details are the report's inputs


def test_every_headline_key_is_documented_and_the_headline_stays_short() -> None:
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    table = text[text.index("The headline, copied from the detail") :]
    table = table[: table.index("\n\n", table.index("| key |"))]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    documented = set(re.findall(r"`([a-z_]+)`", " ".join(first_cells)))
    keys = set(BINARY_HEADLINE) | set(REGRESSION_HEADLINE) | {"truth_rmse_ratio"}
    assert documented == keys
    assert len(BINARY_HEADLINE) <= MAX_HEADLINE and len(REGRESSION_HEADLINE) + 1 <= MAX_HEADLINE


def test_metrics_are_written_to_ten_significant_digits_so_cpus_agree(tmp_path: Path) -> None:
    # two machines' last bits of the same correlation (seen: an Intel and an AMD run)
    one, other = binary_detail(), binary_detail()
    one["test"]["auc"], other["test"]["auc"] = 0.9624873143599171, 0.962487314359917
    for d in (one, other):
        d["rows"]["lists"] = [0.12345678901234, float("nan")]
    a = write_metrics(one, "binary", tmp_path / "a", "churn")
    b = write_metrics(other, "binary", tmp_path / "b", "churn")
    detail = json.loads(a[1].read_text())
    assert (
        detail["test"]["auc"] == 0.9624873144
        and json.loads(a[0].read_text())["auc"] == 0.9624873144
    )
    assert detail["rows"]["lists"][0] == 0.123456789 and detail["rows"]["test"] == 1000
    assert a[0].read_text() == b[0].read_text() and a[1].read_text() == b[1].read_text()
