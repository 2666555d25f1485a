"""The score table's layout and the files a run writes.

:data:`SCORE_COLUMNS` are the documented columns of ``scores.parquet`` (first, in that
order), :data:`EXTRA_COLUMNS` follow; each client's segment, branch and relationship
manager come from the clients table. :func:`write_outputs` writes the scores, the
early-warning list, the drift and ``score_summary.json``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from predict.io import write_csv, write_json, write_parquet
from predict.scoring.result import ScoringResult

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
    "open_facilities",
    "limit_total",
    "drawn",
    "undrawn",
    "utilisation",
    "lgd",
    "maturity_years",
    "previous_rating_grade",
    "grade_change",
    "run_rate_revenue",
    "funding_cost",
    "cost_to_serve",
    "capital_charge",
    "action_rule",
)


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
    """scores (.parquet, .csv), early_warning, drift and score_summary.json into ``out_dir``."""
    out = Path(out_dir)
    write_parquet(result.scores, out / "scores.parquet")
    write_csv(result.scores, out / "scores.csv")
    write_parquet(result.early_warning, out / "early_warning.parquet")
    write_parquet(result.drift, out / "drift.parquet")
    write_parquet(result.migration, out / "migration.parquet")
    write_json(asdict(result.report), out / "score_summary.json")
