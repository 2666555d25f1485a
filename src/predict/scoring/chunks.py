"""Model outputs chunk by chunk, with or without SHAP.

:func:`score_chunks` scores ``chunk_size`` clients at a time: each model's TreeSHAP
contributions (their sum is the raw score, mapped to the calibrated output), the reasons,
and the long explanations appended to a writer; only one chunk's SHAP matrices are in
memory at a time. :func:`predict_outputs` gives the outputs alone (the previous month
end). The frames are already aligned with the models
(:mod:`predict.scoring.align`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.models.store import ModelBundle
from predict.progress import ProgressReporter, SilentProgress
from predict.scoring.align import known_categories, model_input
from predict.scoring.config import ScoreConfig
from predict.scoring.explain import (
    DEFAULT_TABLE_MIB,
    Explained,
    ExplanationWriter,
    explain_matrix,
    long_table,
)
from predict.scoring.reasons import ReasonTemplate, reasons_text


def explain_chunk(
    chunk: pd.DataFrame,
    bundle: ModelBundle,
    absent: frozenset[str] = frozenset(),
    engine: str = "tables",
    table_mib: float = DEFAULT_TABLE_MIB,
) -> Explained:
    """SHAP of one chunk for one model (values: the clients' own feature values; ``absent``:
    features the data did not give, never cited as reasons; ``engine``, ``table_mib``:
    ``score.shap_engine`` and ``score.shap_table_mib``, see
    :func:`predict.scoring.explain.contributions`)."""
    names = list(bundle.features.names)
    X = model_input(chunk, bundle)
    return explain_matrix(
        bundle.target,
        bundle.booster,
        X,
        chunk[names],
        bundle.from_raw,
        absent,
        bundle.offset_of(X) if bundle.offset is not None else None,
        engine,
        table_mib,
    )


def score_chunks(
    features: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    writer: ExplanationWriter | None = None,
    progress: ProgressReporter | None = None,
    absent: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Model outputs and reasons per client, writing explanations chunk by chunk.

    ``absent``: per target, the model features the data did not give (scored as missing;
    ``ScoringReport.missing_features``): never cited as reasons.

    Returns one row per row of ``features``: client_id, ``<output>`` per target and
    ``<target>_reasons``, in the order of ``features``.
    """
    progress = progress or SilentProgress()
    task = progress.task("scoring + SHAP + reasons", total=len(features))
    as_of = pd.Timestamp(features["as_of"].iloc[0]) if len(features) else pd.Timestamp("NaT")
    parts: list[pd.DataFrame] = []
    for start in range(0, len(features), config.chunk_size):
        chunk = features.iloc[start : start + config.chunk_size]
        part = pd.DataFrame({"client_id": chunk["client_id"].to_numpy()})
        for target, bundle in bundles.items():
            ex = explain_chunk(
                chunk,
                bundle,
                frozenset((absent or {}).get(target, ())),
                config.shap_engine,
                config.shap_table_mib,
            )
            bundle.require_valid(ex.shap, "SHAP contributions")
            part[OUTPUT_COLUMN[target]] = bundle.from_raw(ex.raw)
            part[f"{target}_reasons"] = reasons_text(ex, templates, config.reasons)
            if writer is not None:
                writer.write(
                    long_table(
                        chunk["client_id"],
                        as_of,
                        target,
                        ex.values,
                        ex.shap,
                        config.explanations_top_k,
                        base=ex.base,
                        offset=_offset_rows(ex, bundle),
                    )
                )
        parts.append(part)
        progress.advance(task, len(chunk))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"client_id": []})


def _offset_rows(ex: Explained, bundle: ModelBundle) -> tuple[np.ndarray, pd.Series] | None:
    """The offset and its feature's values, for the explanations' offset row."""
    if ex.offset is None or bundle.offset is None:
        return None
    return ex.offset, ex.values[bundle.offset.feature]


def predict_outputs(
    features: pd.DataFrame, bundles: Mapping[str, ModelBundle], chunk_size: int
) -> pd.DataFrame:
    """Model outputs only (no SHAP), chunk by chunk: client_id and one column per target."""
    out = pd.DataFrame({"client_id": features["client_id"].astype("str").to_numpy()})
    for target, bundle in bundles.items():
        parts = [
            bundle.predict(known_categories(features.iloc[s : s + chunk_size], bundle))
            for s in range(0, len(features), chunk_size)
        ]
        out[OUTPUT_COLUMN[target]] = np.concatenate(parts) if parts else np.array([])
    return out
