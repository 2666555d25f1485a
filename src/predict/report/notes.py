"""What the run could not do or should not be trusted for, in plain lines for the report.

Gathered from the run's own files: targets not trained (``models/<target>/skipped.json``),
targets not scored and feature values outside their training range
(``score_summary.json``), the split's fallback to a by-client holdout
(``metrics/detail/split.json``) and each model's flags (``metrics/detail/<target>.json``:
below its baseline, event rate shift between training and test).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from predict.report.inputs import ReportInputs


def skipped_lines(inputs: ReportInputs) -> list[str]:
    """A line per target not trained, then per target trained but not scored."""
    lines = [f"{t}: no model (not trained: {why})" for t, why in inputs.skipped_models.items()]
    for target, why in inputs.summary.get("skipped_targets", {}).items():
        if target not in inputs.skipped_models:
            lines.append(f"{target}: not scored ({why})")
    return lines


def split_lines(split: Mapping[str, Any]) -> list[str]:
    """The split's fallback, when it fell back."""
    if not split.get("fallback"):
        return []
    return [f"split: {split.get('note', 'fell back to a by-client holdout')} (not out of time)"]


def model_flag_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Each model's flags (``flags`` of its detail metrics)."""
    lines = []
    for target, detail in metrics.items():
        if isinstance(detail, Mapping):
            lines += [f"{target} model: {flag}" for flag in detail.get("flags", []) or []]
    return lines


def range_lines(summary: Mapping[str, Any]) -> list[str]:
    """Calendar features outside their training range at scoring."""
    lines = []
    for target, features in summary.get("out_of_range", {}).items():
        for name, info in features.items():
            lines.append(
                f"{target} model: {name} outside its training range "
                f"[{info['train_min']:g}, {info['train_max']:g}] for {info['clients']} clients"
            )
    return lines


def run_notes(inputs: ReportInputs) -> list[str]:
    """Every note, in that order; empty when the run had nothing to say."""
    return [
        *skipped_lines(inputs),
        *split_lines(inputs.metrics.get("split", {})),
        *model_flag_lines(inputs.metrics),
        *range_lines(inputs.summary),
    ]
