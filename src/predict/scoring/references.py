"""The references frozen in the model folders (``references.json``,
:mod:`predict.models.references`) that scoring reads instead of computing them from its
input: a client's scores then depend only on its own rows and the model folders.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from predict.features import rates
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
