"""What a scoring run gives back: the frames (:class:`ScoringResult`), what the run noticed
(:class:`ScoringReport`, written to ``score_summary.json``) and the console lines summing it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class ScoringReport:
    """What the run noticed, written to ``score_summary.json`` beside the scores."""

    run_id: str = ""  # see predict.scoring.outputs.run_identity
    as_of: str = ""
    clients: int = 0
    models: dict[str, str] = field(default_factory=dict)  # target -> version
    skipped_targets: dict[str, str] = field(default_factory=dict)  # target -> why
    # target -> {reason, gain_share, tables, features}: models the data cannot support
    unsupported: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing_features: dict[str, list[str]] = field(default_factory=dict)  # target -> names
    # target -> feature -> {unseen value: clients}
    unseen_categories: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # target -> calendar feature -> {below, above, min, max}: outside the training range
    calendar_out_of_range: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    # default-trigger tables the models were trained with that the input lacks: only the
    # defaults the other tables show are known, every other client's status is unknown
    default_status_lacking: list[str] = field(default_factory=list)
    # life-cycle stage tables (facilities, revenue) the models were trained with that the
    # input lacks: only the stages the other proves (in default, active) are known
    lifecycle_stage_lacking: list[str] = field(default_factory=list)
    previous: str = "none"
    explanation_rows: int = 0
    early_warning_rows: int = 0
    # early-warning triggers a missing table switched off, e.g. "new_dpd: no facility_balances"
    early_warning_not_evaluated: list[str] = field(default_factory=list)
    drift_warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ScoringResult:
    """One snapshot's scores, early-warning list and drift, with what the run noticed.

    The scores are held (``held_scores``), or, for a book scored part by part on a cluster,
    only written (``scores_file``: nothing per client is held on the driver; ``layout``: the
    columns and their dtypes, an empty frame). ``counts``: clients per ``action`` and per
    ``rating_grade`` (the console summary's, without reading the scores back)."""

    held_scores: pd.DataFrame | None
    early_warning: pd.DataFrame
    drift: pd.DataFrame
    report: ScoringReport
    migration: pd.DataFrame = field(default_factory=pd.DataFrame)  # rating-grade migration
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    scores_file: Path | None = None
    layout: pd.DataFrame | None = None

    @property
    def scores(self) -> pd.DataFrame:
        """The score rows: held, else read back from ``scores_file`` (all of them, into this
        process's memory) typed as ``layout``, without the file's ``run_id``."""
        if self.held_scores is not None:
            return self.held_scores
        if self.scores_file is None or self.layout is None:
            raise ValueError("this scoring result holds no scores and names no scores file")
        frame = pd.read_parquet(self.scores_file)
        frame = frame[list(self.layout.columns)]
        return frame.astype({c: d for c, d in self.layout.dtypes.items() if frame[c].dtype != d})


def value_counts(scores: pd.DataFrame, columns: tuple[str, ...] = ("action", "rating_grade")
                 ) -> dict[str, dict[str, int]]:  # fmt: skip
    """Clients per value of each of ``columns`` present (missing values not counted)."""
    return {
        c: {str(k): int(n) for k, n in scores[c].value_counts().items()}
        for c in columns
        if c in scores.columns
    }


def add_counts(
    a: Mapping[str, Mapping[str, int]], b: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, int]]:
    """Two parts' :func:`value_counts` summed."""
    out = {c: dict(v) for c, v in a.items()}
    for column, per in b.items():
        into = out.setdefault(column, {})
        for value, n in per.items():
            into[value] = into.get(value, 0) + n
    return out


def _by_value(per_target: Mapping[str, Any]) -> dict[str, Any]:
    """Targets that share the same value, joined: {"churn, default": value, ...}."""
    groups: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for target, value in per_target.items():
        key = repr(value)
        groups.setdefault(key, []).append(target)
        values[key] = value
    return {", ".join(ts): values[k] for k, ts in groups.items()}


def summary_lines(result: ScoringResult) -> list[str]:
    """A few lines for the console (the details are in score_summary.json)."""
    r = result.report
    counts = result.counts or value_counts(result.scores)
    lines = [f"scored {r.clients} clients as of {r.as_of} with {', '.join(r.models) or 'no model'}"]
    lines += [f"  skipped {t}: {why}" for t, why in r.skipped_targets.items()]
    for targets, names in _by_value(r.missing_features).items():
        lines.append(
            f"  {targets}: {len(names)} feature(s) absent from the data, scored as "
            f"missing: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
        )
    for targets, per in _by_value(r.unseen_categories).items():
        for name, unseen in per.items():  # (not ``counts``: the actions' below)
            shown = dict(list(unseen.items())[:5])
            lines.append(
                f"  {targets}: categories of {name} unseen in training, scored as "
                f"missing: {shown}{' ...' if len(unseen) > 5 else ''}"
            )
    for target, per in r.calendar_out_of_range.items():
        for name, c in per.items():
            lines.append(
                f"  {target}: {name} outside its training range [{c['min']:g}, {c['max']:g}]: "
                f"{c['below']:.0f} client(s) below, {c['above']:.0f} above"
            )
    if r.quarantined:
        lines.append(f"  quarantined rows: {r.quarantined}")
    if r.default_status_lacking:
        lines.append(
            f"  default status known only where the other tables show a default: "
            f"{', '.join(r.default_status_lacking)} absent (the models were trained with it)"
        )
    if r.lifecycle_stage_lacking:
        lines.append(
            f"  life-cycle stage known only where the other table proves it (in default, "
            f"active): {', '.join(r.lifecycle_stage_lacking)} absent (the models were trained "
            "with it)"
        )
    actions = sorted(counts.get("action", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    lines.append("  actions: " + ", ".join(f"{a} {n}" for a, n in actions))
    lines.append(f"  early warning: {r.early_warning_rows} row(s); previous: {r.previous}")
    if r.early_warning_not_evaluated:
        lines.append("  early warning not evaluated: " + "; ".join(r.early_warning_not_evaluated))
    if "rating_grade" in counts:
        grades = sorted(counts["rating_grade"].items())
        lines.append("  grades: " + ", ".join(f"{g} {n}" for g, n in grades))
    flagged = len(r.drift_warnings)
    lines += [f"  drift {w}" for w in r.drift_warnings[:10]]
    if flagged > 10:
        lines.append(f"  ... {flagged - 10} more drift warnings (drift.parquet)")
    return lines
