"""The contribution model's offset: recent revenue carried forward, on the log scale.

With ``train.contribution.offset: {feature, months, scale}`` the Tweedie model (log link) is
fitted on top of a known starting point instead of a constant:

    offset(x) = log1p(scale * max(x[feature], 0))      (a missing value counts as 0)
    expected contribution = calibrator(exp(offset(x) + booster_raw(x)))

``feature`` is a catalogue feature holding the revenue of the last ``months`` months (default
``revenue_3m``, 3 months), ``scale`` turns it into the horizon's amount (``auto`` =
``features.horizon_months / months``: 12 / 3 = 4 for a 12-month horizon; a number given
wins). ``exp(offset) = 1 + scale * revenue``: the booster learns the log-ratio of the next
horizon's revenue to "recent revenue carried forward (plus one)". The offset is LightGBM's
``init_score`` of the training and validation rows, and :class:`predict.models.store.ModelBundle`
adds it to the booster's raw score before the link wherever the model predicts, so
scoring, evaluation and the MLflow model agree. The output is ``exp(...) >= 0`` times a
positive calibration factor: never negative.

The model folder records it (``metadata.json`` ``offset``: feature, scale, kind), covered
by the manifest's digest. SHAP values (``pred_contrib``) do not include it: explanations
carry it as one row of its own (:data:`predict.scoring.explain.OFFSET_FEATURE`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

AUTO = "auto"
KIND = "log1p_scaled"  # offset = log1p(scale * max(feature, 0)), missing -> 0


class OffsetError(ValueError):
    """An offset setting or record that cannot be used."""


@dataclass(frozen=True)
class OffsetConfig:
    """``train.contribution.offset`` in params.yaml (``null``: no offset)."""

    feature: str = "revenue_3m"  # a catalogue feature: revenue of the last `months` months
    months: int = 3  # the months `feature` covers
    scale: float | str = AUTO  # auto = features.horizon_months / months; a number wins

    def __post_init__(self) -> None:
        from predict.features.catalogue import FEATURES

        if self.feature not in FEATURES:
            raise ValueError(
                f"offset.feature: {self.feature!r} is not a feature of the catalogue "
                "(features/catalogue.yaml), e.g. revenue_3m"
            )
        if isinstance(self.months, bool) or not isinstance(self.months, int) or self.months < 1:
            raise ValueError(f"offset.months must be an integer >= 1, got {self.months!r}")
        scale = self.scale
        if isinstance(scale, str):
            if scale != AUTO:
                raise ValueError(f"offset.scale: {scale!r} is neither auto nor a number")
        elif isinstance(scale, bool) or not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"offset.scale must be a finite number > 0, got {scale!r}")


def resolve_offset_scale(config: OffsetConfig, horizon_months: int) -> OffsetConfig:
    """``config`` with ``scale: auto`` replaced by ``horizon_months / months``; a number
    given is kept."""
    if config.scale != AUTO:
        return config
    if horizon_months < 1:
        raise ValueError(f"features.horizon_months must be >= 1, got {horizon_months}")
    scale = horizon_months / config.months
    log.info(
        "train.contribution.offset.scale auto: %d / %d = %.4g",
        horizon_months,
        config.months,
        scale,
    )
    return dataclasses.replace(config, scale=scale)


@dataclass(frozen=True)
class Offset:
    """A fitted model's offset, as recorded in its ``metadata.json``."""

    feature: str
    scale: float
    kind: str = KIND

    def __post_init__(self) -> None:
        if self.kind != KIND:
            raise OffsetError(f"offset kind {self.kind!r} is unknown; expected {KIND!r}")
        if not isinstance(self.feature, str) or not self.feature:
            raise OffsetError(f"offset feature {self.feature!r} is not a feature name")
        ok = isinstance(self.scale, (int, float)) and not isinstance(self.scale, bool)
        if not ok or not (math.isfinite(self.scale) and self.scale > 0):
            raise OffsetError(f"offset scale {self.scale!r} is not a finite number > 0")

    @classmethod
    def from_config(cls, config: OffsetConfig) -> Offset:
        if isinstance(config.scale, str):
            raise OffsetError(
                "train.contribution.offset.scale: auto is not resolved; resolve_offset_scale "
                "with features.horizon_months first (or give a number)"
            )
        return cls(config.feature, float(config.scale))

    def values(self, frame: pd.DataFrame) -> np.ndarray:
        """``log1p(scale * max(x, 0))`` of each row's ``feature`` (missing -> 0)."""
        if self.feature not in frame.columns:
            raise OffsetError(f"offset feature {self.feature!r} is not a column of the input")
        x = pd.to_numeric(frame[self.feature], errors="raise").to_numpy("float64", na_value=np.nan)
        x = np.where(np.isfinite(x), np.maximum(x, 0.0), 0.0)
        return np.log1p(self.scale * x)

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "scale": self.scale, "kind": self.kind}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> Offset | None:
        """The ``offset`` record of a model's metadata (None when it has none)."""
        record = metadata.get("offset")
        if record is None:
            return None
        if not isinstance(record, Mapping) or set(record) != {"feature", "scale", "kind"}:
            raise OffsetError(f"offset record {record!r} must hold exactly feature, scale, kind")
        return cls(record["feature"], record["scale"], record["kind"])
