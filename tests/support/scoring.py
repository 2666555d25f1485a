"""Tiny real models and feature frames for the scoring tests (no mocks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from predict.features.catalogue import stage_sources, status_sources
from predict.models.calibration import Calibrator, IsotonicCalibrator, LinearCalibrator
from predict.models.store import FeatureSpec, ModelBundle

FEATURES = ("dpd_max_3m", "utilisation", "tenure_years", "segment")


def feature_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Clients with a few numeric features (some missing) and a categorical one."""
    rng = np.random.default_rng(seed)
    dpd = rng.choice([0.0, 0.0, 0.0, 15.0, 45.0, 95.0], n)
    util = rng.uniform(0, 1, n)
    util[rng.random(n) < 0.15] = np.nan
    return pd.DataFrame(
        {
            "client_id": pd.Series([f"c{i:05d}" for i in range(n)], dtype="str"),
            "as_of": pd.Timestamp("2024-06-30"),
            "dpd_max_3m": dpd,
            "utilisation": util,
            "tenure_years": rng.uniform(0, 20, n),
            "segment": pd.Series(
                rng.choice(["sme", "mid_corporate", "large_corporate"], n), dtype="str"
            ),
        }
    )


def _labels(frame: pd.DataFrame, target: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    util = frame["utilisation"].fillna(0.5).to_numpy()
    score = (
        0.04 * frame["dpd_max_3m"].to_numpy() + 2.0 * util - 0.1 * frame["tenure_years"].to_numpy()
    )
    score = score + (frame["segment"] == "sme").to_numpy() * 0.7
    if target == "contribution":
        return np.asarray(1000.0 + 300.0 * score + rng.normal(0, 50, len(frame)))
    sign = -1.0 if target == "churn" else 1.0
    p = 1.0 / (1.0 + np.exp(-(sign * score - 0.5)))
    return (rng.random(len(frame)) < p).astype("float64")


def _task(target: str) -> str:
    """``regression`` for the contribution amount, ``binary`` for churn and default."""
    return "regression" if target == "contribution" else "binary"


def _fit(
    X: pd.DataFrame, y: np.ndarray, target: str, seed: int, trees: int
) -> tuple[lgb.Booster, Calibrator]:
    """A small deterministic LightGBM model of ``y`` and its calibrator on the same rows
    (isotonic for a probability, linear for an amount)."""
    params = {
        "objective": _task(target),
        "num_leaves": 7,
        "verbose": -1,
        "min_data_in_leaf": 5,
        "seed": seed,
        "num_threads": 1,
        "deterministic": True,
    }
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=trees)
    cal: Calibrator = LinearCalibrator() if target == "contribution" else IsotonicCalibrator()
    cal.fit(np.asarray(booster.predict(X)), y)
    return booster, cal


def train_bundle(
    target: str, frame: pd.DataFrame | None = None, seed: int = 0, trees: int = 15
) -> ModelBundle:
    """A small real LightGBM model of ``target`` wrapped in a ModelBundle."""
    frame = feature_frame(seed=seed) if frame is None else frame
    spec = FeatureSpec.from_frame(frame, FEATURES)
    booster, cal = _fit(spec.matrix(frame), _labels(frame, target, seed), target, seed, trees)
    meta = {"task": _task(target), "target": target}
    return ModelBundle(target, booster, cal, spec, meta)


def train_on_features(frame: pd.DataFrame, target: str, trees: int = 12) -> ModelBundle:
    """A small real model of ``target`` on a features+labels frame (rows with a label)."""
    label = f"label_{target}"
    rows = frame[frame[label].notna()]
    names = tuple(
        c for c in frame.columns if c not in ("client_id", "as_of") and not c.startswith("label_")
    )
    spec = FeatureSpec.from_frame(rows, names)
    booster, cal = _fit(spec.matrix(rows), rows[label].to_numpy("float64"), target, 1, trees)
    task = _task(target)
    meta = {"task": task, "target": target, "objective": task, "target_transform": "none"}
    meta["default_status_from"] = status_sources(frame.columns)  # as train records them
    meta["lifecycle_stage_from"] = stage_sources(frame.columns)
    return ModelBundle(target, booster, cal, spec, meta)


@dataclasses.dataclass(frozen=True)
class Book:
    """A small generated book on disk: raw tables, three tiny models (with their frozen
    references), the features+labels frame they were trained on."""

    raw: Path
    models: Path
    training: Path
    tables: dict[str, pd.DataFrame]


TRAIN_AS_OF = (
    dt.date(2024, 3, 31),
    dt.date(2024, 6, 30),
    dt.date(2024, 9, 30),
    dt.date(2024, 12, 31),
)


def build_book(root: Path, n_clients: int = 300) -> Book:
    """Generate a book (30 months to 2025-12-31), train tiny models on 2024 snapshots."""
    from predict.features import rates
    from predict.features.build import FeaturesConfig, build_features
    from predict.features.labels import build_labels
    from predict.models.bins import DriftReferenceConfig
    from predict.models.potential import PotentialConfig, potential_reference
    from predict.models.references import contribution_quantiles, drift_reference
    from predict.models.store import save_bundle
    from predict.synthetic import GenerateConfig, generate_portfolio

    config = GenerateConfig(n_clients=n_clients, months=30, truth_paths=0)
    tables = generate_portfolio(config).tables
    raw = root / "raw"
    raw.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    fc = FeaturesConfig()
    dates = list(TRAIN_AS_OF)
    frame = build_features(tables, dates, fc).merge(
        build_labels(tables, dates, fc.labels), on=["client_id", "as_of"]
    )
    rate = rates.freeze(tables, TRAIN_AS_OF[-1])  # as train does (references.json)
    # drift bins as train freezes them: features on the earlier dates, scores on the last
    last = frame["as_of"] == pd.Timestamp(TRAIN_AS_OF[-1])
    for target in ("churn", "default", "contribution"):
        bundle = train_on_features(frame, target)
        drift = drift_reference(bundle, frame[~last], frame[last], DriftReferenceConfig())
        refs = {"rate": rate, "drift": drift}
        if target == "contribution":  # as train freezes them (models/potential.py), H = 12
            predicted = bundle.predict(frame[last])
            refs["contribution_quantiles"] = contribution_quantiles(frame[last], predicted)
            refs["potential"] = potential_reference(
                {"train": frame[~last], "test": frame[last]}, predicted, 1.0, PotentialConfig()
            )
        bundle = dataclasses.replace(bundle, references=refs)
        save_bundle(bundle, root / "models" / target)
    frame.to_parquet(root / "train.parquet", index=False)
    return Book(raw, root / "models", root / "train.parquet", tables)
