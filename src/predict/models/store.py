"""Model bundles and their files: the only module that reads or writes model files.

A bundle folder (``models/<target>/``) holds exactly six text files, the five bundle
files (:data:`BUNDLE_FILES`) and their manifest:

- ``model.txt``: the LightGBM booster in its own text format;
- ``calibrator.json``: the calibrator (see :mod:`predict.models.calibration`);
- ``features.json``: feature names in training order, dtypes (``float64`` or
  ``category``) and, for categorical features, the categories in training order;
- ``metadata.json``: target, task, objective, training window, data hash, params, metrics,
  numeric feature ranges (``feature_ranges``) and, for a contribution model fitted with one,
  its ``offset`` (:mod:`predict.models.offset`: feature, scale, kind; added to the raw
  score before the link by :meth:`ModelBundle.predict_raw`);
- ``references.json``: what features and checks computed from the training book, frozen
  for scoring (``rate``: the rate reference, :mod:`predict.features.rates`; ``drift``: the
  drift check's bins, :mod:`predict.models.bins`); a mapping, read by scoring instead of
  anything computed from the scoring input;
- ``manifest.json``: the SHA-256 of each of the five files and the folder's ``digest``: the
  SHA-256 of their ``sha256sum`` listing (``<sha256>  <name>``, one line each, sorted by
  name). ``model_version`` is its first 12 hex digits: any change to any file is a new
  version, and that version is what scores, summaries, the report and MLflow show.

:func:`load_bundle` refuses (:class:`UnsafeModelError`, naming the folder and the file) a
folder holding anything else (a ``.pkl`` or any unknown file, before anything is read), a
missing file or manifest, a file whose hash differs from the manifest, a ``metadata.json``
whose target is not the folder's name (swapped folders), an ``offset`` record that is
malformed or names a feature the model does not have, a ``model.txt`` LightGBM could not
parse safely (:mod:`predict.models.booster_text`, checked before LightGBM sees it: a corrupt
text is an error, never a crash), and a calibrator whose values are not finite or, for a
probability, map outside [0, 1]. A folder that does not exist is a
:class:`FileNotFoundError`. Nothing is ever unpickled. At scoring,
:meth:`ModelBundle.require_valid` refuses outputs that are not finite or, for probabilities,
outside [0, 1].

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
from predict.features import rates
from predict.models import bins, potential
from predict.models.booster_text import ModelTextError, check_model_text
from predict.models.calibration import CalibrationError, Calibrator, calibrator_from_dict
from predict.models.offset import Offset, OffsetError
from predict.models.references import ContributionQuantilesError, check_contribution_quantiles

log = logging.getLogger(__name__)

MODEL_FILE = "model.txt"
CALIBRATOR_FILE = "calibrator.json"
FEATURES_FILE = "features.json"
METADATA_FILE = "metadata.json"
REFERENCES_FILE = "references.json"
MANIFEST_FILE = "manifest.json"
BUNDLE_FILES = (MODEL_FILE, CALIBRATOR_FILE, FEATURES_FILE, METADATA_FILE, REFERENCES_FILE)
FOLDER_FILES = (*BUNDLE_FILES, MANIFEST_FILE)
TARGET_TRANSFORMS = ("none", "clip0", "slog")

Dtype = Literal["float64", "category"]


class FeatureMismatchError(ValueError):
    """The frame does not carry the features the model was trained on."""


class UnsafeModelError(ValueError):
    """A model folder holds something other than the bundle's text and JSON files."""


class ModelOutputError(ValueError):
    """A model gave outputs outside their range (a probability above 1, a NaN)."""


def folder_digest(hashes: Mapping[str, str]) -> str:
    """SHA-256 of the ``sha256sum`` listing of the files (``<sha256>  <name>``, sorted)."""
    listing = "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def manifest(contents: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest of a folder's files: each file's SHA-256, the digest, the version."""
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
    digest = folder_digest(hashes)
    return {"algorithm": "sha256", "files": hashes, "digest": digest, "model_version": digest[:12]}


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
    references: Mapping[str, Any] = field(default_factory=dict)  # references.json
    loaded_version: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def task(self) -> str:
        """``binary`` (probability) or ``regression`` (amount)."""
        return str(self.metadata.get("task", "binary"))

    @cached_property
    def version(self) -> str:
        """The folder digest's first 12 hex digits (of the files :func:`save_bundle` writes)."""
        known = self.loaded_version  # set by load_bundle; dataclasses.replace() drops it
        return known or str(manifest(bundle_files(self))["model_version"])

    def require_valid(self, values: np.ndarray, what: str = "outputs") -> np.ndarray:
        """``values`` if finite (in [0, 1] for a probability), else :class:`ModelOutputError`."""
        arr = np.asarray(values, dtype="float64")
        bad = ~np.isfinite(arr)
        if what == "outputs" and self.task == "binary":
            bad |= (arr < 0.0) | (arr > 1.0)
        if bad.any():
            first = int(np.flatnonzero(bad.ravel())[0])
            rule = "finite probabilities in [0, 1]" if self.task == "binary" else "finite"
            raise ModelOutputError(
                f"{self.target} model {self.version}: {int(bad.sum())} {what} are not {rule} "
                f"(first: {arr.ravel()[first]!r} at row {first // max(arr.shape[1:] or (1,))}); "
                "refusing to score with it: check the model folder (retrain)"
            )
        return arr

    def matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.features.matrix(frame)

    @cached_property
    def offset(self) -> Offset | None:
        """The model's offset (``metadata.json`` ``offset``, :mod:`predict.models.offset`)."""
        return Offset.from_metadata(self.metadata)

    def offset_of(self, matrix: pd.DataFrame) -> np.ndarray:
        """Each row's offset, from the booster's input ``matrix`` (zeros without one)."""
        if self.offset is None:
            return np.zeros(len(matrix), dtype="float64")
        return self.offset.values(matrix)

    def predict_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw margin (log-odds, or the log-link / transformed scale): the booster's raw
        score plus the offset, if any; SHAP values + base value + offset sum to it."""
        X = self.matrix(frame)
        raw = np.asarray(self.booster.predict(X, raw_score=True), "float64")
        return raw + self.offset_of(X) if self.offset is not None else raw

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
        out = np.asarray(self.calibrator.transform(self.uncalibrated_from_raw(raw)), "float64")
        return self.require_valid(out)

    def predict_uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's own prediction (probability or amount), before calibration."""
        return self.uncalibrated_from_raw(self.predict_raw(frame))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability (churn, default) or expected amount (contribution)."""
        return self.from_raw(self.predict_raw(frame))


def bundle_files(bundle: ModelBundle) -> dict[str, bytes]:
    """The bytes of the five files :func:`save_bundle` writes for ``bundle``."""
    meta = {k: v for k, v in bundle.metadata.items() if k != "model_version"}
    texts = {
        MODEL_FILE: bundle.booster.model_to_string(),
        CALIBRATOR_FILE: io.json_text(bundle.calibrator.to_dict()),
        FEATURES_FILE: io.json_text(bundle.features.to_dict()),
        METADATA_FILE: io.json_text({**meta, "target": bundle.target}),
        REFERENCES_FILE: io.json_text(dict(bundle.references)),
    }
    return {name: text.encode("utf-8") for name, text in texts.items()}


def save_bundle(bundle: ModelBundle, directory: str | os.PathLike[str]) -> Path:
    """Write the bundle's five files and their manifest into ``directory`` (replaced atomically)."""
    contents = bundle_files(bundle)
    sealed = manifest(contents)
    with io.atomic_dir(directory) as tmp:
        for name, data in contents.items():
            io.write_text(data.decode("utf-8"), tmp / name)
        io.write_json(sealed, tmp / MANIFEST_FILE)
    log.info("saved %s model %s to %s", bundle.target, sealed["model_version"], directory)
    return Path(directory)


def _refuse(folder: Path, name: str, why: str) -> UnsafeModelError:
    return UnsafeModelError(f"refusing to load model folder {folder}: {name}: {why}")


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} does not exist")
    present = sorted(p.name for p in folder.iterdir())
    unexpected = [n for n in present if n not in FOLDER_FILES]
    if unexpected:
        raise UnsafeModelError(
            f"refusing to load {folder}: unexpected file(s) {unexpected}. A model folder "
            f"holds only {list(FOLDER_FILES)} (text and JSON); pickles and other formats "
            "that can run code are never loaded. Remove the extra files."
        )
    missing = [n for n in BUNDLE_FILES if n not in present]
    if missing:
        raise _refuse(folder, ", ".join(missing), "missing: restore the folder or retrain")
    if MANIFEST_FILE not in present:
        raise _refuse(folder, MANIFEST_FILE, "missing (written by an older version?): retrain")


def _verified_contents(folder: Path) -> tuple[dict[str, bytes], str]:
    """The five files' bytes, each checked against the manifest; and the folder's version."""
    contents = {name: (folder / name).read_bytes() for name in BUNDLE_FILES}
    sealed = _read_json(folder / MANIFEST_FILE)
    listed = sealed.get("files") if isinstance(sealed, dict) else None
    if not isinstance(listed, dict) or sorted(listed) != sorted(BUNDLE_FILES):
        raise _refuse(folder, MANIFEST_FILE, f"must list the sha256 of {list(BUNDLE_FILES)}")
    actual = manifest(contents)
    for name in BUNDLE_FILES:
        if listed[name] != actual["files"][name]:
            raise _refuse(
                folder,
                name,
                f"changed since the model was saved (sha256 {actual['files'][name][:12]}..., "
                f"manifest says {str(listed[name])[:12]}...): restore the folder or retrain",
            )
    if (
        sealed.get("digest") != actual["digest"]
        or sealed.get("model_version") != (actual["model_version"])
    ):
        raise _refuse(folder, MANIFEST_FILE, "digest or model_version do not match the files")
    return contents, str(actual["model_version"])


def _check_calibrator(calibrator: Calibrator, task: str, where: str) -> None:
    """Finite outputs; for a probability, outputs in [0, 1] over [0, 1] and at every knot."""
    probe = np.linspace(0.0, 1.0, 1001)
    knots = np.asarray(getattr(calibrator, "x_", []), dtype="float64")
    if task == "regression":
        probe = np.concatenate([probe * 2e6 - 1e6, knots])
    else:
        probe = np.concatenate([probe, np.clip(knots, 0.0, 1.0)])
    with np.errstate(all="ignore"):
        out = np.asarray(calibrator.transform(probe), dtype="float64")
    bad = ~np.isfinite(out) | ~np.isfinite(knots).all()
    if task == "binary":
        bad |= (out < 0.0) | (out > 1.0)
    if bad.any():
        raise UnsafeModelError(
            f"refusing to load {where}: the {calibrator.kind} calibrator gives "
            f"{'probabilities outside [0, 1] or ' if task == 'binary' else ''}non-finite "
            f"values (e.g. {out[bad][0]!r}): edited or corrupt; retrain"
        )


def _read_json(path: Path) -> Any:
    try:
        return io.read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsafeModelError(f"{path} is not valid JSON: {exc}") from exc


def _json(folder: Path, name: str, contents: Mapping[str, bytes]) -> Any:
    try:
        return json.loads(contents[name].decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _refuse(folder, name, f"not valid JSON ({exc})") from exc


def _metadata(folder: Path, contents: Mapping[str, bytes], version: str) -> dict[str, Any]:
    metadata = _json(folder, METADATA_FILE, contents)
    if not isinstance(metadata, dict) or "target" not in metadata:
        raise _refuse(folder, METADATA_FILE, "expected a mapping with 'target'")
    if metadata["target"] != folder.name:
        raise _refuse(
            folder,
            METADATA_FILE,
            f"the model's target is {metadata['target']!r} but the folder is "
            f"{folder.name!r}: model folders swapped or renamed? A model is loaded only from "
            "the folder named after its target",
        )
    if metadata.get("task", "binary") not in ("binary", "regression"):
        raise _refuse(folder, METADATA_FILE, f"unknown task {metadata.get('task')!r}")
    try:
        Offset.from_metadata(metadata)
    except OffsetError as exc:
        raise _refuse(folder, METADATA_FILE, str(exc)) from exc
    return {**metadata, "model_version": version}


def _check_offset(folder: Path, metadata: Mapping[str, Any], features: FeatureSpec) -> None:
    """The offset's feature is a numeric feature of the model (scoring feeds it)."""
    offset = Offset.from_metadata(metadata)
    if offset is not None and (
        offset.feature not in features.names or offset.feature in features.categories
    ):
        raise _refuse(
            folder,
            METADATA_FILE,
            f"the offset's feature {offset.feature!r} is not a numeric feature of the model "
            f"({FEATURES_FILE}): edited or corrupt; retrain",
        )


def _booster(folder: Path, text: str) -> lgb.Booster:
    """The booster of a text checked first (LightGBM aborts the process on some bad texts)."""
    try:
        check_model_text(text)
        return lgb.Booster(model_str=text)
    except (ModelTextError, lgb.basic.LightGBMError, ValueError) as exc:
        raise _refuse(folder, MODEL_FILE, f"not a valid LightGBM model text: {exc}") from exc


def _references(folder: Path, contents: Mapping[str, bytes]) -> dict[str, Any]:
    """references.json: a mapping; its rate and drift references, when there, well formed."""
    references = _json(folder, REFERENCES_FILE, contents)
    if not isinstance(references, dict):
        raise _refuse(folder, REFERENCES_FILE, "expected a mapping")
    if "rate" in references:
        try:
            rates.check(references["rate"])
        except rates.RateReferenceError as exc:
            raise _refuse(folder, REFERENCES_FILE, str(exc)) from exc
    if "drift" in references:
        try:
            bins.check(references["drift"])
        except bins.DriftReferenceError as exc:
            raise _refuse(folder, REFERENCES_FILE, str(exc)) from exc
    if "contribution_quantiles" in references:
        try:
            check_contribution_quantiles(references["contribution_quantiles"])
        except ContributionQuantilesError as exc:
            raise _refuse(folder, REFERENCES_FILE, str(exc)) from exc
    if "potential" in references:
        try:
            potential.check(references["potential"])
        except potential.PotentialReferenceError as exc:
            raise _refuse(folder, REFERENCES_FILE, str(exc)) from exc
    return references


def load_bundle(directory: str | os.PathLike[str]) -> ModelBundle:
    """Load a bundle written by :func:`save_bundle`; refuses anything else (see the module)."""
    folder = Path(directory)
    _check_folder(folder)
    contents, version = _verified_contents(folder)
    metadata = _metadata(folder, contents, version)
    try:
        features = FeatureSpec.from_dict(_json(folder, FEATURES_FILE, contents))
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(folder, FEATURES_FILE, f"malformed ({exc})") from exc
    booster = _booster(folder, contents[MODEL_FILE].decode("utf-8", errors="replace"))
    if tuple(booster.feature_name()) != features.names:
        raise _refuse(folder, FEATURES_FILE, "does not list the booster's features")
    _check_offset(folder, metadata, features)
    try:
        calibrator = calibrator_from_dict(_json(folder, CALIBRATOR_FILE, contents))
    except CalibrationError as exc:
        raise _refuse(folder, CALIBRATOR_FILE, str(exc)) from exc
    _check_calibrator(
        calibrator, str(metadata.get("task", "binary")), str(folder / CALIBRATOR_FILE)
    )
    references = _references(folder, contents)
    bundle = ModelBundle(
        str(metadata["target"]), booster, calibrator, features, metadata, references
    )
    object.__setattr__(bundle, "loaded_version", version)
    return bundle


def read_model_info(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """metadata (``model_version`` from the manifest) and features.json of a model folder,
    checked against its manifest; the booster is not loaded (for the report's model card)."""
    folder = Path(directory)
    _check_folder(folder)
    contents, version = _verified_contents(folder)
    metadata = _metadata(folder, contents, version)
    return metadata, _json(folder, FEATURES_FILE, contents)
