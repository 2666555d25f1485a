"""The scoring settings: the ``score`` section of params.yaml, and reading it from a file."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predict.scoring.dimensions import DimensionsConfig
from predict.scoring.drift import DriftConfig
from predict.scoring.explain import DEFAULT_TABLE_MIB, SHAP_ENGINES
from predict.scoring.grades import GradesConfig
from predict.scoring.reasons import ReasonsConfig
from predict.scoring.relationship import RelationshipConfig
from predict.scoring.value import ValueConfig

log = logging.getLogger(__name__)

MISSING_FEATURE_RULES = ("nan", "error")
UNSUPPORTED_RULES = ("stop", "missing")


@dataclass(frozen=True)
class ScoreConfig:
    """The ``score`` section of params.yaml."""

    chunk_size: int = 50_000  # clients scored, explained and written at a time
    explanations_top_k: int = 0  # 0: every feature with |shap| > 0; k: the k largest per client
    shap_engine: str = "tables"  # TreeSHAP by precomputed leaf tables, or lightgbm pred_contrib
    shap_table_mib: float = DEFAULT_TABLE_MIB  # leaf tables per model; larger: lightgbm for it
    missing_features: str = "nan"  # a model feature absent from the data: nan (warn) or error
    # A model with more than this share of its gain from features the data cannot give
    # (source tables absent, empty or fully quarantined) is not applied (scoring/support.py)...
    max_unavailable_gain: float = 0.05
    unsupported: str = "stop"  # ...and the run stops (stop) or leaves its target missing
    previous: str = "month_end"  # without --previous: month_end (rescore t-1 month) or none
    in_default_feature: str = "in_default"  # 1 = in default at the as-of date
    defaulted_probability: float | None = 1.0  # their default probability; null: missing
    exposure_feature: str = "has_exposure"  # 0 = no exposure at t: no default probability
    churn_not_scored_stages: tuple[str, ...] = ("potential", "churned")  # not active at t
    reasons: ReasonsConfig = field(default_factory=ReasonsConfig)
    relationship: RelationshipConfig = field(default_factory=RelationshipConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    grades: GradesConfig = field(default_factory=GradesConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    dimensions: DimensionsConfig = field(default_factory=DimensionsConfig)
    # Per-client scoring (features, outputs, TreeSHAP, reasons) on Dask: null = this machine;
    # "local" = a LocalCluster started for the run; else a scheduler address (tcp://host:8786).
    distributed: str | None = None
    partitions: int = 8  # client partitions of the distributed scoring
    # A partitioned dataset's scores are merged from the partitions' files on the driver
    # reading this many rows of each at a time (its memory: about this x partitions rows).
    merge_batch_rows: int = 1_024

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"score.chunk_size must be >= 1, got {self.chunk_size}")
        if self.shap_engine not in SHAP_ENGINES:
            raise ValueError(
                f"score.shap_engine must be one of {SHAP_ENGINES}, got {self.shap_engine!r}"
            )
        mib = self.shap_table_mib
        if not (isinstance(mib, int | float) and math.isfinite(mib) and mib > 0):
            raise ValueError(
                f"score.shap_table_mib must be a number > 0 (MiB), got {self.shap_table_mib!r}"
            )
        if self.missing_features not in MISSING_FEATURE_RULES:
            raise ValueError(f"score.missing_features must be one of {MISSING_FEATURE_RULES}")
        if self.unsupported not in UNSUPPORTED_RULES:
            raise ValueError(f"score.unsupported must be one of {UNSUPPORTED_RULES}")
        if not 0.0 <= self.max_unavailable_gain < 1.0:
            raise ValueError("score.max_unavailable_gain must be in [0, 1)")
        if self.previous not in ("month_end", "none"):
            raise ValueError("score.previous must be 'month_end' or 'none'")
        if self.partitions < 1:
            raise ValueError(f"score.partitions must be >= 1, got {self.partitions}")
        if self.merge_batch_rows < 1:
            raise ValueError(f"score.merge_batch_rows must be >= 1, got {self.merge_batch_rows}")
        if self.distributed is not None and not self.distributed.strip():
            raise ValueError(
                "score.distributed must be null, 'local' or a Dask scheduler address, got ''"
            )


def configs_from_params(params_path: str | os.PathLike[str] | None) -> tuple[ScoreConfig, Any]:
    """``score`` and ``features`` sections of a params file (both must be there: the
    features are built as in training); None: the built-in defaults of both.

    Raises :class:`predict.config.ConfigError` for a missing file or section.
    """
    from predict.config import load_section
    from predict.features.build import FeaturesConfig

    if params_path is None:
        log.info("no params file: default settings")
        return ScoreConfig(), FeaturesConfig()
    path = Path(params_path)
    return load_section(path, "score", ScoreConfig), load_section(path, "features", FeaturesConfig)
