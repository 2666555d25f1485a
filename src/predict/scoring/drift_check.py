"""The drift check of one scoring run: the PSI (:mod:`predict.scoring.drift`) of every model
feature and every model output between the training period and this snapshot, on the bins
frozen in the model folders (:func:`predict.scoring.references.frozen_drift_bins`): they do
not depend on the scoring input."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predict.models.store import ModelBundle
from predict.scoring import drift as drift_mod
from predict.scoring.references import frozen_drift_bins

log = logging.getLogger(__name__)


@dataclass
class DriftCounts:
    """A snapshot's rows in each frozen bin: per model output (``scores``) and per model
    feature (``features``), and the snapshot's rows. Counts of a book's parts add up
    (:meth:`add`) to the counts of the whole book: the drift check of a book scored
    partition by partition needs only these."""

    scores: dict[str, np.ndarray] = field(default_factory=dict)
    features: dict[str, np.ndarray] = field(default_factory=dict)
    rows: int = 0

    def add(self, other: DriftCounts) -> DriftCounts:
        """The counts of both snapshots together (same bins)."""
        return DriftCounts(
            _sum(self.scores, other.scores), _sum(self.features, other.features),
            self.rows + other.rows,
        )  # fmt: skip


def _sum(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not a or not b:
        return dict(a or b)
    if a.keys() != b.keys():
        raise ValueError(f"drift counts of different bins: {sorted(a)} vs {sorted(b)}")
    return {name: a[name] + b[name] for name in a}


def drift_counts(
    features: pd.DataFrame, outputs: pd.DataFrame, bundles: Mapping[str, ModelBundle]
) -> DriftCounts:
    """The snapshot's rows (``features``, and the model ``outputs`` row for row with it) in
    each bin frozen in the model folders."""
    frozen = frozen_drift_bins(bundles)
    return DriftCounts(
        drift_mod.count_bins(frozen.scores, outputs),
        drift_mod.count_bins(frozen.features, features),
        len(features),
    )


def drift_from_counts(
    counts: DriftCounts, bundles: Mapping[str, ModelBundle], config: drift_mod.DriftConfig
) -> pd.DataFrame:
    """:func:`drift_report` from the snapshot's bin counts (:func:`drift_counts`)."""
    frozen = frozen_drift_bins(bundles)
    score_drift = drift_mod.compare_counts(
        frozen.scores, counts.scores, counts.rows, "score", config
    )
    feature_drift = drift_mod.compare_counts(
        frozen.features, counts.features, counts.rows, "feature", config
    )
    out = pd.concat([score_drift, feature_drift], ignore_index=True)
    drift_mod.log_warnings(out, config)
    return out


def drift_report(
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: drift_mod.DriftConfig,
) -> pd.DataFrame:
    """PSI of every model output (``kind = score``, expected shares: the model's calibrated
    predictions on the test split) and every model feature (``kind = feature``, expected
    shares: the train split), this snapshot's ``outputs`` and ``features`` against them."""
    return drift_from_counts(drift_counts(features, outputs, bundles), bundles, config)


def drift_warnings(drift: pd.DataFrame) -> list[str]:
    """One line per variable at the warning or alert level (for ``score_summary.json``)."""
    flagged = drift[drift["level"].isin(["warning", "alert"])]
    return [
        f"{v}: PSI {p:.3f} ({lv})"
        for v, p, lv in zip(flagged["variable"], flagged["psi"], flagged["level"], strict=True)
    ]
