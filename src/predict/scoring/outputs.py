"""The score table's layout and the files a run writes.

:data:`SCORE_COLUMNS` are the documented columns of ``scores.parquet`` (first, in that
order), :data:`EXTRA_COLUMNS` follow; each client's segment, branch and relationship
manager come from the clients table. :func:`write_outputs` writes the scores, the
early-warning list, the drift and ``score_summary.json``.

A run's files are one set: ``predict score`` writes them into a folder beside the output
folder and swaps it in whole (:func:`predict.io.atomic_dir`). Each file carries the run id
(:func:`run_identity`) and the as-of date: ``score_summary.json`` (``run_id``, ``as_of``),
the ``run_id`` and ``as_of`` columns of the scores, and the Parquet key-value metadata
``predict.run_id`` / ``predict.as_of`` of every Parquet file (:func:`stamp`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.io import json_text, sha256_file, write_csv, write_json, write_parquet
from predict.scoring.dimensions import DIMENSION_COLUMNS
from predict.scoring.result import ScoringReport, ScoringResult

SCORE_COLUMNS = (
    "client_id",
    "as_of",
    "segment",
    "branch_id",
    "lifecycle_stage",
    "churn_probability",
    "default_probability",
    "expected_contribution",
    "ead",
    "expected_loss",
    "relationship_value",
    "rating_grade",
    "capital",
    "economic_profit",
    "raroc",
    "contribution_at_risk",
    "action",
    "churn_model_version",
    "default_model_version",
    "contribution_model_version",
    "churn_reasons",
    "default_reasons",
    "contribution_reasons",
)
EXTRA_COLUMNS = (
    "rm_id",
    "in_default",
    "ever_defaulted",
    "default_not_scored_reason",
    "churn_not_scored_reason",
    "open_facilities",
    "limit_total",
    "drawn",
    "funded_drawn",
    "undrawn",
    "utilisation",
    "lgd",
    "maturity_years",
    "capital_maturity_years",
    "previous_rating_grade",
    "grade_change",
    "previous_lifecycle_stage",
    "one_year_default_probability",
    "one_year_default_probability_change",
    "run_rate_revenue",
    "funding_cost",
    "cost_to_serve",
    "capital_charge",
    "action_rule",
    *DIMENSION_COLUMNS,
    "potential_value",
    "potential_basis",
    "potential_not_scored_reason",
    "growth_potential",
    "run_id",
)
RUN_ID_KEY = "predict.run_id"
AS_OF_KEY = "predict.as_of"


def _file_hashes(path: Path) -> dict[str, str]:
    if path.is_file():
        return {path.name: sha256_file(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    return {str(p.relative_to(path)): sha256_file(p) for p in files}


def run_identity(
    inputs: Mapping[str, str | os.PathLike[str] | None], as_of: str, settings: Mapping[str, Any]
) -> str:
    """The run id: the first 16 hex digits of the SHA-256 of the inputs' file hashes (input
    folder, previous scores), the as-of date and the settings (model versions, which cover
    the references frozen in the model folders, score and features params). The same
    inputs give the same id, and the same (byte-identical) outputs; any other input gives
    another id."""
    hashes = {k: _file_hashes(Path(v)) if v else None for k, v in inputs.items()}
    body = json_text({"inputs": hashes, "as_of": as_of, "settings": settings})
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def stamp(report: ScoringReport) -> dict[str, str]:
    """The Parquet metadata every output file of the run carries."""
    return {RUN_ID_KEY: report.run_id, AS_OF_KEY: report.as_of}


def client_attributes(tables: Mapping[str, pd.DataFrame], client_ids: pd.Series) -> pd.DataFrame:
    """segment, branch_id, rm_id of each client (missing where the clients table lacks them)."""
    out = pd.DataFrame({"client_id": client_ids.astype("str").to_numpy()})
    clients = tables.get("clients")
    for column in ("segment", "branch_id", "rm_id"):
        if clients is not None and column in clients.columns:
            mapping = clients.drop_duplicates("client_id").set_index("client_id")[column]
            out[column] = out["client_id"].map(mapping).astype("str")
        else:
            out[column] = pd.Series(np.nan, index=out.index, dtype="str")
    return out


def order_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """The documented columns first (BRIEF item 6), then the extras, then the rest."""
    first = [c for c in (*SCORE_COLUMNS, *EXTRA_COLUMNS) if c in scores.columns]
    return scores[first + [c for c in scores.columns if c not in first]]


def write_outputs(result: ScoringResult, out_dir: str | os.PathLike[str]) -> None:
    """scores (.parquet, .csv), early_warning, drift and score_summary.json into ``out_dir``
    (the scores only when ``result`` holds them: a cluster run wrote them already,
    :func:`predict.scoring.parts.merge_scores`)."""
    out, meta = Path(out_dir), stamp(result.report)
    if result.held_scores is not None:  # else already written, part by part
        scores = result.held_scores.assign(run_id=result.report.run_id)
        write_parquet(scores, out / "scores.parquet", meta)
        write_csv(scores, out / "scores.csv")
    write_parquet(result.early_warning, out / "early_warning.parquet", meta)
    write_parquet(result.drift, out / "drift.parquet", meta)
    write_parquet(result.migration, out / "migration.parquet", meta)
    write_json(asdict(result.report), out / "score_summary.json")
