"""Point-in-time features (and the labels beside them) from the contract tables.

:func:`build_features` computes every feature of :data:`predict.features.catalogue.FEATURES` whose
inputs are present, for any list of month-end as-of dates, all dates at once: DuckDB
aggregates each event table once per client and bucket of months, numpy takes every date's
windows over those rows, a last DuckDB statement evaluates the features (see
:mod:`predict.features.sql`); a book of more than ``events_per_pass`` event rows is done
in passes over ranges of clients, to bound the memory. A
feature at t reads only rows dated on or before t (``facility_balances``: month ends on or
before t; a facility closed after t is open at t; a client onboarded after t has no row).
:func:`build_feature_table` adds the labels (:mod:`predict.features.labels`) for the snapshot
calendar of :mod:`predict.features.snapshots` and a summary; :func:`run` is the ``features`` stage.

Contractual facility terms (limit, rate, maturity) and client attributes (segment,
industry, region, turnover) are taken as they are in the tables: the contract has no
history of their changes, so they are assumed known at origination / onboarding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from predict.contract.spec import TABLES, TARGETS
from predict.features import rates as frates
from predict.features import sql as fsql
from predict.features import windows as fw
from predict.features.catalogue import (
    CREDIT_EVENT_FAMILIES,
    FEATURES,
    REVENUE_FAMILIES,
    is_available,
)
from predict.features.labels import (
    LABEL_COLUMNS,
    DefaultDefinition,
    LabelConfig,
    apply_populations,
    build_labels,
)
from predict.features.labels import label_availability as _label_availability
from predict.features.lifecycle import LifecycleConfig, stage_sql
from predict.features.snapshots import (
    AUTO,
    SnapshotConfig,
    as_of_dates,
    data_start,
    is_censored,
    label_end,
    lagging_tables,
    report_table_ends,
    require_month_ends,
    resolve_data_end,
    resolve_data_start,
    scoring_as_of,
)
from predict.io import write_json, write_parquet

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevenueSources:
    """The bank's revenue ``source`` codes per family (case-insensitive); others: "other"."""

    interest: tuple[str, ...] = ("interest", "interest_income", "loan_interest")
    fee: tuple[str, ...] = ("fee", "fees", "commission", "commissions")


@dataclass(frozen=True)
class InteractionKinds:
    """The bank's interaction ``kind`` codes per family (case-insensitive)."""

    rm_contact: tuple[str, ...] = ("rm_meeting", "meeting", "visit")
    service_request: tuple[str, ...] = ("service_request",)
    complaint: tuple[str, ...] = ("complaint",)
    survey: tuple[str, ...] = ("survey",)


@dataclass(frozen=True)
class CreditEventKinds:
    """The bank's credit event ``kind`` codes per family (defaults: ``default.event_kinds``)."""

    watchlist: tuple[str, ...] = ("watchlist",)
    restructuring: tuple[str, ...] = ("restructuring",)
    covenant_breach: tuple[str, ...] = ("covenant_breach",)


@dataclass(frozen=True)
class FeaturesConfig:
    """The ``features`` params section (features, labels and the snapshot calendar)."""

    horizon_months: int = 12  # H: labels look at (t, t+H]
    inactivity_months: int = 6  # active = open facility or revenue in this many months
    data_end: dt.date | str = AUTO  # last date of the data; auto = latest event-table row
    # first date of the data; auto = earliest event-table row: a windowed feature whose
    # window reaches before it is missing (:func:`mask_short_windows`)
    data_start: dt.date | str = AUTO
    as_of: SnapshotConfig = field(default_factory=SnapshotConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    default: DefaultDefinition = field(default_factory=DefaultDefinition)
    revenue_sources: RevenueSources = field(default_factory=RevenueSources)
    interaction_kinds: InteractionKinds = field(default_factory=InteractionKinds)
    credit_event_kinds: CreditEventKinds = field(default_factory=CreditEventKinds)
    # Event rows (balances, revenue, interactions) per DuckDB pass: a larger book is done in
    # ranges of clients, one pass each (bounds the memory; the result is the same).
    events_per_pass: int = 5_000_000

    def __post_init__(self) -> None:
        if self.horizon_months < 1 or self.inactivity_months < 1:
            raise ValueError("features.horizon_months and inactivity_months must be >= 1")
        if self.events_per_pass < 1:
            raise ValueError("features.events_per_pass must be >= 1")
        self.lifecycle.check(self.inactivity_months)
        self.code_map()  # a code mapped to two families is an error now, not at run time

    @property
    def labels(self) -> LabelConfig:
        return LabelConfig(self.horizon_months, self.inactivity_months, self.default, self.data_end)

    def code_map(self) -> pd.DataFrame:
        events = {f: getattr(self.credit_event_kinds, f) for f in CREDIT_EVENT_FAMILIES}
        return fsql.code_map_frame(
            {
                "revenue": {f: getattr(self.revenue_sources, f) for f in ("interest", "fee")},
                "interaction": vars(self.interaction_kinds),
                "credit_event": {**events, **self.default.families()},
            }
        )


@dataclass(frozen=True)
class FeatureTable:
    """Features and labels of every snapshot, and what the run did."""

    frame: pd.DataFrame
    summary: dict[str, Any]


def available_features(
    tables: Mapping[str, pd.DataFrame],
) -> tuple[list[str], dict[str, str]]:
    """Features computable from ``tables`` and, for the others, why they are left out."""
    present = fsql.present_columns(tables)
    kept, left_out = [], {}
    for name, spec in FEATURES.items():
        if is_available(spec, present):
            kept.append(name)
        else:
            left_out[name] = f"needs {spec.requires.replace('|', ' or ')}"
    return kept, left_out


def _since(latest: tuple[str, tuple[str, ...]]) -> tuple[str, tuple[str, ...]]:
    """Months from the latest date (see :func:`predict.features.sql.latest`) to t."""
    return fsql.months_since(latest[0]), latest[1]


def _counts(cte: str, columns: Mapping[str, str]) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {n: (f"coalesce({cte}.{c}, 0)", (cte,)) for n, c in columns.items()}


def _relationship_sql(
    config: FeaturesConfig, present: set[str]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    fac, rev = "facilities" in present, "revenue" in present
    first = (
        "least("
        + ", ".join(["fac_f.first_facility"] * fac + ["rev_first.first_revenue"] * rev)
        + ")"
    )
    open_now = "coalesce(fac_f.n_open, 0) > 0" if fac else "false"
    status = _in_default_sql(config, present)
    rev_i = "coalesce(rev_f.active_inact, false)" if rev else "false"
    rev_d = "coalesce(rev_f.active_dormant, false)" if rev else "false"
    uses = ("fac_f",) * fac + ("rev_f", "rev_first") * rev + status[1]
    revenue_12m = "coalesce(rev_f.total_12m, 0)"
    return {
        "tenure_months": (fsql.months_since("s.onboarded"), ()),
        "lifecycle_stage": (
            stage_sql(
                f"({status[0]}) = 1", first, "s.midx", open_now, rev_i, rev_d, config.lifecycle
            ),
            uses,
        ),
        **_counts("fac_f", {"n_open_facilities": "n_open", "n_products": "n_products"}),
        "has_exposure": _exposure_sql(present),
        "limit_to_turnover": (
            "coalesce(fac_f.total_limit, 0) / nullif(s.annual_turnover, 0)",
            ("fac_f",),
        ),
        "revenue_to_turnover_12m": (f"{revenue_12m} / nullif(s.annual_turnover, 0)", ("rev_f",)),
        **_counts("svc_f", {"services_held_3m": "services_3m"}),
        "repeat_financings": ("greatest(coalesce(fac_f.n_deals, 0) - 1, 0)", ("fac_f",)),
        "annual_turnover": ("s.annual_turnover", ()),
        "segment": ("s.segment", ()),
        "industry": ("s.industry", ()),
        "region": ("s.region", ()),
    }


def _in_default_sql(config: FeaturesConfig, present: set[str]) -> tuple[str, tuple[str, ...]]:
    """The default status at t (1/0; :func:`predict.features.sql.in_default_sql`); NULL
    (unknown, never 0) when no input could show a default: then the feature ``in_default``
    is left out, and the lifecycle stage, whose ``NULL = 1`` is not true, is never
    ``in_default``."""
    if not ("credit_events" in present or {"facilities", "facility_balances"} <= present):
        return "NULL", ()
    d = config.default
    return fsql.in_default_sql(d.probation_months, d.restructuring_probation_months), ("status_f",)


def _exposure_sql(present: set[str]) -> tuple[str, tuple[str, ...]]:
    """1 with an open facility or a drawn balance at t (the default model's population)."""
    if "facility_balances" not in present:
        return "CASE WHEN coalesce(fac_f.n_open, 0) > 0 THEN 1 ELSE 0 END", ("fac_f",)
    return (
        "CASE WHEN coalesce(fac_f.n_open, 0) > 0 OR coalesce(bal_f.drawn, 0) > 0 THEN 1 ELSE 0 END",
        ("fac_f", "bal_f"),
    )


def _loan_sql() -> dict[str, tuple[str, tuple[str, ...]]]:
    limit = "coalesce(fac_f.total_limit, 0)"

    def util(drawn: str, lim: str) -> str:
        return f"coalesce({drawn}, 0) / nullif({lim}, 0)"

    both = ("fac_f", "bal_f")
    now = util("bal_f.drawn", limit)
    return {
        **_counts("fac_f", {"total_limit": "total_limit"}),
        **_counts("bal_f", {"drawn_balance": "drawn"}),
        "avg_drawn_12m": ("bal_f.avg_drawn_12m", ("bal_f",)),
        "utilisation": (now, both),
        "utilisation_change_3m": (f"{now} - {util('bal_f.drawn_m3', 'fac_f.limit_m3')}", both),
        "utilisation_change_6m": (f"{now} - {util('bal_f.drawn_m6', 'fac_f.limit_m6')}", both),
        "avg_interest_rate": ("fac_f.avg_rate", ("fac_f",)),
        "months_to_maturity": ("fac_f.months_to_maturity", ("fac_f",)),
        "months_to_last_maturity": ("fac_f.months_to_last_maturity", ("fac_f",)),
        "maturing_limit_share_12m": (
            f"coalesce(fac_f.limit_maturing_12m, 0) / nullif({limit}, 0)",
            ("fac_f",),
        ),
        "rate_spread_open": ("spread_f.spread_open", ("spread_f",)),
        "rate_spread_all": ("spread_f.spread_all", ("spread_f",)),
        **_counts(
            "fac_f", {"facilities_opened_12m": "opened_12m", "facilities_closed_12m": "closed_12m"}
        ),
        "current_dpd": ("bal_f.current_dpd", ("bal_f",)),
        "max_dpd_12m": ("bal_f.max_dpd_12m", ("bal_f",)),
        **_counts("bal_f", {f"months_in_arrears_{n}m": f"arrears_{n}m" for n in (3, 6, 12, 24)}),
        **_counts("bal_f", {"cures_12m": "cures_12m"}),
    }


def _volatility_sql() -> str:
    """Std of monthly revenue over the 12 months (since onboarding), months without revenue 0.

    From the window's sum S and sum of squares Q of monthly totals over n months:
    (Q - S^2 / n) / (n - 1); a variance within rounding of zero (1e-10 of Q) is zero.
    """
    n = "greatest(least(12, s.midx - s.onboarded_midx + 1), coalesce(rev_sq_f.months_12m, 0))"
    total, squares = "coalesce(rev_f.total_12m, 0)", "coalesce(rev_sq_f.total_sq_12m, 0)"
    var = f"(({squares} - {total} * {total} / {n}) / ({n} - 1))"
    return (
        f"CASE WHEN {n} < 2 THEN NULL WHEN {var} <= 1e-10 * {squares} / ({n} - 1) THEN 0 "
        f"ELSE sqrt({var}) END"
    )


def _contribution_sql() -> dict[str, tuple[str, tuple[str, ...]]]:
    sums = {f"revenue_{n}m": f"total_{n}m" for n in (3, 6, 12)}
    sums |= {f"revenue_{f}_{n}m": f"{f}_{n}m" for f in REVENUE_FAMILIES for n in (3, 6, 12)}
    return {
        **_counts("rev_f", sums),
        "revenue_trend_3m": (
            "coalesce(rev_f.total_3m, 0) - coalesce(rev_f.total_prev_3m, 0)",
            ("rev_f",),
        ),
        "revenue_volatility_12m": (_volatility_sql(), ("rev_f", "rev_sq_f")),
        "interest_margin_12m": (
            "coalesce(rev_f.interest_12m, 0) / nullif(bal_f.avg_drawn_12m, 0)",
            ("rev_f", "bal_f"),
        ),
        "effective_rate_3m": (
            "4 * coalesce(rev_f.interest_3m, 0) / nullif(bal_f.avg_drawn_3m, 0)",
            ("rev_f", "bal_f"),
        ),
        "months_since_revenue": _since(fsql.latest("rev_b", "last_active")),
    }


def _interaction_sql() -> dict[str, tuple[str, tuple[str, ...]]]:
    counts = ("contacts_3m", "contacts_12m", "service_requests_12m", "complaints_12m")
    csat, nps = fsql.latest("itx_b", "csat_key"), fsql.latest("itx_b", "nps_key")
    nps_last = f"(({nps[0]}) % 16)"
    return {
        **_counts("itx_f", {c: c for c in counts}),
        "months_since_rm_contact": _since(fsql.latest("itx_b", "last_rm")),
        "months_since_complaint": _since(fsql.latest("itx_b", "last_complaint")),
        "csat_mean_12m": ("itx_f.csat_mean_12m", ("itx_f",)),
        "csat_last": (f"({csat[0]}) % 16", csat[1]),
        "csat_trend_12m": (
            "itx_f.csat_mean_12m - itx_prev.csat_mean_prev_12m",
            ("itx_f", "itx_prev"),
        ),
        "nps_mean_12m": ("itx_f.nps_mean_12m", ("itx_f",)),
        "nps_last": (nps_last, nps[1]),
        "nps_status": (
            f"CASE WHEN {nps_last} >= 9 THEN 'promoter' WHEN {nps_last} >= 7 THEN "
            f"'passive' WHEN {nps_last} IS NOT NULL THEN 'detractor' END",
            nps[1],
        ),
        "survey_nonresponse_12m": (
            "1 - itx_f.answers_12m / nullif(itx_f.surveys_12m, 0)",
            ("itx_f",),
        ),
        "survey_score_all": (_survey_score_sql("itx_all"), ("itx_all",)),
        "survey_response_all": (
            "itx_all.answers / nullif(itx_all.surveys, 0)",
            ("itx_all",),
        ),
    }


def _survey_score_sql(cte: str) -> str:
    """Mean of every CSAT and NPS answer so far, each on a 0-1 scale: (CSAT - 1) / 4, NPS / 10."""
    csat_sum, csat_n = f"coalesce({cte}.csat_sum, 0)", f"coalesce({cte}.csat_n, 0)"
    nps_sum, nps_n = f"coalesce({cte}.nps_sum, 0)", f"coalesce({cte}.nps_n, 0)"
    return f"(({csat_sum} - {csat_n}) / 4.0 + {nps_sum} / 10.0) / nullif({csat_n} + {nps_n}, 0)"


def _credit_event_sql(
    config: FeaturesConfig, present: set[str]
) -> dict[str, tuple[str, tuple[str, ...]]]:
    counts = {f"{f}_{n}m": f"{f}_{n}m" for f in CREDIT_EVENT_FAMILIES for n in (12, 24)}
    return {
        **_counts("cev_f", counts),
        "months_since_credit_event": _since(fsql.latest("cev_b", "last_event")),
        "ever_defaulted": _ever_defaulted_sql(present),
        "in_default": _in_default_sql(config, present),
    }


def _ever_defaulted_sql(present: set[str]) -> tuple[str, tuple[str, ...]]:
    """1 with a default trigger on or before t: the triggers of the default status
    (:func:`predict.features.sql.status_ctes`, ``status_f.last_trigger``), so the two never
    disagree; NULL (unknown) when no input could show a default (the feature is left out)."""
    if not ("credit_events" in present or {"facilities", "facility_balances"} <= present):
        return "NULL", ()
    return "CASE WHEN status_f.last_trigger IS NOT NULL THEN 1 ELSE 0 END", ("status_f",)


def _windows(config: FeaturesConfig) -> fsql.Windows:
    return fsql.Windows(
        inactivity=config.inactivity_months,
        dormant=config.lifecycle.dormant_months,
    )


def _all_ctes(config: FeaturesConfig, present: set[str]) -> list[fsql.Cte]:
    windows = _windows(config)
    d = config.default
    return [
        *fsql.BASE,
        *fsql.facility_ctes("facility_terms" in present),
        *fsql.balance_ctes(),
        *fsql.revenue_ctes(windows),
        *fsql.interaction_ctes(),
        *fsql.credit_event_ctes(CREDIT_EVENT_FAMILIES),
        *fsql.status_ctes(
            d.dpd_threshold, d.probation_months, d.restructuring_probation_months, present
        ),
    ]


def feature_query(
    config: FeaturesConfig, names: Sequence[str], present: set[str]
) -> fsql.Statement:
    """The statement computing ``names`` (all must be available) for the as-of calendar."""
    exprs = {
        **_relationship_sql(config, present),
        **_loan_sql(),
        **_contribution_sql(),
        **_interaction_sql(),
        **_credit_event_sql(config, present),
    }
    selects = {}
    for name in names:
        expr = exprs[name][0]
        selects[name] = expr if FEATURES[name].kind == "categorical" else f"({expr})::DOUBLE"
    uses = {name: exprs[name][1] for name in names}
    return fsql.Statement(tuple(_all_ctes(config, present)), selects, uses)


def build_features(
    tables: Mapping[str, pd.DataFrame],
    as_of_dates: Sequence[dt.date],
    config: FeaturesConfig | None = None,
    names: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    rate_reference: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features per (client_id, as_of) for every client onboarded on or before each date.

    Columns: ``client_id`` (str), ``as_of`` (datetime64[s]), then the available features of
    the catalogue in catalogue order (numeric float64, categorical str). Sorted by client
    and as-of date. Features whose inputs are absent are left out (logged once).
    ``names`` asks for exactly these features (e.g. a model's list): an empty optional
    column then gives an all-missing feature, and an absent table is an error.
    A book of more than ``config.events_per_pass`` event rows is done in ranges of clients,
    one single-threaded DuckDB pass each over its own rows, up to ``workers`` passes at
    once (default: the CPUs not busy with other work); the result does not depend on
    ``workers``. ``rate_reference``: the rate reference of every date (``rate_ref_t``,
    :mod:`predict.features.rates`; scoring passes the frozen one); None: point in time from
    ``tables`` (training).
    """
    config = config or FeaturesConfig()
    if "clients" not in tables:
        raise ValueError("table clients is required to build features")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    dates = sorted(set(as_of_dates))
    if not dates:
        raise ValueError("no as-of dates given")
    require_month_ends(dates)
    present = {n for n in tables if n in fsql.VIEWS}
    names = _requested(tables, names) if names is not None else _available_logged(tables)
    query = feature_query(config, names, present)
    keys = fsql.client_keys(tables)
    passes = fsql.client_passes(tables, keys, _client_ranges(keys, config.events_per_pass))
    if rate_reference is None:
        rate_reference = frates.point_in_time(tables, dates)
    calendar = fsql.Calendar(
        tuple(dates),
        config.code_map(),
        _windows(config).starts,
        fsql.first_month(tables),
        rate_reference,
    )
    parts = _run_passes(passes, calendar, query, names, workers)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if frame.empty:  # no client yet: no window to judge (and maybe no dated row at all)
        return frame
    return mask_short_windows(frame, resolve_data_start(tables, config.data_start))


# Windowed features that look forward (a contractual term), not back over history.
FORWARD_WINDOWS = frozenset({"maturing_limit_share_12m"})


def history_months(name: str) -> int | None:
    """The months of history up to the as-of date a windowed feature reads (None for one
    without a window): W for a feature over the last W months (``*_<W>m``: sums, counts,
    means, maxima), 2W for a trend (the last W months against the W before), W + 1 for a
    change over W months (utilisation now against W month ends before)."""
    match = re.search(r"_(\d+)m$", name)
    if match is None or name in FORWARD_WINDOWS:
        return None
    months = int(match.group(1))
    if "_trend_" in name:
        return 2 * months
    if "_change_" in name:
        return months + 1
    return months


def with_data_start(config: FeaturesConfig, tables: Mapping[str, pd.DataFrame]) -> FeaturesConfig:
    """``config`` with ``data_start: auto`` resolved on ``tables`` (the whole book, or its
    skeleton): what every partition or extract of the book is then built with."""
    return dataclasses.replace(config, data_start=resolve_data_start(tables, config.data_start))


def mask_short_windows(frame: pd.DataFrame, start: dt.date) -> pd.DataFrame:
    """Each windowed feature (:func:`history_months`) missing at the as-of dates whose window
    begins before the month of ``start`` (the data's first date, ``features.data_start``):
    such a window holds only the months the data covers, so a count or a sum of it reads
    too low (0 events where the months before the data are unknown) and a mean or maximum
    rests on fewer months than its name says. Missing, not a guess: LightGBM learns what a
    missing value means. Measured on the synthetic
    book (data from 2020-01): the 24-month counts (watchlist_24m, months_in_arrears_24m,
    ...) and ``csat_trend_12m`` were built from 12-21 months at the four as-of dates of
    2020-12 to 2021-09; a 13-month retail history read ``revenue_12m`` equal to
    ``revenue_6m`` at its only training date."""
    if frame.empty:
        return frame
    first = start.year * 12 + start.month - 1
    as_of = pd.to_datetime(frame["as_of"])
    month = (as_of.dt.year * 12 + as_of.dt.month - 1).to_numpy()
    out = frame
    for name in frame.columns:
        needed = history_months(name)
        if needed is None:
            continue
        short = month - needed + 1 < first
        if short.any():
            if out is frame:
                out = frame.copy()
            out.loc[short, name] = np.nan
    return out


def _features_pass(
    con: duckdb.DuckDBPyConnection,
    passes: fsql.ClientPasses,
    k: int,
    calendar: fsql.Calendar,
    query: fsql.Statement,
    names: Sequence[str],
) -> pd.DataFrame:
    """The features of the clients of pass k, computed on ``con`` (its worker's)."""
    fsql.load_pass(con, passes, k, calendar)
    table = fsql.sort_table(query.run(con))
    columns = {"as_of": table["as_of"].cast(pa.timestamp("s"))}
    for name in names:
        kind = FEATURES[name].kind
        columns[name] = table[name].cast(pa.string() if kind == "categorical" else pa.float64())
    frame = pa.table(columns).to_pandas()  # float64, str and datetime64[s]
    frame.insert(0, "client_id", passes.keys.client_ids(table["client_id"].to_numpy()))
    return frame


def _run_passes(
    passes: fsql.ClientPasses,
    calendar: fsql.Calendar,
    query: fsql.Statement,
    names: Sequence[str],
    workers: int | None,
) -> list[pd.DataFrame]:
    """Every pass (results in pass order), up to ``workers`` at once, each worker thread with
    its own single-threaded DuckDB connection, reused by its passes.

    A pass runs on one single-threaded connection over its own rows, so running several
    at once (threads: DuckDB, Arrow and numpy's reductions release the GIL) changes no bit
    of the result.
    """
    count = len(passes.ranges)
    at_once = min(count, workers or (_idle_cpus() if count > 1 else 1))
    local, opened = threading.local(), []

    def run(k: int) -> pd.DataFrame:
        if not hasattr(local, "con"):
            local.con = fsql.open_connection({}, calendar)
            opened.append(local.con)
        return _features_pass(local.con, passes, k, calendar, query, names)

    try:
        if at_once <= 1:
            return [run(k) for k in range(count)]
        with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="features-pass") as pool:
            return list(pool.map(run, range(count)))
    finally:
        for con in opened:
            con.close()


def _cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _idle_cpus(sample_s: float = 0.1) -> int:
    """The CPUs of this process not busy with other work over the next ``sample_s`` (Linux
    /proc/stat; elsewhere all of them), at least 1: on a shared machine, passes at once on a
    busy CPU only take turns and thrash each other's caches (measured: up to ~25% more CPU
    time for the same work)."""
    first = _cpu_ticks()
    time.sleep(sample_s)
    second = _cpu_ticks()
    if first is None or second is None or second[1] <= first[1]:
        return _cpus()
    busy = (second[0] - first[0]) / (second[1] - first[1]) * (os.cpu_count() or 1)
    return max(1, min(_cpus(), round((os.cpu_count() or 1) - busy)))


def _cpu_ticks() -> tuple[int, int] | None:
    """Busy and total CPU time of the machine so far (clock ticks), None where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def _client_ranges(keys: fsql.ClientKeys, events_per_pass: int) -> list[tuple[int, int]]:
    """Ranges of client keys (1-based, in client_id order), one DuckDB pass each, cut so
    that each holds about the same number of event rows (at most ~``events_per_pass``)."""
    n_clients = len(keys.ordered)
    if n_clients == 0:
        return [(1, 0)]
    per_client = np.zeros(n_clients + 1, dtype=np.int64)
    for table in fsql.EVENT_VIEWS:
        if table in keys.rows:
            per_client += _rows_per_key(keys.rows[table], n_clients)
    events = int(per_client[1:].sum())
    passes = max(1, min(n_clients, -(-events // events_per_pass)))
    if passes == 1:
        return [(1, n_clients)]
    running = np.cumsum(per_client[1:])
    ends = np.searchsorted(running, np.arange(1, passes) * (events / passes)) + 1
    lasts = [*sorted({int(e) for e in ends if e < n_clients}), n_clients]
    ranges = list(zip([1, *(last + 1 for last in lasts[:-1])], lasts, strict=True))
    logger.info("%d event rows: %d passes over ranges of clients", events, len(ranges))
    return ranges


def _rows_per_key(keys: np.ndarray, n_clients: int) -> np.ndarray:
    """How many of ``keys`` are 0, 1, ..., n_clients (a binary search when they are sorted)."""
    if len(keys) > 1 and fw.ascending(keys):
        return np.diff(np.searchsorted(keys, np.arange(n_clients + 2)))
    return np.bincount(keys, minlength=n_clients + 1)


def _available_logged(tables: Mapping[str, pd.DataFrame]) -> list[str]:
    names, left_out = available_features(tables)
    if left_out:
        logger.info("%d features left out (inputs absent): %s", len(left_out), _grouped(left_out))
    return names


def _requested(tables: Mapping[str, pd.DataFrame], names: Sequence[str]) -> list[str]:
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise KeyError(f"unknown feature(s) {unknown}; see predict.features.catalogue.FEATURES")
    columns = {n: frozenset(TABLES[n].column_names) for n in tables if n in fsql.VIEWS}
    missing = [n for n in names if not is_available(FEATURES[n], columns)]
    if missing:
        needs = {n: FEATURES[n].requires for n in missing}
        raise ValueError(f"feature(s) need tables absent from the input: {needs}")
    return [n for n in FEATURES if n in set(names)]


def _grouped(left_out: Mapping[str, str]) -> str:
    by_reason: dict[str, list[str]] = {}
    for name, why in left_out.items():
        by_reason.setdefault(why, []).append(name)
    return "; ".join(f"{why}: {', '.join(names)}" for why, names in by_reason.items())


def build_feature_table(tables: Mapping[str, pd.DataFrame], config: FeaturesConfig) -> FeatureTable:
    """Features and labels (each model's population: :func:`apply_populations`) for the
    whole snapshot calendar (params), plus a summary."""
    dates = as_of_dates(tables, config.as_of)
    features = build_features(tables, dates, config)
    labels = build_labels(tables, dates, config.labels)
    frame = features.merge(labels, on=["client_id", "as_of"], how="left", validate="1:1")
    if len(frame) != len(features) or len(labels) != len(features):
        raise RuntimeError("features and labels disagree on the (client_id, as_of) rows")
    apply_populations(frame)
    return FeatureTable(frame, summarise(tables, frame, dates, config))


def summarise(
    tables: Mapping[str, pd.DataFrame],
    frame: pd.DataFrame,
    dates: Sequence[dt.date],
    config: FeaturesConfig,
) -> dict[str, Any]:
    """Sizes, censoring and left-out inputs of a feature table (``snapshots.json``)."""
    end = resolve_data_end(tables, config.data_end)
    last_dates = report_table_ends(tables, end)
    _, left_out = available_features(tables)
    rows = frame.groupby("as_of").size()
    snapshots = []
    for day in dates:
        part = frame[frame["as_of"] == pd.Timestamp(day)]
        entry: dict[str, Any] = {
            "as_of": day.isoformat(),
            "label_end": label_end(day, config.horizon_months).isoformat(),
            "censored": is_censored(day, config.horizon_months, end),
            "rows": int(rows.get(pd.Timestamp(day), 0)),
        }
        for target in TARGETS:
            entry[f"labelled_{target}"] = int(part[f"label_{target}"].notna().sum())
        for flag in ("in_default", "has_exposure"):
            if flag in part:
                entry[flag] = int((part[flag] == 1).sum())
        snapshots.append(entry)
    return {
        "horizon_months": config.horizon_months,
        "data_start": data_start(tables).isoformat(),
        "data_end": end.isoformat(),
        "table_ends": last_dates,
        "lagging_tables": sorted(lagging_tables(tables, end)),
        "scoring_as_of": scoring_as_of(tables, config.as_of).isoformat(),
        "rows": len(frame),
        "clients": int(frame["client_id"].nunique()),
        "features": [c for c in frame.columns if c in FEATURES],
        "features_left_out": left_out,
        "targets_skipped": {t: w for t, w in _label_availability(tables).items() if w},
        "censored_rows": int(sum(s["rows"] for s in snapshots if s["censored"])),
        # Whether the terms of facilities are dated (as of t) or taken as recorded (the
        # latest: a look-ahead the model card states): dated only when every facility has a
        # terms row on or before its origination (before its first row a facility falls back
        # to the recorded, latest, terms).
        **terms_coverage(tables),
        "snapshots": snapshots,
    }


def terms_coverage(tables: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """``facility_terms_coverage``: the share of facilities with a ``facility_terms`` row
    dated on or before their origination (None without facilities or terms);
    ``facility_terms``: true only when that share is 1 (every term of every facility is
    dated from its start, so no recorded, later, value stands in before a first row)."""
    terms, facilities = tables.get("facility_terms"), tables.get("facilities")
    if terms is None or not len(terms) or facilities is None or not len(facilities):
        return {"facility_terms": False, "facility_terms_coverage": None}
    first = terms.groupby(terms["facility_id"].astype("str"))["effective_date"].min()
    start = pd.to_datetime(facilities["origination_date"]).to_numpy()
    dated_from = pd.to_datetime(facilities["facility_id"].astype("str").map(first)).to_numpy()
    covered = ~pd.isna(dated_from) & (dated_from <= start)
    share = float(covered.mean())
    return {"facility_terms": share == 1.0, "facility_terms_coverage": share}


def load_tables(folder: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """The validated tables of ``folder`` (``<table>.parquet``, written by ``validate``)."""
    from predict.contract.validation import load_validated  # pandera is loaded only when needed

    return dict(load_validated(folder))


def run(
    input_dir: str | os.PathLike[str], out_path: str | os.PathLike[str], config: FeaturesConfig
) -> FeatureTable:
    """The ``features`` stage: validated tables -> features.parquet, snapshots.json and
    rate_reference.json (the rate reference as known at the last as-of date, which
    ``split`` passes on to ``train`` to freeze it in the model folders)."""
    tables = load_tables(input_dir)
    result = build_feature_table(tables, config)
    out = Path(out_path)
    write_parquet(result.frame, out)
    write_json(result.summary, out.with_name("snapshots.json"))
    known_at = max(as_of_dates(tables, config.as_of))
    write_json(frates.freeze(tables, known_at), out.with_name(frates.REFERENCE_FILE))
    s = result.summary
    logger.info(
        "wrote %s: %d rows, %d clients, %d as-of dates (%d censored rows), %d features",
        out,
        s["rows"],
        s["clients"],
        len(s["snapshots"]),
        s["censored_rows"],
        len(s["features"]),
    )
    return result


__all__ = [
    "LABEL_COLUMNS",
    "FeatureTable",
    "FeaturesConfig",
    "available_features",
    "build_feature_table",
    "build_features",
    "run",
]
