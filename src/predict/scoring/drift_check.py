"""The drift check of one scoring run: the training reference rows, then the PSI
(:mod:`predict.scoring.drift`) of every model feature and every model output between the
training period and this snapshot."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.models.store import ModelBundle
from predict.scoring import drift as drift_mod
from predict.scoring.chunks import predict_outputs

log = logging.getLogger(__name__)


def read_reference(
    path: str | os.PathLike[str] | None, bundles: Mapping[str, ModelBundle]
) -> pd.DataFrame | None:
    """The training rows (model features only) for the drift check; None if not there."""
    if path is None or not Path(path).is_file():
        log.warning("training reference %s not found: drift not computed", path)
        return None
    import pyarrow.parquet as pq

    wanted = {n for b in bundles.values() for n in b.features.names}
    columns = [c for c in pq.read_schema(path).names if c in wanted or c == "client_id"]
    return pd.read_parquet(path, columns=columns)


def drift_report(
    reference: pd.DataFrame | None,
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: drift_mod.DriftConfig,
) -> pd.DataFrame:
    """PSI of every model feature and every model output, training period vs this snapshot.

    ``reference``: rows of the training period (the train split); its score distribution is
    the models' predictions on it. Bins are fixed on the reference.
    """
    if reference is None or reference.empty:
        log.warning("no training reference: drift not computed")
        return drift_mod.compare([], features, "feature", config)
    if len(reference) > config.reference_max_rows:
        reference = reference.sample(config.reference_max_rows, random_state=config.seed)
    names = list(dict.fromkeys(n for b in bundles.values() for n in b.features.names))
    feature_drift = drift_mod.compare(
        drift_mod.fit_reference(reference, names, config), features, "feature", config
    )
    ref_outputs = predict_outputs(reference, bundles, 50_000)
    columns = [OUTPUT_COLUMN[t] for t in bundles]
    score_drift = drift_mod.compare(
        drift_mod.fit_reference(ref_outputs, columns, config), outputs, "score", config
    )
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
