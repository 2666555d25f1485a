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
(:func:`score_dataset_snapshot`: the workers read their own partitions and run every
per-client step, the driver holds the dataset's skeleton and counts, and merges the
partitions' score files into the scores files).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from functools import reduce
from pathlib import Path
from typing import Any

import pandas as pd

from predict.io import atomic_dir, parquet_rows
from predict.models.store import ModelBundle
from predict.progress import ProgressReporter, SilentProgress, progress_display
from predict.scoring import relationship as rel
from predict.scoring.align import (
    add_missing_features,
    check_label_settings,
    load_models,
    unseen_categories,
)
from predict.scoring.chunks import score_chunks
from predict.scoring.clients import (
    PartScorer,
    client_rows,
    combine_counts,
    part_report,
    rows_layout,
)
from predict.scoring.cluster import Cluster, ClusterFactory, is_dataset
from predict.scoring.config import ScoreConfig
from predict.scoring.dates import check_scoring_date
from predict.scoring.drift_check import DriftCounts, drift_counts, drift_from_counts, drift_warnings
from predict.scoring.early_warning import (
    early_warning_rows,
    empty_early_warning,
    not_evaluated,
    rank_early_warning,
)
from predict.scoring.explain import ExplanationWriter
from predict.scoring.extract import (
    extract_of,
    given_columns,
    read_book_skeleton,
    require_onboarded,
)
from predict.scoring.grades import (
    latest,
    migration_counts,
    migration_from_counts,
)
from predict.scoring.inputs import load_input
from predict.scoring.outputs import (
    order_columns,
    run_identity,
    stamp,
    write_outputs,
)
from predict.scoring.parts import PartBook, merge_scores
from predict.scoring.previous import (
    FeatureBuilder,
    features_with_previous,
    previous_month_end,
    read_previous,
    require_before,
    rescore_at,
)
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.references import frozen_drift_bins, frozen_rate_reference, rate_table
from predict.scoring.result import ScoringReport, ScoringResult, add_counts, value_counts
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
    book: Mapping[str, pd.DataFrame] | None = None,
    inactivity_months: int = 6,
) -> ScoringResult:
    """Score every client at ``as_of``; explanations are written to ``out_dir`` on the way.

    ``previous``: an earlier scoring to compare with; None and ``config.previous ==
    "month_end"``: the same models are run on the month end before ``as_of``. ``cluster``:
    the outputs, TreeSHAP and reasons run on it (:class:`predict.scoring.cluster.Cluster`;
    on Dask: explanations per partition, then combined into one file). ``horizon_months``,
    ``inactivity_months``: the labels' (``features``), for the value over H. ``book``: the
    skeleton of the book ``tables`` are an extract of (:mod:`predict.scoring.extract`): the
    book-wide decisions (models supported, default-status inputs, the month end to rescore,
    the early-warning triggers evaluated) read it instead of the extract.
    """
    report = report or ScoringReport()
    progress = progress or SilentProgress()
    if previous is not None:
        require_before(previous, as_of, report.previous)
    whole = tables if book is None else book  # what the book-wide decisions read
    bundles = apply_support(bundles, whole, config, report)
    rescore = previous is None and config.previous == "month_end"
    prev = previous_month_end(whole, as_of) if rescore else None
    task = progress.task("features", total=None)
    features, at_previous = features_with_previous(build, tables, as_of, prev)
    progress.done(task)
    bundles = apply_support(bundles, whole, config, report, frozenset(features.columns))
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
    if rescore:
        task = progress.task("previous month end", total=None)
        if prev is not None and at_previous is not None:  # both or neither
            previous = rescore_at(at_previous, prev, bundles, config,
                                  report.default_status_lacking,
                                  report.lifecycle_stage_lacking)  # fmt: skip
        progress.done(task)
        report.previous = "rescored previous month end" if previous is not None else "none"
    elif previous is not None and report.previous == "none":
        report.previous = "given"
    scores = client_rows(tables, as_of, features, outputs, bundles, config, previous, report,
                         horizon_months, inactivity_months)  # fmt: skip
    task = progress.task("drift", total=None)
    counts = drift_counts(features, outputs, bundles)
    progress.done(task)
    return book_steps(scores, tables, counts, bundles, config, report, whole,
                      horizon_months=horizon_months)  # fmt: skip


def book_steps(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    drift: DriftCounts,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    report: ScoringReport,
    book: Mapping[str, pd.DataFrame] | None = None,
    *,
    horizon_months: int,
) -> ScoringResult:
    """The steps after every client's row (:func:`predict.scoring.clients.client_rows`):
    the actions (each client's from its own row), the column order, the early-warning list
    (each client's rows from its own row and events, ordered over the whole book), the drift
    check from the book's bin counts and the grade migration matrix."""
    scores = order_columns(rel.assign_actions(scores, config.relationship))
    ew = config.relationship.early_warning
    # which triggers the book's tables can evaluate (``book``: its skeleton, for an extract)
    report.early_warning_not_evaluated.extend(not_evaluated(tables if book is None else book))
    return _book_result(
        scores,
        early_warning_rows(scores, tables, ew, report.previous, horizon_months=horizon_months),
        drift,
        migration_counts(scores),
        (latest(scores, "as_of"), latest(scores, "previous_as_of")),
        value_counts(scores),
        bundles,
        config,
        report,
    )


def _book_result(
    scores: pd.DataFrame | None,
    early_rows: pd.DataFrame,
    drift: DriftCounts,
    migration: pd.DataFrame,
    dates: tuple[pd.Timestamp, pd.Timestamp],
    values: dict[str, dict[str, int]],
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    report: ScoringReport,
    **written: Any,
) -> ScoringResult:
    """The book-wide steps on what every client gave: the early-warning rows ranked, the drift
    check, the migration matrix from the grade-pair counts (``dates``: the latest as-of and
    previous as-of). ``written``: where the scores went when not held (``scores_file``,
    ``layout``: see :class:`~predict.scoring.result.ScoringResult`)."""
    early = rank_early_warning(early_rows)
    report.early_warning_rows = len(early)
    drift_frame = drift_from_counts(drift, bundles, config.drift)
    report.drift_warnings = drift_warnings(drift_frame)
    matrix = migration_from_counts(migration, *dates, config.grades)
    return ScoringResult(scores, early, drift_frame, report, matrix, values, **written)


@contextmanager
def _system_arrow_memory() -> Iterator[None]:
    """Arrow's allocations on the C library's allocator while the driver streams the
    partitions' files (scores merge, explanations): with Arrow's default jemalloc pool the
    driver's resident memory kept the freed batches, growing with the book (1,234 MiB at
    440,000 clients, 534 MiB with this; benchmarks/bench_score_dataset.py)."""
    import pyarrow as pa

    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


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
    """:func:`score_snapshot` of a partitioned dataset on ``cluster``, its scores written into
    ``out_dir`` (``scores.parquet``, ``scores.csv``, ``explanations.parquet``): the same
    result and files. ``rate_reference``: the models' frozen one (:func:`~predict.scoring.
    references.frozen_rate_reference`).

    The driver holds the dataset's ``skeleton`` (which tables and columns hold a value,
    first and last dates), the models and the frozen references, and no score row: every
    per-client step runs on the workers, each reading its own partition
    (:class:`~predict.scoring.parts.PartBook`: features at ``as_of`` and at the previous
    month end, outputs, TreeSHAP with explanations written per partition, reasons, exposure,
    value, grades, dimensions, actions, early-warning rows, grade-pair counts; its score
    rows written to a file of its own). The driver gets back counts that add up, the
    early-warning rows and each part's columns, merges the part files into the scores files
    (:func:`~predict.scoring.parts.merge_scores`, ``config.merge_batch_rows`` rows of each part
    at a time)
    and ranks the early-warning list. The result names the scores file rather than holding
    the rows (:attr:`ScoringResult.scores` reads them back).
    """
    from predict.features.build import available_features

    report = report or ScoringReport()
    if previous is not None:
        require_before(previous, as_of, report.previous)
    bundles = apply_support(bundles, skeleton, config, report)
    report.as_of = as_of.isoformat()
    rescore = None
    if previous is None and config.previous == "month_end":
        rescore = previous_month_end(skeleton, as_of)
        if rescore is not None:
            report.previous = "rescored previous month end"
    elif previous is not None and report.previous == "none":
        report.previous = "given"
    scorer = PartScorer(
        as_of, dict(bundles), config, dict(templates), features_config,
        tuple(available_features(skeleton)[0]), rate_reference,
        dict(skeleton), part_report(report), rescore,
    )  # fmt: skip
    meta = stamp(report) if report.run_id else None
    path = out_dir / "explanations.parquet"
    folder = out_dir / "scores.parts"
    try:
        shutil.rmtree(folder, ignore_errors=True)  # an interrupted run's
        folder.mkdir(parents=True)
        task = PartBook(scorer, str(folder), report.previous)
        parts = cluster.map_parts(dataset, task, previous, path, meta)
        bundles, drift = combine_counts([p.counts for p in parts], bundles, report)
        if rescore is not None and not all(p.counts.previous for p in parts):
            raise RuntimeError(f"partitions were not all rescored at {rescore}")
        written = parquet_rows(path)
        if written != report.explanation_rows:
            raise RuntimeError(
                f"explanations: {report.explanation_rows} rows written by the workers, "
                f"{written} combined"
            )
        layout = order_columns(
            rows_layout([p.counts.scores for p in parts], [p.rows for p in parts])
        )
        merged = merge_scores([p.path for p in parts], layout, out_dir, stamp(report),
                              report.run_id, config.merge_batch_rows)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if merged != report.clients:
        raise RuntimeError(f"scores: {report.clients} clients scored, {merged} rows merged")
    report.early_warning_not_evaluated.extend(not_evaluated(skeleton))
    early_rows = [p.early_warning for p in parts if len(p.early_warning)]
    early = (
        pd.concat(early_rows).sort_values("client_id", kind="stable", ignore_index=True)
        if early_rows
        else empty_early_warning()
    )  # in the book's client order, as one machine ranks them
    values: dict[str, dict[str, int]] = reduce(add_counts, (p.values for p in parts), {})
    dates = (_latest(p.as_of for p in parts), _latest(p.previous_as_of for p in parts))
    migration = pd.concat([p.migration for p in parts], ignore_index=True)
    return _book_result(None, early, drift, migration, dates, values, bundles, config, report,
                        scores_file=out_dir / "scores.parquet", layout=layout)  # fmt: skip


def _latest(stamps: Iterable[pd.Timestamp]) -> pd.Timestamp:
    return pd.Timestamp(pd.Series(list(stamps), dtype="datetime64[s]").max())


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
    book: str | os.PathLike[str] | None = None,
) -> ScoringResult:
    """``predict score``: validate (unless ``validated``), build features, score, write.

    Everything is written into a folder beside ``out_dir`` that replaces it only once the
    run has finished (:func:`predict.io.atomic_dir`): a failed or killed run leaves the
    previous outputs as they were. A failed validation's report goes to ``<out_dir>.failed/``.
    ``as_of`` (``--as-of``; default ``features.as_of.scoring``) must lie within the data;
    ``after_data`` allows one after its end (:mod:`~predict.scoring.dates`). ``scheduler``
    (else ``config.distributed``): a Dask scheduler address or ``local``: the features and
    the per-client scoring run on the cluster ``cluster_factory`` opens on it (the CLI gives
    :func:`predict.distributed.cluster.open_cluster`; docs/scaling.md). ``book``: the input
    is an extract of some clients' rows of this book (a validated folder or a partitioned
    dataset, with its skeleton): the scoring date, its checks and every book-wide decision
    read the book's skeleton (:mod:`predict.scoring.extract`); scored on this machine.
    """
    from predict.features.build import with_data_start
    from predict.features.snapshots import (
        require_month_ends,
        resolve_data_start,
        scoring_as_of,
    )

    report = ScoringReport()
    bundles, report.skipped_targets = load_models(models_dir)
    check_label_settings(bundles, features_config.horizon_months, features_config.inactivity_months)
    scheduler = scheduler or config.distributed
    if book is not None and (is_dataset(Path(input_dir)) or scheduler):
        raise ValueError(
            "--book: an extract of some clients is a folder of tables scored on this machine "
            "(not a partitioned dataset, not with --scheduler / score.distributed)"
        )
    if is_dataset(Path(input_dir)):
        with _system_arrow_memory():
            return _score_dataset_folder(
                Path(input_dir), bundles, Path(out_dir), config, features_config, report,
                as_of=as_of, previous_path=previous_path, after_data=after_data,
                scheduler=scheduler, cluster_factory=cluster_factory,
            )  # fmt: skip
    failed = Path(out_dir).with_name(f"{Path(out_dir).name}.failed")
    shutil.rmtree(failed, ignore_errors=True)  # an older run's: never mixed with this one's
    with atomic_dir(out_dir) as stage:
        tables = load_input(input_dir, validated, validation_mode, stage, report, failed,
                            extract=book is not None)  # fmt: skip
        where = "--as-of" if as_of else "features.as_of.scoring"
        with _kept_on_failure(stage, failed):
            skeleton = None if book is None else read_book_skeleton(book)
            if skeleton is not None:  # an extract: checked against the book, read with it
                tables = extract_of(tables, skeleton, given_columns(input_dir))
            whole = tables if skeleton is None else skeleton
            features_config = with_data_start(features_config, whole)  # the book's start
            as_of = as_of or scoring_as_of(whole, features_config.as_of)
            require_month_ends([as_of], "scoring as-of (--as-of)")
            check_scoring_date(whole, as_of, where, after_data,
                               features_config.as_of.min_history_months,
                               resolve_data_start(whole, features_config.data_start))  # fmt: skip
            if skeleton is not None:
                require_onboarded(tables, as_of)
            inputs = {"input": input_dir, "previous": previous_path, "book": book}
            settings: dict[str, Any] = {"models": {k: b.version for k, b in bundles.items()}}
            settings |= {"validated": validated, "score": repr(config)}
            settings |= {"features": repr(features_config)}
            report.run_id = run_identity(inputs, as_of.isoformat(), settings)
            report.as_of = as_of.isoformat()
            result = _score_into(stage, tables, as_of, bundles, config, features_config, report,
                                 previous_path, quiet, scheduler, cluster_factory,
                                 skeleton)  # fmt: skip
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
    from predict.features.build import with_data_start
    from predict.features.snapshots import (
        require_month_ends,
        resolve_data_start,
        scoring_as_of,
    )
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
        features_config = with_data_start(features_config, skeleton)  # the book's start
        where = "--as-of" if as_of else "features.as_of.scoring"
        as_of = as_of or scoring_as_of(skeleton, features_config.as_of)
        require_month_ends([as_of], "scoring as-of (--as-of)")
        check_scoring_date(skeleton, as_of, where, after_data,
                           features_config.as_of.min_history_months,
                           resolve_data_start(skeleton, features_config.data_start))  # fmt: skip
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
    return dataclasses.replace(result, scores_file=out_dir / "scores.parquet")  # swapped in


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
    book: Mapping[str, pd.DataFrame] | None = None,
) -> ScoringResult:
    """Score and write every output of the run into ``stage`` (on a cluster with
    ``scheduler``, opened by ``cluster_factory``); ``book``: the skeleton of the book
    ``tables`` are an extract of."""
    from predict.features.build import available_features, build_features
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
            if cluster is None:  # an extract: the features the book's tables give
                names = None if book is None else available_features(book)[0]
                return build_features(t, dates, features_config, names, rate_reference=rates)
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
            inactivity_months=features_config.inactivity_months,
            cluster=cluster,
            book=book,
        )
    write_outputs(result, stage)
    return result
