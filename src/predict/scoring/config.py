"""The scoring settings: the ``score`` section of params.yaml, and reading it from a file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from predict.scoring.drift import DriftConfig
from predict.scoring.grades import GradesConfig
from predict.scoring.reasons import ReasonsConfig
from predict.scoring.relationship import RelationshipConfig
from predict.scoring.value import ValueConfig

log = logging.getLogger(__name__)

MISSING_FEATURE_RULES = ("nan", "error")


@dataclass(frozen=True)
class ScoreConfig:
    """The ``score`` section of params.yaml."""

    chunk_size: int = 50_000  # clients scored, explained and written at a time
    explanations_top_k: int = 0  # 0: every feature with |shap| > 0; k: the k largest per client
    missing_features: str = "nan"  # a model feature absent from the data: nan (warn) or error
    previous: str = "month_end"  # without --previous: month_end (rescore t-1 month) or none
    in_default_feature: str = "ever_defaulted"  # 1 = already in default at the as-of date
    defaulted_probability: float | None = 1.0  # their default probability; null: keep model's
    churn_not_scored_stages: tuple[str, ...] = ("potential", "churned")  # not active at t
    reasons: ReasonsConfig = field(default_factory=ReasonsConfig)
    relationship: RelationshipConfig = field(default_factory=RelationshipConfig)
    value: ValueConfig = field(default_factory=ValueConfig)
    grades: GradesConfig = field(default_factory=GradesConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"score.chunk_size must be >= 1, got {self.chunk_size}")
        if self.missing_features not in MISSING_FEATURE_RULES:
            raise ValueError(f"score.missing_features must be one of {MISSING_FEATURE_RULES}")
        if self.previous not in ("month_end", "none"):
            raise ValueError("score.previous must be 'month_end' or 'none'")


def configs_from_params(params_path: str | os.PathLike[str] | None) -> tuple[ScoreConfig, Any]:
    """``score`` and ``features`` sections of a params file; defaults for what is absent."""
    from predict.config import load_params, load_section
    from predict.features.build import FeaturesConfig

    path = Path(params_path) if params_path is not None else None
    if path is None or not path.is_file():
        log.info("no params file %s: default settings", params_path)
        return ScoreConfig(), FeaturesConfig()
    present = load_params(path)
    score = load_section(path, "score", ScoreConfig) if "score" in present else None
    features = load_section(path, "features", FeaturesConfig) if "features" in present else None
    return score or ScoreConfig(), features or FeaturesConfig()
