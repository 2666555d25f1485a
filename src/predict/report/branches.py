"""Branch and relationship-manager views: league tables and time series.

Definitions (the portfolio KPIs', :mod:`predict.report.kpis`, docs/report.md):

- *clients*: scored clients of the group, every life-cycle stage (``scores.parquet``; the
  group from the ``clients`` table, else the scores); NPS, CSAT, retention and expected
  contribution are over them, as in the portfolio KPI tables;
- *clients ranked* (``clients_ranked``): those of them in the book and performing, life-cycle
  stage in :data:`RANKED_STAGES` (new, active, dormant; not potential, churned nor
  in_default): the population of the index and dimension means and so of the ranking, so
  that a branch is not ranked down for its prospects, former clients or clients in default
  (whose index reads low by construction);
- *NPS*: % promoters (9-10) minus % detractors (0-6) of the respondents, -100..100: the
  clients with an NPS answer dated in the ``kpis.survey_months`` calendar months up to the
  date, each by its latest answer there (:func:`predict.report.kpis.latest_nps`; a client
  answering ten times counts once); *CSAT*: the mean CSAT answer (1-5) in the same months,
  per answer. Each comes with its count (``nps_respondents``, ``csat_answers``); under
  ``min_answers`` the table says "too few" and the time series leaves the point out (a
  gap), never a number resting on a handful of respondents or answers;
- *retention (12m)*: of the clients active ``kpis.retention_months`` months before the
  date (open facility, or revenue in the ``inactivity_months`` months up to it), those with
  a default trigger since are counted apart (``defaulted``: an exit through default is a
  credit loss, not attrition, as in the churn label), and of the others the share still
  active at the date; realised, from the tables, only rows dated on or before the date
  (point in time; :func:`predict.report.kpis.retention_table`);
- *expected contribution*: the sum of the scores' ``expected_contribution`` where known,
  with ``contribution_clients``, how many clients that is (missing when none is known);
- the relationship index and dimension scores (``relationship_index``,
  ``satisfaction_score``, ``loyalty_score``, ``retention_score``, ``contribution_score``,
  ``trust_score``): the mean over the group's clients ranked (above) where known, when the
  scores have the column.

The time series evaluates the same definitions at month ends ``0, step_months, ...,
series_months`` months before the as-of date, each with the tables cut at that date;
groups (branch, segment) are the clients' current ones.

The *relationship index from the data* (``<dimension>_from_data``, :func:`index_series`):
at each of those dates that the features table has a snapshot of, the dimension scores and
the index of every client in the snapshot, computed by the scoring's own
:func:`predict.scoring.dimensions.add_dimensions` with ``score.dimensions`` and the
contribution quantiles frozen in the contribution model folder, from that snapshot's
features only (point in time); model outputs are not available at past dates, so the
model-based inputs (``churn_probability``, ``expected_contribution_percentile``) are missing
and dropped from their dimensions as any missing input is. Per group and date: the mean over
the clients where known, and ``<dimension>_from_data_clients``, how many that is. It is not
the scores' index (which includes the model outputs); the two are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from predict.report.charts import PALETTE, line_chart
from predict.report.formatting import Col, money_cols, table_spec
from predict.report.kpis import (
    ALL,
    COVERAGE,
    NO_GROUP,
    KpiConfig,
    active_clients,
    client_groups,
    default_triggers,
    defaulted_between,
    latest_nps,
    months_before,
    portfolio_kpis,
    retention_table,
    window_start,
)
from predict.report.stages import StageStrategy, check_strategies, default_strategies
from predict.scoring.dimensions import DIMENSIONS as DIMENSION_NAMES
from predict.scoring.dimensions import (
    REALISED_COLUMN,
    DimensionsConfig,
    add_dimensions,
)

TOO_FEW = "too few"
# the life-cycle stages of the clients behind the index means and the ranking: in the book
# and performing (not potential, churned nor in_default)
RANKED_STAGES = ("new", "active", "dormant")
DIMENSIONS = (
    "relationship_index",
    "satisfaction_score",
    "loyalty_score",
    "retention_score",
    "contribution_score",
    "trust_score",
)
LEAGUE_COLUMNS = (
    "clients",
    "clients_ranked",
    "nps",
    "nps_respondents",
    "csat",
    "csat_answers",
    "active_before",
    "defaulted",
    "retained",
    "retention_rate",
    "contribution",
    "contribution_clients",
)
SERIES_COLUMNS = (
    "date",
    "group",
    "active_before",
    "defaulted",
    "retained",
    "retention_rate",
    "nps",
    "nps_respondents",
    "csat",
    "csat_answers",
)


@dataclass(frozen=True)
class RelationshipConfig:
    """The ``report.relationship`` params."""

    min_answers: int = 10  # fewer NPS respondents (CSAT answers) than this: "too few"
    series_months: int = 36  # time series: how far back from the as-of date
    step_months: int = 3  # time series: months between points
    series_groups: int = 5  # time series: lines drawn per chart (largest groups) besides All
    stage_strategies: dict[str, StageStrategy] = field(default_factory=default_strategies)

    def __post_init__(self) -> None:
        if self.min_answers < 1:
            raise ValueError(f"min_answers must be >= 1, got {self.min_answers}")
        if self.series_months < 0 or self.step_months < 1:
            raise ValueError(
                "series_months must be >= 0 and step_months >= 1, got "
                f"{self.series_months} and {self.step_months}"
            )
        if not 1 <= self.series_groups <= len(PALETTE) - 1:
            raise ValueError(
                f"series_groups must be 1..{len(PALETTE) - 1} (one colour each, and one for "
                f"All), got {self.series_groups}"
            )
        check_strategies(self.stage_strategies)


def group_column(scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame], by: str) -> bool:
    """Whether the clients table or the scores give ``by`` for at least one client."""
    frames = [tables.get("clients"), scores]
    return any(f is not None and by in f and f[by].notna().any() for f in frames)


def too_few(values: pd.Series, answers: pd.Series, min_answers: int) -> pd.Series:
    """``values`` with "too few" where fewer than ``min_answers`` answers stand behind."""
    out = values.astype("object")
    few = pd.to_numeric(answers, errors="coerce").fillna(0) < min_answers
    out[few.to_numpy()] = TOO_FEW
    return out


def league_table(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    by: str,
    kpis: KpiConfig,
    min_answers: int,
) -> pd.DataFrame:
    """One row per group of ``by`` and a last ``All`` row: :data:`LEAGUE_COLUMNS` and the
    dimension means present in the scores (over the clients ranked, :func:`dimension_means`);
    NPS and CSAT are "too few" under ``min_answers`` answers. Ranked by the relationship
    index when the scores have it, else by NPS (largest first; "too few" last), then by
    the clients ranked."""
    frame = portfolio_kpis(scores, tables, as_of, kpis, by).set_index(by)
    frame = frame.reindex(columns=[c for c in LEAGUE_COLUMNS if c != "clients_ranked"])
    means = dimension_means(scores, tables, by)
    frame = frame.join(means)
    frame.insert(1, "clients_ranked", frame.pop("clients_ranked").fillna(0).astype("int64"))
    frame["nps_respondents"] = frame["nps_respondents"].fillna(0)
    frame["csat_answers"] = frame["csat_answers"].fillna(0)
    key = "relationship_index" if "relationship_index" in frame else "nps"
    rank = pd.to_numeric(frame[key], errors="coerce")
    if key == "nps":
        rank = rank.where(frame["nps_respondents"] >= min_answers)
    body, total = frame.iloc[:-1], frame.iloc[-1:]
    body = body.assign(_rank=rank.iloc[:-1]).sort_values(
        ["_rank", "clients_ranked"], ascending=False, na_position="last", kind="stable"
    )
    out = pd.concat([body.drop(columns="_rank"), total])
    out["nps"] = too_few(out["nps"], out["nps_respondents"], min_answers)
    out["csat"] = too_few(out["csat"], out["csat_answers"], min_answers)
    return out.reset_index()


def ranked_clients(scores: pd.DataFrame) -> pd.Series:
    """Whether each scored client is among the clients ranked: life-cycle stage in
    :data:`RANKED_STAGES` (a missing stage is not)."""
    if "lifecycle_stage" not in scores:
        raise ValueError(
            "scores: no column 'lifecycle_stage', needed for the league tables' population "
            f"(the clients of stage {', '.join(RANKED_STAGES)})"
        )
    return scores["lifecycle_stage"].astype("str").isin(RANKED_STAGES).fillna(False).astype(bool)


def dimension_means(
    scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame], by: str
) -> pd.DataFrame:
    """Per group of ``by`` and ``All``: ``clients_ranked`` (clients of a stage in
    :data:`RANKED_STAGES`) and, over them, the mean of each dimension column the scores have
    (where known; missing for a group with none)."""
    present = [c for c in DIMENSIONS if c in scores]
    ranked = ranked_clients(scores).to_numpy()
    values = scores[present].apply(pd.to_numeric, errors="coerce").astype("float64")
    parts = []
    for key in (by, None):
        groups = client_groups(scores, tables.get("clients"), key)
        label = groups.reindex(scores["client_id"].astype("str")).to_numpy(dtype="object")
        counts = pd.Series(ranked, dtype="int64").groupby(label).sum().rename("clients_ranked")
        means = values[ranked].groupby(label[ranked]).mean()
        parts.append(pd.DataFrame(counts).join(means))
    out = pd.concat(parts).reindex(columns=["clients_ranked", *present])
    out.index.name = by
    return out


def series_dates(as_of: pd.Timestamp, config: RelationshipConfig) -> list[pd.Timestamp]:
    """The month ends ``series_months, ..., step_months, 0`` months before the as-of date."""
    return [months_before(as_of, k) for k in range(config.series_months, -1, -config.step_months)]


def relationship_series(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    bys: Sequence[str],
    kpis: KpiConfig,
    config: RelationshipConfig,
) -> pd.DataFrame:
    """Long table (``by`` and :data:`SERIES_COLUMNS`): per grouping of ``bys``, date of the
    history and group (``All`` for the whole book, always included), retention, NPS and
    CSAT with their counts; NPS (CSAT) missing under ``min_answers`` answers. Dates with no
    data are left out. The window of each date is cut once and shared by the groupings."""
    clients = tables.get("clients")
    # plain object indexes: lookups of 20,000 ids 50 times are slow on Arrow strings
    groupings = {by: _plain(client_groups(scores, clients, by)) for by in bys}
    total = _plain(client_groups(scores, clients, None))
    dates = series_dates(as_of, config)
    answers = survey_answers(tables.get("interactions"))
    has_activity = tables.get("facilities") is not None or tables.get("revenue") is not None
    triggers = default_triggers(tables, kpis)
    active: dict[pd.Timestamp, np.ndarray] = {}

    def active_at(d: pd.Timestamp) -> np.ndarray:
        if d not in active:
            ids = active_clients(tables, d, kpis.inactivity_months)
            active[d] = ids.to_numpy(dtype="object")
        return active[d]

    parts = []
    for date in dates:
        start = window_start(date, kpis.survey_months)
        window = answers[(answers["date"] >= start) & (answers["date"] <= date)]
        per_client = survey_per_client(window)
        if has_activity:
            start = months_before(date, kpis.retention_months)
            before = active_at(start)
            kept = pd.Index(before, dtype="object").isin(active_at(date))  # hash lookups
            gone = defaulted_between(triggers, start, date)
            defaulted = None if gone is None else pd.Index(before).isin(gone.astype("object"))
        for by, groups in groupings.items():
            for g in (groups, total):
                frame = survey_by_group(per_client, g)
                if has_activity:
                    frame = frame.join(retention_by_group(before, kept, defaulted, g), how="outer")
                parts.append(frame.rename_axis("group").reset_index().assign(date=date, by=by))
    columns = ["by", *SERIES_COLUMNS]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    out = out.drop_duplicates(["by", "date", "group"], keep="last")  # a group named "All"
    for col in ("active_before", "retained", "nps_respondents", "csat_answers"):
        out[col] = out[col].fillna(0).astype("int64")
    if triggers is not None:  # else no default can be seen: missing
        out["defaulted"] = out["defaulted"].fillna(0).astype("int64")
    for col, count in (("nps", "nps_respondents"), ("csat", "csat_answers")):
        out[col] = out[col].astype("float64").where(out[count] >= config.min_answers)
    measured = out[["retention_rate", "nps", "csat"]].notna().any(axis=1)
    out = out[measured.groupby([out["by"], out["date"]]).transform("any")]
    return out.sort_values(["by", "date", "group"], kind="stable").reset_index(drop=True)


FROM_DATA = "_from_data"  # suffix of the index and dimension means from the data at each date
FROM_DATA_NOTE = "from the data at each date (model outputs not included)"


def feature_columns(config: DimensionsConfig) -> list[str]:
    """The features table's columns :func:`index_series` reads (those the file lacks are
    missing inputs, dropped from their dimensions)."""
    inputs = {i.feature for d in DIMENSION_NAMES for i in config.dimension(d).inputs}
    inputs |= {c.feature for d in DIMENSION_NAMES for c in config.dimension(d).caps}
    return sorted({"client_id", "as_of", "segment", "lifecycle_stage", REALISED_COLUMN} | inputs)


def index_series(
    features: pd.DataFrame,
    groupings: Mapping[str, pd.Series],
    dates: Sequence[pd.Timestamp],
    reference: Mapping[str, Any] | None,
    config: DimensionsConfig,
) -> pd.DataFrame:
    """Long table: ``by``, ``date``, ``group`` (``All`` included) and, for each of
    :data:`DIMENSIONS`, ``<column>_from_data`` (the mean over the group's clients of the
    snapshot where known) and ``<column>_from_data_clients`` (how many). ``groupings`` maps
    ``by`` to client_id -> group; a client without one is in ``(none)``. Only the snapshot
    rows dated exactly at a date are used (point in time); dates without a snapshot are
    left out. The clients are those ranked at that date, as in the league table: life-cycle
    stage (the snapshot's ``lifecycle_stage``) in :data:`RANKED_STAGES` (without the column:
    every client)."""
    columns = ["by", "date", "group"]
    for col in DIMENSIONS:
        columns += [f"{col}{FROM_DATA}", f"{col}{FROM_DATA}_clients"]
    if features is None or features.empty or not dates:
        return pd.DataFrame(columns=columns)
    for name in ("client_id", "as_of"):
        if name not in features:
            raise ValueError(f"features table: no column {name!r}, needed for the index series")
    when = pd.to_datetime(features["as_of"]).to_numpy(dtype="datetime64[ns]")
    wanted = pd.DatetimeIndex(list(dates)).as_unit("ns").normalize()
    total = pd.Series(ALL, index=pd.Index([], dtype="object"), dtype="object")
    parts = []
    for date in wanted:
        snap = features[when == date.to_datetime64()].reset_index(drop=True)
        if "lifecycle_stage" in snap:  # the league table's population at that date
            ranked = snap["lifecycle_stage"].astype("str").isin(RANKED_STAGES).fillna(False)
            snap = snap[ranked.to_numpy(dtype=bool)].reset_index(drop=True)
        if snap.empty:
            continue
        ids = snap["client_id"].astype("str")
        if ids.duplicated().any():
            raise ValueError(
                f"features table: client {ids[ids.duplicated()].iloc[0]!r} has several rows "
                f"at as_of {date.date()}"
            )
        nan = pd.Series(np.nan, index=snap.index, dtype="float64")
        segment = snap["segment"] if "segment" in snap else pd.Series(pd.NA, index=snap.index)
        frame = pd.DataFrame(
            {"client_id": ids, "segment": segment.astype("str"), "expected_contribution": nan}
        )
        scored = add_dimensions(frame, snap, reference, config)
        values = scored[list(DIMENSIONS)].astype("float64")
        ids_plain = ids.to_numpy(dtype="object")
        for by, groups in groupings.items():
            for g in (groups, total):
                if g is total:
                    label = np.full(len(ids_plain), ALL, dtype="object")
                else:
                    label = _plain(groups).reindex(ids_plain).fillna(NO_GROUP).to_numpy()
                grouped = values.groupby(label)
                means = grouped.mean().add_suffix(FROM_DATA)
                counts = grouped.count().add_suffix(f"{FROM_DATA}_clients")
                part = means.join(counts).rename_axis("group").reset_index()
                parts.append(part.assign(date=date, by=by))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    out = out.drop_duplicates(["by", "date", "group"], keep="last")  # a group named "All"
    for col in DIMENSIONS:
        out[f"{col}{FROM_DATA}_clients"] = out[f"{col}{FROM_DATA}_clients"].astype("int64")
    return out.sort_values(["by", "date", "group"], kind="stable").reset_index(drop=True)


def _plain(groups: pd.Series) -> pd.Series:
    return pd.Series(
        groups.to_numpy(dtype="object"), index=groups.index.astype("object"), dtype="object"
    )


def retention_by_group(
    before: np.ndarray, kept: np.ndarray, defaulted: np.ndarray | None, groups: pd.Series
) -> pd.DataFrame:
    """Per group: clients active before (``before``), those who defaulted since
    (``defaulted``, aligned; None: none can be seen), how many of the others are still
    active (``kept``, aligned), and the rate (:func:`predict.report.kpis.retention_table`)."""
    label = groups.reindex(before).fillna(NO_GROUP).to_numpy()
    return retention_table(label, kept, defaulted)


def survey_answers(interactions: pd.DataFrame | None) -> pd.DataFrame:
    """One row per interaction: client_id, date, the NPS answer (``nps``, missing when none)
    and the CSAT counts the survey KPIs add up (CSAT answers and their sum)."""
    cols = ["nps", "csat_answers", "csat_sum"]
    if interactions is None or interactions.empty:
        empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in cols})
        return empty.assign(client_id=pd.Series(dtype="str"), date=pd.Series(dtype="datetime64[s]"))
    nan = pd.Series(np.nan, index=interactions.index)
    nps = pd.to_numeric(interactions.get("nps", nan), errors="coerce").astype("float64")
    csat = pd.to_numeric(interactions.get("csat", nan), errors="coerce").astype("float64")
    out = pd.DataFrame(
        {
            "client_id": interactions["client_id"].astype("str"),
            "date": interactions["date"],
            "nps": nps,
            "csat_answers": csat.notna().astype("float64"),
            "csat_sum": csat.fillna(0.0),
        }
    )
    return out


def survey_per_client(window: pd.DataFrame) -> pd.DataFrame:
    """Per client of the ``window``'s rows (:func:`survey_answers`): whether it responded to
    NPS, whether its latest answer (:func:`predict.report.kpis.latest_nps`) is a promoter
    (9-10) or a detractor (0-6), its CSAT answers and their sum."""
    out = window.groupby("client_id", sort=True)[["csat_answers", "csat_sum"]].sum()
    out.index = out.index.astype("object")
    latest = latest_nps(window).reindex(out.index)  # each respondent's latest answer
    out["nps_respondents"] = latest.notna().astype("float64")
    out["promoters"] = (latest >= 9).astype("float64")
    out["detractors"] = (latest <= 6).astype("float64")
    return out


def survey_by_group(per_client: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """NPS, NPS respondents, mean CSAT and CSAT answers per group from the per-client
    figures (:func:`survey_per_client`; the same figures as
    :func:`predict.report.kpis.survey_kpis`)."""
    label = groups.reindex(per_client.index).fillna(NO_GROUP).to_numpy()
    sums = per_client.groupby(label).sum()
    n, m = sums["nps_respondents"], sums["csat_answers"]
    out = pd.DataFrame(
        {
            "nps": (100.0 * (sums["promoters"] - sums["detractors"]) / n).where(n > 0),
            "nps_respondents": n,
            "csat": (sums["csat_sum"] / m).where(m > 0),
            "csat_answers": m,
        }
    )
    out.index.name = "group"
    return out


def series_groups(series: pd.DataFrame, scores: pd.DataFrame, groups: pd.Series, n: int) -> list:
    """``All`` and the ``n`` groups with the most scored clients (ties by name)."""
    label = groups.reindex(scores["client_id"].astype("str"))
    counts = label.value_counts()
    known = set(series["group"])
    ranked = sorted(
        (g for g in counts.index if g in known and g != ALL), key=lambda g: (-counts[g], g)
    )
    return [ALL, *ranked[:n]]


def series_frame(series: pd.DataFrame, column: str, groups: list) -> pd.DataFrame:
    """Dates (rows) by group (columns) of one measure, NaN where unknown."""
    wide = series.pivot_table(index="date", columns="group", values=column, aggfunc="first")
    dates = pd.Index(sorted(series["date"].unique()), name="date")
    return wide.reindex(index=dates, columns=groups).astype("float64")


LEAGUE_COLS = (
    Col("clients", "Clients (all stages)", "int"),
    Col("clients_ranked", "Ranked (new, active, dormant)", "int"),
    Col("relationship_index", "Relationship index (ranked)", "float"),
    Col("satisfaction_score", "Satisfaction", "float"),
    Col("loyalty_score", "Loyalty", "float"),
    Col("retention_score", "Retention score", "float"),
    Col("contribution_score", "Contribution score", "float"),
    Col("trust_score", "Trust", "float"),
    Col("nps", "NPS", "nps"),
    Col("nps_respondents", "NPS respondents", "int"),
    Col("csat", "Avg CSAT", "csat"),
    Col("csat_answers", "CSAT answers", "int"),
    Col("active_before", "Active 12m ago", "int"),
    Col("defaulted", "Of them defaulted", "int"),
    Col("retention_rate", "Retention (12m), not defaulted", "pct"),
    Col("contribution", "Exp. contribution", "money", of=COVERAGE["contribution"]),
)
VIEWS = {"branch_id": "branch", "rm_id": "relationship manager"}
SERIES_BY = {"branch_id": "branch", "segment": "segment"}
# measure -> (chart title, scale factor, fixed axis)
MEASURES = {
    "retention_rate": (
        "Retention (12m), % of clients active 12 months before (defaulted since left out)",
        100.0,
        (0, 100),
    ),
    "nps": ("NPS (-100..100)", 1.0, (-100, 100)),
    "csat": ("Average CSAT (1-5)", 1.0, (1, 5)),
    f"relationship_index{FROM_DATA}": (
        f"Relationship index (0-100), {FROM_DATA_NOTE},",
        1.0,
        (0, 100),
    ),
}


def league_views(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    kpis: KpiConfig,
    config: RelationshipConfig,
    currency: str = "",
) -> list[dict[str, Any]]:
    """The branch and RM league tables (table spec, or a note why there is none)."""
    out: list[dict[str, Any]] = []
    for by, name in VIEWS.items():
        if not group_column(scores, tables, by):
            out.append({"by": by, "name": name, "table": None, "note": NO_COLUMN.format(by=by)})
            continue
        frame = league_table(scores, tables, as_of, by, kpis, config.min_answers)
        cols = (Col(by, name.capitalize()), *money_cols(LEAGUE_COLS, currency))
        spec = table_spec(frame.iloc[:-1], cols, table_id=f"league-{by}", footer=frame.iloc[-1:])
        out.append({"by": by, "name": name, "table": spec, "note": None})
    return out


NO_COLUMN = (
    "No {by} in the clients table or the scores, so this table is left out "
    "(docs/data_dictionary.md: clients.{by})."
)


def series_views(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: pd.Timestamp,
    kpis: KpiConfig,
    config: RelationshipConfig,
    features: pd.DataFrame | None = None,
    reference: Mapping[str, Any] | None = None,
    dimensions: DimensionsConfig | None = None,
) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """Per grouping (branch, segment) its charts of retention, NPS, CSAT and, with the
    features table (every snapshot), the relationship index from the data at each date
    (:func:`index_series`) over the history, and all the points as one long table (the
    site's CSV)."""
    bys = [by for by in SERIES_BY if group_column(scores, tables, by)]
    long = relationship_series(scores, tables, as_of, bys, kpis, config)
    if features is not None and bys:
        clients = tables.get("clients")
        groupings = {by: client_groups(scores, clients, by) for by in bys}
        dates = series_dates(as_of, config)
        index = index_series(
            features, groupings, dates, reference, dimensions or DimensionsConfig()
        )
        long["date"] = pd.to_datetime(long["date"]).astype("datetime64[ns]")
        index["date"] = pd.to_datetime(index["date"]).astype("datetime64[ns]")
        long = long.merge(index, on=["by", "date", "group"], how="outer")
        counts = [str(c) for c in long.columns if str(c).endswith("_clients")]
        counts += ["active_before", "retained", "nps_respondents", "csat_answers"]
        counts += ["defaulted"] if long["defaulted"].notna().any() else []
        long[counts] = long[counts].fillna(0).astype("int64")
        long = long.sort_values(["by", "date", "group"], kind="stable").reset_index(drop=True)
    views = []
    for by in bys:
        name = SERIES_BY[by]
        series = long[long["by"] == by]
        groups = client_groups(scores, tables.get("clients"), by)
        shown = series_groups(series, scores, groups, config.series_groups)
        months = [str(pd.Timestamp(d).to_period("M")) for d in sorted(series["date"].unique())]
        charts_ = [
            line_chart(
                months,
                {str(g): series_frame(series, col, shown)[g].to_numpy() * factor for g in shown},
                title=f"{title} by {name}",
                width=680,
                y_range=(float(axis[0]), float(axis[1])),
            )
            for col, (title, factor, axis) in MEASURES.items()
            if col in series and series[col].notna().any()
        ]
        total = int(series.loc[series["group"] != ALL, "group"].nunique())
        views.append({"by": by, "name": name, "charts": charts_, "shown": shown, "groups": total})
    return views, long
