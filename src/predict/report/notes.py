"""What the run could not do or should not be trusted for, in plain lines for the report.

Gathered from the run's own files: targets not trained (``models/<target>/skipped.json``),
targets not scored and what the scoring input lacked (``score_summary.json``: features
absent and scored as missing, categories unseen in training, quarantined rows, models the
data could not support, early-warning rules not evaluated), the split's fallback to a
by-client holdout (``metrics/detail/split.json``) and each model's flags
(``metrics/detail/<target>.json``: below its baseline, event rate shift between training and
test).
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


def _shown(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def input_lines(summary: Mapping[str, Any]) -> list[str]:
    """What the scoring input lacked, from ``score_summary.json``: features scored as
    missing, categories unseen in training, calendar features outside their training range,
    quarantined rows, models the data could not
    support and early-warning rules not evaluated. Keys absent from the summary say nothing."""
    lines = []
    for target, names in (summary.get("missing_features") or {}).items():
        if names:
            lines.append(
                f"{target} model: {len(names)} feature(s) absent from the data, scored as "
                f"missing: {_shown(list(names))}"
            )
    for target, per in (summary.get("unseen_categories") or {}).items():
        for name, counts in (per or {}).items():
            values = [f"{value} ({n} clients)" for value, n in (counts or {}).items()]
            lines.append(
                f"{target} model: {name} has categories unseen in training, scored as "
                f"missing: {_shown(values, 5)}"
            )
    for target, per in (summary.get("calendar_out_of_range") or {}).items():
        for name, c in (per or {}).items():
            lines.append(
                f"{target} model: {name} outside its training range [{c['min']:g}, "
                f"{c['max']:g}] for {c['below'] + c['above']:.0f} clients (below "
                f"{c['below']:.0f}, above {c['above']:.0f}); scored as the nearest edge"
            )
    quarantined = summary.get("quarantined") or {}
    if quarantined:
        rows = ", ".join(f"{table} {n}" for table, n in quarantined.items())
        lines.append(f"input: rows quarantined by validation, not scored from: {rows}")
    for target, info in (summary.get("unsupported") or {}).items():
        tables = ", ".join((info or {}).get("tables") or []) or "none named"
        share = (info or {}).get("gain_share")
        share_text = f" ({share:.0%} of its gain)" if isinstance(share, (int, float)) else ""
        lines.append(
            f"{target} model: not supported by the data{share_text}; tables absent or "
            f"empty: {tables}"
        )
    for rule in summary.get("early_warning_not_evaluated") or []:
        lines.append(f"early warning not evaluated: {rule}")
    return lines


def run_notes(inputs: ReportInputs) -> list[str]:
    """Every note, in that order; empty when the run had nothing to say."""
    return [
        *skipped_lines(inputs),
        *split_lines(inputs.metrics.get("split", {})),
        *model_flag_lines(inputs.metrics),
        *input_lines(inputs.summary),
    ]
