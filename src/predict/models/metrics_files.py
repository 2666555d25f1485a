"""The train stage's two metrics files per target: a headline and the full detail.

- ``metrics/<target>.json``, the DVC metric: about a dozen numbers chosen for comparing
  runs at a glance (``dvc metrics show``, ``dvc metrics diff``), flat, with short keys
  (documented in docs/models.md). Keys whose block is absent (no truth, baseline skipped)
  are left out; a metric that could not be computed is ``null``.
- ``metrics/detail/<target>.json``, a plain output (not a DVC metric): every figure of the
  evaluation (model, baseline, uplift, truth, rows, by segment), which the review report,
  the model card and MLflow use.

The headline is a pure function of the detail, so it never says anything the detail does
not. Both are written with every float rounded to ``DIGITS`` (10) significant digits: the
last bits of a float sum depend on the CPU's vector kernels (a correlation read
0.9624873143599171 on one machine, 0.962487314359917 on another), and the committed metrics
must be the same bytes on any machine (``scripts/check_results.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from predict import io

DETAIL_FOLDER = "detail"
DIGITS = 10


def rounded(obj: Any, digits: int = DIGITS) -> Any:
    """``obj`` with every float (in nested dicts and lists) rounded to ``digits`` significant
    digits; NaN and infinities are kept, everything else unchanged."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, Mapping):
        return {k: rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [rounded(v, digits) for v in obj]
    return obj


def _entries(block: str, *names: str, prefix: str = "") -> dict[str, tuple[str, str]]:
    """Headline key (``prefix + name``) -> (block of the detail, key in that block)."""
    return {prefix + name: (block, name) for name in names}


BINARY_HEADLINE = {
    **_entries("test", "n", "base_rate", "auc", "pr_auc", "brier", "ece", "top_decile_capture"),
    **_entries("baseline", "auc", "pr_auc", prefix="baseline_"),
    **_entries("uplift", "auc", prefix="uplift_"),
    **_entries("truth", "truth_auc", "gap_auc", "gap_auc_low", "gap_auc_high"),
}
REGRESSION_HEADLINE = {
    **_entries("test", "n", "mean_actual", "rmse", "mae", "spearman", "bias", "top_decile_capture"),
    **_entries("test", "revenue_gini", "tweedie_deviance"),
    **_entries("baseline", "rmse", "mae", "spearman", prefix="baseline_"),
    **_entries("truth", "truth_rmse", "truth_spearman"),
}
HEADLINE = {"binary": BINARY_HEADLINE, "regression": REGRESSION_HEADLINE}


def _has_block(detail: Mapping[str, Any], block: str) -> bool:
    """A block counts when it is there with figures: not skipped, not an unavailable truth."""
    value = detail.get(block)
    if not isinstance(value, Mapping) or not value or "skipped" in value:
        return False
    return value.get("available", True) is not False


def _truth_rmse_ratio(truth: Mapping[str, Any]) -> float | None:
    """Model RMSE / truth RMSE on the rows the truth covers (``None`` when undefined)."""
    model, best = truth.get("model_rmse"), truth.get("truth_rmse")
    if model is None or not best:
        return None
    return float(model) / float(best)


def headline_metrics(detail: Mapping[str, Any], task: str) -> dict[str, float | None]:
    """The headline figures of one target's detail metrics (``task``: binary | regression).

    A key is there when its block and entry are; ``flag_<code>`` is 1 or 0 per model flag
    (:mod:`predict.models.flags`); regression adds ``truth_rmse_ratio``
    (model RMSE / truth RMSE, 1 = as good as the generator's expected value) with the truth.
    """
    out: dict[str, float | None] = {}
    for key, (block, name) in HEADLINE[task].items():
        if _has_block(detail, block) and name in detail[block]:
            value = detail[block][name]
            out[key] = None if value is None else float(value)
    if "truth_rmse" in out:
        out["truth_rmse_ratio"] = _truth_rmse_ratio(detail["truth"])
    for code, raised in (detail.get("flag_codes") or {}).items():
        out[f"flag_{code}"] = 1.0 if raised else 0.0
    return out


def detail_path(metrics_dir: str | os.PathLike[str], target: str) -> Path:
    """``<metrics_dir>/detail/<target>.json``: where the full metrics of ``target`` go."""
    return Path(metrics_dir) / DETAIL_FOLDER / f"{target}.json"


def write_metrics(
    detail: Mapping[str, Any], task: str, metrics_dir: str | os.PathLike[str], target: str
) -> tuple[Path, Path]:
    """Write the headline (``<target>.json``) and the detail; return both paths."""
    detail = rounded(detail)
    head_values = rounded(headline_metrics(detail, task))
    head = io.write_json(head_values, Path(metrics_dir) / f"{target}.json")
    return head, io.write_json(detail, detail_path(metrics_dir, target))


def split_headline(report: Mapping[str, Any]) -> dict[str, float | int | str | bool | None]:
    """The split stage's headline: method, fallback (true when auto fell back to the by-client
    holdout), horizon, and per set its rows, clients and as-of
    dates, with the churn and default rates of the test set (the detail has the rest)."""
    out: dict[str, float | int | str | bool | None] = {
        "method": str(report["method"]),
        "fallback": bool(report.get("fallback", False)),
        "horizon_months": int(report["horizon_months"]),
    }
    for name, entry in report["sets"].items():
        out[f"{name}_rows"] = int(entry["rows"])
        out[f"{name}_clients"] = int(entry["clients"])
        out[f"{name}_as_ofs"] = len(entry["as_of"])
    test = report["sets"].get("test", {})
    for target in ("churn", "default"):
        rate = test.get(target, {}).get("positive_rate")
        out[f"test_{target}_rate"] = None if rate is None else float(rate)
    return out


def write_split_metrics(report: Mapping[str, Any], metrics_path: str | os.PathLike[str]) -> Path:
    """``metrics/split.json`` (the headline, a DVC metric) and ``metrics/detail/split.json``."""
    path = Path(metrics_path)
    report = rounded(report)
    io.write_json(report, path.parent / DETAIL_FOLDER / path.name)
    return io.write_json(split_headline(report), path)


def read_metrics_folder(metrics_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Every ``<name>.json`` of the folder by name, each replaced by its detail when it has one.

    So a target reads as its full metrics, ``split`` as ``split.json``, and a folder written
    before the headline/detail split (full metrics at the top) still reads the same.
    """
    if metrics_dir is None or not Path(metrics_dir).is_dir():
        return {}
    root = Path(metrics_dir)
    found = {p.stem: p for p in sorted(root.glob("*.json"))}
    found.update({p.stem: p for p in sorted((root / DETAIL_FOLDER).glob("*.json"))})
    return {name: io.read_json(path) for name, path in sorted(found.items())}
