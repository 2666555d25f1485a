"""Building the static review site: portfolio, client pages, explanations and model card.

Every page is rendered in memory first and then written into a temporary folder that
replaces the site folder in one rename (:func:`predict.io.atomic_dir`): a failure at any
point leaves the previous report as it was. Pages reference nothing outside the site
folder: styles and the small table-sorting script are inline, charts are inline SVG.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from predict.config import ConfigError, load_params, load_section
from predict.contract.spec import OUTPUT_COLUMN
from predict.io import atomic_dir, escape_formulas
from predict.report import branches, charts, client_page, credit, stages
from predict.report.card_sections import CardPolicy, ModelCardConfig
from predict.report.explanations import (
    client_waterfall,
    colour_ranks,
    feature_points,
    numeric_values,
    shap_importance,
)
from predict.report.formatting import (
    Col,
    cell,
    client_page_name,
    client_page_names,
    coverage,
    is_missing,
    money_cols,
    table_spec,
)
from predict.report.history import (
    client_history,
    cut_tables,
    monthly_history,
)
from predict.report.inputs import ReportInputError, ReportInputs
from predict.report.kpis import (
    COVERAGE,
    KpiConfig,
    action_counts,
    default_risk_histogram,
    lifecycle_counts,
    model_populations,
    portfolio_kpis,
)
from predict.report.model_card import (
    DEFINITIONS,
    DEFINITIONS_SOURCE,
    card_page,
    model_card,
)
from predict.report.notes import run_notes
from predict.report.queue import FILTER_COLUMNS, Queue, attach_triggers, build_queues, el_rise
from predict.scoring.dimensions import DimensionsConfig

logger = logging.getLogger(__name__)

REVIEW_DIR = "review"  # the report's folder under the reports folder
RAW_UNITS = {"churn": "log-odds", "default": "log-odds", "contribution": "model scale"}


def _default_lists() -> dict[str, str]:
    return {
        "retain": "churn_probability",
        "watch": "default_probability",
        "grow": "expected_contribution",
        "workout": "expected_loss",
        "win_back": "expected_contribution",
        "convert": "potential_value",
    }


@dataclass(frozen=True)
class ReportConfig:
    """The ``report`` section of params.yaml."""

    title: str = "Client relationship review"
    kpis: KpiConfig = field(default_factory=KpiConfig)
    group_by: tuple[str, ...] = ("segment", "branch_id")
    action_lists: dict[str, str] = field(default_factory=_default_lists)  # action -> sort by
    list_size: int = 50  # rows per action list and early-warning list
    queue_size: int = 100  # rows shown per review-queue section; each gets a client page
    max_client_pages: int = 200  # pages from the early-warning and action lists (queue's on top)
    currency: str = ""  # unit of money amounts, e.g. EUR (shown in headers and cards)
    history_months: int = 24
    waterfall_features: int = 10
    summary_features: int = 12
    dependence_features: int = 4
    max_points: int = 500  # dots per global plot (sampled with ``seed``)
    seed: int = 0
    model_card: ModelCardConfig = field(default_factory=ModelCardConfig)  # governance fields
    relationship: branches.RelationshipConfig = field(
        default_factory=branches.RelationshipConfig
    )  # branch and RM views, time series, stage strategies
    # not a report param: score.dimensions, set by load_report_config (the index series)
    dimensions: DimensionsConfig = field(default_factory=DimensionsConfig)
    # not a report param: the master scale of score.grades, best first (grade chart and
    # migration table order); empty: numeric names by number, the others by name
    grade_scale: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportResult:
    site: Path
    index: Path
    client_pages: dict[str, Path]
    headline: dict[str, Any]


def load_report_config(params_path: str | Path) -> ReportConfig:
    """The ``report`` section, with "active" and "default" defined as the labels define them.

    ``kpis.inactivity_months`` comes from ``features.inactivity_months``, and the default
    trigger (``kpis.default_event_kinds``, ``kpis.dpd_threshold``) from ``features.default``,
    so the realised retention on the portfolio page and the churn target can never disagree.
    """
    from predict.config import from_dict
    from predict.features.labels import DefaultDefinition
    from predict.scoring.config import ScoreConfig

    config = load_section(params_path, "report", ReportConfig)
    params = load_params(params_path)
    if "dimensions" in (params.get("report") or {}):
        raise ConfigError(
            f"{params_path}: report.dimensions is not a report param; the index series uses "
            "score.dimensions (the scoring's own)"
        )
    if "grade_scale" in (params.get("report") or {}):
        raise ConfigError(
            f"{params_path}: report.grade_scale is not a report param; the grades are "
            "score.grades (the scoring's own)"
        )
    section = params.get("score")
    if section is not None:
        score = from_dict(ScoreConfig, section, where=f"{params_path}:score")
        config = dataclasses.replace(
            config, dimensions=score.dimensions, grade_scale=score.grades.scale
        )
    kpis_section = (params.get("report") or {}).get("kpis") or {}
    taken = sorted({"default_event_kinds", "dpd_threshold"} & set(kpis_section))
    if taken:
        raise ConfigError(
            f"{params_path}: report.kpis.{taken[0]} is not a report param; retention uses the "
            "labels' default trigger, features.default (event_kinds, dpd_threshold)"
        )
    features = params.get("features") or {}
    kpis = config.kpis
    months = features.get("inactivity_months")
    if months is not None:
        kpis = dataclasses.replace(kpis, inactivity_months=int(months))
    if features.get("default") is not None:
        default = from_dict(
            DefaultDefinition, features["default"], where=f"{params_path}:features.default"
        )
        kpis = dataclasses.replace(
            kpis, default_event_kinds=default.event_kinds, dpd_threshold=default.dpd_threshold
        )
    return dataclasses.replace(config, kpis=kpis)


def load_card_policy(params_path: str | Path) -> CardPolicy:
    """``score.relationship`` and ``score.drift`` of the params file, for the model card (the
    rules, thresholds and exposure method the scoring applies, validated as the scoring
    validates them); a file without a ``score`` section gives an empty policy (the card then
    says "not recorded")."""
    from predict.config import from_dict
    from predict.scoring.config import ScoreConfig

    section = load_params(params_path).get("score")
    if section is None:
        logger.warning(
            "report: %s has no score section; the model card omits the rules", params_path
        )
        return CardPolicy(source=Path(params_path).name)
    score = from_dict(ScoreConfig, section, where=f"{params_path}:score")
    return CardPolicy(score.relationship, score.drift, Path(params_path).name)  # no local path


def site_dir(reports_dir: str | os.PathLike[str]) -> Path:
    """Where the review site goes under a reports folder (``reports/review``)."""
    return Path(reports_dir) / REVIEW_DIR


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("predict.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["page_name"] = client_page_name
    return env


def build_report(
    inputs: ReportInputs,
    out_dir: str | os.PathLike[str],
    config: ReportConfig | None = None,
    clients: Sequence[str] = (),
    policy: CardPolicy | None = None,
) -> ReportResult:
    """Render the whole site and swap it into ``out_dir`` atomically.

    ``clients`` are extra client ids that get a page whatever the lists say; an id that is
    not in the scores is an error. ``policy``: the scoring settings the model card documents
    (:func:`load_card_policy`); None: the card says they are not recorded.
    """
    config = config or ReportConfig()
    pages, page_of, headline = render_site(inputs, config, clients, policy)
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the report is for readers
        write_pages(tmp, pages)
    logger.info("report: %d pages (%d clients) written to %s", len(pages), len(page_of), out)
    return ReportResult(
        site=out,
        index=out / "index.html",
        client_pages={cid: out / "clients" / name for cid, name in page_of.items()},
        headline=headline,
    )


def write_pages(folder: Path, pages: Mapping[str, str]) -> None:
    for rel, text in pages.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def render_site(
    inputs: ReportInputs,
    config: ReportConfig,
    clients: Sequence[str] = (),
    policy: CardPolicy | None = None,
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """(pages by relative path, client page names by id, headline KPIs)."""
    env = environment()
    scores = with_client_attributes(inputs.scores, inputs.tables)
    inputs = dataclasses.replace(inputs, scores=scores)
    queues = build_queues(scores)
    chosen = select_clients(inputs, config, clients, queues)
    page_of = client_page_names(chosen)
    portfolio = portfolio_context(inputs, config, page_of, queues)
    common = {"title": config.title, "as_of": inputs.as_of.date().isoformat()}
    pages = {
        "index.html": env.get_template("portfolio.html.j2").render(**common, **portfolio),
        "explanations.html": env.get_template("explanations.html.j2").render(
            **common, targets=global_context(inputs, config)
        ),
        "model_card.html": env.get_template("model_card.html.j2").render(
            **common,
            cards=model_card(
                inputs.models,
                inputs.metrics,
                inputs.drift,
                inputs.plots,
                scores=inputs.scores,
                explanations=inputs.explanations,
            ),
            **card_page(config.model_card, policy or CardPolicy(), inputs.as_of),
            definitions=DEFINITIONS,
            definitions_source=DEFINITIONS_SOURCE,
            skipped=inputs.skipped_models,
        ),
    }
    client_tpl = env.get_template("client.html.j2")
    cut = cut_tables(inputs.tables, chosen, inputs.as_of, config.history_months)
    monthly = monthly_history(cut, chosen, inputs.as_of, config.history_months)
    ids = set(chosen)
    records = {
        name: client_page.by_client(inputs.tables, name, ids)
        for name in ("facilities", "credit_events", "interactions")
    }
    expl = inputs.explanations
    expl = expl[expl["client_id"].isin(chosen)]
    expl_of = {str(k): g for k, g in expl.groupby("client_id", sort=False)}
    empty = expl.iloc[:0]
    for cid in chosen:
        history = client_history(monthly, cid)
        mine = {name: rows.get(cid, _empty(inputs.tables, name)) for name, rows in records.items()}
        ctx = client_context(inputs, config, cid, (history, mine), expl_of.get(cid, empty))
        pages[f"clients/{page_of[cid]}"] = client_tpl.render(**common, **ctx)
    pages["kpis.json"] = _json_text(portfolio["headline"], portfolio["kpi_records"])
    pages[SERIES_FILE] = _csv_text(portfolio["relationship"].pop("series_table"))
    return pages, page_of, portfolio["headline"]


SERIES_FILE = "relationship_series.csv"  # every point of the branch and segment time series


def _csv_text(frame: pd.DataFrame) -> str:
    """CSV text, formula-escaped like every CSV the project writes (predict.io)."""
    frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.date) if "date" in frame else frame
    return str(escape_formulas(frame).to_csv(index=False, lineterminator="\n"))


def relationship_context(inputs: ReportInputs, config: ReportConfig) -> dict[str, Any]:
    """Branch and RM league tables, time series per branch and segment, life-cycle stages
    with their strategies and flows (:mod:`predict.report.branches`, :mod:`~.stages`)."""
    rel, kpis = config.relationship, config.kpis
    scores, tables = inputs.scores, inputs.tables
    views, series = branches.series_views(
        scores,
        tables,
        inputs.as_of,
        kpis,
        rel,
        inputs.features,
        inputs.contribution_reference,
        config.dimensions,
    )
    return {
        "leagues": branches.league_views(scores, tables, inputs.as_of, kpis, rel, config.currency),
        "series": views,
        "series_table": series,
        "series_file": SERIES_FILE,
        "index_from_data": inputs.features is not None,
        "contribution_reference": inputs.contribution_reference is not None,
        "min_answers": rel.min_answers,
        "series_months": rel.series_months,
        "step_months": rel.step_months,
        "stages": stages.stage_views(scores, rel.stage_strategies),
    }


def _empty(tables: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame | None:
    """No rows of table ``name`` (None when the run has no such table)."""
    frame = tables.get(name)
    return None if frame is None else frame.iloc[:0]


def _json_text(headline: dict[str, Any], records: dict[str, Any]) -> str:
    return json.dumps({"headline": headline, "by": records}, indent=2, default=str) + "\n"


def with_client_attributes(
    scores: pd.DataFrame, tables: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """The scores with ``rm_id`` and ``industry`` from the clients table where they lack them."""
    clients = tables.get("clients")
    if clients is None or "client_id" not in clients:
        return scores
    wanted = [c for c in ("rm_id", "industry") if c in clients and c not in scores]
    if not wanted:
        return scores
    first = clients.drop_duplicates("client_id").set_index("client_id")
    out = scores.copy()
    for col in wanted:
        out[col] = out["client_id"].astype("str").map(first[col].astype("str"))
    return out


def select_clients(
    inputs: ReportInputs,
    config: ReportConfig,
    requested: Sequence[str],
    queues: Sequence[Queue] = (),
) -> list[str]:
    """Client ids that get a page: requested ones, every client shown in the review queue,
    then early-warning (the rows the report's table shows, in its order:
    :func:`ranked_early_warning`) and action lists (these capped at ``max_client_pages``)."""
    known = set(inputs.scores["client_id"])
    unknown = [c for c in requested if str(c) not in known]
    if unknown:
        raise ReportInputError(
            f"--client {unknown[0]!r}: no such client_id in scores.parquet "
            f"({len(known)} clients scored at {inputs.as_of.date()})"
        )
    listed: list[str] = []
    if inputs.early_warning is not None and "client_id" in inputs.early_warning:
        shown = ranked_early_warning(inputs.early_warning, inputs.scores)  # the table's order
        listed += shown["client_id"].astype("str").head(config.list_size).tolist()
    for action in config.action_lists:
        listed += action_list(inputs.scores, action, config).client_id.tolist()
    listed = [c for c in dict.fromkeys(listed) if c in known][: config.max_client_pages]
    queued = [str(c) for q in queues for c in q.rows["client_id"].head(config.queue_size)]
    return list(dict.fromkeys([str(c) for c in requested] + queued + listed))


def action_list(scores: pd.DataFrame, action: str, config: ReportConfig) -> pd.DataFrame:
    """The clients whose action is ``action``, by its params sort column, largest first."""
    by = config.action_lists.get(action, "relationship_value")
    rows = scores[scores["action"].astype("str") == action]
    if by in rows:
        rows = rows.sort_values(by, ascending=False, na_position="last")
    return rows.head(config.list_size)


PORTFOLIO_COLS = (
    Col("clients", "Clients", "int"),
    Col("active_before", "Active 12m ago", "int"),
    Col("defaulted", "Of them defaulted", "int"),
    Col("retained", "Still active, not defaulted", "int"),
    Col("retention_rate", "Retention (12m), not defaulted", "pct"),
    *(
        Col(key, label, fmt, of=COVERAGE[key])
        for key, label, fmt in (
            ("predicted_churn", "Predicted churn", "prob"),
            ("expected_leavers", "Expected leavers", "float"),
        )
    ),
    Col("nps", "NPS", "nps"),
    Col("nps_respondents", "NPS respondents", "int"),
    Col("csat", "Avg CSAT", "csat"),
    *(
        Col(key, label, "money", of=COVERAGE[key])
        for key, label in (
            ("contribution", "Exp. contribution"),
            ("contribution_at_risk", "Contribution at risk"),
            ("contribution_at_risk_above_threshold", "… of clients ≥ threshold"),
            ("expected_loss_performing", "Expected loss, performing"),
            ("expected_loss_in_default", "Expected loss, in default"),
            ("ead", "EAD"),
        )
    ),
)
CLIENT_COLS = (
    Col("client_id", "Client"),
    Col("segment", "Segment"),
    Col("branch_id", "Branch"),
    Col("lifecycle_stage", "Stage"),
    Col("churn_probability", "Churn p", "prob"),
    Col("default_probability", "Default p", "prob"),
    Col("expected_contribution", "Exp. contribution", "money"),
    Col("expected_loss", "Expected loss", "money"),
    Col("relationship_value", "Relationship value", "money"),
    Col("rating_grade", "Grade"),
    Col("economic_profit", "Economic profit", "money"),
)


def _link(page_of: Mapping[str, str]) -> dict[str, Any]:
    def href(row: pd.Series) -> str | None:
        name = page_of.get(str(row["client_id"]))
        return f"clients/{name}" if name else None

    return {"client_id": href}


def kpi_tables(
    inputs: ReportInputs, config: ReportConfig
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any]]:
    """(headline KPIs, table spec per grouping, records per grouping for kpis.json)."""
    tables, records = {}, {}
    headline: dict[str, Any] = {}
    for by in config.group_by:
        frame = portfolio_kpis(inputs.scores, inputs.tables, inputs.as_of, config.kpis, by)
        body, total = frame.iloc[:-1], frame.iloc[-1:]
        headline = {str(k): _plain(v) for k, v in total.iloc[0].items() if k != by}
        cols = (
            Col(by, by.replace("_", " ").capitalize()),
            *money_cols(PORTFOLIO_COLS, config.currency),
        )
        tables[by] = table_spec(body, cols, table_id=f"kpi-{by}", footer=total)
        records[by] = [{k: _plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
    if not config.group_by:
        frame = portfolio_kpis(inputs.scores, inputs.tables, inputs.as_of, config.kpis, None)
        headline = {str(k): _plain(v) for k, v in frame.iloc[-1].items()}
    headline.update(book_counts(inputs.scores))
    headline["as_of"] = inputs.as_of.date().isoformat()
    headline["churn_threshold"] = config.kpis.churn_threshold
    return headline, tables, records


OUT_OF_BOOK = {"potential": "prospects", "churned": "former_clients"}


def book_counts(scores: pd.DataFrame) -> dict[str, Any]:
    """Clients in the book (lifecycle stage neither ``potential`` nor ``churned``), prospects
    and former clients. (The expected loss of the performing clients and of those in default
    comes with the KPIs' All row, :func:`predict.report.kpis.score_kpis`.)"""
    stage = scores["lifecycle_stage"].astype("str") if "lifecycle_stage" in scores else None
    out: dict[str, Any] = {}
    if stage is not None:
        out["clients_in_book"] = int((~stage.isin(list(OUT_OF_BOOK))).sum())
        out.update({name: int((stage == s).sum()) for s, name in OUT_OF_BOOK.items()})
    return out


def _plain(value: Any) -> Any:
    """A JSON-friendly Python scalar (None for missing)."""
    if _na(value):
        return None
    return value.item() if hasattr(value, "item") else value


QUEUE_COLS = (
    *CLIENT_COLS[:3],  # client, segment, branch
    Col("rm_id", "RM"),
    Col("rating_grade", "Grade"),
    Col("previous_rating_grade", "Grade before"),
    Col("default_probability", "Default p", "prob"),
    Col("default_probability_change", "Δ default p", "change"),
    Col("churn_probability", "Churn p", "prob"),
    Col("ead", "EAD", "money"),
    Col("expected_loss", "Expected loss", "money"),
    Col("priority", "Priority", "money"),
    Col("status", "Status"),
    Col("triggers", "Triggers"),
)
QUEUED_ACTIONS = frozenset({"workout", "watch", "retain", "grow"})  # shown in the queue instead
QUEUE_REASON = {"default": "default_reasons", "watch": "default_reasons", "retain": "churn_reasons"}


def queue_context(
    inputs: ReportInputs, config: ReportConfig, page_of: Mapping[str, str], queues: Sequence[Queue]
) -> dict[str, Any]:
    """The review queue: per section its heading, counts and the top ``queue_size`` rows, and
    the filter choices (over the rows shown)."""
    sections, shown_rows = [], []
    for q in queues:
        rows = attach_triggers(q.rows.head(config.queue_size), inputs.early_warning)
        rows["status"] = np.where(rows["new_default"], "newly defaulted", "")
        reason = QUEUE_REASON.get(q.key, "contribution_reasons")
        table = table_spec(
            _first_reason(rows),
            (*money_cols(QUEUE_COLS, config.currency), Col(reason, "Top reason")),
            table_id=f"queue-{q.key}",
            links=_link(page_of),
            row_data=[c for c in ("client_id", *FILTER_COLUMNS) if c in rows],
        )
        sections.append(
            {
                "key": q.key,
                "heading": q.heading,
                "priority_means": q.priority_means,
                "total": q.total,
                "shown": len(rows),
                "excluded": q.excluded,
                "table": table,
            }
        )
        shown_rows.append(rows)
    shown = pd.concat(shown_rows) if shown_rows else inputs.scores.iloc[:0]
    filters = [
        (col.replace("_", "-"), label, sorted(shown[col].dropna().astype("str").unique()))
        for col, label in zip(FILTER_COLUMNS, ("Segment", "Branch", "RM", "Grade"), strict=True)
        if col in shown
    ]
    return {"sections": sections, "filters": filters}


def portfolio_context(
    inputs: ReportInputs,
    config: ReportConfig,
    page_of: Mapping[str, str],
    queues: Sequence[Queue] = (),
) -> dict[str, Any]:
    """Everything the portfolio page shows."""
    headline, tables, records = kpi_tables(inputs, config)
    scores = inputs.scores
    hist = default_histogram(scores, config.kpis.default_bins)
    stages, actions = lifecycle_counts(scores), action_counts(scores)
    lists = {
        action: table_spec(
            _first_reason(action_list(scores, action, config)),
            (
                *money_cols(CLIENT_COLS, config.currency),
                Col(_reason_col(config, action), "Top reason"),
            ),
            table_id=f"list-{action}",
            links=_link(page_of),
        )
        for action in config.action_lists
        if action not in QUEUED_ACTIONS
    }
    charts_ = {
        "default_hist": charts.column_chart(
            hist["band"], hist["clients"], title="Clients by default probability"
        ),
        "stages": charts.bar_chart(
            stages["lifecycle_stage"], stages["clients"], title="Clients by lifecycle stage"
        ),
        "actions": charts.bar_chart(
            actions["action"], actions["clients"], title="Clients by recommended action"
        ),
    }
    grades = credit.grade_chart(scores, config.grade_scale)
    if grades is not None:
        charts_["grades"] = grades
    first = config.group_by[0] if config.group_by else None
    if first:
        body = pd.DataFrame(records[first][:-1])
        if len(body):
            charts_["car"] = charts.bar_chart(
                body[first],
                body["contribution_at_risk"],
                title=f"Contribution at risk by {first}",
                color=charts.PALETTE[3],
            )
    return {
        "headline": headline,
        "queue": queue_context(inputs, config, page_of, queues),
        "currency": config.currency,
        "cards": headline_cards(headline, config.kpis, config.currency),
        "retention_months": config.kpis.retention_months,
        "inactivity_months": config.kpis.inactivity_months,
        "dpd_threshold": config.kpis.dpd_threshold,
        "survey_months": config.kpis.survey_months,
        "churn_threshold": config.kpis.churn_threshold,
        "kpi_records": records,
        "kpi_tables": tables,
        "charts": charts_,
        "lists": lists,
        "early_warning": early_warning_table(inputs, config, page_of),
        "migration": credit.migration_table(inputs.migration, config.grade_scale),
        "previous_source": _previous_source(inputs.early_warning),
        "drift": drift_table(inputs.drift),
        "model_versions": _model_versions(scores),
        "populations": model_populations(scores),
        "n_client_pages": len(page_of),
        "notes": run_notes(inputs),
        "relationship": relationship_context(inputs, config),
    }


def _previous_source(early: pd.DataFrame | None) -> str | None:
    if early is None or "previous_source" not in early.columns or early.empty:
        return None
    return str(early["previous_source"].iloc[0])


def default_histogram(scores: pd.DataFrame, bins: tuple[float, ...]) -> pd.DataFrame:
    """Clients per default-probability band; clients already in default in a bar of their own."""
    in_default = pd.Series(False, index=scores.index)
    if "in_default" in scores:
        in_default = scores["in_default"].astype("boolean").fillna(False).astype(bool)
    hist = default_risk_histogram(scores.loc[~in_default, "default_probability"], bins)
    if in_default.any():
        extra = pd.DataFrame({"band": ["in default"], "clients": [int(in_default.sum())]})
        hist = pd.concat([hist, extra], ignore_index=True)
    return hist


def headline_cards(
    headline: Mapping[str, Any], kpis: KpiConfig, currency: str = ""
) -> list[tuple[str, str]]:
    """(label, formatted value) of the portfolio's headline figures (those the run has);
    money in ``currency``."""
    unit = f", {currency}" if currency else ""
    items = (
        ("Clients in the book (not prospects, not former)", "clients_in_book", "int"),
        ("Prospects (not scored for churn or default)", "prospects", "int"),
        ("Former clients (churned)", "former_clients", "int"),
        (
            f"Retention, last {kpis.retention_months} months (clients that did not default)",
            "retention_rate",
            "pct",
        ),
        (
            f"Defaulted, of the clients active {kpis.retention_months} months before",
            "defaulted",
            "int",
        ),
        ("Predicted churn (mean)", "predicted_churn", "prob"),
        ("Expected leavers", "expected_leavers", "float"),
        (f"NPS, last {kpis.survey_months} months", "nps", "nps"),
        ("Average CSAT", "csat", "csat"),
        (f"Expected contribution{unit}", "contribution", "money"),
        (f"Contribution at risk (p × run-rate revenue){unit}", "contribution_at_risk", "money"),
        (
            f"… of clients with churn p ≥ {kpis.churn_threshold:.0%}{unit}",
            "contribution_at_risk_above_threshold",
            "money",
        ),
        (f"Expected loss, performing clients{unit}", "expected_loss_performing", "money"),
        (
            f"Loss expected on clients in default (LGD × EAD){unit}",
            "expected_loss_in_default",
            "money",
        ),
        (f"EAD{unit}", "ead", "money"),
    )
    return [
        (label, _card_value(headline, key, fmt)) for label, key, fmt in items if key in headline
    ]


def _card_value(headline: Mapping[str, Any], key: str, fmt: str) -> str:
    """The card's figure ("–" when missing); a sum over part of its population says on how
    many clients it rests (``1,234 (40 of 300 clients)``, :data:`COVERAGE`)."""
    text = table_cell(headline.get(key), fmt)
    value = headline.get(key)
    if key in COVERAGE and not is_missing(value):
        known, total = COVERAGE[key]
        part = coverage(headline.get(known), headline.get(total), "clients")
        text += f" ({part})" if part else ""
    return text


def _reason_col(config: ReportConfig, action: str) -> str:
    sort = config.action_lists.get(action, "")
    target = next((t for t, c in OUTPUT_COLUMN.items() if c == sort), "churn")
    return f"{target}_reasons"


def _first_reason(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in [c for c in out.columns if str(c).endswith("_reasons")] + ["reasons"]:
        if col in out:
            out[col] = out[col].astype("str").str.split(" | ", regex=False).str[0]
    return out


def early_warning_table(
    inputs: ReportInputs, config: ReportConfig, page_of: Mapping[str, str]
) -> dict[str, Any] | None:
    """The early-warning rows, largest rise of expected loss first (then expected loss, then
    churn probability), the first ``list_size`` of them; ``total`` counts them all."""
    ew = inputs.early_warning
    if ew is None:
        return None
    ew = ranked_early_warning(ew, inputs.scores)
    cols = (
        *CLIENT_COLS[:3],  # client, segment, branch
        *credit.EARLY_WARNING_COLS,
        *money_cols(
            (Col("ead", "EAD", "money"), Col("el_rise", "Rise of expected loss", "money")),
            config.currency,
        ),
        Col("action", "Action"),
        Col("reasons", "Top reason"),
    )
    known = {c.key for c in cols}
    extra = tuple(
        Col(str(c), str(c))
        for c in ew.columns
        if c not in known
        and c not in ("as_of", "previous_as_of", "previous_source", "expected_loss")
    )
    spec = table_spec(
        _first_reason(ew.head(config.list_size)),
        (*cols, *extra),
        table_id="early-warning",
        links=_link(page_of),
    )
    spec["total"] = len(ew)
    return spec


def ranked_early_warning(ew: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Early-warning rows with the client's EAD, expected loss and rise of expected loss
    (:func:`predict.report.queue.el_rise`), ranked by that rise, then expected loss, then
    churn probability (largest first, missing last)."""
    wanted = [
        c for c in ("ead", "expected_loss", "lgd", "previous_default_probability") if c in scores
    ]
    extra = scores[["client_id", *wanted]].copy()
    extra["el_rise"] = el_rise(scores)
    extra = extra.drop(columns=[c for c in ("lgd", "previous_default_probability") if c in extra])
    out = ew.drop(columns=[c for c in ("ead", "expected_loss", "el_rise") if c in ew.columns])
    out = out.assign(client_id=out["client_id"].astype("str")).merge(
        extra.assign(client_id=extra["client_id"].astype("str")), on="client_id", how="left"
    )
    keys = [c for c in ("el_rise", "expected_loss", "churn_probability") if c in out]
    return out.sort_values(keys, ascending=False, na_position="last", kind="stable").reset_index(
        drop=True
    )


def drift_table(drift: pd.DataFrame | None) -> dict[str, Any] | None:
    """Drift rows at warning or alert level (all rows if there is no ``level`` column)."""
    if drift is None:
        return None
    flagged = drift
    if "level" in drift:
        flagged = drift[drift["level"].astype("str").isin(["warning", "alert"])]
    if "psi" in flagged:
        flagged = flagged.sort_values("psi", ascending=False)
    cols = (
        Col("variable", "Variable"),
        Col("feature", "Feature"),
        Col("kind", "Kind"),
        Col("psi", "PSI", "psi"),
        Col("level", "Level"),
        Col("reference_missing_share", "Missing (train)", "pct"),
        Col("current_missing_share", "Missing (now)", "pct"),
    )
    spec = table_spec(flagged, cols, table_id="drift")
    spec["checked"] = len(drift)
    level = flagged["level"].astype("str") if "level" in flagged else pd.Series(dtype="str")
    spec["alerts"] = (
        flagged.loc[level == "alert", "variable"].astype("str").tolist()
        if "variable" in flagged
        else []
    )
    return spec


def _model_versions(scores: pd.DataFrame) -> dict[str, str]:
    out = {}
    for target in OUTPUT_COLUMN:
        col = f"{target}_model_version"
        if col in scores and scores[col].notna().any():
            out[target] = ", ".join(sorted(scores[col].dropna().astype("str").unique()))
    return out


def movement_rows(row: pd.Series) -> list[dict[str, Any]]:
    """Each score now, at the previous scoring (when known) and the change."""
    out = []
    for target, col in OUTPUT_COLUMN.items():
        fmt = "money" if target == "contribution" else "prob"
        prev = row.get(f"previous_{col}")
        change = row.get(f"{col}_change" if target != "contribution" else "contribution_change")
        if change is None and prev is not None and pd.notna(prev):
            change = row[col] - prev
        out.append(
            {
                "target": target,
                "now": table_cell(row.get(col), fmt),
                "previous": table_cell(prev, fmt),
                "change": table_cell(change, "change" if fmt == "prob" else "money_change"),
                # worse: more risk, or less contribution (drawn red on the page)
                "worse": _moved(change, up_is_worse=target != "contribution"),
            }
        )
    return out


def _moved(change: Any, up_is_worse: bool) -> bool | None:
    """Whether a change is for the worse (None when there is no change to judge)."""
    if change is None or _na(change) or change == 0:
        return None
    return bool(change > 0) == up_is_worse


def table_cell(value: Any, fmt: str) -> str:
    return str(cell(value, fmt)["text"])


def client_context(
    inputs: ReportInputs,
    config: ReportConfig,
    client_id: str,
    history: tuple[pd.DataFrame, Mapping[str, pd.DataFrame | None]],
    explanations: pd.DataFrame,
) -> dict[str, Any]:
    """Everything one client page shows.

    ``history``: the client's months (:func:`~predict.report.history.client_history`) and
    its rows of the tables ``facilities``, ``credit_events`` and ``interactions`` (None for
    a table the run lacks); ``explanations``: at least this client's rows.
    """
    months, records = history
    row = inputs.scores.loc[inputs.scores["client_id"] == client_id].iloc[0]
    as_of = inputs.as_of
    return {
        "client": {
            k: (None if _na(v) else v)
            for k, v in row.items()
            if k in ("client_id", "segment", "branch_id", "lifecycle_stage", "action")
        },
        "decision": client_page.action_sentence(row),
        "who": client_page.facts(row, client_page.WHO),
        "profile": client_page.profile(row, inputs.scores, config.currency),
        "exposure": client_page.exposure_facts(row, config.currency),
        "relationship": client_page.relationship_facts(row),
        "currency": config.currency,
        "triggers": _client_triggers(inputs.early_warning, client_id),
        "movement": movement_rows(row),
        "value": credit.value_rows(row),
        "has_previous": any(c.startswith("previous_") for c in row.index),
        "explained": explained_scores(row, explanations, client_id, config),
        "history_charts": history_charts(months, config.currency),
        "facilities": client_page.facility_table(records.get("facilities"), as_of, config.currency),
        "credit_events": client_page.dated_table(
            records.get("credit_events"), as_of, client_page.EVENT_COLS, "credit-events", 50
        ),
        "contacts": client_page.dated_table(
            _in_window(records.get("interactions"), as_of, config.history_months),
            as_of,
            client_page.CONTACT_COLS,
            "contacts",
            40,
        ),
        "history_months": config.history_months,
        "early_warning": _client_early_warning(inputs, config, client_id),
    }


def _in_window(frame: pd.DataFrame | None, as_of: pd.Timestamp, months: int) -> pd.DataFrame | None:
    """Rows dated in the ``months`` calendar months up to the as-of date."""
    if frame is None:
        return None
    start = (as_of.to_period("M") - (months - 1)).start_time
    return frame[frame["date"] >= start]


def _client_triggers(early: pd.DataFrame | None, client_id: str) -> str | None:
    """The client's early-warning triggers and what moved, in one line (None: no trigger)."""
    if early is None or "client_id" not in early:
        return None
    mine = early[early["client_id"].astype("str") == client_id]
    if mine.empty:
        return None
    first = mine.iloc[0]
    parts = [str(first[c]) for c in ("triggers", "details") if c in first and not _na(first[c])]
    return " — ".join(parts) or None


def _client_early_warning(
    inputs: ReportInputs, config: ReportConfig, client_id: str
) -> dict[str, Any] | None:
    if inputs.early_warning is None or "client_id" not in inputs.early_warning:
        return None
    mine = inputs.early_warning[inputs.early_warning["client_id"].astype("str") == client_id]
    if mine.empty:
        return None
    only = ReportInputs(scores=inputs.scores, explanations=inputs.explanations, early_warning=mine)
    return early_warning_table(only, config, {})


def not_from_model(row: pd.Series, target: str) -> str | None:
    """Why ``target``'s value on this row was not produced by the model (its
    ``<target>_not_scored_reason``), or None when the model produced it."""
    why = row.get(f"{target}_not_scored_reason")
    return None if why is None or _na(why) or not str(why).strip() else str(why)


def explained_scores(
    row: pd.Series, explanations: pd.DataFrame, client_id: str, config: ReportConfig
) -> list[dict[str, Any]]:
    """Per score: its value, reasons and SHAP waterfall; a score the model did not produce
    (set by a rule, or not scored) gets the rule's words and no waterfall."""
    out = []
    for target, col in OUTPUT_COLUMN.items():
        score = table_cell(row.get(col), "money" if target == "contribution" else "prob")
        reasons = [
            r for r in str(row.get(f"{target}_reasons") or "").split(" | ") if r and r != "nan"
        ]
        rule = not_from_model(row, target)
        if rule is not None:
            out.append(
                {"target": target, "score": score, "rule": rule, "reasons": reasons, "chart": None}
            )
            continue
        steps, base = client_waterfall(explanations, client_id, target, config.waterfall_features)
        chart = None
        if steps:
            chart = charts.waterfall(
                steps,
                base=base,
                title=f"{target}: SHAP contributions ({RAW_UNITS[target]})",
                shown_as=f"{score} ({'calibrated' if target != 'contribution' else 'output'})",
            )
        out.append(
            {"target": target, "score": score, "rule": None, "reasons": reasons, "chart": chart}
        )
    return out


def _na(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def history_charts(history: pd.DataFrame, currency: str = "") -> list[Any]:
    """Small line charts of a client's months (only those with data).

    Money in ``currency`` with thousands separators; days past due and counts on whole-number
    ticks; CSAT (1-5) and NPS (0-10) each on its own chart and fixed scale."""
    months = [str(p) for p in history.index]
    unit = f" ({currency})" if currency else ""
    specs: tuple[tuple[str, dict[str, str], dict[str, Any]], ...] = (
        (f"Drawn balance{unit}", {"outstanding": "outstanding"}, {}),
        ("Arrears (worst days past due)", {"max_days_past_due": "days"}, {"integer": True}),
        (f"Revenue per month{unit}", {"revenue": "revenue"}, {}),
        (
            "Interactions per month",
            {"interactions": "all", "complaints": "complaints"},
            {"integer": True},
        ),
        ("CSAT (1-5), monthly mean", {"csat": "CSAT"}, {"y_range": (1.0, 5.0)}),
        ("NPS answer (0-10), monthly mean", {"nps": "NPS answer"}, {"y_range": (0.0, 10.0)}),
    )
    columns = {c: history[c].to_numpy(dtype="float64") for c in history.columns}
    out = []
    for title, series, options in specs:
        data = {label: columns[col] for col, label in series.items() if col in columns}
        if any(np.isfinite(v).any() for v in data.values()):
            out.append(charts.line_chart(months, data, title=title, **options))
    return out


def global_context(inputs: ReportInputs, config: ReportConfig) -> list[dict[str, Any]]:
    """Per target: mean |SHAP| bars, a beeswarm-like dot plot, dependence plots."""
    out = []
    expl = inputs.explanations
    for target in OUTPUT_COLUMN:
        imp = shap_importance(expl, target).head(config.summary_features)
        if imp.empty:
            continue
        feats = imp["feature"].tolist()
        points = [feature_points(expl, target, f, config.max_points, config.seed) for f in feats]
        dependence = [
            _dependence(p, f, target)
            for p, f in zip(points[: config.dependence_features], feats, strict=False)
        ]
        out.append(
            {
                "target": target,
                "units": RAW_UNITS[target],
                "clients": int(expl.loc[expl["target"] == target, "client_id"].nunique()),
                "importance": charts.bar_chart(
                    imp["feature"],
                    imp["mean_abs_shap"],
                    title=f"{target}: mean |SHAP|",
                    fmt="{:.3f}",
                ),
                "dots": charts.dot_plot(
                    feats,
                    [p["shap"].tolist() for p in points],
                    [colour_ranks(p["value"]).tolist() for p in points],
                    title=f"{target}: SHAP value per client",
                    seed=config.seed,
                ),
                "dependence": dependence,
            }
        )
    return out


def _dependence(points: pd.DataFrame, feature: str, target: str) -> Any:
    num = numeric_values(points["value"])
    title = f"{target}: {feature}"
    if num is not None:
        return charts.scatter(num.tolist(), points["shap"].tolist(), title=title, x_label=feature)
    return charts.strip_chart(
        points["value"].astype("str").tolist(), points["shap"].tolist(), title=title
    )
