"""Portfolio KPIs as pure functions of the scores and the (validated) contract tables.

Definitions (also in docs/report.md), the same as the labels' (:mod:`predict.features.labels`):

- windows are calendar months ending with the as-of month: "the last 12 months" at
  2024-12-31 is 2024-01-01..2024-12-31 (as in the feature catalogue);
- *active at d*: the client has a facility open at d (originated on or before d, not
  closed on or before d) or non-zero revenue in the ``inactivity_months`` calendar months
  up to d; with no facilities table, revenue alone decides (and the other way round).
  Only rows dated on or before d are used (point in time);
- *retention rate* (realised): of the clients active at the month end
  ``retention_months`` before the as-of date, the share still active at the as-of date;
- *NPS*: over the survey answers in the last ``survey_months`` months, the percentage of
  promoters (9-10) minus the percentage of detractors (0-6), counted per answer;
- *CSAT*: the mean of the CSAT answers (1-5) in the same window;
- *contribution at risk*: the sum of the scores column ``contribution_at_risk``
  (``churn_probability x run_rate_revenue``, docs/scoring.md) over the clients where it is
  known; missing when no client's is known or the column is absent;
  *contribution at risk above threshold*: the same sum over the clients whose churn
  probability is at or above ``churn_threshold``;
- *default status*: the scores' ``in_default`` (true: in default at the as-of date, scored
  at PD 100% with EL = LGD x EAD; missing: status unknown, no PD). Without the column the
  figures that need it are missing, never computed over everyone;
- *mean default probability*: the mean ``default_probability`` over the clients known not
  to be in default (``in_default`` false) where it is known: the performing book's PD,
  not diluted upwards by the 100% of the clients in default;
- *expected loss, performing* / *in default*: the sum of ``expected_loss`` over the clients
  not in default / in default; 0 for a group with none of them (and some client of known
  status), missing when none of its clients' expected loss is known. Clients of unknown
  status are in neither (their PD, hence their expected loss, is missing).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN, POPULATIONS

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


def retention(
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    groups: pd.Series,
    months: int = 12,
    inactivity_months: int = 6,
) -> pd.DataFrame:
    """Per group: clients active ``months`` before as_of, how many are still active, rate."""
    before = active_clients(tables, months_before(as_of, months), inactivity_months)
    now = active_clients(tables, as_of, inactivity_months)
    return retention_counts(before, now, groups)


def retention_counts(before: pd.Index, now: pd.Index, groups: pd.Series) -> pd.DataFrame:
    """Per group: of the ``before`` clients, how many are in ``now``, and the rate."""
    frame = pd.DataFrame({"client_id": before})
    frame["group"] = groups.reindex(before).fillna(NO_GROUP).to_numpy()
    frame["retained"] = frame["client_id"].isin(now).astype("int64")
    out = frame.groupby("group").agg(
        active_before=("client_id", "size"), retained=("retained", "sum")
    )
    out["retention_rate"] = out["retained"] / out["active_before"]
    return out


def net_promoter_score(answers: pd.Series) -> float:
    """NPS in points (-100..100) of 0-10 answers; NaN when there is no answer."""
    a = pd.to_numeric(answers, errors="coerce").dropna()
    if a.empty:
        return float("nan")
    return float(100.0 * ((a >= 9).mean() - (a <= 6).mean()))


def survey_kpis(
    interactions: pd.DataFrame | None,
    as_of: pd.Timestamp,
    groups: pd.Series,
    months: int = 12,
) -> pd.DataFrame:
    """Per group: NPS, number of NPS answers, mean CSAT, number of CSAT answers."""
    cols = ["nps", "nps_answers", "csat", "csat_answers"]
    if interactions is None or interactions.empty:
        return pd.DataFrame(columns=cols, index=pd.Index([], name="group"), dtype="float64")
    start = window_start(as_of, months)
    win = interactions[(interactions["date"] >= start) & (interactions["date"] <= as_of)].copy()
    win["group"] = groups.reindex(win["client_id"].astype(str)).fillna(NO_GROUP).to_numpy()
    nps = win.get("nps", pd.Series(np.nan, index=win.index))
    csat = pd.to_numeric(win.get("csat", pd.Series(np.nan, index=win.index)), errors="coerce")
    out = pd.DataFrame(
        {
            "nps": nps.groupby(win["group"]).apply(net_promoter_score),
            "nps_answers": nps.notna().groupby(win["group"]).sum(),
            "csat": csat.astype("float64").groupby(win["group"]).mean(),
            "csat_answers": csat.notna().groupby(win["group"]).sum(),
        }
    )
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
) -> pd.Series:
    """Per group, the sum of ``values`` over the ``members`` rows where known: 0 when the
    group has no member but some row of ``known`` status, missing when it has members whose
    values are all unknown or no row of known status."""
    total = values.where(members).groupby(group).sum(min_count=1)
    has_member = members.groupby(group).any()
    has_known = known.groupby(group).any()
    return total.where(has_member, 0.0).where(has_member | has_known)


def score_kpis(scores: pd.DataFrame, groups: pd.Series, churn_threshold: float) -> pd.DataFrame:
    """Per group: sums and means of the scores; contribution at risk is the sum of the scores
    column (all clients, and those at or above ``churn_threshold``), missing without it.
    The mean default probability is over the clients not in default, and the expected loss
    is split between them and those in default (:func:`default_status`)."""
    s = scores.copy()
    s["group"] = groups.reindex(s["client_id"].astype(str)).fillna(NO_GROUP).to_numpy()
    p = s["churn_probability"].astype("float64")
    known = "contribution_at_risk" in s
    car = s["contribution_at_risk"].astype("float64") if known else pd.Series(np.nan, s.index)
    s["_car"] = car
    s["_car_thr"] = car.where(p >= churn_threshold, 0.0).where(car.notna())
    status = default_status(s)
    performing = status.eq(False).fillna(False).astype(bool)
    defaulted = status.eq(True).fillna(False).astype(bool)
    s["_pd_performing"] = s["default_probability"].astype("float64").where(performing)
    loss = pd.to_numeric(s["expected_loss"], errors="coerce").astype("float64")
    g = s.groupby("group")
    return pd.DataFrame(
        {
            "clients": g.size(),
            "predicted_churn": g["churn_probability"].mean(),
            "expected_leavers": g["churn_probability"].sum(),
            "mean_default_probability": g["_pd_performing"].mean(),
            "contribution": g["expected_contribution"].sum(),
            "contribution_at_risk": g["_car"].sum(min_count=1),
            "contribution_at_risk_above_threshold": g["_car_thr"].sum(min_count=1),
            "expected_loss_performing": sum_where(loss, performing, status.notna(), s["group"]),
            "expected_loss_in_default": sum_where(loss, defaulted, status.notna(), s["group"]),
            "ead": g["ead"].sum() if "ead" in s else np.nan,
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
        )
    for key in ([by] if by else []) + [None]:
        groups = client_groups(scores, tables.get("clients"), key)
        frame = score_kpis(scores, groups, config.churn_threshold)
        if activity is not None:
            frame = frame.join(retention_counts(*activity, groups), how="outer")
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


def action_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """Clients per recommended action."""
    counts = scores["action"].astype("str").value_counts()
    return counts.rename_axis("action").rename("clients").reset_index()
