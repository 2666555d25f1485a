"""What features and checks compute from the book, frozen at training into the model folder
(``references.json``, covered by the manifest: :mod:`predict.models.store`).

- ``rate``: the rate reference of ``rate_spread_open`` / ``rate_spread_all``
  (:mod:`predict.features.rates`), as known at the last as-of date of the features stage,
  which ``split`` copies beside the sets. Scoring reads it from the model folder, never
  from its input.

Category levels are frozen in ``features.json`` (:class:`predict.models.store.FeatureSpec`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from predict.features import rates
from predict.io import read_json

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
