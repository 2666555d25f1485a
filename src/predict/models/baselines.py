"""Baselines the models must beat, scored on the same out-of-time split.

- churn, default: a scorecard-like logistic regression (scikit-learn): numeric features
  median-imputed with missing-value indicators and standardised, categorical features
  one-hot encoded (rare levels pooled, unseen levels ignored). No interactions, no
  binning: what a traditional scorecard team would build first.
- contribution: carry forward the last 12 months' revenue (``revenue_feature``, e.g.
  ``revenue_12m``), times ``revenue_scale``; missing revenue counts as zero. ``auto`` (the
  default) is ``H / 12`` for the labels' horizon of H months (``features.horizon_months``),
  resolved by :func:`resolve_revenue_scale` before training; a number given wins.

The baselines get what the model gets: the scorecard is fitted on the training period
and Platt-recalibrated on the validation period (as the model's calibrator is), so neither
ranking nor calibration is compared unfairly. They are never saved, only their metrics
are reported.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, Self

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from predict.models.calibration import PlattCalibrator
from predict.models.store import FeatureSpec

log = logging.getLogger(__name__)
MISSING = "(missing)"
AUTO = "auto"


@dataclass(frozen=True)
class BaselineConfig:
    """Settings of the baselines (``train.baseline`` in params.yaml)."""

    revenue_feature: str = "revenue_12m"  # carried forward for contribution
    revenue_scale: float | str = AUTO  # auto = features.horizon_months / 12; a number wins
    c: float = 1.0  # inverse L2 strength of the logistic regression
    max_iter: int = 2000
    max_categories: int = 30  # one-hot columns per categorical feature at most (rest pooled)

    def __post_init__(self) -> None:
        scale = self.revenue_scale
        if isinstance(scale, str) and scale != AUTO:
            raise ValueError(f"revenue_scale: {scale!r} is neither auto nor a number")
        if not isinstance(scale, str) and (isinstance(scale, bool) or not scale > 0):
            raise ValueError(f"revenue_scale must be > 0, got {scale!r}")


def resolve_revenue_scale(config: BaselineConfig, horizon_months: int) -> BaselineConfig:
    """``config`` with ``revenue_scale: auto`` replaced by ``horizon_months / 12`` (the
    12-month revenue carried over a horizon of H months); a number given is kept."""
    if config.revenue_scale != AUTO:
        return config
    if horizon_months < 1:
        raise ValueError(f"features.horizon_months must be >= 1, got {horizon_months}")
    scale = horizon_months / 12
    log.info("train.baseline.revenue_scale auto: %d / 12 = %.4g", horizon_months, scale)
    return dataclasses.replace(config, revenue_scale=scale)


class Baseline(Protocol):
    name: str

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, valid: pd.DataFrame, y_valid: np.ndarray
    ) -> Self: ...

    def predict(self, frame: pd.DataFrame) -> np.ndarray: ...


class ScorecardBaseline:
    """Logistic regression on standardised numerics and one-hot categoricals."""

    name = "logistic_regression"

    def __init__(
        self, spec: FeatureSpec, c: float = 1.0, max_iter: int = 2000, max_categories: int = 30
    ) -> None:
        self.spec = spec
        self.c = c
        self.max_iter = max_iter
        self.max_categories = max_categories

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = self.spec.matrix(frame)
        for name in self.spec.categorical:
            x[name] = x[name].astype("str").fillna(MISSING).astype(object)
        return x

    def _pipeline(self) -> Pipeline:
        numeric = [n for n in self.spec.names if n not in self.spec.categories]
        num = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        cat = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=self.max_categories,
            sparse_output=False,
        )
        columns = ColumnTransformer(
            [("num", num, numeric), ("cat", cat, list(self.spec.categorical))]
        )
        # Newton-Cholesky to a gradient of 1e-10: converged to the optimum itself, so the
        # coefficients do not carry the path's rounding (lbfgs stopped at tol 1e-4 gave
        # probabilities differing by ~1e-10 between two CPUs' BLAS kernels)
        model = LogisticRegression(
            C=self.c, max_iter=self.max_iter, solver="newton-cholesky", tol=1e-10
        )
        return make_pipeline(columns, model)

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, valid: pd.DataFrame, y_valid: np.ndarray
    ) -> Self:
        """Fit on the training period, recalibrate (Platt) on the validation period."""
        self.pipeline_ = self._pipeline().fit(self._design(train), np.asarray(y_train, dtype=int))
        self.calibrator_ = PlattCalibrator().fit(self._raw(valid), np.asarray(y_valid, "float64"))
        return self

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline_.predict_proba(self._design(frame))[:, 1], dtype="float64")

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.calibrator_.transform(self._raw(frame))


class CarryForwardBaseline:
    """Next period's contribution = last 12 months' revenue x scale (missing -> 0)."""

    name = "revenue_carry_forward"

    def __init__(self, feature: str = "revenue_12m", scale: float = 1.0) -> None:
        self.feature = feature
        self.scale = scale

    def fit(
        self, train: pd.DataFrame, y_train: np.ndarray, valid: pd.DataFrame, y_valid: np.ndarray
    ) -> Self:
        """Nothing to learn; checks the revenue column is there."""
        if self.feature not in train.columns:
            raise KeyError(f"carry-forward baseline: no column {self.feature!r}")
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        values = pd.to_numeric(frame[self.feature]).astype("float64").fillna(0.0)
        return values.to_numpy() * self.scale


def make_baseline(
    task: str, spec: FeatureSpec, config: BaselineConfig, columns: Collection[str]
) -> Baseline | None:
    """The baseline for ``task``; ``None`` (and a log line saying why) when it cannot be built.

    ``columns`` are the columns of the split frames (the revenue feature may be among them
    even when it is excluded from the model's features).
    """
    if task == "binary":
        return ScorecardBaseline(spec, config.c, config.max_iter, config.max_categories)
    if config.revenue_feature not in columns:
        log.warning(
            "contribution baseline skipped: no column %r in the split "
            "(set train.baseline.revenue_feature)",
            config.revenue_feature,
        )
        return None
    if isinstance(config.revenue_scale, str):
        raise ValueError(
            "train.baseline.revenue_scale: auto is not resolved; resolve_revenue_scale with "
            "features.horizon_months first (or give a number)"
        )
    return CarryForwardBaseline(config.revenue_feature, config.revenue_scale)
