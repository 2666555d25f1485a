"""The drift check of one scoring run: the PSI (:mod:`predict.scoring.drift`) of every model
feature and every model output between the training period and this snapshot, on the bins
frozen in the model folders (:func:`predict.scoring.references.frozen_drift_bins`): they do
not depend on the scoring input."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring import drift as drift_mod
from predict.scoring.references import frozen_drift_bins

log = logging.getLogger(__name__)


def drift_report(
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: drift_mod.DriftConfig,
) -> pd.DataFrame:
    """PSI of every model output (``kind = score``, expected shares: the model's calibrated
    predictions on the test split) and every model feature (``kind = feature``, expected
    shares: the train split), this snapshot's ``outputs`` and ``features`` against them."""
    frozen = frozen_drift_bins(bundles)
    score_drift = drift_mod.compare(frozen.scores, outputs, "score", config)
    feature_drift = drift_mod.compare(frozen.features, features, "feature", config)
    out = pd.concat([score_drift, feature_drift], ignore_index=True)
    drift_mod.log_warnings(out, config)
    return out


def drift_warnings(drift: pd.DataFrame) -> list[str]:
    """One line per variable at the warning or alert level (for ``score_summary.json``)."""
    flagged = drift[drift["level"].isin(["warning", "alert"])]
    return [
        f"{v}: PSI {p:.3f} ({lv})"
        for v, p, lv in zip(flagged["variable"], flagged["psi"], flagged["level"], strict=True)
    ]
