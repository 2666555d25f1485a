"""Scoring on Dask: :func:`predict.scoring.chunks.score_chunks` partition by client.

Each partition scores its own clients and writes its own explanations file; the results
come back in the order of the input, equal to the single-machine run.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

from predict.distributed.dataset import part_dir, read_digest, read_part, read_skeleton
from predict.distributed.partitions import client_partition, concat_parts, run_partitions
from predict.io import atomic_dir
from predict.scoring.chunks import score_chunks
from predict.scoring.cluster import PartTask
from predict.scoring.explain import ExplanationWriter

if TYPE_CHECKING:
    from distributed import Client

    from predict.features.build import FeaturesConfig
    from predict.models.store import ModelBundle
    from predict.scoring.config import ScoreConfig
    from predict.scoring.reasons import ReasonTemplate

T = TypeVar("T")


def _score_part(
    features: pd.DataFrame,
    explanations: str | None,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    absent: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, int]:
    """One partition: :func:`predict.scoring.chunks.score_chunks`, its explanations written to
    their own file."""
    if explanations is None:
        return score_chunks(features, bundles, config, templates, None, None, absent), 0
    with ExplanationWriter(explanations) as writer:
        scores = score_chunks(features, bundles, config, templates, writer, None, absent)
    return scores, writer.rows


def score_features_dask(
    features: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    *,
    explanations_dir: str | os.PathLike[str] | None = None,
    partitions: int = 8,
    client: Client | None = None,
    absent: Mapping[str, Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, int]:
    """:func:`predict.scoring.chunks.score_chunks` on Dask, partition by client.

    ``features``: the scoring snapshot, already aligned with the models (see
    ``predict.scoring.align.add_missing_features``). Returns the outputs and reasons, row for row
    in the order of ``features`` (equal to ``score_chunks``), and the number of explanation
    rows written: with ``explanations_dir``, each partition writes its long explanations to
    ``part-<k>.parquet`` there (a folder all workers can reach), read back as one dataset.
    ``absent``: per target, the model features the data did not give (never cited).
    """
    features = features.reset_index(drop=True)
    part = client_partition(features["client_id"], partitions)
    positions = [np.flatnonzero(part == k) for k in range(partitions)]
    kept = [k for k in range(partitions) if len(positions[k])]
    pieces = [features.iloc[positions[k]].reset_index(drop=True) for k in kept]
    shared = {
        "bundles": dict(bundles),
        "config": config,
        "templates": dict(templates),
        "absent": dict(absent or {}),
    }
    if explanations_dir is None:
        extras: list[tuple[str | None]] = [(None,)] * len(kept)
        results = run_partitions(_score_part, pieces, client, extras=extras, shared=shared)
    else:
        with atomic_dir(explanations_dir) as tmp:  # the folder appears whole, on success
            extras = [(str(tmp / f"part-{k:05d}.parquet"),) for k in kept]
            results = run_partitions(_score_part, pieces, client, extras=extras, shared=shared)
    frames = [r[0].set_axis(positions[k]) for r, k in zip(results, kept, strict=True)]
    if not frames:
        return pd.DataFrame({"client_id": pd.Series([], dtype="str")}), 0
    return pd.concat(frames).sort_index(), sum(r[1] for r in results)


# ---------------------------------------------------------------- from a partitioned dataset


def _score_dataset_part(
    k: int,
    explanations: str | None,
    dataset: str,
    as_of: dt.date,
    features_config: FeaturesConfig,
    names: Sequence[str],
    rates: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
) -> tuple[pd.DataFrame, pd.DataFrame, int, dict[str, list[str]]]:
    """One task: partition ``k`` read by the worker, its features at ``as_of`` (the frozen
    rate reference ``rates``) aligned with the models, scored; explanations to their file."""
    from predict.features.build import build_features
    from predict.scoring.align import add_missing_features
    from predict.scoring.result import ScoringReport

    tables = read_part(dataset, k)
    features = build_features(tables, [as_of], features_config, names, rate_reference=rates)
    report = ScoringReport()
    features = add_missing_features(features, bundles, config.missing_features, report)
    absent = report.missing_features
    if explanations is None:
        return (
            features,
            score_chunks(features, bundles, config, templates, None, None, absent),
            0,
            absent,
        )
    with ExplanationWriter(explanations) as writer:
        scores = score_chunks(features, bundles, config, templates, writer, None, absent)
    return features, scores, writer.rows, absent


def score_dataset(
    dataset: str | os.PathLike[str],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    features_config: FeaturesConfig,
    rate_reference: Mapping[str, object],
    *,
    explanations_dir: str | os.PathLike[str] | None = None,
    client: Client | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Features at ``as_of`` and :func:`predict.scoring.chunks.score_chunks` of every client
    of a partitioned dataset, each task reading its own partition's files.

    ``rate_reference``: the models' frozen reference (``references.json``). Returns the
    features (aligned with the models) and the outputs and reasons, both sorted by client
    (the single-machine order), and the number of explanation rows written: with
    ``explanations_dir``, each partition writes ``part-<k>.parquet`` there (a folder every
    worker can write; it appears whole, only on success).
    """
    from predict.distributed.steps import _dataset_parts, global_feature_names
    from predict.features import rates as frates
    from predict.features.build import with_data_start

    path, parts = _dataset_parts(dataset)
    skeleton = read_skeleton(path)
    shared = {
        "dataset": path,
        "as_of": as_of,
        "features_config": with_data_start(features_config, skeleton),  # the book's start
        "names": global_feature_names(skeleton),
        "rates": frates.frozen_table(rate_reference, [as_of]),
        "bundles": dict(bundles),
        "config": config,
        "templates": dict(templates),
    }
    if explanations_dir is None:
        extras: list[tuple[str | None]] = [(None,)] * len(parts)
        results = run_partitions(_score_dataset_part, parts, client, extras=extras, shared=shared)
    else:
        with atomic_dir(explanations_dir) as tmp:
            extras = [(str(tmp / f"{part_dir(Path(), k).name}.parquet"),) for k in parts]
            results = run_partitions(
                _score_dataset_part, parts, client, extras=extras, shared=shared
            )
    features = concat_parts([r[0] for r in results])
    outputs = pd.concat([r[1] for r in results], ignore_index=True)
    outputs = outputs.sort_values("client_id", kind="stable", ignore_index=True)
    return features, outputs, sum(r[2] for r in results)


def _run_task(
    k: int,
    rows: pd.DataFrame | None,
    explanations: str | None,
    dataset: str,
    task: PartTask[T],
) -> T:
    """One task: partition ``k`` read by the worker, ``task`` run on its tables."""
    return task(read_part(dataset, k), rows, explanations)


def map_dataset(
    dataset: str | os.PathLike[str],
    task: PartTask[T],
    *,
    client: Client | None = None,
    by_client: pd.DataFrame | None = None,
    explanations: str | os.PathLike[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> list[T]:
    """``task(tables, rows, explanations_file)`` on every partition of ``dataset`` holding a
    client, each task reading its own partition (the driver reads only the digest); the
    results in partition order.

    ``by_client`` (a ``client_id`` column) is split by the dataset's client hash, each task
    getting the rows of its own clients (index kept). With ``explanations`` (a file), each
    task gets a file of its own in ``<explanations>.parts/`` (a folder every worker can
    write), combined into ``explanations`` batch by batch afterwards, with ``metadata``.
    """
    from predict.distributed.steps import _dataset_parts

    path, parts = _dataset_parts(dataset)
    pieces: list[pd.DataFrame | None] = [None] * len(parts)
    if by_client is not None:
        partitions = int(read_digest(path)["partitions"])
        where = client_partition(by_client["client_id"].astype("str"), partitions)
        pieces = [by_client[where == k] for k in parts]
    shared = {"dataset": path, "task": task}
    if explanations is None:
        plain: list[tuple[pd.DataFrame | None, str | None]] = [(rows, None) for rows in pieces]
        return run_partitions(_run_task, parts, client, extras=plain, shared=shared)
    target = Path(explanations)
    folder = target.with_name(f"{target.name}.parts")
    with atomic_dir(folder) as tmp:
        extras = [
            (rows, str(tmp / f"{part_dir(Path(), k).name}.parquet"))
            for rows, k in zip(pieces, parts, strict=True)
        ]
        results = run_partitions(_run_task, parts, client, extras=extras, shared=shared)
    combine_explanations(folder, target, metadata)
    return results


def combine_explanations(
    parts_dir: str | os.PathLike[str],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> int:
    """The partitions' explanation files of ``parts_dir`` as one file ``path`` (written
    atomically, batch by batch: memory bounded by a row group; rows in partition order),
    with the run's ``metadata``; ``parts_dir`` is removed after. Returns the rows."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    with ExplanationWriter(path, metadata) as writer:
        for part in sorted(Path(parts_dir).glob("part-*.parquet")):
            for batch in pq.ParquetFile(part).iter_batches():
                writer.write(pa.Table.from_batches([batch]))
    shutil.rmtree(parts_dir)
    return writer.rows
