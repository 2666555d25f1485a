"""The scoring to compare with: a previous scores file, or the same models rerun on the
month end before the as-of date (outputs only, the same scope rules)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring.align import add_missing_features
from predict.scoring.chunks import predict_outputs
from predict.scoring.config import ScoreConfig
from predict.scoring.relationship import PREVIOUS_COLUMNS
from predict.scoring.result import ScoringReport
from predict.scoring.scope import apply_scope_rules, churn_knows_default_status

log = logging.getLogger(__name__)

# Builds the features of the clients of some tables at some as-of dates.
FeatureBuilder = Callable[[Mapping[str, pd.DataFrame], list[dt.date]], pd.DataFrame]


def read_previous(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A previous ``scores.parquet`` (or ``.csv``) with client_id, as_of and probabilities."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"previous scores {p} not found")
    frame = pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p)
    needed = {"client_id", "as_of"}
    if not needed <= set(frame.columns) or not set(PREVIOUS_COLUMNS) & set(frame.columns):
        raise ValueError(
            f"previous scores {p}: need client_id, as_of and some of "
            f"{list(PREVIOUS_COLUMNS)}; found {sorted(frame.columns)}"
        )
    frame["client_id"] = frame["client_id"].astype("str")
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[s]")
    return frame


def previous_month_end(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> dt.date | None:
    """The month end before ``as_of`` to rescore (None, warned, when the data start later).
    Reads only the tables' first dates: a partitioned dataset's skeleton will do."""
    from predict.features.snapshots import add_months, data_start

    prev = add_months(as_of, -1)
    if prev < data_start(tables):
        log.warning("no previous scoring: %s is before the data start", prev)
        return None
    return prev


def rescore_previous(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    build: FeatureBuilder,
    config: ScoreConfig,
) -> pd.DataFrame | None:
    """The same models on the month end before ``as_of`` (None when the data start later:
    decided from the dates alone, the same for every client)."""
    prev = previous_month_end(tables, as_of)
    return None if prev is None else rescore_at(tables, prev, bundles, build, config)


def rescore_at(
    tables: Mapping[str, pd.DataFrame],
    prev: dt.date,
    bundles: Mapping[str, ModelBundle],
    build: FeatureBuilder,
    config: ScoreConfig,
) -> pd.DataFrame:
    """The models' outputs (scope rules applied) for the clients of ``tables`` at ``prev``
    (no row when none of them was onboarded by then: each client is then new, whoever else
    is in the book)."""
    features = build(tables, [prev]).reset_index(drop=True)
    features = add_missing_features(features, bundles, "nan", ScoringReport())
    out = predict_outputs(features, bundles, config.chunk_size)
    if len(out):  # no row: no rule to apply (the columns carried are the outputs')
        out = apply_scope_rules(out, features, config, churn_knows_default_status(bundles))
    if "lifecycle_stage" in features:
        stage = features["lifecycle_stage"].astype("str").to_numpy()
        out["lifecycle_stage"] = pd.Series(stage, index=out.index, dtype="str")
    out["as_of"] = pd.Timestamp(prev)
    return out
