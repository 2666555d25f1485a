"""Partitioning by client and running one function per partition on Dask.

The contract tables are split by client into ``partitions`` parts (:func:`partition_tables`:
a stable hash of ``client_id``; a facility balance or terms row goes with its facility's
client): every row of a client lands in the same part, in every process and on every machine.
:func:`run_partitions` runs a function on every part, with a ``distributed.Client`` (a
``LocalCluster`` or a scheduler address: the parts are scattered to the workers) or, without
one, on Dask's local threaded scheduler; :func:`concat_parts` puts the parts' results back in
the single-machine order. The steps run this way are in :mod:`predict.distributed.steps`.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from predict.contract.spec import TABLES

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

T = TypeVar("T")
Tables = Mapping[str, pd.DataFrame]
HASH_KEY = "0123456789123456"  # pandas' SipHash key: the same partition in every process
KEYS = ["client_id", "as_of"]


@dataclass(frozen=True)
class DistributedConfig:
    """How to run on Dask: the number of client partitions and where the scheduler is."""

    partitions: int = 8  # client partitions (tasks); a few per worker core
    scheduler: str | None = None  # a Dask scheduler address, or "local"; None: local threads

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


BY_FACILITY = ("facility_balances", "facility_terms")  # tables keyed by facility, not client


def _facility_clients(name: str, frame: pd.DataFrame, facilities: pd.DataFrame | None) -> pd.Series:
    """The client of each row of table ``name`` (keyed by facility), through ``facilities``;
    orphans are errors."""
    if facilities is None:
        raise ValueError(
            f"table {name}: cannot be partitioned by client without table "
            "facilities (rule: facility_id must exist in facilities)"
        )
    owner = facilities.drop_duplicates("facility_id").set_index("facility_id")["client_id"]
    clients = frame["facility_id"].map(owner)
    orphan = clients.isna()
    if orphan.any():
        first = frame.loc[orphan, "facility_id"].iloc[0]
        raise ValueError(
            f"table {name}, column facility_id: {int(orphan.sum())} row(s) with a "
            f"facility absent from facilities, e.g. facility_id={first!r} (rule: foreign key "
            "to facilities.facility_id); validate the tables first"
        )
    return clients


def row_clients(tables: Tables) -> dict[str, pd.Series]:
    """The client id of every row of every table (what the partitioning hashes)."""
    keys: dict[str, pd.Series] = {}
    for name, frame in tables.items():
        if name in BY_FACILITY:
            keys[name] = _facility_clients(name, frame, tables.get("facilities"))
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

    if config.scheduler == LOCAL:
        with local_cluster() as client:
            yield client
        return
    client = Client(config.scheduler)
    try:
        logger.info("dask scheduler %s: %d worker(s)", config.scheduler, _workers(client))
        yield client
    finally:
        client.close()


LOCAL = "local"  # a scheduler setting: a LocalCluster on this machine, for the run


@contextmanager
def local_cluster() -> Iterator[Client]:
    """A client of a LocalCluster started here: one single-threaded worker process per core
    (DuckDB and LightGBM bring their own threads), closed on exit."""
    from distributed import Client, LocalCluster

    workers = max(1, os.cpu_count() or 1)
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        logger.info("dask LocalCluster: %d worker(s)", workers)
        yield client


def _workers(client: Client) -> int:
    return len(client.scheduler_info().get("workers", {}))


def with_clients(parts: Sequence[dict[str, pd.DataFrame]], tables: Tables) -> list[Tables]:
    """The partitions holding clients (the others give no feature or label row); the whole
    tables if none does, so that an empty or clientless input fails or succeeds as on one
    machine."""
    kept: list[Tables] = [p for p in parts if len(p.get("clients", ())) > 0]
    return kept or [tables]


def concat_parts(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Parts' results as one frame sorted by client and as-of (the single-machine order)."""
    kept = [f for f in frames if len(f)] or list(frames[:1])
    out = pd.concat(kept, ignore_index=True)
    return out.sort_values(KEYS, kind="stable", ignore_index=True)


__all__ = [
    "KEYS",
    "DistributedConfig",
    "Tables",
    "client_partition",
    "concat_parts",
    "dask_client",
    "partition_tables",
    "row_clients",
    "run_partitions",
    "with_clients",
]
