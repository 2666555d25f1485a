"""Model bundles and their files: the only module that reads or writes model files.

A bundle folder (``models/<target>/``) holds exactly four text files:

- ``model.txt``: the LightGBM booster in its own text format;
- ``calibrator.json``: the calibrator (see :mod:`predict.models.calibration`);
- ``features.json``: feature names in training order, dtypes (``float64`` or
  ``category``) and, for categorical features, the categories in training order;
- ``metadata.json``: target, task, objective, training window, data hash, params,
  metrics and ``model_version`` (the first 12 hex digits of the SHA-256 of ``model.txt``).

:func:`load_bundle` refuses a folder holding anything else (a ``.pkl`` or any unknown file
raises :class:`UnsafeModelError` before anything is read), a missing file, or a
``model.txt`` whose hash differs from ``model_version``. Nothing is ever unpickled.

:meth:`ModelBundle.matrix` is the one place where a frame becomes the booster's input:
numeric features to ``float64``, categorical features to ``category`` with the training
categories (unseen values become missing). Missing features raise
:class:`FeatureMismatchError` naming them; extra columns are ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from predict import io
from predict.models.calibration import Calibrator, calibrator_from_dict

log = logging.getLogger(__name__)

MODEL_FILE = "model.txt"
CALIBRATOR_FILE = "calibrator.json"
FEATURES_FILE = "features.json"
METADATA_FILE = "metadata.json"
BUNDLE_FILES = (MODEL_FILE, CALIBRATOR_FILE, FEATURES_FILE, METADATA_FILE)
TARGET_TRANSFORMS = ("none", "clip0", "slog")

Dtype = Literal["float64", "category"]


class FeatureMismatchError(ValueError):
    """The frame does not carry the features the model was trained on."""


class UnsafeModelError(ValueError):
    """A model folder holds something other than the bundle's text and JSON files."""


def model_version(model_text: str) -> str:
    """The version id of a model: the first 12 hex digits of the SHA-256 of its text."""
    return hashlib.sha256(model_text.encode("utf-8")).hexdigest()[:12]


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )


def _as_strings(series: pd.Series) -> pd.Series:
    """Values as ``str`` (missing stays missing), whatever the column's dtype."""
    return series.astype("str")


@dataclass(frozen=True)
class FeatureSpec:
    """Feature names in training order; categories (training order) of categorical ones."""

    names: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.categories) - set(self.names))
        if unknown or len(set(self.names)) != len(self.names):
            raise ValueError(f"bad feature spec: duplicate names or categories for {unknown}")

    @property
    def dtypes(self) -> dict[str, Dtype]:
        return {n: ("category" if n in self.categories else "float64") for n in self.names}

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n in self.categories)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, names: tuple[str, ...]) -> FeatureSpec:
        """Infer the spec: ``str``/``category`` columns are categorical, the rest numeric."""
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise FeatureMismatchError(f"feature column(s) {missing} not in the training frame")
        categories: dict[str, tuple[str, ...]] = {}
        for name in names:
            col = frame[name]
            if _is_categorical(col):
                categories[name] = tuple(sorted(_as_strings(col).dropna().unique()))
            elif not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
                raise FeatureMismatchError(
                    f"feature {name!r} has dtype {col.dtype}; features must be numeric or str"
                )
        return cls(names=tuple(names), categories=categories)

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The booster's input: columns in training order, ``float64`` or ``category``."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise FeatureMismatchError(
                f"missing feature column(s) {missing}: the model was trained on "
                f"{len(self.names)} features and needs all of them (extra columns are ignored)"
            )
        out: dict[str, Any] = {}
        for name in self.names:
            col = frame[name]
            if name in self.categories:
                known = list(self.categories[name])
                values = _as_strings(col)
                values = values.where(values.isin(known))  # unseen -> missing
                out[name] = pd.Categorical(values, dtype=pd.CategoricalDtype(known))
            else:
                out[name] = self._numeric(name, col)
        return pd.DataFrame(out, index=frame.index)

    @staticmethod
    def _numeric(name: str, col: pd.Series) -> np.ndarray:
        try:
            return pd.to_numeric(col, errors="raise").astype("float64").to_numpy()
        except (TypeError, ValueError) as exc:
            raise FeatureMismatchError(
                f"feature {name!r} must be numeric; got dtype {col.dtype} ({exc})"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "dtypes": dict(self.dtypes),
            "categories": {k: list(v) for k, v in self.categories.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        cats = {str(k): tuple(str(c) for c in v) for k, v in data.get("categories", {}).items()}
        return cls(names=tuple(str(n) for n in data["names"]), categories=cats)


_EXP_LINK = ("poisson", "gamma", "tweedie")
_SIGMOID_LINK = ("binary", "cross_entropy", "xentropy")


def objective_link(booster: lgb.Booster) -> Callable[[np.ndarray], np.ndarray]:
    """The booster's own map from raw margin to prediction (its objective's link)."""
    params = booster.params or {}
    objective = str(params.get("objective", "regression")).split()[0]
    if objective in _SIGMOID_LINK:
        coef = float(params.get("sigmoid", 1.0)) if objective == "binary" else 1.0
        return lambda raw: 1.0 / (1.0 + np.exp(-coef * raw))
    if objective in _EXP_LINK:
        return np.exp
    if params.get("reg_sqrt"):
        return lambda raw: np.sign(raw) * raw**2
    return lambda raw: raw


def _inverse_transform(kind: str, values: np.ndarray) -> np.ndarray:
    if kind in ("none", "clip0"):
        return values
    if kind == "slog":
        return np.sign(values) * np.expm1(np.abs(values))
    raise ValueError(f"unknown target transform {kind!r}; expected one of {TARGET_TRANSFORMS}")


@dataclass(frozen=True)
class ModelBundle:
    """A trained model with everything needed to score: calibrator, features, metadata."""

    target: str
    booster: lgb.Booster
    calibrator: Calibrator
    features: FeatureSpec
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        """``binary`` (probability) or ``regression`` (amount)."""
        return str(self.metadata.get("task", "binary"))

    @cached_property
    def version(self) -> str:
        """``model_version`` of the metadata, else the hash of the booster's text."""
        known = self.metadata.get("model_version")
        return str(known) if known else model_version(self.booster.model_to_string())

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.features.matrix(frame)

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw margin (log-odds, or the log-link / transformed scale): what SHAP sums to."""
        return np.asarray(self.booster.predict(self.matrix(frame), raw_score=True), "float64")

    @cached_property
    def _link(self) -> Callable[[np.ndarray], np.ndarray]:
        return objective_link(self.booster)

    def uncalibrated_from_raw(self, raw: np.ndarray) -> np.ndarray:
        """Raw margin -> the booster's prediction (link, then the target's inverse transform)."""
        pred = np.asarray(self._link(np.asarray(raw, dtype="float64")), dtype="float64")
        if self.task == "regression":
            pred = _inverse_transform(str(self.metadata.get("target_transform", "none")), pred)
        return pred

    def from_raw(self, raw: np.ndarray) -> np.ndarray:
        """Raw margin -> final output: ``predict(f) == from_raw(predict_raw(f))``.

        SHAP values add up to the raw margin, so this is how an explanation's parts are
        turned into probability points (or amounts) for the reasons.
        """
        return np.asarray(self.calibrator.transform(self.uncalibrated_from_raw(raw)), "float64")

    def predict_uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's own prediction (probability or amount), before calibration."""
        return self.uncalibrated_from_raw(self.predict_raw(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (churn, default) or expected amount (contribution)."""
        return self.from_raw(self.predict_raw(frame))


def save_bundle(bundle: ModelBundle, directory: str | os.PathLike[str]) -> Path:
    """Write the bundle's four files into ``directory`` (replaced atomically)."""
    text = bundle.booster.model_to_string()
    metadata = {**bundle.metadata, "target": bundle.target, "model_version": model_version(text)}
    with io.atomic_dir(directory) as tmp:
        io.write_text(text, tmp / MODEL_FILE)
        io.write_json(bundle.calibrator.to_dict(), tmp / CALIBRATOR_FILE)
        io.write_json(bundle.features.to_dict(), tmp / FEATURES_FILE)
        io.write_json(metadata, tmp / METADATA_FILE)
    log.info("saved %s model %s to %s", bundle.target, metadata["model_version"], directory)
    return Path(directory)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    present = sorted(p.name for p in folder.iterdir())
    unexpected = [n for n in present if n not in BUNDLE_FILES]
    if unexpected:
        raise UnsafeModelError(
            f"refusing to load {folder}: unexpected file(s) {unexpected}. A model folder "
            f"holds only {list(BUNDLE_FILES)} (text and JSON); pickles and other formats "
            "that can run code are never loaded. Remove the extra files."
        )
    missing = [n for n in BUNDLE_FILES if n not in present]
    if missing:
        raise FileNotFoundError(f"model folder {folder} lacks {missing}")


def _read_json(path: Path) -> Any:
    try:
        return io.read_json(path)
    except json.JSONDecodeError as exc:
        raise UnsafeModelError(f"{path} is not valid JSON: {exc}") from exc


def load_bundle(directory: str | os.PathLike[str]) -> ModelBundle:
    """Load a bundle written by :func:`save_bundle`; refuses anything but its text and JSON."""
    folder = Path(directory)
    _check_folder(folder)
    text = (folder / MODEL_FILE).read_text(encoding="utf-8")
    metadata = _read_json(folder / METADATA_FILE)
    if not isinstance(metadata, dict) or "target" not in metadata:
        raise UnsafeModelError(f"{folder / METADATA_FILE}: expected a mapping with 'target'")
    if metadata.get("model_version") != model_version(text):
        raise UnsafeModelError(
            f"{folder / MODEL_FILE} does not match metadata model_version "
            f"{metadata.get('model_version')!r} (hash {model_version(text)}): files mixed up?"
        )
    features = FeatureSpec.from_dict(_read_json(folder / FEATURES_FILE))
    booster = lgb.Booster(model_str=text)
    if tuple(booster.feature_name()) != features.names:
        raise UnsafeModelError(f"{folder}: features.json does not list the booster's features")
    calibrator = calibrator_from_dict(_read_json(folder / CALIBRATOR_FILE))
    return ModelBundle(str(metadata["target"]), booster, calibrator, features, metadata)
