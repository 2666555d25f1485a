"""Score a portfolio: the whole run, from the input folder to the files written.

The flow (:func:`score_snapshot`): the features of every client at the as-of date are
aligned with each model (:mod:`~predict.scoring.align`: a feature the model needs but the
data cannot give becomes an all-missing column, a category unseen in training becomes
missing; both are reported); then, chunk by chunk, each model's outputs, TreeSHAP
explanations and reasons (:mod:`~predict.scoring.chunks`); the scope rules
(:mod:`~predict.scoring.scope`). The relationship evaluation (exposure, expected loss, value,
action), the five relationship dimensions and the index (:mod:`~predict.scoring.dimensions`),
the change since the previous scoring (:mod:`~predict.scoring.previous`), the
early-warning list and the drift check (:mod:`~predict.scoring.drift_check`) follow on the
whole portfolio. :func:`score_folder` is ``predict score``: read, score, write.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.io import atomic_dir
from predict.models.store import ModelBundle
from predict.progress import ProgressReporter, SilentProgress, progress_display
from predict.scoring import relationship as rel
from predict.scoring.align import (
    add_missing_features,
    calendar_out_of_range,
    load_models,
    scored_masks,
    unseen_categories,
)
from predict.scoring.chunks import score_chunks
from predict.scoring.cluster import Cluster, ClusterFactory
from predict.scoring.config import ScoreConfig
from predict.scoring.dates import check_scoring_date
from predict.scoring.dimensions import add_dimensions, frozen_contribution_quantiles
from predict.scoring.drift_check import drift_report, drift_warnings
from predict.scoring.early_warning import early_warning
from predict.scoring.explain import ExplanationWriter
from predict.scoring.grades import add_grades, migration_matrix
from predict.scoring.inputs import load_input
from predict.scoring.outputs import (
    client_attributes,
    order_columns,
    run_identity,
    stamp,
    write_outputs,
)
from predict.scoring.potential import add_potential
from predict.scoring.previous import FeatureBuilder, read_previous, rescore_previous
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.references import frozen_drift_bins, frozen_rate_reference, rate_table
from predict.scoring.result import ScoringReport, ScoringResult
from predict.scoring.scope import apply_scope_rules, churn_knows_default_status, ensure_targets
from predict.scoring.support import apply_support
from predict.scoring.value import add_risk_adjusted_value

log = logging.getLogger(__name__)


def score_table(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    skipped: Mapping[str, str],
) -> pd.DataFrame:
    """A row per client: attributes, as-of, lifecycle stage, the model outputs and reasons
    (``outputs``, row for row with ``features``) with the scope rules applied, every target."""
    scores = client_attributes(tables, features["client_id"]).merge(
        outputs, on="client_id", how="left", validate="one_to_one"
    )
    scores.insert(1, "as_of", pd.Timestamp(as_of).as_unit("s"))
    stage = features.get("lifecycle_stage", np.nan)
    scores["lifecycle_stage"] = pd.Series(stage, index=scores.index, dtype="str")
    scoped = apply_scope_rules(scores, features, config, churn_knows_default_status(bundles))
    return ensure_targets(scoped, bundles, skipped)


def evaluate_relationships(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    previous: pd.DataFrame | None,
    config: ScoreConfig,
    horizon_months: int = 12,
) -> pd.DataFrame:
    """Exposure, expected loss, value (risk-adjusted over the horizon), change since the
    previous scoring and action."""
    exposure = rel.client_exposure(tables, as_of, config.relationship)
    out = rel.add_value(rel.add_exposure(scores, exposure, config.relationship))
    out = add_risk_adjusted_value(out, tables, as_of, horizon_months, config.value)
    out = add_grades(rel.add_previous(out, previous), previous, config.grades)
    return rel.assign_actions(out, config.relationship)


def score_snapshot(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    build: FeatureBuilder,
    out_dir: str | os.PathLike[str],
    config: ScoreConfig,
    *,
    templates: Mapping[str, ReasonTemplate],
    previous: pd.DataFrame | None = None,
    report: ScoringReport | None = None,
    progress: ProgressReporter | None = None,
    horizon_months: int = 12,
    cluster: Cluster | None = None,
) -> ScoringResult:
    """Score every client at ``as_of``; explanations are written to ``out_dir`` on the way.

    ``previous``: an earlier scoring to compare with; None and ``config.previous ==
    "month_end"``: the same models are run on the month end before ``as_of``. ``cluster``:
    the outputs, TreeSHAP and reasons run on it (:class:`predict.scoring.cluster.Cluster`;
    on Dask: explanations per partition, then combined into one file).
    """
    report = report or ScoringReport()
    progress = progress or SilentProgress()
    bundles = apply_support(bundles, tables, config, report)
    task = progress.task("features", total=None)
    features = build(tables, [as_of]).reset_index(drop=True)
    progress.done(task)
    bundles = apply_support(bundles, tables, config, report, frozenset(features.columns))
    report.as_of, report.clients = as_of.isoformat(), len(features)
    report.models = {t: b.version for t, b in bundles.items()}
    features = add_missing_features(features, bundles, config.missing_features, report)
    unseen_categories(features, bundles, report)
    meta = stamp(report) if report.run_id else None
    if cluster is not None:
        outputs, report.explanation_rows = cluster.score(
            features, bundles, config, templates, Path(out_dir), meta, report
        )
    else:
        with ExplanationWriter(Path(out_dir) / "explanations.parquet", meta) as writer:
            outputs = score_chunks(
                features, bundles, config, templates, writer, progress, report.missing_features
            )
        report.explanation_rows = writer.rows
    scores = score_table(tables, as_of, features, outputs, bundles, config, report.skipped_targets)
    scores = add_potential(scores, features, bundles)  # frozen in the contribution model folder
    calendar_out_of_range(features, bundles, report, scored_masks(features, scores, bundles))
    if previous is None and config.previous == "month_end":
        task = progress.task("previous month end", total=None)
        previous = rescore_previous(tables, as_of, bundles, build, config)
        progress.done(task)
        report.previous = "rescored previous month end" if previous is not None else "none"
    elif previous is not None and report.previous == "none":
        report.previous = "given"
    quantiles = frozen_contribution_quantiles(bundles)  # from the model folder, never the input
    scores = add_dimensions(scores, features, quantiles, config.dimensions)  # rules may test them
    scores = evaluate_relationships(scores, tables, as_of, previous, config, horizon_months)
    scores = order_columns(scores)
    early = early_warning(
        scores,
        tables,
        config.relationship.early_warning,
        report.previous,
        report.early_warning_not_evaluated,
    )
    report.early_warning_rows = len(early)
    task = progress.task("drift", total=None)
    drift = drift_report(features, outputs, bundles, config.drift)
    progress.done(task)
    report.drift_warnings = drift_warnings(drift)
    migration = migration_matrix(scores, config.grades)
    return ScoringResult(scores, early, drift, report, migration)


def score_folder(
    input_dir: str | os.PathLike[str],
    models_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: ScoreConfig,
    features_config: Any,
    *,
    as_of: dt.date | None = None,
    previous_path: str | os.PathLike[str] | None = None,
    validated: bool = False,
    validation_mode: str = "lenient",
    quiet: bool | None = False,
    after_data: bool = False,
    scheduler: str | None = None,
    cluster_factory: ClusterFactory | None = None,
) -> ScoringResult:
    """``predict score``: validate (unless ``validated``), build features, score, write.

    Everything is written into a folder beside ``out_dir`` that replaces it only once the
    run has finished (:func:`predict.io.atomic_dir`): a failed or killed run leaves the
    previous outputs as they were. A failed validation's report goes to ``<out_dir>.failed/``.
    ``as_of`` (``--as-of``; default ``features.as_of.scoring``) must lie within the data;
    ``after_data`` allows one after its end (:mod:`~predict.scoring.dates`). ``scheduler``
    (else ``config.distributed``): a Dask scheduler address or ``local``: the features and
    the per-client scoring run on the cluster ``cluster_factory`` opens on it (the CLI gives
    :func:`predict.distributed.cluster.open_cluster`; docs/scaling.md).
    """
    from predict.features.snapshots import require_month_ends, scoring_as_of

    report = ScoringReport()
    bundles, report.skipped_targets = load_models(models_dir)
    failed = Path(out_dir).with_name(f"{Path(out_dir).name}.failed")
    shutil.rmtree(failed, ignore_errors=True)  # an older run's: never mixed with this one's
    with atomic_dir(out_dir) as stage:
        tables = load_input(input_dir, validated, validation_mode, stage, report, failed)
        where = "--as-of" if as_of else "features.as_of.scoring"
        with _kept_on_failure(stage, failed):
            as_of = as_of or scoring_as_of(tables, features_config.as_of)
            require_month_ends([as_of], "scoring as-of (--as-of)")
            check_scoring_date(tables, as_of, where, after_data)
            inputs = {"input": input_dir, "previous": previous_path}
            settings: dict[str, Any] = {"models": {k: b.version for k, b in bundles.items()}}
            settings |= {"validated": validated, "score": repr(config)}
            settings |= {"features": repr(features_config)}
            report.run_id = run_identity(inputs, as_of.isoformat(), settings)
            report.as_of = as_of.isoformat()
            result = _score_into(stage, tables, as_of, bundles, config, features_config, report,
                                 previous_path, quiet,
                                 scheduler or config.distributed, cluster_factory)  # fmt: skip
    shutil.rmtree(failed, ignore_errors=True)
    return result


@contextmanager
def _kept_on_failure(stage: Path, failed: Path) -> Iterator[None]:
    """On an error after validation, keep the run's quarantine and validation report in
    ``failed`` (``<out_dir>.failed/``): the staged folder is discarded, its rows are not."""
    try:
        yield
    except Exception:
        shutil.rmtree(failed, ignore_errors=True)
        for part in ("quarantine", "validation"):
            if (stage / part).is_dir():
                shutil.copytree(stage / part, failed / part)
        if failed.is_dir():
            log.warning("run stopped: its quarantine and validation report are in %s", failed)
        raise


def _score_into(
    stage: Path,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    features_config: Any,
    report: ScoringReport,
    previous_path: str | os.PathLike[str] | None,
    quiet: bool | None,
    scheduler: str | None = None,
    cluster_factory: ClusterFactory | None = None,
) -> ScoringResult:
    """Score and write every output of the run into ``stage`` (on a cluster with
    ``scheduler``, opened by ``cluster_factory``)."""
    from predict.features.build import build_features
    from predict.scoring.reasons import catalogue_templates

    previous = read_previous(previous_path) if previous_path else None
    if previous is not None:
        report.previous = str(previous_path)

    frozen = frozen_rate_reference(bundles)  # from the model folders, never the input
    frozen_drift_bins(bundles)  # the drift check's bins: refused before any work if lacking

    if scheduler and cluster_factory is None:
        raise ValueError(
            f"scoring on the cluster {scheduler!r} (--scheduler / score.distributed) needs a "
            "cluster: run it through `predict score`, or pass cluster_factory="
            "predict.distributed.cluster.open_cluster"
        )
    on_cluster = (
        cluster_factory(scheduler, config.partitions)
        if scheduler and cluster_factory is not None
        else nullcontext(None)
    )
    with on_cluster as cluster, progress_display(quiet) as progress:

        def build(t: Mapping[str, pd.DataFrame], dates: list[dt.date]) -> pd.DataFrame:
            rates = rate_table(frozen, dates)
            if cluster is None:
                return build_features(t, dates, features_config, rate_reference=rates)
            return cluster.build_features(t, dates, features_config, rates)

        result = score_snapshot(
            tables,
            as_of,
            bundles,
            build,
            stage,
            config,
            templates=catalogue_templates(),
            previous=previous,
            report=report,
            progress=progress,
            horizon_months=features_config.horizon_months,
            cluster=cluster,
        )
    write_outputs(result, stage)
    return result
