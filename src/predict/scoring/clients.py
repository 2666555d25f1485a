"""The per-client part of a scoring run, on the whole book or partition by partition.

Everything of a client's score row that reads the client's own rows runs here
(:func:`client_rows`): the scope rules on the model outputs, the potential value, the
relationship dimensions, the exposure, expected loss and value, the risk-adjusted value, the
change since the previous scoring and the grades. None of it looks at another client (the
book-wide references are frozen in the model folders), so a book split by client gives, part
by part, the rows of the whole book. What needs the whole book (the migration matrix, the
early-warning list's order, the drift shares) runs after, on all the rows or on their
counts (:func:`predict.scoring.run.book_steps`); the actions and early-warning rows run
there too, each client's from its own row.

On a cluster (:class:`PartScorer`) each worker scores its own partition of a partitioned
dataset: its clients' rows (:class:`ClientScores`), what the run noticed (counts that add
up: unseen categories, calendar features out of range, explanation rows) and the drift bin
counts; :func:`combine_counts` adds the counts up, :func:`concat_rows` (or, without the rows
on the driver, :func:`rows_layout` and :func:`predict.scoring.parts.merge_scores`) puts the
rows together. :class:`predict.scoring.parts.PartBook` runs the rest of each client's steps
on the worker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring import relationship as rel
from predict.scoring.align import (
    UnseenCounts,
    add_missing_features,
    add_unseen,
    calendar_out_of_range,
    count_unseen,
    report_unseen,
    scored_masks,
)
from predict.scoring.chunks import score_chunks
from predict.scoring.config import ScoreConfig
from predict.scoring.dimensions import add_dimensions, frozen_contribution_quantiles
from predict.scoring.drift_check import DriftCounts, drift_counts
from predict.scoring.explain import ExplanationWriter
from predict.scoring.grades import add_grades
from predict.scoring.outputs import client_attributes
from predict.scoring.potential import add_potential
from predict.scoring.previous import features_with_previous, rescore_at
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.references import rate_table
from predict.scoring.result import ScoringReport
from predict.scoring.scope import apply_scope_rules, churn_knows_default_status, ensure_targets
from predict.scoring.support import apply_support
from predict.scoring.value import add_one_year_pd, add_risk_adjusted_value

Tables = Mapping[str, pd.DataFrame]


def score_table(
    tables: Tables,
    as_of: dt.date,
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    skipped: Mapping[str, str],
    lacking: Sequence[str] = (),
    stage_lacking: Sequence[str] = (),
) -> pd.DataFrame:
    """A row per client: attributes, as-of, lifecycle stage, the model outputs and reasons
    (``outputs``, row for row with ``features``) with the scope rules applied (``lacking``,
    ``stage_lacking``: default-trigger and stage tables the input lacks,
    :func:`~predict.scoring.scope.apply_scope_rules`), every target."""
    scores = client_attributes(tables, features["client_id"]).merge(
        outputs, on="client_id", how="left", validate="one_to_one"
    )
    scores.insert(1, "as_of", pd.Timestamp(as_of).as_unit("s"))
    stage = features.get("lifecycle_stage", np.nan)
    scores["lifecycle_stage"] = pd.Series(stage, index=scores.index, dtype="str")
    scoped = apply_scope_rules(
        scores, features, config, churn_knows_default_status(bundles), lacking, stage_lacking
    )
    return ensure_targets(scoped, bundles, skipped)


def client_rows(
    tables: Tables,
    as_of: dt.date,
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    previous: pd.DataFrame | None,
    report: ScoringReport,
    horizon_months: int,
    inactivity_months: int,
) -> pd.DataFrame:
    """The score row of every client of ``features`` before the actions and the book-wide
    steps: outputs and scope (:func:`score_table`), potential, dimensions, exposure, expected
    loss and value over the horizon, risk-adjusted value, change since ``previous``, grades.
    Calendar features outside their training range are counted into ``report``."""
    scores = score_table(tables, as_of, features, outputs, bundles, config,
                         report.skipped_targets, report.default_status_lacking,
                         report.lifecycle_stage_lacking)  # fmt: skip
    # frozen in the contribution model folder
    scores = add_potential(scores, features, bundles, horizon_months=horizon_months)
    calendar_out_of_range(features, bundles, report, scored_masks(features, scores, bundles))
    quantiles = frozen_contribution_quantiles(bundles)  # from the model folder, never the input
    scores = add_dimensions(scores, features, quantiles, config.dimensions)  # rules may test them
    # M per facility, bounded as the capital formula wants it
    exposure = rel.client_exposure(tables, as_of, config.relationship, config.value.capital)
    out = rel.add_value(rel.add_exposure(scores, exposure, config.relationship))
    out = add_risk_adjusted_value(out, tables, as_of, horizon_months, config.value,
                                  inactivity_months=inactivity_months)  # fmt: skip
    out = add_one_year_pd(rel.add_previous(out, previous), horizon_months)
    return add_grades(out, previous, config.grades, horizon_months)


# ---------------------------------------------------------------- partition by partition


@dataclass
class ClientScores:
    """What one partition sends back: its clients' rows and counts that add up."""

    scores: pd.DataFrame  # client_rows of its clients
    report: ScoringReport  # support, missing features, clients, calendar, explanation rows
    unseen: UnseenCounts = field(default_factory=dict)  # every unseen value, with its clients
    drift: DriftCounts = field(default_factory=DriftCounts)
    previous: bool = False  # the rescored previous month end had clients


@dataclass(frozen=True)
class PartScorer:
    """Scores one partition of a book on a worker: ``self(tables, previous, explanations)``
    with the partition's tables, its clients' rows of a given previous scoring (None: none
    given) and the file its explanations go to (None: not written).

    Every book-wide setting is fixed by the driver before the split: the models the book
    supports (``report``: the skipped ones so far), the features the whole book can give
    (``names``), the frozen rate reference, the month end to rescore (``rescore_at``, None:
    no rescoring) and the tables' skeleton (which columns hold a value) for the support check
    on the feature columns."""

    as_of: dt.date
    bundles: Mapping[str, ModelBundle]
    config: ScoreConfig
    templates: Mapping[str, ReasonTemplate]
    features_config: Any
    names: tuple[str, ...]
    rate_reference: Mapping[str, Any] | None
    skeleton: Tables
    report: ScoringReport
    rescore_at: dt.date | None

    def build(self, tables: Tables, dates: list[dt.date]) -> pd.DataFrame:
        """The features of ``tables``' clients at ``dates``: the book's feature list, the
        models' frozen rate reference."""
        from predict.features.build import build_features

        rates = rate_table(self.rate_reference, dates)
        return build_features(tables, dates, self.features_config, self.names,
                              rate_reference=rates)  # fmt: skip

    def __call__(
        self, tables: Tables, previous: pd.DataFrame | None, explanations: str | None
    ) -> ClientScores:
        report = part_report(self.report)
        features, at_previous = features_with_previous(
            self.build, tables, self.as_of, self.rescore_at
        )
        columns = frozenset(features.columns)
        bundles = apply_support(self.bundles, self.skeleton, self.config, report, columns)
        report.clients = len(features)
        features = add_missing_features(features, bundles, self.config.missing_features, report)
        outputs = self._outputs(features, bundles, report, explanations)
        if self.rescore_at is not None and at_previous is not None:  # both or neither
            previous = rescore_at(at_previous, self.rescore_at, bundles, self.config,
                                  report.default_status_lacking,
                                  report.lifecycle_stage_lacking)  # fmt: skip
        scores = client_rows(tables, self.as_of, features, outputs, bundles, self.config,
                             previous, report, self.features_config.horizon_months,
                             self.features_config.inactivity_months)  # fmt: skip
        return ClientScores(
            scores,
            report,
            count_unseen(features, bundles),
            drift_counts(features, outputs, bundles),
            self.rescore_at is not None and previous is not None,
        )

    def _outputs(
        self,
        features: pd.DataFrame,
        bundles: Mapping[str, ModelBundle],
        report: ScoringReport,
        explanations: str | None,
    ) -> pd.DataFrame:
        absent = report.missing_features
        if explanations is None:
            return score_chunks(features, bundles, self.config, self.templates, None, None, absent)
        with ExplanationWriter(explanations) as writer:
            outputs = score_chunks(
                features, bundles, self.config, self.templates, writer, None, absent
            )
        report.explanation_rows = writer.rows
        return outputs


def combine_parts(
    parts: Sequence[ClientScores],
    bundles: Mapping[str, ModelBundle],
    report: ScoringReport,
) -> tuple[pd.DataFrame, dict[str, ModelBundle], DriftCounts]:
    """The partitions' rows as the whole book's (sorted by client, as one machine gives
    them), the models applied, the drift counts of the book; ``report`` completed as the
    whole book's run would fill it."""
    applied, drift = combine_counts(parts, bundles, report)
    return concat_rows([p.scores for p in parts]), applied, drift


def combine_counts(
    parts: Sequence[ClientScores],
    bundles: Mapping[str, ModelBundle],
    report: ScoringReport,
) -> tuple[dict[str, ModelBundle], DriftCounts]:
    """What the partitions noticed, added up: the models applied and the book's drift counts;
    ``report`` completed as the whole book's run would fill it (the rows are not read)."""
    if not parts:
        raise ValueError("no partition holds a client: nothing to score")
    first = parts[0].report
    for part in parts[1:]:
        if (part.report.skipped_targets, part.report.missing_features) != (
            first.skipped_targets,
            first.missing_features,
        ):
            raise RuntimeError("partitions disagree on the models applied or features absent")
    report.skipped_targets = dict(first.skipped_targets)
    report.unsupported = dict(first.unsupported)
    report.missing_features = dict(first.missing_features)
    applied = {t: b for t, b in bundles.items() if t not in report.skipped_targets}
    report.clients = sum(p.report.clients for p in parts)
    report.models = {t: b.version for t, b in applied.items()}
    report.explanation_rows = sum(p.report.explanation_rows for p in parts)
    report_unseen(reduce(add_unseen, (p.unseen for p in parts), {}), applied, report)
    report.calendar_out_of_range = _calendar(parts, applied)
    drift = reduce(DriftCounts.add, (p.drift for p in parts), DriftCounts())
    return applied, drift


def _calendar(
    parts: Sequence[ClientScores], bundles: Mapping[str, ModelBundle]
) -> dict[str, dict[str, dict[str, float]]]:
    """The partitions' calendar features out of range, summed, in the single-run order."""
    from predict.features.catalogue import CALENDAR

    out: dict[str, dict[str, dict[str, float]]] = {}
    for target in bundles:
        for name in CALENDAR:
            found = [
                f for p in parts if (f := p.report.calendar_out_of_range.get(target, {}).get(name))
            ]
            if found:
                total = dict(found[0])
                total["below"] = sum(f["below"] for f in found)
                total["above"] = sum(f["above"] for f in found)
                out.setdefault(target, {})[name] = total
    return out


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Partitions' score rows as one frame sorted by client (the single-machine order), each
    column with the dtype the partitions give it (a partition without a column, e.g. with no
    client at the previous month end, leaves it missing, not retyped)."""
    layout = rows_layout(frames, [len(f) for f in frames])
    kept = [f for f in frames if len(f)] or list(frames[:1])
    out = pd.concat(kept, ignore_index=True)
    return conform(out, layout).sort_values("client_id", kind="stable", ignore_index=True)


def rows_layout(frames: Sequence[pd.DataFrame], rows: Sequence[int]) -> pd.DataFrame:
    """The columns and dtypes (an empty frame) of the partitions' score rows put together
    (``frames``: each partition's rows, or only their columns and dtypes, with ``rows`` rows
    each): the columns of the widest partition holding rows, then any other's; each column
    with the dtype of the first partition holding rows that has it."""
    kept = [f for f, n in zip(frames, rows, strict=True) if n] or list(frames[:1])
    widest = max(kept, key=lambda f: len(f.columns))
    columns = list(widest.columns)
    columns += dict.fromkeys(c for f in kept for c in f.columns if c not in widest.columns)
    dtypes: dict[str, Any] = {}
    for frame in kept:
        for c in frame.columns:
            dtypes.setdefault(c, frame[c].dtype)
    return pd.DataFrame({c: pd.Series([], dtype=dtypes[c]) for c in columns})


def conform(frame: pd.DataFrame, layout: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the columns of ``layout`` (one it lacks: missing) and their dtypes."""
    if list(frame.columns) != list(layout.columns):
        frame = frame.reindex(columns=layout.columns)
    retype = {c: d for c, d in layout.dtypes.items() if frame[c].dtype != d}
    return frame.astype(retype) if retype else frame


def part_report(report: ScoringReport) -> ScoringReport:
    """A partition's fresh report, with what it needs of the driver's: the models skipped
    so far (the scores say why they are missing) and why."""
    return ScoringReport(
        skipped_targets=dict(report.skipped_targets),
        unsupported=dict(report.unsupported),
        default_status_lacking=list(report.default_status_lacking),
        lifecycle_stage_lacking=list(report.lifecycle_stage_lacking),
    )


__all__ = [
    "ClientScores",
    "PartScorer",
    "client_rows",
    "combine_counts",
    "combine_parts",
    "concat_rows",
    "conform",
    "part_report",
    "rows_layout",
    "score_table",
]
