"""What features and checks compute from the book, frozen at training into the model folder
(``references.json``, covered by the manifest: :mod:`predict.models.store`).

- ``rate``: the rate reference of ``rate_spread_open`` / ``rate_spread_all``
  (:mod:`predict.features.rates`), as known at the last as-of date of the features stage,
  which ``split`` copies beside the sets. Scoring reads it from the model folder, never
  from its input.
- ``drift``: the drift check's bins and expected shares (:mod:`predict.models.bins`,
  :func:`drift_reference`): of each model feature on the train split, and of the model's
  calibrated output on the test split (out of sample). Scoring's PSI reads them.

Category levels are frozen in ``features.json`` (:class:`predict.models.store.FeatureSpec`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.features import rates
from predict.io import read_json
from predict.models import bins as drift_bins
from predict.models.store import ModelBundle

log = logging.getLogger(__name__)


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
) -> dict[str, Any]:
    """``references.json`` ``drift`` of ``bundle`` (JSON-able, :func:`predict.models.bins.check`).

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
    if train.empty or test.empty:
        raise ValueError(
            f"drift reference of {bundle.target}: the train ({len(train)} rows) and test "
            f"({len(test)} rows) splits must have rows"
        )
    ref = drift_bins.sample_rows(train, config)
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
            "rows": len(train),
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
