"""Small in-memory books with planted signal, shaped like ``data/split/*.parquet``.

One row per (client_id, as_of): feature columns (``float64`` numerics, ``str``
categoricals with some missing values), labels ``label_churn``, ``label_default``
(0/1, NaN where undefined) and ``label_contribution`` (zero-inflated, skewed, sometimes
negative, NaN where censored). The truth frame holds the probabilities the labels were
drawn from, like ``data/synthetic_truth/truth.parquet``.

Planted signal: default rises with ``dpd_max_12m`` and ``utilisation`` (and industry
``construction``); churn rises with ``complaints_12m`` and falls with ``nps_last`` and
``tenure_months``; contribution follows ``revenue_12m`` for clients that stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.features import rates
from predict.io import write_json
from predict.models.baselines import BaselineConfig
from predict.models.training import BoosterConfig, TrainConfig

INDUSTRIES = ("agriculture", "construction", "manufacturing", "retail", "services")
SEGMENTS = ("sme", "mid_corporate", "large_corporate")
FEATURES = (
    "segment",
    "industry",
    "dpd_max_12m",
    "utilisation",
    "revenue_12m",
    "tenure_months",
    "complaints_12m",
    "nps_last",
)


@dataclass(frozen=True)
class Book:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    truth: pd.DataFrame


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _features(rng: np.random.Generator, n: int) -> pd.DataFrame:
    industry = rng.choice(np.array(INDUSTRIES, dtype=object), n).astype(object)
    industry[rng.random(n) < 0.05] = None
    dpd = np.where(rng.random(n) < 0.8, 0.0, rng.choice([15.0, 30.0, 60.0, 95.0, 120.0], n))
    utilisation = np.clip(rng.beta(2, 3, n) * 1.2, 0, None)
    utilisation[rng.random(n) < 0.05] = np.nan
    revenue = np.where(rng.random(n) < 0.1, 0.0, rng.lognormal(9.0, 1.0, n))
    nps = rng.integers(0, 11, n).astype("float64")
    nps[rng.random(n) < 0.3] = np.nan
    return pd.DataFrame(
        {
            "segment": pd.Series(rng.choice(np.array(SEGMENTS), n), dtype="str"),
            "industry": pd.Series(industry, dtype="str"),
            "dpd_max_12m": dpd,
            "utilisation": utilisation,
            "revenue_12m": revenue,
            "tenure_months": rng.integers(1, 240, n).astype("float64"),
            "complaints_12m": rng.poisson(0.4, n).astype("float64"),
            "nps_last": nps,
        }
    )


def _truth(x: pd.DataFrame) -> pd.DataFrame:
    construction = (x["industry"] == "construction").to_numpy(dtype=float)
    util = x["utilisation"].fillna(0.5).to_numpy()
    p_default = _sigmoid(-4.0 + 0.025 * x["dpd_max_12m"].to_numpy() + 2.0 * util + construction)
    nps = x["nps_last"].fillna(5.0).to_numpy()
    large = (x["segment"] == "large_corporate").to_numpy(dtype=float)
    z = (
        -1.5
        + 0.8 * x["complaints_12m"].to_numpy()
        - 0.2 * (nps - 5)
        - 0.006 * x["tenure_months"].to_numpy()
        - 0.7 * large
    )
    p_churn = _sigmoid(z)
    expected = x["revenue_12m"].to_numpy() * (1.0 - p_churn) * 1.05
    return pd.DataFrame({"p_churn": p_churn, "p_default": p_default, "expected": expected})


def make_book(
    n_clients: int = 600,
    as_of_dates: tuple[str, ...] = ("2021-06-30", "2021-12-31", "2022-06-30", "2022-12-31"),
    seed: int = 0,
) -> pd.DataFrame:
    """All snapshots of a book: features, labels and (prefixed ``true_``) the truth."""
    rng = np.random.default_rng(seed)
    frames = []
    for as_of in as_of_dates:
        x = _features(rng, n_clients)
        t = _truth(x)
        n = len(x)
        churn = (rng.random(n) < t["p_churn"].to_numpy()).astype("float64")
        default = (rng.random(n) < t["p_default"].to_numpy()).astype("float64")
        noise = rng.lognormal(-0.125, 0.5, n)
        amount = np.where(churn == 1, 0.0, x["revenue_12m"].to_numpy() * 1.05 * noise)
        amount = amount - np.where(rng.random(n) < 0.05, rng.exponential(500.0, n), 0.0)
        frame = x.assign(
            client_id=pd.Series([f"C{i:05d}" for i in range(n)], dtype="str"),
            as_of=pd.Timestamp(as_of),
            label_churn=np.where(rng.random(n) < 0.05, np.nan, churn),
            label_default=np.where(rng.random(n) < 0.05, np.nan, default),
            label_contribution=np.where(rng.random(n) < 0.05, np.nan, amount),
            true_p_churn=t["p_churn"],
            true_p_default=t["p_default"],
            true_expected_contribution=t["expected"] - 0.05 * 500.0,
        )
        frames.append(frame)
    book = pd.concat(frames, ignore_index=True)
    book["as_of"] = book["as_of"].astype("datetime64[s]")
    lead = ["client_id", "as_of"]
    return book[lead + [c for c in book.columns if c not in lead]]


def make_split(n_clients: int = 600, seed: int = 0) -> Book:
    """Out-of-time split of :func:`make_book`: two as-of dates to train, one each after."""
    book = make_book(n_clients=n_clients, seed=seed)
    dates = sorted(book["as_of"].unique())
    true_cols = [c for c in book.columns if c.startswith("true_")]
    truth = book[["client_id", "as_of", *true_cols]].rename(
        columns={c: c.removeprefix("true_") for c in true_cols}
    )
    data = book.drop(columns=true_cols)
    return Book(
        train=data[data["as_of"] <= dates[1]].reset_index(drop=True),
        valid=data[data["as_of"] == dates[2]].reset_index(drop=True),
        test=data[data["as_of"] == dates[3]].reset_index(drop=True),
        truth=truth.reset_index(drop=True),
    )


def write_split(book: Book, folder: Path) -> Path:
    """Write the train, valid and test frames of ``book`` as ``folder/<name>.parquet``, and
    a rate reference without rows (the book has no facilities) as the split stage does."""
    folder.mkdir(parents=True)
    for name in ("train", "valid", "test"):
        getattr(book, name).to_parquet(folder / f"{name}.parquet", index=False)
    empty = {"format": rates.FORMAT, "known_at": "2024-12-31", "min_peers": 3, "rows": []}
    write_json(empty, folder / rates.REFERENCE_FILE)
    return folder


def fast_config(rounds: int, stop: int, **booster: Any) -> TrainConfig:
    """A small, single-threaded training config for tests (few trees, small leaves)."""
    return TrainConfig(
        num_threads=1,
        baseline=BaselineConfig(revenue_scale=1.0),  # the split book's horizon: 12 months
        booster=BoosterConfig(
            num_boost_round=rounds, early_stopping_rounds=stop, min_data_in_leaf=20, **booster
        ),
    )


def train_into(split: Path, target: str, config: TrainConfig, out: Path, **options: Any) -> Any:
    """The train stage of ``target`` on the split folder ``split``, its models, metrics and
    plots under ``out`` (``options``: run_training's keywords, e.g. ``client``)."""
    from predict.models.training import run_training

    return run_training(
        split,
        target,
        config,
        models_dir=out / "models",
        metrics_dir=out / "metrics",
        plots_dir=out / "plots",
        **options,
    )
