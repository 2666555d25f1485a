"""Portfolio KPIs as pure functions of the scores and the (validated) contract tables.

Definitions (also in docs/report.md), the labels' (:mod:`predict.features.labels`):

- windows are calendar months ending with the as-of month: "the last 12 months" at
  2024-12-31 is 2024-01-01..2024-12-31 (as in the feature catalogue);
- *active at d*: the client has a facility open at d (originated on or before d, not
  closed on or before d) or non-zero revenue in the ``inactivity_months`` calendar months
  up to d; with no facilities table, revenue alone decides (and the other way round).
  Only rows dated on or before d are used (point in time);
- *default trigger* (the churn and default labels'): a ``credit_events`` row of a kind in
  ``default_event_kinds`` (``features.default.event_kinds``, any case), or a facility at
  ``dpd_threshold`` or more days past due at a month end on or after its origination month;
- *retention rate* (realised, as the churn label, which leaves exits through default out:
  a default is a credit loss, not a voluntary departure): of the clients active at the
  month end ``retention_months`` before the as-of date (``active_before``), those with a
  default trigger dated after that month end and on or before the as-of date are counted
  apart (``defaulted``); of the others, the share still active at the as-of date
  (``retained / (active_before - defaulted)``). Without a ``credit_events`` or
  ``facility_balances`` table no default can be seen: ``defaulted`` is missing and the rate
  is over every client active before (as the label is then);
- *NPS*: over the respondents, the clients with an NPS answer in the last
  ``survey_months`` months, each by its latest answer there (:func:`latest_nps`): the
  percentage of promoters (9-10) minus the percentage of detractors (0-6);
- *CSAT*: the mean of the CSAT answers (1-5) in the same window;
- *sums over a group* (expected leavers, expected contribution, contribution at risk,
  expected loss, EAD): the sum over the group's members whose value is known, with
  ``<kpi>_clients``, how many that is (:data:`COVERAGE` names it and the population it is
  out of). Missing when no member's value is known (never a 0 made of nothing); 0 only
  when known values add up to 0, or for a group with no member at all (expected loss of
  a group where nobody is in default, with some client of known status);
- *contribution at risk*: the sum of the scores column ``contribution_at_risk``
  (``churn_probability x run_rate_revenue``, docs/scoring.md); missing when the column is
  absent; *contribution at risk above threshold*: the same sum with 0 for the clients whose
  churn probability is below ``churn_threshold`` (known over the same clients);
- *default status*: the scores' ``in_default`` (true: in default at the as-of date, scored
  at PD 100% with EL = LGD x EAD; missing: status unknown, no PD). Without the column the
  figures that need it are missing, never computed over everyone;
- *mean default probability*: the mean ``default_probability`` over the clients known not
  to be in default (``in_default`` false) where it is known: the performing book's PD,
  not diluted upwards by the 100% of the clients in default;
- *expected loss, performing* / *in default*: the sum of ``expected_loss`` over the clients
  not in default (``clients_performing``) / in default (``clients_in_default``). Clients
  of unknown status are in neither (their PD, hence their expected loss, is missing).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predict.contract.spec import (
    DEFAULT_DPD_THRESHOLD,
    DEFAULT_EVENT_KINDS,
    OUTPUT_COLUMN,
    POPULATIONS,
)

logger = logging.getLogger(__name__)

ALL = "All"
NO_GROUP = "(none)"


@dataclass(frozen=True)
class KpiConfig:
    """Windows and thresholds of the portfolio KPIs (``report.kpis`` in params.yaml)."""

    retention_months: int = 12
    inactivity_months: int = 6
    survey_months: int = 12
    churn_threshold: float = 0.5
    default_bins: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0)
    # the labels' default trigger (features.default; set by the report's config loader)
    default_event_kinds: tuple[str, ...] = DEFAULT_EVENT_KINDS
    dpd_threshold: int = DEFAULT_DPD_THRESHOLD


# sum KPI -> (column counting the clients whose value is known, column of the population)
COVERAGE: dict[str, tuple[str, str]] = {
    "predicted_churn": ("expected_leavers_clients", "clients"),
    "expected_leavers": ("expected_leavers_clients", "clients"),
    "contribution": ("contribution_clients", "clients"),
    "contribution_at_risk": ("contribution_at_risk_clients", "clients"),
    "contribution_at_risk_above_threshold": ("contribution_at_risk_clients", "clients"),
    "expected_loss_performing": ("expected_loss_performing_clients", "clients_performing"),
    "expected_loss_in_default": ("expected_loss_in_default_clients", "clients_in_default"),
    "ead": ("ead_clients", "clients"),
}


def months_before(as_of: pd.Timestamp, months: int) -> pd.Timestamp:
    """The month end ``months`` calendar months before the as-of date's month."""
    period = pd.Timestamp(as_of).to_period("M") - months
    return period.to_timestamp(how="end").normalize()


def window_start(as_of: pd.Timestamp, months: int) -> pd.Timestamp:
    """First day of the ``months`` calendar months ending with the as-of date's month."""
    period = pd.Timestamp(as_of).to_period("M") - (months - 1)
    return period.to_timestamp(how="start")


def active_clients(
    tables: Mapping[str, pd.DataFrame], at: pd.Timestamp, inactivity_months: int
) -> pd.Index:
    """Client ids active at ``at`` (open facility, or revenue in the months up to ``at``)."""
    at = pd.Timestamp(at)
    ids: set[str] = set()
    fac = tables.get("facilities")
    if fac is not None and len(fac):
        open_ = (fac["origination_date"] <= at) & (
            fac["closed_date"].isna() | (fac["closed_date"] > at)
        )
        ids.update(fac.loc[open_, "client_id"].astype(str).to_numpy(dtype="object"))
    rev = tables.get("revenue")
    if rev is not None and len(rev):
        start = window_start(at, inactivity_months)
        recent = (rev["date"] >= start) & (rev["date"] <= at) & (rev["amount"] != 0)
        ids.update(rev.loc[recent, "client_id"].astype(str).to_numpy(dtype="object"))
    return pd.Index(sorted(ids), dtype="str", name="client_id")


def client_groups(scores: pd.DataFrame, clients: pd.DataFrame | None, by: str | None) -> pd.Series:
    """Map client_id -> group label (``by`` column of clients, else of scores; All if None)."""
    frames = [f for f in (clients, scores) if f is not None and "client_id" in f]
    ids = pd.Index(pd.concat([f["client_id"].astype(str) for f in frames]).unique())
    if by is None:
        return pd.Series(ALL, index=ids, dtype="str")
    out = pd.Series(np.nan, index=ids, dtype="object")
    for frame in frames:
        if by in frame:
            known = frame.drop_duplicates("client_id").set_index(frame["client_id"].astype(str))
            out = out.fillna(known[by].reindex(ids).astype("object"))
    return out.fillna(NO_GROUP).astype("str")


def default_triggers(tables: Mapping[str, pd.DataFrame], config: KpiConfig) -> pd.DataFrame | None:
    """Dated default triggers (``client_id``, ``date``), the labels' (module docstring): a
    credit event of a default kind at its date, a facility at ``dpd_threshold`` or more days
    past due at its month end. None without a ``credit_events`` or ``facility_balances``
    table (no default can be seen)."""
    parts = []
    events = tables.get("credit_events")
    if events is not None:
        kinds = {k.strip().lower() for k in config.default_event_kinds}
        hit = events["kind"].astype("str").str.strip().str.lower().isin(kinds).fillna(False)
        parts.append(events.loc[hit.astype(bool), ["client_id", "date"]])
    balances, facilities = tables.get("facility_balances"), tables.get("facilities")
    if balances is not None and facilities is not None:
        due = pd.to_numeric(balances["days_past_due"], errors="coerce")
        late = balances.loc[(due >= config.dpd_threshold).fillna(False).astype(bool)]
        fac = facilities[["facility_id", "client_id", "origination_date"]]
        late = late[["facility_id", "month_end"]].merge(fac, on="facility_id", how="inner")
        opened = late["origination_date"].dt.to_period("M") <= late["month_end"].dt.to_period("M")
        late = late.loc[opened, ["client_id", "month_end"]]
        parts.append(late.rename(columns={"month_end": "date"}))
    if not parts:
        return None
    frames = [
        pd.DataFrame(
            {
                "client_id": f["client_id"].astype("str").to_numpy(dtype="object"),
                "date": pd.to_datetime(f["date"]).to_numpy(dtype="datetime64[ns]"),
            }
        )
        for f in parts
    ]
    return pd.concat(frames, ignore_index=True)


def defaulted_between(
    triggers: pd.DataFrame | None, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Index | None:
    """Client ids with a default trigger dated after ``start`` and on or before ``end``;
    None when no default can be seen (``triggers`` None)."""
    if triggers is None:
        return None
    when = triggers["date"]
    hit = (when > pd.Timestamp(start)) & (when <= pd.Timestamp(end))
    return pd.Index(sorted(set(triggers.loc[hit, "client_id"])), dtype="str", name="client_id")


def retention(
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    groups: pd.Series,
    config: KpiConfig,
) -> pd.DataFrame:
    """Per group: clients active ``retention_months`` before as_of, of them those who
    defaulted since, how many of the others are still active, and the rate."""
    start = months_before(as_of, config.retention_months)
    before = active_clients(tables, start, config.inactivity_months)
    now = active_clients(tables, as_of, config.inactivity_months)
    defaulted = defaulted_between(default_triggers(tables, config), start, as_of)
    return retention_counts(before, now, groups, defaulted)


def retention_counts(
    before: pd.Index, now: pd.Index, groups: pd.Series, defaulted: pd.Index | None
) -> pd.DataFrame:
    """Per group: of the ``before`` clients, those in ``defaulted`` (missing when None: no
    default can be seen), how many of the others are in ``now``, and the rate."""
    label = groups.reindex(before).fillna(NO_GROUP).to_numpy()
    kept = before.isin(now)
    out_ = None if defaulted is None else before.isin(defaulted)
    return retention_table(label, kept, out_)


def retention_table(
    label: np.ndarray, kept: np.ndarray, defaulted: np.ndarray | None
) -> pd.DataFrame:
    """Per group of ``label`` (one per client active before): ``active_before``,
    ``defaulted`` (missing when ``defaulted`` is None), ``retained`` (still active and not
    defaulted) and ``retention_rate`` = retained / (active_before - defaulted), missing
    when nobody is left in the population."""
    out_ = np.zeros(len(label), dtype=bool) if defaulted is None else np.asarray(defaulted, bool)
    frame = pd.DataFrame(
        {
            "group": label,
            "defaulted": out_.astype("int64"),
            "retained": (np.asarray(kept, bool) & ~out_).astype("int64"),
        }
    )
    out = frame.groupby("group").agg(
        active_before=("retained", "size"),
        defaulted=("defaulted", "sum"),
        retained=("retained", "sum"),
    )
    base = out["active_before"] - out["defaulted"]
    out["retention_rate"] = (out["retained"] / base.where(base > 0)).astype("float64")
    if defaulted is None:
        out["defaulted"] = np.nan
    return out


def net_promoter_score(answers: pd.Series) -> float:
    """NPS in points (-100..100) of 0-10 answers, one per respondent; NaN when there is none."""
    a = pd.to_numeric(answers, errors="coerce").dropna()
    if a.empty:
        return float("nan")
    return float(100.0 * ((a >= 9).mean() - (a <= 6).mean()))


def latest_nps(window: pd.DataFrame) -> pd.Series:
    """Each respondent's NPS answer: per client with an NPS answer in ``window`` (interaction
    rows), its latest (the latest date; on one date, the last row in the table's order),
    indexed by client_id (text). NPS counts respondents, not answers: a client who answered
    ten times counts once, by its latest answer."""
    if "nps" not in window:
        return pd.Series([], index=pd.Index([], dtype="object", name="client_id"), dtype="float64")
    nps = pd.to_numeric(window["nps"], errors="coerce").astype("float64")
    rows = pd.DataFrame(
        {"client_id": window["client_id"].astype("str").to_numpy(dtype="object"),
         "date": window["date"].to_numpy(), "nps": nps.to_numpy()}
    )[nps.notna().to_numpy()]  # fmt: skip
    rows = rows.sort_values("date", kind="stable")
    return rows.groupby("client_id", sort=True)["nps"].last()


def survey_kpis(
    interactions: pd.DataFrame | None,
    as_of: pd.Timestamp,
    groups: pd.Series,
    months: int = 12,
) -> pd.DataFrame:
    """Per group: NPS (per respondent: each client's latest answer in the window, see
    :func:`latest_nps`), its respondents, mean CSAT (per answer), number of CSAT answers."""
    cols = ["nps", "nps_respondents", "csat", "csat_answers"]
    if interactions is None or interactions.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="group"), dtype="float64")
    start = window_start(as_of, months)
    win = interactions[(interactions["date"] >= start) & (interactions["date"] <= as_of)].copy()
    win["group"] = groups.reindex(win["client_id"].astype(str)).fillna(NO_GROUP).to_numpy()
    latest = latest_nps(win)
    group_of = groups.reindex(latest.index.astype(str)).fillna(NO_GROUP).to_numpy()
    csat = pd.to_numeric(win.get("csat", pd.Series(np.nan, index=win.index)), errors="coerce")
    out = pd.DataFrame(
        {
            "nps": latest.groupby(group_of).apply(net_promoter_score),
            "nps_respondents": latest.groupby(group_of).size().astype("float64"),
            "csat": csat.astype("float64").groupby(win["group"]).mean(),
            "csat_answers": csat.notna().groupby(win["group"]).sum(),
        }
    )
    out["nps_respondents"] = out["nps_respondents"].fillna(0.0)
    out.index.name = "group"
    return out


def default_status(scores: pd.DataFrame) -> pd.Series:
    """The scores' ``in_default`` as a nullable boolean (missing: status unknown); all
    missing when the scores have no such column (no client's status is known)."""
    if "in_default" not in scores:
        return pd.Series(pd.NA, index=scores.index, dtype="boolean")
    try:
        return scores["in_default"].astype("boolean")
    except (TypeError, ValueError) as err:
        raise ValueError(
            "scores: column 'in_default' must be a yes/no flag (true, false, 1, 0 or "
            f"missing): {err}"
        ) from err


def sum_where(
    values: pd.Series, members: pd.Series, known: pd.Series, group: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Per group, the sum of ``values`` over the ``members`` rows where known, and how many
    rows that is: 0 (of 0) when the group has no member but some row of ``known`` status,
    missing when it has members whose values are all unknown or no row of known status."""
    inside = values.where(members)
    total = inside.groupby(group).sum(min_count=1)
    has_member = members.groupby(group).any()
    has_known = known.groupby(group).any()
    total = total.where(has_member, 0.0).where(has_member | has_known)
    return total, inside.notna().groupby(group).sum().astype("int64")


def score_kpis(scores: pd.DataFrame, groups: pd.Series, churn_threshold: float) -> pd.DataFrame:
    """Per group: sums and means of the scores, each sum with ``<kpi>_clients``, the clients
    whose value is known (:data:`COVERAGE`); a sum is missing when no client's value is
    known. Contribution at risk is the sum of the scores column (all clients, and those at
    or above ``churn_threshold``), missing without it. The mean default probability is over
    the clients not in default, and the expected loss is split between them and those in
    default (:func:`default_status`)."""
    s = scores.copy()
    s["group"] = groups.reindex(s["client_id"].astype(str)).fillna(NO_GROUP).to_numpy()
    p = s["churn_probability"].astype("float64")
    nan = pd.Series(np.nan, index=s.index, dtype="float64")
    car = s["contribution_at_risk"].astype("float64") if "contribution_at_risk" in s else nan
    s["_car"] = car
    s["_car_thr"] = car.where(p >= churn_threshold, 0.0).where(car.notna())
    s["_contribution"] = s["expected_contribution"].astype("float64")
    s["_ead"] = pd.to_numeric(s["ead"], errors="coerce").astype("float64") if "ead" in s else nan
    status = default_status(s)
    performing = status.eq(False).fillna(False).astype(bool)
    defaulted = status.eq(True).fillna(False).astype(bool)
    s["_pd_performing"] = s["default_probability"].astype("float64").where(performing)
    loss = pd.to_numeric(s["expected_loss"], errors="coerce").astype("float64")
    el_performing = sum_where(loss, performing, status.notna(), s["group"])
    el_default = sum_where(loss, defaulted, status.notna(), s["group"])
    g = s.groupby("group")
    return pd.DataFrame(
        {
            "clients": g.size(),
            "predicted_churn": g["churn_probability"].mean(),
            "expected_leavers": p.groupby(s["group"]).sum(min_count=1),
            "expected_leavers_clients": g["churn_probability"].count(),
            "mean_default_probability": g["_pd_performing"].mean(),
            "contribution": g["_contribution"].sum(min_count=1),
            "contribution_clients": g["_contribution"].count(),
            "contribution_at_risk": g["_car"].sum(min_count=1),
            "contribution_at_risk_above_threshold": g["_car_thr"].sum(min_count=1),
            "contribution_at_risk_clients": g["_car"].count(),
            "clients_performing": performing.groupby(s["group"]).sum().astype("int64"),
            "expected_loss_performing": el_performing[0],
            "expected_loss_performing_clients": el_performing[1],
            "clients_in_default": defaulted.groupby(s["group"]).sum().astype("int64"),
            "expected_loss_in_default": el_default[0],
            "expected_loss_in_default_clients": el_default[1],
            "ead": g["_ead"].sum(min_count=1),
            "ead_clients": g["_ead"].count(),
        }
    )


def portfolio_kpis(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    config: KpiConfig,
    by: str | None,
) -> pd.DataFrame:
    """All KPIs per group of ``by`` (segment, branch_id, ...) plus a final ``All`` row."""
    parts = []
    activity = None
    if tables.get("facilities") is not None or tables.get("revenue") is not None:
        start = months_before(as_of, config.retention_months)
        activity = (
            active_clients(tables, start, config.inactivity_months),
            active_clients(tables, as_of, config.inactivity_months),
            defaulted_between(default_triggers(tables, config), start, as_of),
        )
    for key in ([by] if by else []) + [None]:
        groups = client_groups(scores, tables.get("clients"), key)
        frame = score_kpis(scores, groups, config.churn_threshold)
        if activity is not None:
            before, now, defaulted = activity
            frame = frame.join(retention_counts(before, now, groups, defaulted), how="outer")
        frame = frame.join(
            survey_kpis(tables.get("interactions"), as_of, groups, config.survey_months), how="left"
        )
        parts.append(frame)
    out = pd.concat(parts)
    out.index.name = by or "group"
    return out.reset_index()


def default_risk_histogram(probabilities: pd.Series, bins: tuple[float, ...]) -> pd.DataFrame:
    """Count of clients per default-probability band (left-closed, last band closed)."""
    p = probabilities.astype("float64").dropna()
    edges = np.asarray(bins, dtype="float64")
    counts, _ = np.histogram(p.clip(edges[0], edges[-1]), bins=edges)
    labels = [f"{100 * a:g}–{100 * b:g}%" for a, b in itertools.pairwise(edges)]
    return pd.DataFrame({"band": labels, "clients": counts.astype("int64")})


def lifecycle_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Clients per lifecycle stage, largest first."""
    stage = scores["lifecycle_stage"].astype("str").fillna(NO_GROUP)
    counts = stage.value_counts().rename_axis("lifecycle_stage").rename("clients")
    return counts.reset_index()


def model_populations(scores: pd.DataFrame) -> list[dict[str, object]]:
    """Per model: its population (:data:`predict.contract.spec.POPULATIONS`), the clients it
    scored, and those it did not, by reason (``<target>_not_scored_reason``)."""
    rows: list[dict[str, object]] = []
    for target, output in OUTPUT_COLUMN.items():
        if output not in scores:
            continue
        reason = scores.get(f"{target}_not_scored_reason")
        outside = reason.notna() if reason is not None else pd.Series(False, index=scores.index)
        counts = reason[outside].value_counts() if reason is not None else pd.Series()
        rows.append(
            {
                "model": target,
                "population": POPULATIONS[target],
                "scored": int((scores[output].notna() & ~outside).sum()),
                "not_scored": "; ".join(f"{int(n)} {why}" for why, n in counts.items()) or "none",
            }
        )
    return rows


NONE_DECIDED = "(none decided)"  # an action left empty: an unknown score or stage


def action_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Clients per recommended action; a client with none decided (an unknown score or
    stage: ``action`` empty, docs/scoring.md "Actions") counts as ``(none decided)``,
    never dropped."""
    counts = scores["action"].astype("str").fillna(NONE_DECIDED).value_counts()
    return counts.rename_axis("action").rename("clients").reset_index()
