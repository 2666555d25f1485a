"""The references frozen in the model folders (``references.json``,
:mod:`predict.models.references`) that scoring reads instead of computing them from its
input: a client's scores then depend only on its own rows and the model folders, and the
drift check's bins only on the model folders.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.features import rates
from predict.models import bins as drift_bins
from predict.models.store import ModelBundle

log = logging.getLogger(__name__)

RATE_FEATURES = ("rate_spread_open", "rate_spread_all")


class ReferenceMismatchError(ValueError):
    """The model folders do not carry one frozen reference that scoring can use."""


def frozen_rate_reference(bundles: Mapping[str, ModelBundle]) -> Mapping[str, Any] | None:
    """The rate reference of the models that use a rate spread (the same in all of them);
    None when no model uses one. A model using one without it, or two models with
    different ones (trained on different feature runs), is an error: features are built
    once for all models."""
    users = {t: b for t, b in bundles.items() if set(RATE_FEATURES) & set(b.features.names)}
    lacking = sorted(t for t, b in users.items() if "rate" not in b.references)
    if lacking:
        raise ReferenceMismatchError(
            f"model(s) {lacking} use {list(RATE_FEATURES)} but their references.json has no "
            "frozen rate reference: retrain them"
        )
    found = {t: b.references["rate"] for t, b in users.items()}
    first = next(iter(found.values()), None)
    if any(ref != first for ref in found.values()):
        known = {t: ref.get("known_at") for t, ref in found.items()}
        raise ReferenceMismatchError(
            f"models carry different rate references (known at {known}): features are built "
            "once for all models; retrain them on the same features run"
        )
    return first


def rate_table(reference: Mapping[str, Any] | None, dates: Sequence[dt.date]) -> pd.DataFrame:
    """``rate_ref_t`` for ``dates`` from the frozen reference (none: no rate spreads)."""
    return rates.empty_table() if reference is None else rates.frozen_table(reference, dates)


@dataclass(frozen=True)
class DriftBins:
    """The drift check's frozen bins: one per model feature (the union over the models, in
    their feature order) and one per model output."""

    features: list[drift_bins.Bins]
    scores: list[drift_bins.Bins]


def frozen_drift_bins(bundles: Mapping[str, ModelBundle]) -> DriftBins:
    """The drift bins of the model folders (``references.json`` ``drift``).

    A model without them, or whose bins do not cover exactly its features and its output,
    is refused (retrain it). A feature used by several models must carry the same bins in
    each (they are fitted on one train split with one setting): different bins mean models
    trained on different splits, and the run stops naming them.
    """
    lacking = sorted(t for t, b in bundles.items() if "drift" not in b.references)
    if lacking:
        raise ReferenceMismatchError(
            f"model(s) {lacking}: references.json has no frozen drift reference (the drift "
            "check's bins, fitted at training since this version): retrain them"
        )
    features: dict[str, tuple[str, drift_bins.Bins]] = {}
    scores = []
    for target, bundle in bundles.items():
        reference = bundle.references["drift"]
        own = drift_bins.feature_bins(reference)
        score = drift_bins.score_bins(reference)
        if [b.name for b in own] != list(bundle.features.names) or (
            score.name != OUTPUT_COLUMN[target]
        ):
            raise ReferenceMismatchError(
                f"{target} model: its drift reference does not match its features and "
                f"output {OUTPUT_COLUMN[target]!r}: retrain it"
            )
        for b in own:
            first = features.setdefault(b.name, (target, b))
            if first[1] != b:
                raise ReferenceMismatchError(
                    f"models {first[0]!r} and {target!r} carry different drift bins for "
                    f"feature {b.name!r} (trained on different splits or "
                    "train.drift_reference settings): retrain them on the same split"
                )
        scores.append(score)
    return DriftBins([b for _, b in features.values()], scores)
