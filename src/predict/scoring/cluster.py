"""What scoring asks of a cluster (:class:`Cluster`), so that scoring runs on Dask without
importing :mod:`predict.distributed` (which sits above it): the CLI hands
:func:`predict.scoring.run.score_folder` a :data:`ClusterFactory`
(:func:`predict.distributed.cluster.open_cluster`), and :func:`~predict.scoring.run.score_snapshot`
a :class:`Cluster`.

From a partitioned dataset (a folder with :data:`DATASET_DIGEST`, written by ``predict
partition``) the driver reads only its skeleton (:meth:`Cluster.read_skeleton`) and runs
every per-client step as a :data:`PartTask` on the workers (:meth:`Cluster.map_parts`),
each reading its own partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring.config import ScoreConfig
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.result import ScoringReport

T = TypeVar("T")

DATASET_DIGEST = "digest.json"  # the file that makes a folder a partitioned dataset

# One partition's task, run on a worker: (the partition's tables, the rows of ``by_client``
# whose clients the partition holds or None, the file its explanations go to or None).
PartTask = Callable[[Mapping[str, pd.DataFrame], pd.DataFrame | None, str | None], T]


def is_dataset(path: str | Path) -> bool:
    """Whether ``path`` is a partitioned dataset (``predict partition``'s output)."""
    return (Path(path) / DATASET_DIGEST).is_file()


class Cluster(Protocol):
    """The per-client steps of a scoring run on a cluster; results equal one machine's."""

    def build_features(
        self,
        tables: Mapping[str, pd.DataFrame],
        dates: list[dt.date],
        features_config: Any,
        rate_reference: pd.DataFrame,
    ) -> pd.DataFrame:
        """The feature table at ``dates`` (as :func:`predict.features.build.build_features`)."""
        ...

    def score(
        self,
        features: pd.DataFrame,
        bundles: Mapping[str, ModelBundle],
        config: ScoreConfig,
        templates: Mapping[str, ReasonTemplate],
        out_dir: Path,
        meta: Mapping[str, str] | None,
        report: ScoringReport,
    ) -> tuple[pd.DataFrame, int]:
        """Outputs and reasons per client (as :func:`predict.scoring.chunks.score_chunks`),
        ``explanations.parquet`` written into ``out_dir``; and its row count."""
        ...

    def read_skeleton(self, dataset: Path) -> dict[str, pd.DataFrame]:
        """The partitioned ``dataset``'s skeleton: each table's column minima and maxima, typed
        as the contract (which tables and columns hold a value, the first and last dates)."""
        ...

    def map_parts(
        self,
        dataset: Path,
        task: PartTask[T],
        by_client: pd.DataFrame | None = None,
        explanations: Path | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> list[T]:
        """``task`` on every partition of ``dataset`` holding a client, each read by the worker
        that runs it; the results in partition order. ``by_client`` (with ``client_id``) is
        split by partition, each task getting its clients' rows. With ``explanations`` (a
        file), each task writes its partition's explanations to a file of its own, combined
        into that one file afterwards (with the Parquet ``meta``)."""
        ...


# scheduler address (or "local") and client partitions -> a context giving the cluster
ClusterFactory = Callable[[str, int], AbstractContextManager[Cluster]]
