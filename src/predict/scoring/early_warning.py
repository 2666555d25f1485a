"""The early-warning list: clients a relationship manager should look at now, and why.

One row per client with at least one trigger; ``triggers`` names them (comma-separated
codes) and ``details`` says what moved. "Previous" is the scoring the run compares with: the
previous run's stored scores when given (what was actually reported), else today's models
rerun on the month end before (``previous_source`` says which; ``none``: no comparison, only
the event triggers). Event triggers look at each client's own window (its previous as-of,
its as-of]; a client with no previous scoring, the last ``window_months`` months before its
as-of (:func:`event_windows`): never a window set by another client's dates, so a client's
row is the same scored alone or within any book.

Triggers (``score.relationship.early_warning``):

- ``downgrade``: the rating grade fell by >= ``downgrade_notches`` notches;
- ``pd_ratio``: PD now >= ``pd_ratio`` x PD before, and PD now >= ``pd_ratio_min_pd``;
- ``default_rise`` / ``churn_rise``: the probability rose by >= ``*_rise`` (absolute; the
  default triggers, ``pd_ratio`` included, read the one-year PD, :func:`score_triggers`);
- ``default_crossed`` / ``churn_crossed``: it crossed ``*_threshold`` from below, or is
  above it with no previous score (``*_new_above``);
- ``new_dpd``: days past due >= ``dpd_days`` at the as-of month end, below it (or no
  balance: the detail then says ``DPD none -> 35``) at the previous as-of month end;
- ``credit_event``: a credit event of ``event_kinds`` (watchlist, covenant breach) in the window;
- ``complaint``: an interaction of ``complaint_kinds`` in the window;
- ``detractor``: an NPS answer <= ``detractor_nps`` in the window;
- ``revenue_drop``: revenue of the last ``revenue_months`` months fell by >= ``revenue_drop``
  (relative) from the ``revenue_months`` before, and had not at the window's start (the
  revenue sums are :func:`predict.scoring.value.run_rate_revenue`).

An event trigger whose table is absent (``new_dpd``: facilities or facility_balances;
``credit_event``: credit_events; ``complaint``, ``detractor``: interactions;
``revenue_drop``: revenue) is not evaluated: the run logs a warning and lists it in the
scoring summary (``early_warning_not_evaluated``), never a silent "did not fire".
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from predict.scoring.value import one_year_pd, run_rate_revenue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlyWarningConfig:
    """``score.relationship.early_warning``: triggers (:mod:`predict.scoring.early_warning`)."""

    default_rise: float = 0.02  # absolute rise of the one-year default probability
    default_threshold: float = 0.05  # one-year PD: crossed from below, or new above
    churn_rise: float = 0.10
    churn_threshold: float = 0.30
    downgrade_notches: int = 2  # rating grade down by at least this many notches
    pd_ratio: float = 2.0  # PD now >= pd_ratio x PD before ...
    pd_ratio_min_pd: float = 0.005  # ... and PD now at least this (no alarms on tiny PDs)
    dpd_days: int = 30  # new arrears of at least this many days
    event_kinds: tuple[str, ...] = ("watchlist", "covenant_breach")  # credit_events.kind
    complaint_kinds: tuple[str, ...] = ("complaint",)  # interactions.kind
    detractor_nps: int = 6  # an NPS answer at or below this is a detractor
    revenue_drop: float = 0.5  # relative fall of revenue, last months vs the months before
    revenue_months: int = 3
    window_months: int = 1  # event window when there is no previous scoring
    # threshold name (one of the fields above) -> why it is set so (shown on the model card)
    rationale: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields = {f.name for f in dataclasses.fields(self)} - {"rationale"}
        unknown = sorted(set(self.rationale) - fields)
        if unknown:
            raise ValueError(
                f"early_warning.rationale: unknown threshold(s) {unknown}; "
                f"name some of {sorted(fields)}"
            )
        empty = sorted(
            k for k, v in self.rationale.items() if not isinstance(v, str) or not v.strip()
        )
        if empty:
            raise ValueError(f"early_warning.rationale: {empty} must be non-empty text")
        if self.downgrade_notches < 1 or self.pd_ratio <= 1.0 or self.window_months < 1:
            raise ValueError(
                "early_warning: downgrade_notches >= 1, pd_ratio > 1, window_months >= 1"
            )
        if not 0.0 < self.revenue_drop <= 1.0 or self.revenue_months < 1:
            raise ValueError("early_warning: revenue_drop in (0, 1], revenue_months >= 1")


EARLY_WARNING_COLUMNS = (
    "client_id",
    "as_of",
    "previous_as_of",
    "previous_source",
    "segment",
    "branch_id",
    "rating_grade",
    "previous_rating_grade",
    "default_probability",
    "previous_default_probability",
    "churn_probability",
    "previous_churn_probability",
    "triggers",
    "details",
    "action",
    "reasons",
)
_FLOATS = (
    "default_probability",
    "previous_default_probability",
    "churn_probability",
    "previous_churn_probability",
)


def _col(scores: pd.DataFrame, name: str) -> pd.Series:
    return scores[name] if name in scores.columns else pd.Series(np.nan, index=scores.index)


def _pct(x: pd.Series) -> pd.Series:
    return (100.0 * x).round(2).astype("str") + "%"


def score_triggers(
    scores: pd.DataFrame, config: EarlyWarningConfig, *, horizon_months: int
) -> dict[str, pd.Series]:
    """Triggers on the change since the previous scoring: code -> detail (missing: no). The
    default triggers read the one-year PD of the PDs over ``horizon_months``
    (:func:`predict.scoring.value.one_year_pd`: the PD itself at H = 12), as the master
    scale does: a threshold on the PD over H would move a grade with H."""
    out: dict[str, pd.Series] = {}
    notches = _col(scores, "grade_change")
    before, now = _col(scores, "previous_rating_grade"), _col(scores, "rating_grade")
    text = "grade " + before.astype("str") + " -> " + now.astype("str")
    out["downgrade"] = text.where(notches >= config.downgrade_notches)
    pd_now, pd_then = (
        one_year_pd(_col(scores, "default_probability"), horizon_months),
        one_year_pd(_col(scores, "previous_default_probability"), horizon_months),
    )
    ratio = pd_now / pd_then.where(pd_then > 0)
    hit = (ratio >= config.pd_ratio) & (pd_now >= config.pd_ratio_min_pd)
    label = "PD x" if horizon_months == 12 else "one-year PD x"
    out["pd_ratio"] = (label + ratio.round(1).astype("str")).where(hit)
    for target, rise, threshold in (
        ("default", config.default_rise, config.default_threshold),
        ("churn", config.churn_rise, config.churn_threshold),
    ):
        now_p, prev_p = (
            _col(scores, f"{target}_probability"),
            _col(scores, f"previous_{target}_probability"),
        )
        name = target
        if target == "default":
            now_p, prev_p = pd_now, pd_then
            name = target if horizon_months == 12 else "one-year default"
        move = f"{name} " + _pct(prev_p) + " -> " + _pct(now_p)
        out[f"{target}_rise"] = move.where(now_p - prev_p >= rise)
        out[f"{target}_crossed"] = move.where((prev_p < threshold) & (now_p >= threshold))
        if "previous_as_of" in scores.columns:
            # no previous score: a client new since the previous scoring ("new"), or one it
            # had but without this score (out of the model's scope then, or the model not
            # run): never called new when it was there
            there = pd.to_datetime(scores["previous_as_of"]).notna()
            why = pd.Series(np.where(there, ", not scored before", ", new"), dtype="str")
            text = f"{name} " + _pct(now_p) + why.set_axis(scores.index)
            out[f"{target}_new_above"] = text.where(prev_p.isna() & (now_p >= threshold))
    return out


def _window_rows(
    frame: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp, date: str = "date"
) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame[(frame[date] > start) & (frame[date] <= end)]


def _per_client(rows: pd.DataFrame, text: pd.Series, ids: pd.Series) -> pd.Series:
    joined = text.groupby(rows["client_id"].astype("str")).agg(lambda s: ", ".join(sorted(set(s))))
    return ids.map(joined)


def _max_dpd(tables: Mapping[str, pd.DataFrame], end: pd.Timestamp) -> pd.Series:
    bal, fac = tables.get("facility_balances"), tables.get("facilities")
    if bal is None or fac is None:
        return pd.Series(dtype="float64")
    rows = _window_rows(bal, end - pd.offsets.MonthEnd(1), end, "month_end")
    assert rows is not None
    rows = rows.merge(fac[["facility_id", "client_id"]], on="facility_id")
    return rows.groupby(rows["client_id"].astype("str"))["days_past_due"].max().astype("float64")


# Event triggers and the tables each needs: without one, the trigger is not evaluated.
EVENT_TABLES = {
    "new_dpd": ("facilities", "facility_balances"),
    "credit_event": ("credit_events",),
    "complaint": ("interactions",),
    "detractor": ("interactions",),
    "revenue_drop": ("revenue",),
}


# ... and the optional columns: a column without any value switches its trigger off too.
EVENT_COLUMNS = {"detractor": (("interactions", "nps"),)}


def _has_values(tables: Mapping[str, pd.DataFrame], table: str, column: str) -> bool:
    frame = tables.get(table)
    return frame is not None and column in frame.columns and bool(frame[column].notna().any())


def not_evaluated(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    """The event triggers a missing table, or an optional column without any value, switches
    off, e.g. ``new_dpd: no facility_balances``, ``detractor: no interactions.nps`` (each
    logged as a warning: a trigger not evaluated is not a trigger that did not fire).
    ``tables``: the tables, or a book's skeleton (each column's least and greatest value)."""
    out = []
    for trigger, needs in EVENT_TABLES.items():
        missing = [t for t in needs if tables.get(t) is None]
        if not missing:
            missing = [
                f"{t}.{c}"
                for t, c in EVENT_COLUMNS.get(trigger, ())
                if not _has_values(tables, t, c)
            ]
        if missing:
            out.append(f"{trigger}: no {', '.join(missing)}")
            log.warning("early warning: %s not evaluated: no %s", trigger, ", ".join(missing))
    return out


def _codes(values: pd.Series) -> pd.Series:
    """The bank's codes as compared with the params' lists: trimmed, lower case (as the
    features map them, :func:`predict.features.sql.family_column`)."""
    return values.astype("str").str.strip().str.lower()


def _is_kind(values: pd.Series, kinds: Sequence[str]) -> pd.Series:
    return _codes(values).isin([k.strip().lower() for k in kinds])


def event_triggers(
    tables: Mapping[str, pd.DataFrame],
    ids: pd.Series,
    start: pd.Timestamp | pd.Series,
    end: pd.Timestamp | pd.Series,
    config: EarlyWarningConfig,
) -> dict[str, pd.Series]:
    """Triggers on what happened in each client's window (start, end]: code -> detail per
    client, indexed as ``ids`` (missing: no).

    ``start``, ``end``: one date for every client, or a date per client (Series indexed as
    ``ids``; see :func:`event_windows`). Each client's triggers read only its own rows in its
    own window (the clients are taken window by window; a run has one or two windows: the
    clients with a previous scoring and those without). A trigger whose tables are absent is
    left out (see :func:`not_evaluated`).
    """
    ids = ids.astype("str")
    starts, ends = _per_client_dates(start, ids, "start"), _per_client_dates(end, ids, "end")
    keys = pd.DataFrame({"start": starts.to_numpy(), "end": ends.to_numpy()})
    windows = keys.groupby(["start", "end"], sort=True).indices
    groups: list[tuple[Any, np.ndarray]] = [(k, np.asarray(p)) for k, p in windows.items()]
    if not groups:  # no client: the triggers evaluated, none fired
        groups = [((pd.NaT, pd.NaT), np.array([], dtype="int64"))]
    found: dict[str, list[pd.Series]] = {}
    for (s, e), pos in groups:
        window = _window_triggers(tables, ids.iloc[pos].reset_index(drop=True), s, e, config)
        for code, detail in window.items():
            found.setdefault(code, []).append(detail.set_axis(pos))
    return {
        code: pd.concat(parts).sort_index().set_axis(ids.index) for code, parts in found.items()
    }


def _per_client_dates(value: pd.Timestamp | pd.Series, ids: pd.Series, what: str) -> pd.Series:
    """A window bound per client (one date repeated, or the Series given); a client without
    one is refused (its window would be a guess)."""
    if isinstance(value, pd.Series):
        if not value.index.equals(ids.index):
            raise ValueError(f"early warning: the window {what}s must be indexed as the clients")
        dates = pd.to_datetime(value)
    else:
        dates = pd.Series(pd.Timestamp(value), index=ids.index)
    lacking = ids[dates.isna().to_numpy()]
    if len(lacking):
        raise ValueError(
            f"early warning: no window {what} for client(s) {sorted(lacking)[:5]} "
            "(their as_of is missing)"
        )
    return dates


def _window_triggers(
    tables: Mapping[str, pd.DataFrame],
    ids: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
    config: EarlyWarningConfig,
) -> dict[str, pd.Series]:
    """:func:`event_triggers` of clients ``ids`` sharing one window (start, end]."""
    out: dict[str, pd.Series] = {}
    if tables.get("facilities") is not None and tables.get("facility_balances") is not None:
        dpd_now, dpd_then = ids.map(_max_dpd(tables, end)), ids.map(_max_dpd(tables, start))
        new_dpd = (dpd_now >= config.dpd_days) & ~(dpd_then.fillna(0.0) >= config.dpd_days)
        then = dpd_then.round().astype("Int64").astype("str").where(dpd_then.notna(), "none")
        out["new_dpd"] = (
            "DPD " + then + " -> " + dpd_now.round().astype("Int64").astype("str")
        ).where(new_dpd)
    events = _window_rows(tables.get("credit_events"), start, end)
    if events is not None:
        ev = events[_is_kind(events["kind"], config.event_kinds)]
        out["credit_event"] = _per_client(ev, _codes(ev["kind"]), ids)
    contacts = _window_rows(tables.get("interactions"), start, end)
    if contacts is not None:
        comp = contacts[_is_kind(contacts["kind"], config.complaint_kinds)]
        out["complaint"] = _per_client(comp, _codes(comp["kind"]), ids)
        if _has_values(tables, "interactions", "nps"):  # else not evaluated (not_evaluated)
            det = contacts[contacts["nps"] <= config.detractor_nps]
            nps = "NPS " + det["nps"].astype("int64").astype("str")
            out["detractor"] = _per_client(det, nps, ids)
    if tables.get("revenue") is not None:
        dropped, before = (
            _revenue_drop(tables, ids, end, config),
            _revenue_drop(tables, ids, start, config),
        )
        out["revenue_drop"] = dropped.where(before.isna())  # new: not already down at the start
    return out


def event_windows(scores: pd.DataFrame, config: EarlyWarningConfig) -> tuple[pd.Series, pd.Series]:
    """Each client's event window (start, end], indexed as ``scores``: from its own previous
    as-of (``previous_as_of``; with none, ``window_months`` month ends before its as-of) to
    its as-of. Never another client's dates: a client's triggers are the same scored alone
    or within any book."""
    end = pd.to_datetime(scores["as_of"])
    ids = scores["client_id"].astype("str")
    _per_client_dates(end, ids, "end")  # every client has an as-of, or a clear error
    fallback = end.map({t: t - pd.offsets.MonthEnd(config.window_months) for t in end.unique()})
    before = pd.to_datetime(_col(scores, "previous_as_of"))
    return before.where(before.notna(), fallback), end


def _revenue_drop(
    tables: Mapping[str, pd.DataFrame],
    ids: pd.Series,
    end: pd.Timestamp,
    config: EarlyWarningConfig,
) -> pd.Series:
    """Revenue of (end - m, end] vs (end - 2m, end - m], m = revenue_months (run rates)."""
    months = config.revenue_months
    now = run_rate_revenue(tables, ids, end, months)
    before = run_rate_revenue(tables, ids, end - pd.offsets.MonthEnd(months), months)
    fall = 1.0 - now / before.where(before > 0)
    text = "revenue -" + (100.0 * fall).round(0).astype("Int64").astype("str") + "%"
    return text.where(fall >= config.revenue_drop)


_DEFAULT_SIDE = ("downgrade", "pd_ratio", "default_", "new_dpd", "credit_event")


def early_warning(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    config: EarlyWarningConfig,
    previous_source: str = "none",
    skipped: list[str] | None = None,
    *,
    horizon_months: int,
) -> pd.DataFrame:
    """The clients with at least one trigger, most triggers first (columns: see module).

    The event triggers a missing table switches off are logged and appended to ``skipped``
    (the scoring summary's ``early_warning_not_evaluated``).
    """
    missing = not_evaluated(tables)
    if skipped is not None:
        skipped.extend(missing)
    return rank_early_warning(
        early_warning_rows(scores, tables, config, previous_source, horizon_months=horizon_months)
    )


def early_warning_rows(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    config: EarlyWarningConfig,
    previous_source: str = "none",
    *,
    horizon_months: int,
) -> pd.DataFrame:
    """The early-warning rows of the clients of ``scores`` with at least one trigger, in the
    order of ``scores``, unranked: each row reads only its client's score row and its
    client's events in its own window, so the rows of a book's parts are the book's rows
    (:func:`rank_early_warning` orders them)."""
    if scores.empty:
        return empty_early_warning()
    ids = scores["client_id"].astype("str")
    start, end = event_windows(scores, config)
    found = {
        **score_triggers(scores, config, horizon_months=horizon_months),
        **event_triggers(tables, ids, start, end, config),
    }
    fired = pd.DataFrame(found, index=scores.index)
    on = fired.notna()
    hit = on.any(axis=1).to_numpy()
    if not hit.any():
        return empty_early_warning()
    sub, on, fired = scores.loc[hit], on.loc[hit], fired.loc[hit]
    default_side = on[[c for c in on.columns if c.startswith(_DEFAULT_SIDE)]].any(axis=1)
    out = pd.DataFrame({c: _col(sub, c) for c in EARLY_WARNING_COLUMNS if c in sub.columns})
    out["previous_as_of"] = pd.to_datetime(_col(sub, "previous_as_of"))  # each client's own
    out["previous_source"] = previous_source
    out["triggers"] = [", ".join(on.columns[row]) for row in on.to_numpy()]
    out["details"] = ["; ".join(str(v) for v in row if pd.notna(v)) for row in fired.to_numpy()]
    out["reasons"] = _col(sub, "default_reasons").where(default_side, _col(sub, "churn_reasons"))
    return _typed(out.reindex(columns=list(EARLY_WARNING_COLUMNS)).reset_index(drop=True))


def rank_early_warning(rows: pd.DataFrame) -> pd.DataFrame:
    """Early-warning rows (:func:`early_warning_rows`, in the book's client order) ranked:
    most triggers first, then the highest PD (missing last)."""
    out = rows.assign(_n=rows["triggers"].str.count(","))
    out = out.sort_values(["_n", "default_probability"], ascending=False, na_position="last")
    return _typed(out.drop(columns="_n").reset_index(drop=True))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    dtypes = {c: "float64" for c in _FLOATS}
    dtypes |= {"as_of": "datetime64[s]", "previous_as_of": "datetime64[s]"}
    return frame.astype({c: dtypes.get(c, "str") for c in EARLY_WARNING_COLUMNS})


def empty_early_warning() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=list(EARLY_WARNING_COLUMNS)))
