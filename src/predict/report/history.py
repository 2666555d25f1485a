"""Clients' recent history from the contract tables, month by month, for the client pages.

:func:`cut_tables` keeps the rows of the window and of the clients that get a page (rows
dated after the as-of date are left out: point in time); :func:`monthly_history` then
aggregates every client and month in one pass, and :func:`client_history` slices one client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

HISTORY_COLUMNS = (
    "outstanding",
    "max_days_past_due",
    "revenue",
    "interactions",
    "complaints",
    "csat",
    "nps",
)
SURVEY_COLUMNS = ("date", "kind", "channel", "csat", "nps")


def month_labels(as_of: pd.Timestamp, months: int) -> pd.PeriodIndex:
    """The ``months`` calendar months ending with the as-of date's month."""
    end = pd.Timestamp(as_of).to_period("M")
    return pd.period_range(end=end, periods=months, freq="M", name="month")


def cut_tables(
    tables: Mapping[str, pd.DataFrame],
    client_ids: Iterable[str],
    as_of: pd.Timestamp,
    months: int,
) -> dict[str, pd.DataFrame]:
    """Balances (with their facility's client_id), revenue and interactions of the window.

    Only the rows of ``client_ids`` dated in the ``months`` calendar months up to ``as_of``.
    """
    ids = {str(c) for c in client_ids}
    start = month_labels(as_of, months)[0].start_time
    out: dict[str, pd.DataFrame] = {}
    bal, fac = tables.get("facility_balances"), tables.get("facilities")
    if bal is not None and fac is not None:
        owner = fac.drop_duplicates("facility_id").set_index("facility_id")["client_id"]
        bal = bal.assign(client_id=bal["facility_id"].map(owner.astype("str")))
        out["balances"] = _window(bal, ids, "month_end", start, as_of)
    for name in ("revenue", "interactions"):
        frame = tables.get(name)
        if frame is not None:
            out[name] = _window(frame, ids, "date", start, as_of)
    return out


def _window(
    frame: pd.DataFrame, ids: set[str], date_col: str, start: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    keep = frame["client_id"].astype("str").isin(ids)
    keep &= (frame[date_col] >= start) & (frame[date_col] <= as_of)
    cut = frame[keep].copy()
    cut["client_id"] = cut["client_id"].astype("str")
    cut["month"] = cut[date_col].dt.to_period("M")
    return cut


def monthly_history(
    cut: Mapping[str, pd.DataFrame], client_ids: Iterable[str], as_of: pd.Timestamp, months: int
) -> pd.DataFrame:
    """One row per (client_id, month): balance, worst arrears, revenue, contacts, surveys.

    Counts and revenue are 0 in a month without rows when their table exists; balances,
    arrears and survey means are missing then (nothing to measure).
    """
    index = pd.MultiIndex.from_product(
        [sorted({str(c) for c in client_ids}), month_labels(as_of, months)],
        names=["client_id", "month"],
    )
    out = pd.DataFrame(index=index, columns=list(HISTORY_COLUMNS), dtype="float64")
    keys = ["client_id", "month"]
    if "balances" in cut:
        g = cut["balances"].groupby(keys)
        out["outstanding"] = g["outstanding"].sum().reindex(index)
        out["max_days_past_due"] = g["days_past_due"].max().astype("float64").reindex(index)
    if "revenue" in cut:
        out["revenue"] = cut["revenue"].groupby(keys)["amount"].sum().reindex(index).fillna(0.0)
    if "interactions" in cut:
        inter = cut["interactions"]
        g = inter.groupby(keys)
        out["interactions"] = g.size().reindex(index).fillna(0).astype("float64")
        complaint = (inter["kind"].astype("str") == "complaint").groupby([inter[k] for k in keys])
        out["complaints"] = complaint.sum().reindex(index).fillna(0).astype("float64")
        for col in ("csat", "nps"):
            if col in inter:
                values = pd.to_numeric(inter[col], errors="coerce").astype("float64")
                means = values.groupby([inter[k] for k in keys]).mean()
                out[col] = means.reindex(index)
    return out


def client_history(monthly: pd.DataFrame, client_id: str) -> pd.DataFrame:
    """One client's months (index ``month``) from :func:`monthly_history`."""
    return pd.DataFrame(monthly.xs(str(client_id), level="client_id"))


def survey_answers(cut: Mapping[str, pd.DataFrame], client_id: str) -> pd.DataFrame:
    """The client's interactions in the window that carry a CSAT or NPS answer, newest first."""
    empty = pd.DataFrame(columns=list(SURVEY_COLUMNS))
    return surveys_by_client(cut).get(str(client_id), empty)


def surveys_by_client(cut: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every client's survey answers in the window (see :func:`survey_answers`), in one pass."""
    inter = cut.get("interactions")
    if inter is None:
        return {}
    answered = pd.Series(False, index=inter.index)
    for col in ("csat", "nps"):
        if col in inter:
            answered |= inter[col].notna()
    rows = inter.loc[answered].sort_values("date", ascending=False)
    cols = [c for c in SURVEY_COLUMNS if c in rows]
    return {str(k): g[cols].reset_index(drop=True) for k, g in rows.groupby("client_id")}


def has_values(history: pd.DataFrame, columns: Iterable[str]) -> bool:
    """Whether any of ``columns`` holds a finite value (to skip empty charts)."""
    cols = [c for c in columns if c in history]
    return bool(cols) and bool(np.isfinite(history[cols].to_numpy(dtype="float64")).any())
