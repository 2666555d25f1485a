"""The first screen of a client page, and its facility, credit-event and contact tables.

The first screen answers "what do I do with this client, and why" in 30 seconds: who it is
(segment, industry, branch, RM), its exposure (limit, drawn, available, utilisation, EAD,
LGD, expected loss, grade), and the action with its rule in one sentence
(:func:`action_sentence`). The tables below come from the validated contract tables, only
rows dated on or before the as-of date (point in time).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from predict.report.formatting import MISSING, Col, cell, is_missing, money_cols, table_spec

logger = logging.getLogger(__name__)

# What each action asks of the reviewer (the scoring's action rules, docs/scoring.md).
ACTION_WORDS = {
    "workout": "Workout: manage the defaulted exposure (recovery, restructuring, provisions)",
    "watch": "Watch: review the credit and agree mitigating steps",
    "retain": "Retain: contact the client to keep a valuable relationship",
    "grow": "Grow: offer more business to a low-risk, under-used client",
    "maintain": "Maintain: no action needed",
    "win_back": "Win back: approach a former client",
    "convert": "Convert: approach a prospect",
    "none": "No action: not a client in the book",
}
FALLBACK_RULE = "default"  # the action rule's name when no rule matched


def _value_text(name: str, value: Any) -> str:
    """A value of the scores for a sentence: probabilities in %, changes in pp, amounts with
    thousands separators."""
    if name.endswith("_change") and "probability" in name:
        return str(cell(value, "change")["text"])
    if name.endswith(("probability", "utilisation", "lgd")):
        return str(cell(value, "prob")["text"])
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(cell(value, "money" if abs(value) >= 100 else "float")["text"])
    return MISSING if value is None or value != value else str(value)


def action_sentence(row: pd.Series) -> str:
    """The action and why, in one sentence, from ``action`` and ``action_rule``
    (``"<action>: <condition>"``; ``"default"`` when no rule matched)."""
    value = row.get("action")
    action = "" if value is None or value != value else str(value)  # NaN: none decided
    words = ACTION_WORDS.get(action, action.replace("_", " ").capitalize() or "No action")
    rule = row.get("action_rule")
    if rule is None or rule != rule or not str(rule).strip():
        return f"{words}. (The scores carry no action rule.)"
    rule = str(rule)
    if rule.startswith("none decided"):  # an unknown score or stage (docs/scoring.md)
        return f"No action decided: {rule.split(':', 1)[1].strip()}."
    if rule == FALLBACK_RULE:
        return f"{words}: no action rule matched, so the fallback applies."
    condition = rule.split(":", 1)[1].strip() if ":" in rule else rule
    names = [n for n in dict.fromkeys(re.findall(r"[a-z_][a-z0-9_]*", condition)) if n in row]
    here = "; ".join(f"{n.replace('_', ' ')} {_value_text(n, row[n])}" for n in names)
    shown = condition.replace(">=", "≥").replace("<=", "≤").replace("==", "is")
    shown = shown.replace("_", " ")
    return f"{words}, because {shown}" + (f" (this client: {here})." if here else ".")


def facts(row: pd.Series, items: tuple[tuple[str, str, str], ...]) -> list[tuple[str, str]]:
    """(label, text) of the ``(label, column, format)`` items the row has."""
    return [(label, str(cell(row[col], fmt)["text"])) for label, col, fmt in items if col in row]


WHO = (
    ("Segment", "segment", "text"),
    ("Industry", "industry", "text"),
    ("Branch", "branch_id", "text"),
    ("Relationship manager", "rm_id", "text"),
    ("Lifecycle stage", "lifecycle_stage", "text"),
)
EXPOSURE = (
    ("Limit", "limit_total", "money"),
    ("Drawn", "drawn", "money"),
    ("Available (undrawn)", "undrawn", "money"),
    ("Utilisation", "utilisation", "pct"),
    ("EAD", "ead", "money"),
    ("LGD", "lgd", "pct"),
    ("Expected loss", "expected_loss", "money"),
    ("Rating grade", "rating_grade", "text"),
    ("Grade at the previous scoring", "previous_rating_grade", "text"),
)


def exposure_facts(row: pd.Series, currency: str = "") -> list[tuple[str, str]]:
    """The exposure block; money labels carry the currency."""
    out = facts(row, EXPOSURE)
    money = {label for label, _, fmt in EXPOSURE if fmt == "money"}
    return [(f"{lab}, {currency}" if currency and lab in money else lab, t) for lab, t in out]


RELATIONSHIP = (
    ("Satisfaction", "satisfaction"),
    ("Loyalty", "loyalty"),
    ("Retention", "retention"),
    ("Contribution", "contribution"),
    ("Trust", "trust"),
)


def relationship_facts(row: pd.Series) -> list[tuple[str, str]]:
    """The five relationship dimensions (0-100, with the strongest input or why none) and
    the index with how many dimensions it rests on; empty for scores without them."""
    out = []
    for label, name in RELATIONSHIP:
        if f"{name}_score" not in row:
            continue
        score = cell(row[f"{name}_score"], "int")["text"]
        reason = row.get(f"{name}_reason")
        out.append((label, f"{score}: {reason}" if isinstance(reason, str) and reason else score))
    if "relationship_index" in row:
        index = cell(row["relationship_index"], "int")["text"]
        out.append(("Relationship index", f"{index} ({row['relationship_dimensions']} of 5)"))
    return out


FACILITY_COLS = (
    Col("facility_id", "Facility"),
    Col("product", "Product"),
    Col("limit_amount", "Limit", "money"),
    Col("interest_rate", "Rate", "rate"),
    Col("origination_date", "Opened"),
    Col("maturity_date", "Matures"),
    Col("closed_date", "Closed"),
    Col("status", "Status"),
)


def facility_table(
    facilities: pd.DataFrame | None, as_of: pd.Timestamp, currency: str = ""
) -> dict[str, Any] | None:
    """The client's facilities opened on or before the as-of date: open ones first (by
    maturity), then closed ones (latest closed first); status open / matured, not closed /
    closed. None without a facilities table."""
    if facilities is None:
        return None
    rows = facilities[facilities["origination_date"] <= as_of].copy()
    rows["status"] = "open"  # a column first: .loc cannot add one to an empty frame
    closed = rows["closed_date"].notna() & (rows["closed_date"] <= as_of)
    rows.loc[closed, "status"] = "closed"
    past = ~closed & (rows["maturity_date"] < as_of)
    rows.loc[past, "status"] = "past maturity, not closed"
    rows.loc[~closed & ~past, "status"] = "open"
    rows.loc[~closed, "closed_date"] = pd.NaT
    rows["_closed"] = closed
    rows = rows.sort_values(["_closed", "maturity_date"], ascending=[True, True], kind="stable")
    return table_spec(rows, money_cols(FACILITY_COLS, currency), table_id="facilities")


def dated_table(
    frame: pd.DataFrame | None,
    as_of: pd.Timestamp,
    cols: tuple[Col, ...],
    table_id: str,
    limit: int,
) -> dict[str, Any] | None:
    """Rows dated on or before the as-of date, newest first, at most ``limit``; a caption
    says how many were left out. None without the table."""
    if frame is None:
        return None
    rows = frame[frame["date"] <= as_of].sort_values("date", ascending=False, kind="stable")
    caption = f"The latest {limit} of {len(rows):,}." if len(rows) > limit else ""
    return table_spec(rows.head(limit), cols, table_id=table_id, caption=caption)


EVENT_COLS = (Col("date", "Date"), Col("kind", "Event"), Col("facility_id", "Facility"))
CONTACT_COLS = (
    Col("date", "Date"),
    Col("kind", "Kind"),
    Col("channel", "Channel"),
    Col("csat", "CSAT (1-5)", "int"),
    Col("nps", "NPS (0-10)", "int"),
)


def by_client(tables: Mapping[str, pd.DataFrame], name: str, ids: set[str]) -> dict[str, Any]:
    """Rows of table ``name`` per client id among ``ids`` (empty without the table)."""
    frame = tables.get(name)
    if frame is None or "client_id" not in frame:
        return {}
    keep = frame[frame["client_id"].astype("str").isin(ids)]
    return {str(k): g for k, g in keep.groupby(keep["client_id"].astype("str"), sort=False)}


# The one-screen profile that opens the client page (issue #15 item 5).
PROFILE_SCORES = (
    ("Churn probability", "churn_probability", "prob"),
    ("Default probability", "default_probability", "prob"),
    ("Expected contribution", "expected_contribution", "money"),
    ("Rating grade", "rating_grade", "text"),
    ("Relationship value", "relationship_value", "money"),
    ("Economic profit", "economic_profit", "money"),
    ("Potential value", "potential_value", "money"),
)
DIMENSIONS = (
    ("Satisfaction", "satisfaction_score"),
    ("Loyalty", "loyalty_score"),
    ("Retention", "retention_score"),
    ("Contribution", "contribution_score"),
    ("Trust", "trust_score"),
    ("Relationship index", "relationship_index"),
)
CHANGES = (
    ("Churn probability", "churn_probability_change", "change"),
    ("Default probability", "default_probability_change", "change"),
    ("Expected contribution", "contribution_change", "money_change"),
)


def segment_percentile(scores: pd.DataFrame, row: pd.Series, column: str) -> tuple[float, int]:
    """Share (0-100) of the clients of the row's segment in the scored book whose ``column``
    is at or below the row's, and how many clients of the segment have a value (for display
    only: a percentile of this scoring's book, not a frozen reference). NaN, 0 without a
    value or a segment."""
    value: Any = row.get(column)
    if column not in scores or is_missing(value) or is_missing(row.get("segment")):
        return float("nan"), 0
    peers = scores.loc[scores["segment"].astype("str") == str(row["segment"]), column]
    peers = pd.to_numeric(peers, errors="coerce").dropna()
    if peers.empty:
        return float("nan"), 0
    return float(100.0 * (peers <= float(value)).mean()), len(peers)


def _growth_text(row: pd.Series) -> str | None:
    if "growth_potential" not in row:
        return None
    flag = row["growth_potential"]
    if is_missing(flag):
        return "not assessed"
    return "yes: predicted contribution grows most relative to today's revenue" if flag else "no"


def profile(row: pd.Series, scores: pd.DataFrame, currency: str = "") -> dict[str, Any]:
    """The profile block: scores, grade, value, potential (``facts``); the five dimension
    scores and the index with their percentile in the segment (``dimensions``, only the
    columns the scores have); what changed since the previous scoring (``changes``)."""
    money = {label for label, _, fmt in PROFILE_SCORES if fmt == "money"}
    out = [
        (f"{lab}, {currency}" if currency and lab in money else lab, text)
        for lab, text in facts(row, PROFILE_SCORES)
    ]
    if "potential_value" in row and is_missing(row["potential_value"]):
        reason = row.get("potential_not_scored_reason")
        out = [
            (lab, f"{MISSING} ({reason})" if "Potential" in lab and not is_missing(reason) else t)
            for lab, t in out
        ]
    if (growth := _growth_text(row)) is not None:
        out.append(("Growth potential", growth))
    dimensions = []
    for label, column in DIMENSIONS:
        if column in row:
            pct, n = segment_percentile(scores, row, column)
            dimensions.append(
                {
                    "label": label,
                    "score": str(cell(row[column], "float")["text"]),
                    "percentile": MISSING if n == 0 else f"{pct:.0f}",
                    "peers": n,
                }
            )
    changes = [
        (lab, str(cell(row[col], fmt)["text"]))
        for lab, col, fmt in CHANGES
        if col in row and not is_missing(row[col])
    ]
    for label, now, before in (
        ("Rating grade", "rating_grade", "previous_rating_grade"),
        ("Lifecycle stage", "lifecycle_stage", "previous_lifecycle_stage"),
    ):
        if before in row and not is_missing(row[before]):
            changes.append((label, f"{row[before]} → {cell(row.get(now), 'text')['text']}"))
    return {"facts": out, "dimensions": dimensions, "changes": changes}
