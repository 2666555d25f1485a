"""What features and checks compute from the book, frozen at training into the model folder
(``references.json``, covered by the manifest: :mod:`predict.models.store`).

- ``rate``: the rate reference of ``rate_spread_open`` / ``rate_spread_all``
  (:mod:`predict.features.rates`), as known at the last as-of date of the features stage,
  which ``split`` copies beside the sets. Scoring reads it from the model folder, never
  from its input.
- ``drift``: the drift check's bins and expected shares (:mod:`predict.models.bins`,
  :func:`drift_reference`): of each model feature on the train split, and of the model's
  calibrated output on the test split (out of sample). Scoring's PSI reads them.
- ``contribution_quantiles`` (contribution model only): the percentiles 0, 1, ..., 100 per
  segment of the model's own expected contribution (``expected``: the scoring model's
  calibrated prediction) and of ``revenue_12m`` (revenue of the 12 months up to t,
  ``realised``), over the test split's rows with a contribution label (the model's
  population at the latest labelled date, held out of the trees' fit), and over all of them
  (``all``). ``contribution_score`` (:mod:`predict.scoring.dimensions`) places a
  client's expected and realised contribution within its segment against them, never
  against the scored input. Predictions are placed among predictions, not among realised
  labels: a prediction is narrower than the outcomes it predicts (it regresses to the
  mean), so against the labels every client would read close to the middle.

Category levels are frozen in ``features.json`` (:class:`predict.models.store.FeatureSpec`).
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.features import rates
from predict.io import read_json
from predict.models import bins as drift_bins

if TYPE_CHECKING:  # store imports this module (checks of references.json)
    from predict.models.store import ModelBundle

log = logging.getLogger(__name__)


QUANTILE_LEVELS = tuple(range(101))  # percentiles frozen for contribution_score
LABEL_COLUMN = "label_contribution"  # revenue over (t, t+H]: the model's population has it
EXPECTED_COLUMN = "expected_contribution"  # the model's calibrated prediction
REALISED_COLUMN = "revenue_12m"  # revenue over (t-12m, t]
SEGMENT_COLUMN = "segment"


class ContributionQuantilesError(ValueError):
    """A model folder's ``contribution_quantiles`` is malformed."""


class MissingReferenceError(FileNotFoundError):
    """The split folder lacks the rate reference the model folder must freeze."""


def training_references(split_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``references.json`` of a model trained on ``split_dir``: its ``rate_reference.json``."""
    path = Path(split_dir) / rates.REFERENCE_FILE
    if not path.is_file():
        raise MissingReferenceError(
            f"{path} missing: the split folder must hold the features stage's rate reference "
            "(rerun features and split)"
        )
    reference = read_json(path)
    try:
        rates.check(reference)
    except rates.RateReferenceError as exc:
        raise rates.RateReferenceError(f"{path}: {exc}") from exc
    log.info(
        "rate reference known at %s: %d (product, month) medians",
        reference["known_at"],
        len(reference["rows"]),
    )
    return {"rate": reference}


def drift_reference(
    bundle: ModelBundle,
    train: pd.DataFrame,
    test: pd.DataFrame,
    config: drift_bins.DriftReferenceConfig,
    *,
    train_rows: int | None = None,
) -> dict[str, Any]:
    """``references.json`` ``drift`` of ``bundle`` (JSON-able, :func:`predict.models.bins.check`).

    ``train_rows``: ``train`` is already the rows binned of a train split of that many rows
    (the train split on a Dask cluster: the same rows, in the same order, as
    :func:`predict.models.bins.sample_rows` keeps, :func:`predict.models.dask_train.drift_sample`).

    - ``features``: the bins of each model feature (categorical as in ``features.json``)
      fitted on every row of the train split, or a sample of ``config.max_rows`` of them
      drawn with ``config.seed``: the population scoring compares with (every client
      the split kept at each as-of date), not only the target's labelled rows;
    - ``score``: the bins of the model's calibrated output (``bundle.predict``) on every row
      of the test split (or the same kind of sample): out of sample, the period after
      the training and calibration data, the same rows as the scoring snapshot's.
    """
    names = list(bundle.features.names)
    missing = [n for n in names if n not in train.columns or n not in test.columns]
    if missing:
        raise KeyError(f"drift reference of {bundle.target}: feature(s) {missing} not in the split")
    n_train = len(train) if train_rows is None else train_rows
    if n_train == 0 or train.empty or test.empty:
        raise ValueError(
            f"drift reference of {bundle.target}: the train ({n_train} rows) and test "
            f"({len(test)} rows) splits must have rows"
        )
    ref = drift_bins.sample_rows(train, config) if train_rows is None else train
    features = drift_bins.fit_frame(ref, names, config, tuple(bundle.features.categories))
    rows = drift_bins.sample_rows(test, config)
    column = OUTPUT_COLUMN[bundle.target]
    output = pd.Series(bundle.predict(rows), index=rows.index, name=column)
    score = drift_bins.fit_bins(output, column, config, categorical=False)
    reference = {
        "format": drift_bins.FORMAT,
        "settings": {
            "bins": config.bins,
            "max_categories": config.max_categories,
            "max_rows": config.max_rows,
            "seed": config.seed,
        },
        "features": {
            "split": "train",
            "rows": n_train,
            **_window(ref),
            "bins": [b.to_dict() for b in features],
        },
        "score": {
            "split": "test",
            "rows": len(test),
            **_window(rows),
            "output": "calibrated",
            "bins": score.to_dict(),
        },
    }
    drift_bins.check(reference)
    log.info(
        "drift reference of %s: %d features on %d train rows, the score on %d test rows",
        bundle.target,
        len(features),
        len(ref),
        len(rows),
    )
    return reference


def _window(rows: pd.DataFrame) -> dict[str, Any]:
    """The as-of dates of ``rows`` (first, last) and how many rows were binned."""
    out: dict[str, Any] = {"binned_rows": len(rows)}
    if "as_of" in rows.columns:
        as_of = pd.to_datetime(rows["as_of"])
        out.update(first_as_of=str(as_of.min().date()), last_as_of=str(as_of.max().date()))
    return out


def _percentiles(values: pd.Series) -> list[float] | None:
    known = values.astype("float64").dropna().to_numpy()
    if known.size == 0:
        return None
    return [float(v) for v in np.percentile(known, QUANTILE_LEVELS)]


def _block(rows: pd.DataFrame) -> dict[str, Any]:
    return {
        "rows": len(rows),
        "expected": _percentiles(rows[EXPECTED_COLUMN]),
        "realised": _percentiles(rows[REALISED_COLUMN])
        if REALISED_COLUMN in rows.columns
        else None,
    }


def contribution_quantiles(test: pd.DataFrame, predicted: np.ndarray) -> dict[str, Any]:
    """``contribution_quantiles`` of a contribution model (see module): ``predicted`` is the
    scoring model's calibrated prediction for the rows of ``test``, row for row.

    Rows: those with a contribution label and a prediction. A segment (or the realised
    revenue) with no known value has ``None`` quantiles; a missing segment is not a segment
    of its own.
    """
    if LABEL_COLUMN not in test.columns:
        raise KeyError(f"test split: no label column {LABEL_COLUMN!r}")
    predicted = np.asarray(predicted, dtype="float64")
    if predicted.shape != (len(test),):
        raise ValueError(
            f"contribution quantiles: {predicted.shape[0]} predictions for {len(test)} test rows"
        )
    frame = test.assign(**{EXPECTED_COLUMN: predicted})
    rows = frame.loc[frame[LABEL_COLUMN].notna() & frame[EXPECTED_COLUMN].notna()]
    segments: dict[str, Any] = {}
    if SEGMENT_COLUMN in rows.columns:
        keyed = rows.loc[rows[SEGMENT_COLUMN].notna()]
        for name, group in keyed.groupby(keyed[SEGMENT_COLUMN].astype("str"), sort=True):
            segments[str(name)] = _block(group)
    known_at = pd.to_datetime(rows["as_of"]).max() if "as_of" in rows.columns else None
    return {
        "levels": list(QUANTILE_LEVELS),
        "expected": EXPECTED_COLUMN,
        "realised": REALISED_COLUMN,
        "known_at": None if known_at is None or pd.isna(known_at) else f"{known_at:%Y-%m-%d}",
        "all": _block(rows),
        "segments": segments,
    }


def _check_block(block: object, where: str, n: int) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("rows"), int):
        raise ContributionQuantilesError(f"{where}: expected a mapping with an integer 'rows'")
    for key in ("expected", "realised"):
        values = block.get(key)
        if values is None:
            continue
        ok = isinstance(values, list) and len(values) == n
        if not ok or not all(isinstance(v, (int, float)) for v in values):
            raise ContributionQuantilesError(f"{where}.{key}: expected {n} numbers or null")
        if any(b < a for a, b in itertools.pairwise(values)):
            raise ContributionQuantilesError(f"{where}.{key}: quantiles must not decrease")


def check_contribution_quantiles(reference: object) -> None:
    """Refuse a malformed ``contribution_quantiles`` (a :class:`ContributionQuantilesError`)."""
    if not isinstance(reference, dict):
        raise ContributionQuantilesError("contribution_quantiles: expected a mapping")
    levels = reference.get("levels")
    if not isinstance(levels, list) or len(levels) < 2 or levels != sorted(set(levels)):
        raise ContributionQuantilesError("contribution_quantiles.levels: increasing percentiles")
    if levels[0] != 0 or levels[-1] != 100:
        raise ContributionQuantilesError("contribution_quantiles.levels: from 0 to 100")
    _check_block(reference.get("all"), "contribution_quantiles.all", len(levels))
    segments = reference.get("segments")
    if not isinstance(segments, dict):
        raise ContributionQuantilesError("contribution_quantiles.segments: expected a mapping")
    for name, block in segments.items():
        _check_block(block, f"contribution_quantiles.segments.{name}", len(levels))
