"""What scoring asks of a cluster (:class:`Cluster`), so that scoring runs on Dask without
importing :mod:`predict.distributed` (which sits above it): the CLI hands
:func:`predict.scoring.run.score_folder` a :data:`ClusterFactory`
(:func:`predict.distributed.cluster.open_cluster`), and :func:`~predict.scoring.run.score_snapshot`
a :class:`Cluster`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring.config import ScoreConfig
from predict.scoring.reasons import ReasonTemplate
from predict.scoring.result import ScoringReport


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


# scheduler address (or "local") and client partitions -> a context giving the cluster
ClusterFactory = Callable[[str, int], AbstractContextManager[Cluster]]
