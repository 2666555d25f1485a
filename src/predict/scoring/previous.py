"""The scoring to compare with: a previous scores file, or the same models rerun on the
month end before the as-of date (outputs only, the same scope rules)."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from predict import io
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


# Text columns of a previous scores file: read as text from a CSV, so that ids such as
# "00123" and grades such as "3" come back as written (pandas would make numbers of them).
TEXT_COLUMNS = ("client_id", "rating_grade", "lifecycle_stage", "segment")


def read_previous(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A previous ``scores.parquet`` (or ``.csv``, as ``predict score`` writes it) with
    client_id, as_of and some outputs: one row per client, refused otherwise."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"previous scores {p} not found")
    if p.suffix == ".csv":
        head = pd.read_csv(p, nrows=0).columns
        frame = pd.read_csv(p, dtype={c: "str" for c in TEXT_COLUMNS if c in head})
        for c in TEXT_COLUMNS:  # the CSV writer's formula escaping undone
            if c in frame.columns:
                frame[c] = frame[c].map(io.unescape_cell, na_action="ignore").astype("str")
    else:
        frame = pd.read_parquet(p)
    needed = {"client_id", "as_of"}
    if not needed <= set(frame.columns) or not set(PREVIOUS_COLUMNS) & set(frame.columns):
        raise ValueError(
            f"previous scores {p}: need client_id, as_of and some of "
            f"{list(PREVIOUS_COLUMNS)}; found {sorted(frame.columns)}"
        )
    frame["client_id"] = frame["client_id"].astype("str")
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[s]")
    twice = frame["client_id"].duplicated(keep=False)
    if twice.any():
        first = frame.loc[twice, "client_id"].iloc[0]
        raise ValueError(
            f"previous scores {p}: column client_id must be unique (one scoring per client); "
            f"{int(frame.loc[twice, 'client_id'].nunique())} clients appear more than once "
            f"(first: {first!r} in rows {frame.index[frame['client_id'] == first].tolist()[:5]})"
        )
    if frame["as_of"].isna().any():
        row = int(frame.index[frame["as_of"].isna()][0])
        raise ValueError(f"previous scores {p}: column as_of is empty in row {row}")
    return frame


def require_before(previous: pd.DataFrame, as_of: dt.date, source: object = "") -> None:
    """Refuse a previous scoring that is not strictly before ``as_of``: changes against a
    later (or the same) scoring would compare with the future, and the early-warning event
    window (previous as-of, as-of] would be empty or reversed."""
    late = previous["as_of"] >= pd.Timestamp(as_of)
    if late.any():
        row = previous.loc[late].iloc[0]
        raise ValueError(
            f"previous scores {source}: column as_of must be before the scoring as-of "
            f"{as_of.isoformat()}; {int(late.sum())} rows are not (first: client "
            f"{row['client_id']!r}, as_of {pd.Timestamp(row['as_of']).date().isoformat()})"
        )


def previous_month_end(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> dt.date | None:
    """The month end before ``as_of`` to rescore (None, warned, when the data start later).
    Reads only the tables' first dates: a partitioned dataset's skeleton will do."""
    from predict.features.snapshots import add_months, data_start

    prev = add_months(as_of, -1)
    if prev < data_start(tables):
        log.warning("no previous scoring: %s is before the data start", prev)
        return None
    return prev


def features_with_previous(
    build: FeatureBuilder,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    prev: dt.date | None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The features at ``as_of`` and, when ``prev`` is given, at ``prev``: one pass over the
    events for both dates (each date's rows, in order, are the bits its own pass gives:
    every month is its own bucket, :func:`predict.features.sql.bucket_frame`), instead of a
    second pass for the month end to rescore."""
    if prev is None:
        return build(tables, [as_of]).reset_index(drop=True), None
    both = build(tables, [prev, as_of])
    dates = pd.to_datetime(both["as_of"])
    return (
        both[dates == pd.Timestamp(as_of)].reset_index(drop=True),
        both[dates == pd.Timestamp(prev)].reset_index(drop=True),
    )


def rescore_at(
    features: pd.DataFrame,
    prev: dt.date,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    lacking: Sequence[str] = (),
    stage_lacking: Sequence[str] = (),
) -> pd.DataFrame:
    """The models' outputs (scope rules applied; ``lacking``: the default-trigger tables the
    input lacks) for the clients of ``features``, their features at ``prev``
    (:func:`features_with_previous`); no row when none of them was onboarded by then: each
    client is then new, whoever else is in the book."""
    features = features.reset_index(drop=True)
    features = add_missing_features(features, bundles, "nan", ScoringReport())
    out = predict_outputs(features, bundles, config.chunk_size)
    if "lifecycle_stage" in features:  # before the scope rules: they mask an unknown stage
        stage = features["lifecycle_stage"].astype("str").to_numpy()
        out["lifecycle_stage"] = pd.Series(stage, index=out.index, dtype="str")
    if len(out):  # no row: no rule to apply (the columns carried are the outputs')
        out = apply_scope_rules(
            out,
            features,
            config,
            churn_knows_default_status(bundles),
            lacking,
            stage_lacking,
        )
    out["as_of"] = pd.Timestamp(prev)
    return out
