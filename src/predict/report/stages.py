"""Life-cycle stages in the report: a service strategy per stage, clients per stage, and the
flows between stages since the previous scoring.

- The stages are :data:`predict.features.lifecycle.STAGES` (potential, new, active, dormant,
  churned, in_default); params ``report.relationship.stage_strategies`` gives each one a
  ``strategy`` (how the bank serves clients in that stage) and an ``action`` (what that
  implies an RM does). A stage without a strategy, or a strategy for a stage that does not
  exist, is a configuration error naming it.
- *Clients per stage*: the scores' ``lifecycle_stage`` at the as-of date, counted; the
  share is of all scored clients (prospects and former clients included).
- *Flow matrix*: clients by ``previous_lifecycle_stage`` (rows: the stage at the previous
  scoring, a given previous scores file or the rescored month end, docs/scoring.md) and
  ``lifecycle_stage`` (columns: now). A client the previous scoring did not have is in the
  row "(not scored before)". Without the column (no previous scoring) there is no matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from predict.features.lifecycle import STAGES
from predict.report.formatting import Col, table_spec

NOT_BEFORE = "(not scored before)"
UNKNOWN = "(unknown)"
TOTAL = "Total"


@dataclass(frozen=True)
class StageStrategy:
    """One stage's service strategy (what the bank aims at) and the action it implies."""

    strategy: str
    action: str

    def __post_init__(self) -> None:
        if not str(self.strategy).strip() or not str(self.action).strip():
            raise ValueError("a stage strategy needs a non-empty strategy and action")


def default_strategies() -> dict[str, StageStrategy]:
    """Generic strategies, one per stage (a bank writes its own in params)."""
    s = StageStrategy
    return {
        "potential": s(
            "Win the first mandate: learn the prospect's projects and financing needs; "
            "answer fast with clear terms.",
            "Qualify the need and make a financing offer (convert list).",
        ),
        "new": s(
            "Onboard well: deliver the first facility on time and set expectations.",
            "Onboarding call and a CSAT survey after approval; review utilisation.",
        ),
        "active": s(
            "Deepen and keep: regular reviews, the next project, long-term agreements.",
            "Yearly relationship review; offer the next facility or service (grow list).",
        ),
        "dormant": s(
            "Re-engage before the client leaves: find out why activity stopped.",
            "RM call; review pricing and the client's pipeline (retain list).",
        ),
        "churned": s(
            "Win back former clients whose relationship was profitable and clean.",
            "Exit interview; a win-back offer where there was no default (win-back list).",
        ),
        "in_default": s(
            "Protect the recovery: workout, transparent communication, restructure if viable.",
            "Hand over to workout; restructuring or recovery plan (workout queue).",
        ),
    }


def check_strategies(strategies: Mapping[str, StageStrategy]) -> None:
    """Every stage has a strategy and no strategy names an unknown stage (ValueError)."""
    missing = [s for s in STAGES if s not in strategies]
    unknown = sorted(set(strategies) - set(STAGES))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no strategy for stage(s) {missing}")
        if unknown:
            parts.append(f"unknown stage(s) {unknown}")
        raise ValueError(
            f"stage_strategies: {'; '.join(parts)}; give {{strategy, action}} for every "
            f"life-cycle stage {list(STAGES)}"
        )


def _stage(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame[column].astype("object").where(frame[column].notna())


def stage_table(scores: pd.DataFrame, strategies: Mapping[str, StageStrategy]) -> pd.DataFrame:
    """Per stage (in :data:`STAGES` order, every stage even with no client): clients, share
    of the scored clients, strategy and action. Clients without a stage: a row "(unknown)"."""
    check_strategies(strategies)
    stage = _stage(scores, "lifecycle_stage").fillna(UNKNOWN).astype("str")
    odd = sorted(set(stage) - {*STAGES, UNKNOWN})
    if odd:
        raise ValueError(
            f"scores.parquet column lifecycle_stage: unknown stage(s) {odd}; "
            f"expected {list(STAGES)}"
        )
    counts = stage.value_counts()
    order = [*STAGES, *([UNKNOWN] if UNKNOWN in counts else [])]
    total = len(stage)
    rows = [
        {
            "lifecycle_stage": s,
            "clients": int(counts.get(s, 0)),
            "share": counts.get(s, 0) / total if total else float("nan"),
            "strategy": strategies[s].strategy if s in strategies else None,
            "strategy_action": strategies[s].action if s in strategies else None,
        }
        for s in order
    ]
    return pd.DataFrame(rows)


def flow_matrix(scores: pd.DataFrame) -> pd.DataFrame | None:
    """Clients by stage at the previous scoring (rows, ``previous_stage``) and now (one
    column per stage), with a ``Total`` column and a ``Total`` row; None without
    ``previous_lifecycle_stage``. Rows "(not scored before)" and "(unknown)" only when
    they have clients."""
    if "previous_lifecycle_stage" not in scores:
        return None
    now = _stage(scores, "lifecycle_stage").fillna(UNKNOWN).astype("str")
    before = _stage(scores, "previous_lifecycle_stage").fillna(NOT_BEFORE).astype("str")
    table = pd.crosstab(before, now)
    extra = [c for c in (UNKNOWN,) if c in table.columns]
    cols = [*STAGES, *extra, *sorted(set(table.columns) - {*STAGES, *extra})]
    rows = [*STAGES, *sorted(set(table.index) - set(STAGES))]
    table = table.reindex(index=rows, columns=cols, fill_value=0)
    table = table.loc[[r for r in rows if r in STAGES or table.loc[r].sum() > 0]]
    table[TOTAL] = table.sum(axis=1)
    table.loc[TOTAL] = table.sum(axis=0)
    table = table.astype("int64")
    table.index.name = "previous_stage"
    return table.reset_index()


STAGE_COLS = (
    Col("lifecycle_stage", "Stage"),
    Col("clients", "Clients", "int"),
    Col("share", "Share", "pct"),
    Col("strategy", "Service strategy"),
    Col("strategy_action", "What it implies"),
)


def stage_views(scores: pd.DataFrame, strategies: Mapping[str, StageStrategy]) -> dict[str, Any]:
    """The stage table and the flow matrix (None without a previous scoring) as specs."""
    stages = table_spec(stage_table(scores, strategies), STAGE_COLS, table_id="stages")
    flows = flow_matrix(scores)
    if flows is None:
        return {"table": stages, "flows": None}
    cols = (
        Col("previous_stage", "Before ↓ now →"),
        *(Col(str(c), str(c), "int") for c in flows.columns if c != "previous_stage"),
    )
    body, total = flows.iloc[:-1], flows.iloc[-1:]
    spec = table_spec(body, cols, table_id="stage-flows", footer=total)
    return {"table": stages, "flows": spec}
