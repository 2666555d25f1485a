"""Labels at each as-of date t over the horizon (t, t+H], exactly as the data contract says,
and the population each model is trained, evaluated and applied on.

- ``label_default``: 1 if the client has a ``credit_events`` default (kinds in params) or any
  facility at >= ``dpd_threshold`` days past due at a month end in (t, t+H], else 0.
  Population (:func:`apply_populations`): clients with exposure at t (feature
  ``has_exposure``: an open facility or a drawn balance) who are not in default at t
  (feature ``in_default``: a trigger still in force or in its probation, or a write-off;
  see :class:`DefaultDefinition`); NaN for the others. A cured client is in it.
- ``label_churn``: 1 if the client is active at t and inactive at t+H, 0 if active at both.
  Active at d = an open facility at d (originated on or before d, not closed on or before
  d) or revenue (a non-zero amount) in the ``inactivity_months`` months up to d. Without
  facilities, revenue alone decides (and the other way round). Churn is a voluntary exit:
  NaN if not active at t, if in default at t, or if a default (as above) falls in (t, t+H]
  (an exit through default or write-off is not churn, and staying in workout is no choice).
- ``label_contribution``: the sum of ``revenue.amount`` in (t, t+H]; 0 without revenue.

A snapshot with t+H after the data end is censored: all its labels are NaN. A target whose
tables are absent is NaN everywhere and the run says why (never faked).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predict.contract.spec import DEFAULT_DPD_THRESHOLD, DEFAULT_EVENT_KINDS, TARGETS
from predict.features import sql as fsql
from predict.features.snapshots import (
    AUTO,
    is_censored,
    label_end,
    month_index,
    require_month_ends,
    resolve_data_end,
)

logger = logging.getLogger(__name__)

LABEL_COLUMNS: tuple[str, ...] = tuple(f"label_{t}" for t in TARGETS)
_NEEDS: dict[str, str] = {
    "default": "facilities, with credit_events or facility_balances",
    "churn": "facilities or revenue",
    "contribution": "revenue",
}


@dataclass(frozen=True)
class DefaultDefinition:
    """The ``features.default`` params: what counts as a default, and when it ends.

    A *trigger* at a month end is a credit event of ``event_kinds`` dated in that month or a
    facility at >= ``dpd_threshold`` days past due at that month end. A client is in default
    at t while a trigger holds and for ``probation_months`` after the last one
    (``restructuring_probation_months`` after a distressed restructuring of the same
    default episode); a write-off (``write_off_kinds``) never cures. See
    :func:`predict.features.sql.in_default_sql`.
    """

    event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS  # credit_events kinds (case-insensitive)
    dpd_threshold: int = DEFAULT_DPD_THRESHOLD  # days past due at a month end
    write_off_kinds: tuple[str, ...] = ("write_off",)  # of event_kinds: never cures
    probation_months: int = 3  # still in default this many months after the last trigger
    restructuring_probation_months: int = 12  # ... after a distressed restructuring

    def __post_init__(self) -> None:
        if self.dpd_threshold < 1:
            raise ValueError(f"features.default.dpd_threshold must be >= 1: {self.dpd_threshold}")
        if not 0 <= self.probation_months <= self.restructuring_probation_months:
            raise ValueError(
                "features.default: need 0 <= probation_months <= restructuring_probation_months,"
                f" got {self.probation_months} and {self.restructuring_probation_months}"
            )
        kinds = {k.strip().lower() for k in self.event_kinds}
        extra = [k for k in self.write_off_kinds if k.strip().lower() not in kinds]
        if extra:
            raise ValueError(f"features.default.write_off_kinds {extra} not in event_kinds")

    def families(self) -> dict[str, tuple[str, ...]]:
        """The credit event kinds per family: ``default`` (cures) and ``write_off``."""
        write_off = {k.strip().lower() for k in self.write_off_kinds}
        cures = tuple(k for k in self.event_kinds if k.strip().lower() not in write_off)
        return {"default": cures, "write_off": tuple(self.write_off_kinds)}


@dataclass(frozen=True)
class LabelConfig:
    horizon_months: int = 12
    inactivity_months: int = 6
    default: DefaultDefinition = field(default_factory=DefaultDefinition)
    data_end: dt.date | str = AUTO  # last date covered by the data; auto = latest event-table row


def label_availability(tables: Mapping[str, pd.DataFrame]) -> dict[str, str | None]:
    """For each target: None when it can be defined, else why not."""
    have = set(tables)
    ok = {
        "default": "facilities" in have and bool({"credit_events", "facility_balances"} & have),
        "churn": bool({"facilities", "revenue"} & have),
        "contribution": "revenue" in have,
    }
    return {t: None if ok[t] else f"needs {_NEEDS[t]}, absent from the input" for t in TARGETS}


def apply_populations(frame: pd.DataFrame) -> dict[str, int]:
    """Set the labels outside each model's population to NaN, in place; the rows left out.

    ``frame`` holds the features of the same rows (``in_default``, ``has_exposure``; when
    absent, no input could show a default, resp. the default target is already skipped).
    Returns the labelled rows each rule took out (censored rows excluded).
    """
    labelled = {t: frame[t].notna() for t in ("label_default", "label_churn")}
    in_default = _flag(frame, "in_default", absent=False)
    no_exposure = ~_flag(frame, "has_exposure", absent=True)
    frame.loc[in_default | no_exposure, "label_default"] = np.nan
    frame.loc[in_default, "label_churn"] = np.nan
    out = {
        "default_in_default": int((labelled["label_default"] & in_default).sum()),
        "default_no_exposure": int((labelled["label_default"] & no_exposure & ~in_default).sum()),
        "churn_in_default": int((labelled["label_churn"] & in_default).sum()),
    }
    logger.info("labelled rows taken out of the model populations: %s", out)
    return out


def _flag(frame: pd.DataFrame, column: str, absent: bool) -> pd.Series:
    if column not in frame:
        return pd.Series(absent, index=frame.index, dtype=bool)
    return frame[column].eq(1).fillna(False).astype(bool)


def _calendar(dates: Sequence[dt.date], config: LabelConfig, end: dt.date) -> pd.DataFrame:
    frame = pd.DataFrame({"as_of": pd.to_datetime(list(dates)).astype("datetime64[s]")})
    frame["midx"] = [month_index(d) for d in dates]
    frame["end_date"] = pd.to_datetime([label_end(d, config.horizon_months) for d in dates]).astype(
        "datetime64[s]"
    )
    frame["end_midx"] = frame["midx"] + config.horizon_months
    frame["censored"] = [is_censored(d, config.horizon_months, end) for d in dates]
    return frame


def _default_ctes(present: set[str], threshold: int) -> list[fsql.Cte]:
    ctes = []
    if "credit_events" in present:
        ctes.append(
            fsql.Cte(
                "def_ev",
                f"""SELECT s.cid, s.midx,
  bool_or(e.d > s.as_of AND e.d <= s.end_date) AS future
FROM snap s JOIN (SELECT ids.cid, e.date::DATE AS d FROM {fsql.with_cid("events_t", "e")}
  JOIN code_map_t m ON m.domain = 'credit_event' AND m.family IN {fsql.DEFAULT_FAMILIES}
  AND m.code = lower(trim(e.kind))) e ON e.cid = s.cid
GROUP BY s.cid, s.midx""",
                grain="snapshot",
            )
        )
    if {"facilities", "facility_balances"} <= present:
        ctes.append(
            fsql.Cte(
                "def_dpd",
                f"""SELECT s.cid, s.midx,
  bool_or(b.midx > s.midx AND b.midx <= s.end_midx) AS future
FROM snap s JOIN (SELECT DISTINCT ids.cid, {fsql.midx("b.month_end::DATE")} AS midx
  FROM balances_t b JOIN {fsql.with_cid("facilities_t", "f")} ON f.facility_id = b.facility_id
  WHERE b.days_past_due >= {int(threshold)}
    AND {fsql.midx("b.month_end::DATE")} >= {fsql.midx("f.origination_date::DATE")}) b
  ON b.cid = s.cid
GROUP BY s.cid, s.midx""",
                grain="snapshot",
            )
        )
    return ctes


def _activity_ctes(present: set[str], inactivity: int) -> list[fsql.Cte]:
    ctes = []
    if "facilities" in present:
        open_at = "(f.opened <= {d} AND (f.closed IS NULL OR f.closed > {d}))"
        ctes.append(
            fsql.Cte(
                "fac_open",
                f"""SELECT s.cid, s.midx, bool_or({open_at.format(d="s.as_of")}) AS open_t,
  bool_or({open_at.format(d="s.end_date")}) AS open_h
FROM snap s JOIN (SELECT ids.cid, f.origination_date::DATE AS opened,
  f.closed_date::DATE AS closed FROM {fsql.with_cid("facilities_t", "f")}) f ON f.cid = s.cid
GROUP BY s.cid, s.midx""",
                grain="snapshot",
            )
        )
    if "revenue" in present:
        ctes.append(
            fsql.Cte(
                "rev_h",
                f"""SELECT s.cid, s.midx,
  bool_or(r.active AND r.midx <= s.midx AND r.midx > s.midx - {inactivity}) AS rev_t,
  bool_or(r.active AND r.midx > s.end_midx - {inactivity}) AS rev_h,
  sum(r.total) FILTER (WHERE r.midx > s.midx) AS future_revenue
FROM snap s JOIN (SELECT ids.cid, {fsql.midx("r.date::DATE")} AS midx, sum(r.amount) AS total,
  bool_or(r.amount <> 0) AS active FROM {fsql.with_cid("revenue_t", "r")} GROUP BY ALL) r
  ON r.cid = s.cid AND r.midx > s.midx - {inactivity} AND r.midx <= s.end_midx
GROUP BY s.cid, s.midx""",
                grain="snapshot",
            )
        )
    return ctes


def _label_selects(present: set[str], skipped: Mapping[str, str | None]) -> dict[str, str]:
    def flag(cte: str, column: str) -> str:
        return f"coalesce({cte}.{column}, false)"

    def either(cte_columns: list[tuple[str, str]]) -> str:
        return "(" + " OR ".join(flag(c, col) for c, col in cte_columns) + ")"

    selects = {c: "NULL" for c in LABEL_COLUMNS}
    parts = [p for p in ("def_ev", "def_dpd") if p in _default_names(present)]
    future = either([(p, "future") for p in parts]) if parts else "false"
    if skipped["default"] is None:
        selects["label_default"] = f"CASE WHEN {future} THEN 1 ELSE 0 END"
    if skipped["churn"] is None:
        now = [("fac_open", "open_t")] * ("facilities" in present) + [("rev_h", "rev_t")] * (
            "revenue" in present
        )
        later = [("fac_open", "open_h")] * ("facilities" in present) + [("rev_h", "rev_h")] * (
            "revenue" in present
        )
        selects["label_churn"] = (
            f"CASE WHEN NOT {either(now)} OR {future} THEN NULL "
            f"WHEN {either(later)} THEN 0 ELSE 1 END"
        )
    if skipped["contribution"] is None:
        selects["label_contribution"] = "coalesce(rev_h.future_revenue, 0)"
    return {c: f"CASE WHEN s.censored THEN NULL ELSE ({e})::DOUBLE END" for c, e in selects.items()}


def _default_names(present: set[str]) -> set[str]:
    names = {"def_ev"} if "credit_events" in present else set()
    return names | ({"def_dpd"} if {"facilities", "facility_balances"} <= present else set())


def build_labels(
    tables: Mapping[str, pd.DataFrame], as_of_dates: Sequence[dt.date], config: LabelConfig
) -> pd.DataFrame:
    """Labels per (client_id, as_of): ``label_churn``, ``label_default``, ``label_contribution``,
    before the status populations (:func:`apply_populations`, which needs the features).

    One row per client onboarded on or before each as-of date (the rows of
    :func:`predict.features.build.build_features`), sorted by client and date.
    """
    dates = sorted(set(as_of_dates))
    require_month_ends(dates)
    end = resolve_data_end(tables, config.data_end)
    present = {n for n in tables if n in fsql.VIEWS}
    skipped = label_availability(tables)
    for target, why in skipped.items():
        if why is not None:
            logger.warning("target %s skipped: %s; label_%s is NaN", target, why, target)
    cal = _calendar(dates, config, end)
    con = fsql.connect(
        tables,
        dates,
        fsql.code_map_frame({"credit_event": config.default.families()}),
    )
    con.register("label_cal_t", cal)
    ctes = [
        *(c for c in fsql.BASE if c.name == "ids"),
        fsql.Cte(
            "snap",
            "SELECT c.client_id, c.cid, a.as_of::DATE AS as_of, a.midx, "
            "a.end_date::DATE AS end_date, a.end_midx, a.censored "
            "FROM ids c JOIN label_cal_t a ON c.onboarded <= a.as_of::DATE",
            ("ids",),
            materialized=True,
        ),
        *_default_ctes(present, config.default.dpd_threshold),
        *_activity_ctes(present, config.inactivity_months),
    ]
    selects = _label_selects(present, skipped)
    uses = {c: tuple(x.name for x in ctes if f"{x.name}." in e) for c, e in selects.items()}
    frame = fsql.sort_result(con.sql(fsql.assemble(ctes, selects, uses)).df())
    con.close()
    frame = _typed(frame)
    _log_censoring(cal, frame, end, config.horizon_months)
    return frame


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "client_id": frame["client_id"].astype("str"),
            "as_of": pd.to_datetime(frame["as_of"]).astype("datetime64[s]"),
        }
    )
    for column in LABEL_COLUMNS:
        out[column] = pd.to_numeric(frame[column]).astype("float64")
    return out


def _log_censoring(cal: pd.DataFrame, frame: pd.DataFrame, end: dt.date, horizon: int) -> None:
    censored = cal.loc[cal["censored"], "as_of"]
    rows = int(frame["as_of"].isin(censored).sum())
    if len(censored):
        logger.info(
            "%d of %d as-of dates censored (t+%d months after the data end %s): %d rows "
            "have no labels and are no training examples (%s)",
            len(censored),
            len(cal),
            horizon,
            end,
            rows,
            ", ".join(d.date().isoformat() for d in censored),
        )
