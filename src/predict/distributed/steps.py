"""Features and labels on Dask, partition by partition (scoring: :mod:`.scoring`).

Where the portfolio outgrows one machine, the contract tables are split by client
(:func:`predict.distributed.partitions.partition_tables`) and the single-machine functions
run unchanged on each part: :func:`predict.features.build.build_features`,
:func:`predict.features.labels.build_labels`, :func:`predict.scoring.chunks.score_chunks`.
Every label and almost every feature of a client reads only that client's rows, so the parts
are independent. What depends on the whole data is decided once, before the split, and
handed to every part: the as-of dates, the data end, the scoring as-of, the list of features
(a part whose optional column happens to be empty still gets that feature, all missing, as
the whole book would) and the tables of :data:`BOOK_TABLES`, whole (``rate_spread_*``
compare a facility's rate with the book's facilities of the same product and month; the
statement still reads only its own clients' facilities for everything else). The parts'
results are concatenated and sorted as the single-machine result: the two are equal.
See ``docs/scaling.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from predict.distributed.dataset import (
    DIGEST,
    parts_with_clients,
    read_digest,
    read_part,
    read_skeleton,
)
from predict.distributed.dataset import frozen_rate_reference as dataset_frozen_reference
from predict.distributed.dataset import rate_reference as dataset_rate_reference
from predict.distributed.partitions import (
    KEYS,
    DistributedConfig,
    Tables,
    concat_parts,
    dask_client,
    partition_tables,
    run_partitions,
    with_clients,
)
from predict.features import rates as frates
from predict.features.build import (
    FeaturesConfig,
    FeatureTable,
    available_features,
    build_features,
    load_tables,
    summarise,
    with_data_start,
)
from predict.features.labels import LabelConfig, apply_populations, build_labels
from predict.features.snapshots import as_of_dates, resolve_data_end
from predict.io import write_json, write_parquet

if TYPE_CHECKING:
    from distributed import Client


logger = logging.getLogger(__name__)

# Tables every features part reads whole (small: about one row per facility), for the
# features that compare a client with the book (the rate reference of rate_spread_open/_all,
# from each facility's rate at origination: its terms history).
BOOK_TABLES = ("facilities", "facility_terms")


# ---------------------------------------------------------------- features and labels


def global_feature_names(tables: Tables, names: Sequence[str] | None = None) -> list[str]:
    """The features every part computes: ``names``, or those the *whole* data can give."""
    if names is not None:
        return list(names)
    kept, left_out = available_features(tables)
    if left_out:
        logger.info("%d features left out (inputs absent): %s", len(left_out), sorted(left_out))
    return kept


def build_features_dask(
    tables: Tables,
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig | None = None,
    names: Sequence[str] | None = None,
    *,
    partitions: int = 8,
    client: Client | None = None,
    rate_reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`predict.features.build.build_features` on Dask, partition by client; same result
    (the rate reference, when not given, point in time from the whole book)."""
    config = with_data_start(config or FeaturesConfig(), tables)  # the book's, not a part's
    if rate_reference is None:
        rate_reference = frates.point_in_time(tables, as_of_dates)
    feature_names = global_feature_names(tables, names)
    start = time.perf_counter()
    parts = with_clients(partition_tables(tables, partitions), tables)
    shared = {
        "as_of_dates": sorted(set(as_of_dates)),
        "config": config,
        "names": feature_names,
        "book": book_tables(tables),
        "rates": rate_reference,
    }
    frame = concat_parts(run_partitions(_features, parts, client, shared=shared))
    logger.info(
        "features on dask: %d rows from %d partitions in %.1f s",
        len(frame),
        partitions,
        time.perf_counter() - start,
    )
    return frame


def book_tables(tables: Tables) -> dict[str, pd.DataFrame]:
    """The tables of :data:`BOOK_TABLES` present in ``tables`` (sent once to every worker)."""
    return {name: tables[name] for name in BOOK_TABLES if name in tables}


def _features(
    tables: Tables,
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig,
    names: Sequence[str],
    book: Tables,
    rates: pd.DataFrame,
) -> pd.DataFrame:
    """One partition's features: its own tables, with the whole book's :data:`BOOK_TABLES`,
    and the rate reference of the whole book (``rates``, ``rate_ref_t``)."""
    return build_features({**tables, **book}, as_of_dates, config, names, rate_reference=rates)


def _features_and_labels(
    tables: Tables,
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig,
    names: Sequence[str],
    labels: LabelConfig,
    book: Tables,
    rates: pd.DataFrame,
) -> pd.DataFrame:
    """One partition: features and labels, joined as in ``build_feature_table``."""
    features = _features(tables, as_of_dates, config, names, book, rates)
    found = build_labels(tables, as_of_dates, labels)
    frame = features.merge(found, on=KEYS, how="left", validate="1:1")
    if len(found) != len(features):
        raise RuntimeError("features and labels disagree on the (client_id, as_of) rows")
    apply_populations(frame)
    return frame


def build_feature_table_dask(
    tables: Tables, config: FeaturesConfig, *, partitions: int = 8, client: Client | None = None
) -> FeatureTable:
    """:func:`predict.features.build.build_feature_table` on Dask: equal frame and summary.

    The as-of calendar, the data end (for the labels' censoring) and the feature list come
    from the whole data; each partition gets them fixed.
    """
    dates = as_of_dates(tables, config.as_of)
    end = resolve_data_end(tables, config.data_end)
    config = with_data_start(config, tables)
    shared = {
        "as_of_dates": dates,
        "config": config,
        "names": global_feature_names(tables),
        "labels": dataclasses.replace(config.labels, data_end=end),
        "book": book_tables(tables),
        "rates": frates.point_in_time(tables, dates),
    }
    parts = with_clients(partition_tables(tables, partitions), tables)
    frame = concat_parts(run_partitions(_features_and_labels, parts, client, shared=shared))
    return FeatureTable(frame, summarise(tables, frame, dates, config))


# ---------------------------------------------------------------- from a partitioned dataset


def _part_features(
    k: int,
    dataset: str,
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig,
    names: Sequence[str],
    rates: pd.DataFrame,
    labels: LabelConfig | None = None,
) -> pd.DataFrame:
    """One task: partition ``k`` read by the worker from ``dataset``; its features (and
    labels, joined as in ``build_feature_table``, when ``labels`` is given)."""
    tables = read_part(dataset, k)
    if labels is None:
        return _features(tables, as_of_dates, config, names, {}, rates)
    return _features_and_labels(tables, as_of_dates, config, names, labels, {}, rates)


def _dataset_parts(dataset: str | os.PathLike[str]) -> tuple[str, list[int]]:
    """The dataset's absolute path (what the tasks get) and its partitions with clients."""
    parts = parts_with_clients(read_digest(dataset))
    if not parts:
        raise ValueError(f"{dataset}: no partition holds a client (table clients is empty)")
    return str(Path(dataset).resolve()), parts


def build_features_dataset(
    dataset: str | os.PathLike[str],
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig | None = None,
    names: Sequence[str] | None = None,
    *,
    client: Client | None = None,
    rate_reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`predict.features.build.build_features` of the whole book from a partitioned
    dataset (:mod:`predict.distributed.dataset`): each task gets a partition number and
    reads its own files; the driver reads the digest, the skeleton and the rated facilities."""
    path, parts = _dataset_parts(dataset)
    config = with_data_start(config or FeaturesConfig(), read_skeleton(path))
    if rate_reference is None:
        rate_reference = dataset_rate_reference(path, list(as_of_dates))
    shared = {
        "dataset": path,
        "as_of_dates": sorted(set(as_of_dates)),
        "config": config,
        "names": global_feature_names(read_skeleton(path), names),
        "rates": rate_reference,
    }
    return concat_parts(run_partitions(_part_features, parts, client, shared=shared))


def build_feature_table_dataset(
    dataset: str | os.PathLike[str], config: FeaturesConfig, *, client: Client | None = None
) -> FeatureTable:
    """:func:`predict.features.build.build_feature_table` from a partitioned dataset: the
    same frame and summary, the book-wide decisions taken on the dataset's skeleton."""
    path, parts = _dataset_parts(dataset)
    skeleton = read_skeleton(path)
    dates = as_of_dates(skeleton, config.as_of)
    end = resolve_data_end(skeleton, config.data_end)
    config = with_data_start(config, skeleton)
    shared = {
        "dataset": path,
        "as_of_dates": dates,
        "config": config,
        "names": global_feature_names(skeleton),
        "rates": dataset_rate_reference(path, dates),
        "labels": dataclasses.replace(config.labels, data_end=end),
    }
    frame = concat_parts(run_partitions(_part_features, parts, client, shared=shared))
    return FeatureTable(frame, summarise(skeleton, frame, dates, config))


def run(
    input_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    config: FeaturesConfig,
    dask_config: DistributedConfig,
    client: Client | None = None,
) -> FeatureTable:
    """The ``features`` stage on Dask: the same features.parquet and snapshots.json.

    ``client``: an open client; else one to ``dask_config.scheduler`` (or local threads).
    """
    start = time.perf_counter()
    dataset = (Path(input_dir) / DIGEST).is_file()  # a partitioned dataset: workers read it
    tables = read_skeleton(input_dir) if dataset else load_tables(input_dir)
    with nullcontext(client) if client is not None else dask_client(dask_config) as active:
        if dataset:
            result = build_feature_table_dataset(input_dir, config, client=active)
        else:
            result = build_feature_table_dask(
                tables, config, partitions=dask_config.partitions, client=active
            )
    out = Path(out_path)
    write_parquet(result.frame, out)
    write_json(result.summary, out.with_name("snapshots.json"))
    known_at = max(as_of_dates(tables, config.as_of))
    if dataset:
        reference = dataset_frozen_reference(input_dir, known_at)
    else:
        reference = frates.freeze(tables, known_at)
    write_json(reference, out.with_name(frates.REFERENCE_FILE))
    logger.info(
        "wrote %s: %d rows, %d partitions on %s, %.1f s",
        out,
        len(result.frame),
        dask_config.partitions,
        dask_config.scheduler or "local threads",
        time.perf_counter() - start,
    )
    return result


def feature_builder(
    config: FeaturesConfig,
    *,
    rate_reference: Mapping[str, Any],
    partitions: int = 8,
    client: Client | None = None,
) -> Callable[[Tables, list[dt.date]], pd.DataFrame]:
    """A ``build`` for :func:`predict.scoring.run.score_snapshot` that builds features on
    Dask with the models' frozen ``rate_reference`` (:func:`predict.features.rates.freeze`)."""

    def build(tables: Tables, dates: list[dt.date]) -> pd.DataFrame:
        frozen = frates.frozen_table(rate_reference, dates)
        return build_features_dask(
            tables, dates, config, partitions=partitions, client=client, rate_reference=frozen
        )

    return build


__all__ = [
    "BOOK_TABLES",
    "book_tables",
    "build_feature_table_dask",
    "build_feature_table_dataset",
    "build_features_dask",
    "build_features_dataset",
    "feature_builder",
    "run",
]
