"""Scoring on Dask: :func:`predict.scoring.chunks.score_chunks` partition by client.

Each partition scores its own clients and writes its own explanations file; the results
come back in the order of the input, equal to the single-machine run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from predict.distributed.partitions import client_partition, run_partitions
from predict.io import atomic_dir
from predict.scoring.chunks import score_chunks
from predict.scoring.explain import ExplanationWriter

if TYPE_CHECKING:
    from distributed import Client

    from predict.models.store import ModelBundle
    from predict.scoring.config import ScoreConfig
    from predict.scoring.reasons import ReasonTemplate


def _score_part(
    features: pd.DataFrame,
    explanations: str | None,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
) -> tuple[pd.DataFrame, int]:
    """One partition: :func:`predict.scoring.chunks.score_chunks`, its explanations written to
    their own file."""
    if explanations is None:
        return score_chunks(features, bundles, config, templates), 0
    with ExplanationWriter(explanations) as writer:
        scores = score_chunks(features, bundles, config, templates, writer)
    return scores, writer.rows


def score_features_dask(
    features: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    *,
    explanations_dir: str | os.PathLike[str] | None = None,
    partitions: int = 8,
    client: Client | None = None,
) -> tuple[pd.DataFrame, int]:
    """:func:`predict.scoring.chunks.score_chunks` on Dask, partition by client.

    ``features``: the scoring snapshot, already aligned with the models (see
    ``predict.scoring.align.add_missing_features``). Returns the outputs and reasons, row for row
    in the order of ``features`` (equal to ``score_chunks``), and the number of explanation
    rows written: with ``explanations_dir``, each partition writes its long explanations to
    ``part-<k>.parquet`` there (a folder all workers can reach), read back as one dataset.
    """
    features = features.reset_index(drop=True)
    part = client_partition(features["client_id"], partitions)
    positions = [np.flatnonzero(part == k) for k in range(partitions)]
    kept = [k for k in range(partitions) if len(positions[k])]
    pieces = [features.iloc[positions[k]].reset_index(drop=True) for k in kept]
    shared = {"bundles": dict(bundles), "config": config, "templates": dict(templates)}
    if explanations_dir is None:
        extras: list[tuple[str | None]] = [(None,)] * len(kept)
        results = run_partitions(_score_part, pieces, client, extras=extras, shared=shared)
    else:
        with atomic_dir(explanations_dir) as tmp:  # the folder appears whole, on success
            extras = [(str(tmp / f"part-{k:05d}.parquet"),) for k in kept]
            results = run_partitions(_score_part, pieces, client, extras=extras, shared=shared)
    frames = [r[0].set_axis(positions[k]) for r, k in zip(results, kept, strict=True)]
    if not frames:
        return pd.DataFrame({"client_id": pd.Series([], dtype="str")}), 0
    return pd.concat(frames).sort_index(), sum(r[1] for r in results)
