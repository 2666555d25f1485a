"""The Dask implementation of :class:`predict.scoring.cluster.Cluster`: features and the
per-client scoring partition by client (:mod:`.steps`, :mod:`.scoring`), explanations
written per partition by the workers and combined into one file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from predict.distributed.dataset import read_digest, read_skeleton
from predict.distributed.partitions import DistributedConfig, dask_client
from predict.distributed.scoring import combine_explanations, map_dataset, score_features_dask
from predict.distributed.steps import build_features_dask
from predict.models.store import ModelBundle
from predict.scoring.cluster import PartTask
from predict.scoring.config import ScoreConfig
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.result import ScoringReport

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")


@dataclass(frozen=True)
class DaskCluster:
    """A Dask client and the number of client partitions to cut the work into."""

    client: Client
    partitions: int

    def build_features(
        self,
        tables: Mapping[str, pd.DataFrame],
        dates: list[dt.date],
        features_config: Any,
        rate_reference: pd.DataFrame,
    ) -> pd.DataFrame:
        return build_features_dask(
            tables, dates, features_config, partitions=self.partitions, client=self.client,
            rate_reference=rate_reference,
        )  # fmt: skip

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
        """:func:`score_chunks` partition by client; the partitions' explanation files (written
        by the workers into ``out_dir``, a folder they must reach) combined into
        ``explanations.parquet``."""
        parts = out_dir / "explanations.parts"
        outputs, rows = score_features_dask(
            features, bundles, config, templates, explanations_dir=parts,
            partitions=self.partitions, client=self.client, absent=report.missing_features,
        )  # fmt: skip
        combined = combine_explanations(parts, out_dir / "explanations.parquet", meta)
        if combined != rows:
            raise RuntimeError(
                f"explanations: {rows} rows written by the workers, {combined} combined"
            )
        return outputs, rows

    def read_skeleton(self, dataset: Path) -> dict[str, pd.DataFrame]:
        read_digest(dataset)  # a dataset of this format, or a clear error
        return read_skeleton(dataset)

    def map_parts(
        self,
        dataset: Path,
        task: PartTask[T],
        by_client: pd.DataFrame | None = None,
        explanations: Path | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> list[T]:
        """:func:`.scoring.map_dataset` on this cluster."""
        return map_dataset(dataset, task, client=self.client, by_client=by_client,
                           explanations=explanations, metadata=meta)  # fmt: skip


@contextmanager
def open_cluster(scheduler: str, partitions: int) -> Iterator[DaskCluster]:
    """A :class:`DaskCluster` on ``scheduler`` (an address, or ``local``: a LocalCluster
    started for the run and closed after it)."""
    with dask_client(DistributedConfig(partitions, scheduler)) as client:
        if client is None:
            raise ValueError(f"no Dask client for scheduler {scheduler!r}")
        yield DaskCluster(client, partitions)
