"""The per-client steps on Dask: features, labels and scoring, partition by partition.

Where the portfolio outgrows one machine, the contract tables are split by client into
``partitions`` parts (:func:`partition_tables`: a stable hash of ``client_id``; a facility
balance goes with its facility's client), and the single-machine functions run unchanged on
each part: :func:`predict.features.build.build_features`,
:func:`predict.features.labels.build_labels`, :func:`predict.scoring.chunks.score_chunks`.
Every label and almost every feature of a client reads only that client's rows, so the parts
are independent. What depends on the whole data is decided once, before the split, and
handed to every part: the as-of dates, the data end, the scoring as-of, the list of features
(a part whose optional column happens to be empty still gets that feature, all missing, as
the whole book would) and the tables of :data:`BOOK_TABLES`, whole (``rate_spread_*``
compare a facility's rate with the book's facilities of the same product and month; the
statement still reads only its own clients' facilities for everything else). The parts'
results are concatenated and sorted as the single-machine result: the two are equal.

With a ``distributed.Client`` (a ``LocalCluster`` or a scheduler address) the parts are
scattered to the workers and computed there; without one, Dask's local threaded scheduler
runs them (DuckDB releases the GIL). See ``docs/scaling.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from predict.contract.spec import TABLES
from predict.features.build import (
    FeaturesConfig,
    FeatureTable,
    available_features,
    build_features,
    load_tables,
    summarise,
)
from predict.features.labels import LabelConfig, build_labels
from predict.features.snapshots import as_of_dates, resolve_data_end
from predict.io import atomic_dir, write_json, write_parquet

if TYPE_CHECKING:
    from distributed import Client

    from predict.models.store import ModelBundle
    from predict.scoring.config import ScoreConfig
    from predict.scoring.reasons import ReasonTemplate

logger = logging.getLogger(__name__)

T = TypeVar("T")
Tables = Mapping[str, pd.DataFrame]
# Tables every features part reads whole (small: one row per facility), for the features
# that compare a client with the book (the rate reference of rate_spread_open/_all).
BOOK_TABLES = ("facilities",)
HASH_KEY = "0123456789123456"  # pandas' SipHash key: the same partition in every process
KEYS = ["client_id", "as_of"]


@dataclass(frozen=True)
class DistributedConfig:
    """How to run on Dask: the number of client partitions and where the scheduler is."""

    partitions: int = 8  # client partitions (tasks); a few per worker core
    scheduler: str | None = None  # address of a Dask scheduler; None: local threads

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {self.partitions}")


# ---------------------------------------------------------------- partitioning by client


def client_partition(client_ids: pd.Series, partitions: int) -> np.ndarray:
    """Partition number (0 .. partitions-1) of each client id: a hash stable across runs,
    processes and machines (SipHash with a fixed key), not Python's salted ``hash``."""
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    values = np.asarray(client_ids, dtype=object)
    hashed = pd.util.hash_array(values, hash_key=HASH_KEY, categorize=True)
    return (hashed % np.uint64(partitions)).astype(np.int64)


def _balance_clients(balances: pd.DataFrame, facilities: pd.DataFrame | None) -> pd.Series:
    """The client of each facility balance row, through ``facilities``; orphans are errors."""
    if facilities is None:
        raise ValueError(
            "table facility_balances: cannot be partitioned by client without table "
            "facilities (rule: facility_id must exist in facilities)"
        )
    owner = facilities.drop_duplicates("facility_id").set_index("facility_id")["client_id"]
    clients = balances["facility_id"].map(owner)
    orphan = clients.isna()
    if orphan.any():
        first = balances.loc[orphan, "facility_id"].iloc[0]
        raise ValueError(
            f"table facility_balances, column facility_id: {int(orphan.sum())} row(s) with a "
            f"facility absent from facilities, e.g. facility_id={first!r} (rule: foreign key "
            "to facilities.facility_id); validate the tables first"
        )
    return clients


def row_clients(tables: Tables) -> dict[str, pd.Series]:
    """The client id of every row of every table (what the partitioning hashes)."""
    keys: dict[str, pd.Series] = {}
    for name, frame in tables.items():
        if name == "facility_balances":
            keys[name] = _balance_clients(frame, tables.get("facilities"))
        elif name in TABLES and "client_id" in TABLES[name].column_names:
            keys[name] = frame["client_id"]
        else:
            raise ValueError(f"table {name}: not a contract table keyed by client")
        missing = keys[name].isna()
        if missing.any():
            raise ValueError(
                f"table {name}, column client_id: {int(missing.sum())} row(s) without a client "
                f"(row {int(np.flatnonzero(missing.to_numpy())[0])}; rule: required)"
            )
    return keys


def _split(frame: pd.DataFrame, part: np.ndarray, partitions: int) -> list[pd.DataFrame]:
    """``frame`` cut into ``partitions`` frames by ``part`` (row order kept within each)."""
    order = np.argsort(part, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=partitions))])
    return [
        frame.iloc[order[bounds[k] : bounds[k + 1]]].reset_index(drop=True)
        for k in range(partitions)
    ]


def partition_tables(tables: Tables, partitions: int) -> list[dict[str, pd.DataFrame]]:
    """The tables split by client: part k holds every row of the clients hashed to k.

    Every part has every table (possibly empty, same columns and dtypes). No row is lost or
    repeated: the rows of the parts add up to the input's, table by table (checked).
    """
    keys = row_clients(tables)
    parts: list[dict[str, pd.DataFrame]] = [{} for _ in range(partitions)]
    for name, frame in tables.items():
        pieces = _split(frame, client_partition(keys[name], partitions), partitions)
        if sum(len(p) for p in pieces) != len(frame):
            raise RuntimeError(f"table {name}: partitioning lost or repeated rows")
        for k, piece in enumerate(pieces):
            parts[k][name] = piece
    return parts


# ---------------------------------------------------------------- running on Dask


def _apply(func: Callable[..., T], part: Any, extra: tuple[Any, ...], shared: Any) -> T:
    """One task: ``func`` on one partition (runs on a worker)."""
    return func(part, *extra, **shared)


def run_partitions(
    func: Callable[..., T],
    parts: Sequence[Any],
    client: Client | None = None,
    *,
    extras: Sequence[tuple[Any, ...]] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> list[T]:
    """``func(part, *extra, **shared)`` for every part, on Dask; results in part order.

    With ``client`` the parts are scattered to the workers (not put in the task graph) and
    ``shared`` (settings, models) is sent once to every worker; else Dask's threads run it.
    """
    extras = list(extras) if extras is not None else [()] * len(parts)
    if len(extras) != len(parts):
        raise ValueError(f"{len(extras)} extra argument tuples for {len(parts)} partitions")
    common = dict(shared or {})
    if client is None:
        import dask

        def lazy(obj: Any) -> Any:  # a literal in the graph: neither traversed nor hashed
            return dask.delayed(obj, traverse=False, pure=False)

        shared_d = lazy(common)
        tasks = [
            dask.delayed(_apply, pure=False)(func, lazy(p), e, shared_d)
            for p, e in zip(parts, extras, strict=True)
        ]
        return list(dask.compute(*tasks, scheduler="threads"))
    data = client.scatter(list(parts), hash=False)
    [common_f] = client.scatter([common], broadcast=True, hash=False)
    futures = client.map(functools.partial(_apply, func), data, extras, [common_f] * len(parts))
    try:
        return list(client.gather(futures))
    finally:
        client.cancel([*futures, *data, common_f])


@contextmanager
def dask_client(config: DistributedConfig) -> Iterator[Client | None]:
    """A client of the scheduler at ``config.scheduler`` (closed on exit); None for local."""
    if config.scheduler is None:
        yield None
        return
    from distributed import Client

    client = Client(config.scheduler)
    try:
        logger.info("dask scheduler %s: %d worker(s)", config.scheduler, _workers(client))
        yield client
    finally:
        client.close()


def _workers(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def with_clients(parts: Sequence[dict[str, pd.DataFrame]], tables: Tables) -> list[Tables]:
    """The partitions holding clients (the others give no feature or label row); the whole
    tables if none does, so that an empty or clientless input fails or succeeds as on one
    machine."""
    kept: list[Tables] = [p for p in parts if len(p.get("clients", ())) > 0]
    return kept or [tables]


def _concat(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Parts' results as one frame sorted by client and as-of (the single-machine order)."""
    kept = [f for f in frames if len(f)] or list(frames[:1])
    out = pd.concat(kept, ignore_index=True)
    return out.sort_values(KEYS, kind="stable", ignore_index=True)


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
) -> pd.DataFrame:
    """:func:`predict.features.build.build_features` on Dask, partition by client; same result."""
    config = config or FeaturesConfig()
    feature_names = global_feature_names(tables, names)
    start = time.perf_counter()
    parts = with_clients(partition_tables(tables, partitions), tables)
    shared = {
        "as_of_dates": sorted(set(as_of_dates)),
        "config": config,
        "names": feature_names,
        "book": book_tables(tables),
    }
    frame = _concat(run_partitions(_features, parts, client, shared=shared))
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
) -> pd.DataFrame:
    """One partition's features: its own tables, with the whole book's :data:`BOOK_TABLES`
    (their other clients' rows are read only by the book-wide references)."""
    return build_features({**tables, **book}, as_of_dates, config, names)


def _features_and_labels(
    tables: Tables,
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig,
    names: Sequence[str],
    labels: LabelConfig,
    book: Tables,
) -> pd.DataFrame:
    """One partition: features and labels, joined as in ``build_feature_table``."""
    features = _features(tables, as_of_dates, config, names, book)
    found = build_labels(tables, as_of_dates, labels)
    frame = features.merge(found, on=KEYS, how="left", validate="1:1")
    if len(found) != len(features):
        raise RuntimeError("features and labels disagree on the (client_id, as_of) rows")
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
    shared = {
        "as_of_dates": dates,
        "config": config,
        "names": global_feature_names(tables),
        "labels": dataclasses.replace(config.labels, data_end=end),
        "book": book_tables(tables),
    }
    parts = with_clients(partition_tables(tables, partitions), tables)
    frame = _concat(run_partitions(_features_and_labels, parts, client, shared=shared))
    return FeatureTable(frame, summarise(tables, frame, dates, config))


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
    tables = load_tables(input_dir)
    start = time.perf_counter()
    with nullcontext(client) if client is not None else dask_client(dask_config) as active:
        result = build_feature_table_dask(
            tables, config, partitions=dask_config.partitions, client=active
        )
    out = Path(out_path)
    write_parquet(result.frame, out)
    write_json(result.summary, out.with_name("snapshots.json"))
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
    config: FeaturesConfig, *, partitions: int = 8, client: Client | None = None
) -> Callable[[Tables, list[dt.date]], pd.DataFrame]:
    """A ``build`` for :func:`predict.scoring.run.score_snapshot` that builds features on Dask."""

    def build(tables: Tables, dates: list[dt.date]) -> pd.DataFrame:
        return build_features_dask(tables, dates, config, partitions=partitions, client=client)

    return build


# ---------------------------------------------------------------- scoring


def _score_part(
    features: pd.DataFrame,
    explanations: str | None,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
) -> tuple[pd.DataFrame, int]:
    """One partition: :func:`predict.scoring.chunks.score_chunks`, its explanations written to
    their own file."""
    from predict.scoring.chunks import score_chunks
    from predict.scoring.explain import ExplanationWriter

    if explanations is None:
        return score_chunks(features, bundles, config, templates), 0
    with ExplanationWriter(explanations) as writer:
        scores = score_chunks(features, bundles, config, templates, writer)
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
) -> tuple[pd.DataFrame, int]:
    """:func:`predict.scoring.chunks.score_chunks` on Dask, partition by client.

    ``features``: the scoring snapshot, already aligned with the models (see
    ``predict.scoring.align.add_missing_features``). Returns the outputs and reasons, row for row
    in the order of ``features`` (equal to ``score_chunks``), and the number of explanation
    rows written: with ``explanations_dir``, each partition writes its long explanations to
    ``part-<k>.parquet`` there (a folder all workers can reach), read back as one dataset.
    """
    features = features.reset_index(drop=True)
    part = client_partition(features["client_id"], partitions)
    positions = [np.flatnonzero(part == k) for k in range(partitions)]
    kept = [k for k in range(partitions) if len(positions[k])]
    pieces = [features.iloc[positions[k]].reset_index(drop=True) for k in kept]
    shared = {"bundles": dict(bundles), "config": config, "templates": dict(templates)}
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


__all__ = [
    "BOOK_TABLES",
    "DistributedConfig",
    "book_tables",
    "build_feature_table_dask",
    "build_features_dask",
    "client_partition",
    "dask_client",
    "feature_builder",
    "partition_tables",
    "row_clients",
    "run",
    "run_partitions",
    "score_features_dask",
]
