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

The per-client steps live in :mod:`~predict.scoring.clients`, the steps over every row in
:func:`book_steps`; a partitioned dataset is scored on a cluster with the same two halves
(:func:`score_dataset_snapshot`: the workers read their own partitions, the driver holds
the dataset's skeleton and the clients' rows).
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

import pandas as pd

from predict.io import atomic_dir
from predict.models.store import ModelBundle
from predict.progress import ProgressReporter, SilentProgress, progress_display
from predict.scoring import relationship as rel
from predict.scoring.align import add_missing_features, load_models, unseen_categories
from predict.scoring.chunks import score_chunks
from predict.scoring.clients import (
    PartEvents,
    PartScorer,
    client_rows,
    combine_events,
    combine_parts,
    part_report,
)
from predict.scoring.cluster import Cluster, ClusterFactory, is_dataset
from predict.scoring.config import ScoreConfig
from predict.scoring.dates import check_scoring_date
from predict.scoring.drift_check import DriftCounts, drift_counts, drift_from_counts, drift_warnings
from predict.scoring.early_warning import EventTriggers, early_warning
from predict.scoring.explain import ExplanationWriter
from predict.scoring.grades import migration_matrix, regrade_off_scale
from predict.scoring.inputs import load_input
from predict.scoring.outputs import (
    order_columns,
    run_identity,
    stamp,
    write_outputs,
)
from predict.scoring.previous import (
    FeatureBuilder,
    previous_month_end,
    read_previous,
    rescore_previous,
)
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.references import frozen_drift_bins, frozen_rate_reference, rate_table
from predict.scoring.result import ScoringReport, ScoringResult
from predict.scoring.support import apply_support

log = logging.getLogger(__name__)


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
    if previous is None and config.previous == "month_end":
        task = progress.task("previous month end", total=None)
        previous = rescore_previous(tables, as_of, bundles, build, config)
        progress.done(task)
        report.previous = "rescored previous month end" if previous is not None else "none"
    elif previous is not None and report.previous == "none":
        report.previous = "given"
    scores = client_rows(tables, as_of, features, outputs, bundles, config, previous, report,
                         horizon_months)  # fmt: skip
    task = progress.task("drift", total=None)
    counts = drift_counts(features, outputs, bundles)
    progress.done(task)
    return book_steps(scores, tables, counts, bundles, config, report)


def book_steps(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    drift: DriftCounts,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    report: ScoringReport,
    events: EventTriggers | None = None,
) -> ScoringResult:
    """The steps after every client's row (:func:`predict.scoring.clients.client_rows`):
    the actions (each client's from its own row), the column order, the early-warning list
    (``events``: its event triggers, default from ``tables``; ordered over the whole book),
    the drift check from the book's bin counts and the grade migration matrix."""
    scores = order_columns(rel.assign_actions(scores, config.relationship))
    early = early_warning(
        scores,
        tables,
        config.relationship.early_warning,
        report.previous,
        report.early_warning_not_evaluated,
        events,
    )
    report.early_warning_rows = len(early)
    drift_frame = drift_from_counts(drift, bundles, config.drift)
    report.drift_warnings = drift_warnings(drift_frame)
    migration = migration_matrix(scores, config.grades)
    return ScoringResult(scores, early, drift_frame, report, migration)


def score_dataset_snapshot(
    cluster: Cluster,
    dataset: Path,
    skeleton: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    out_dir: Path,
    config: ScoreConfig,
    features_config: Any,
    *,
    templates: Mapping[str, ReasonTemplate],
    rate_reference: Mapping[str, Any] | None,
    previous: pd.DataFrame | None = None,
    report: ScoringReport | None = None,
) -> ScoringResult:
    """:func:`score_snapshot` of a partitioned dataset on ``cluster``: the same result.
    ``rate_reference``: the models' frozen one (:func:`~predict.scoring.references.
    frozen_rate_reference`).

    The driver holds the dataset's ``skeleton`` (which tables and columns hold a value,
    first and last dates), the models and the frozen references; every per-client step
    runs on the workers, each reading its own partition (:class:`~predict.scoring.clients.
    PartScorer`: features at ``as_of`` and at the previous month end, outputs, TreeSHAP
    with explanations written per partition, reasons, exposure, value, grades, dimensions).
    The driver gets back the clients' rows, the drift bin counts and the counts of what the
    run noticed, then runs the book-wide steps (:func:`book_steps`); the early-warning event
    triggers are a second pass on the workers, each client in its own window.
    """
    from predict.features.build import available_features

    report = report or ScoringReport()
    bundles = apply_support(bundles, skeleton, config, report)
    report.as_of = as_of.isoformat()
    rescore = None
    if previous is None and config.previous == "month_end":
        rescore = previous_month_end(skeleton, as_of)
    elif previous is not None:
        previous = regrade_off_scale(previous, config.grades)  # decided on the whole file
        if report.previous == "none":
            report.previous = "given"
    scorer = PartScorer(
        as_of, dict(bundles), config, dict(templates), features_config,
        tuple(available_features(skeleton)[0]), rate_reference,
        dict(skeleton), part_report(report), rescore, features_config.horizon_months,
    )  # fmt: skip
    meta = stamp(report) if report.run_id else None
    path = out_dir / "explanations.parquet"
    parts = cluster.map_parts(dataset, scorer, previous, path, meta)
    scores, bundles, drift = combine_parts(parts, bundles, report)
    rescored = any(p.previous for p in parts)
    del parts  # the partitions' rows, now in scores: not held twice
    written = _parquet_rows(path)
    if written != report.explanation_rows:
        raise RuntimeError(
            f"explanations: {report.explanation_rows} rows written by the workers, {written} "
            "combined"
        )
    if rescore is not None:
        report.previous = "rescored previous month end" if rescored else "none"

    def events(ids: pd.Series, start: pd.Series, end: pd.Series) -> dict[str, pd.Series]:
        rows = pd.DataFrame({"client_id": ids, "window_start": start, "window_end": end})
        found = cluster.map_parts(dataset, PartEvents(config.relationship.early_warning), rows)
        return combine_events(found, ids)

    return book_steps(scores, skeleton, drift, bundles, config, report, events)


def _parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


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
    scheduler = scheduler or config.distributed
    if is_dataset(Path(input_dir)):
        return _score_dataset_folder(
            Path(input_dir), bundles, Path(out_dir), config, features_config, report,
            as_of=as_of, previous_path=previous_path, after_data=after_data,
            scheduler=scheduler, cluster_factory=cluster_factory,
        )  # fmt: skip
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
                                 previous_path, quiet, scheduler, cluster_factory)  # fmt: skip
    shutil.rmtree(failed, ignore_errors=True)
    return result


def _score_dataset_folder(
    dataset: Path,
    bundles: Mapping[str, ModelBundle],
    out_dir: Path,
    config: ScoreConfig,
    features_config: Any,
    report: ScoringReport,
    *,
    as_of: dt.date | None,
    previous_path: str | os.PathLike[str] | None,
    after_data: bool,
    scheduler: str | None,
    cluster_factory: ClusterFactory | None,
) -> ScoringResult:
    """:func:`score_folder` of a partitioned dataset: on the cluster, the driver reading only
    the dataset's skeleton (:func:`score_dataset_snapshot`). Its tables were validated
    before ``predict partition`` wrote them."""
    from predict.features.snapshots import require_month_ends, scoring_as_of
    from predict.scoring.reasons import catalogue_templates

    if not scheduler or cluster_factory is None:
        raise ValueError(
            f"{dataset} is a partitioned dataset: its rows are read by the workers of a "
            "cluster; pass --scheduler (an address or local) or set score.distributed, and "
            "run it through `predict score`"
        )
    previous = read_previous(previous_path) if previous_path else None
    if previous is not None:
        report.previous = str(previous_path)
    frozen = frozen_rate_reference(bundles)  # from the model folders, never the input
    frozen_drift_bins(bundles)  # the drift check's bins: refused before any work if lacking
    with atomic_dir(out_dir) as stage, cluster_factory(scheduler, config.partitions) as cluster:
        skeleton = cluster.read_skeleton(dataset)
        where = "--as-of" if as_of else "features.as_of.scoring"
        as_of = as_of or scoring_as_of(skeleton, features_config.as_of)
        require_month_ends([as_of], "scoring as-of (--as-of)")
        check_scoring_date(skeleton, as_of, where, after_data)
        settings: dict[str, Any] = {"models": {k: b.version for k, b in bundles.items()}}
        settings |= {"validated": True, "score": repr(config)}
        settings |= {"features": repr(features_config)}
        inputs = {"input": dataset, "previous": previous_path}
        report.run_id = run_identity(inputs, as_of.isoformat(), settings)
        result = score_dataset_snapshot(
            cluster, dataset.resolve(), skeleton, as_of, bundles, stage, config,
            features_config, templates=catalogue_templates(), rate_reference=frozen,
            previous=previous, report=report,
        )  # fmt: skip
        write_outputs(result, stage)
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
