"""Which clients each model applies to, and a column for every target, model or not.

The training labels leave some clients out of a model (each model's population,
:data:`predict.contract.spec.POPULATIONS`): those in default at the as-of date (both),
those without exposure (default) and those not active then (churn). They get no model
score, by rule, and a column and their reasons say why (:func:`apply_scope_rules`). A
target without a model still gets its output, reasons and version columns
(:func:`ensure_targets`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN, TARGETS
from predict.features.catalogue import STAGE_SOURCES, STATUS_SOURCES, source_tables
from predict.models.store import ModelBundle
from predict.scoring.config import ScoreConfig
from predict.scoring.result import ScoringReport

log = logging.getLogger(__name__)

NOT_SCORED = {
    "in_default": "in default at the as-of date",
    "no_exposure": "no exposure at the as-of date (no open facility, no drawn balance)",
    "inactive": "not active at the as-of date",
    "status_unknown": "default status unknown: credit_events and facility_balances absent",
    "stage_unknown": (
        "life-cycle stage unknown: an activity table the models were trained with "
        "(facilities or revenue) is absent"
    ),
    "status_partial": (
        "default status unknown: a default-trigger table the models were trained with "
        "(credit_events or facility_balances) is absent"
    ),
    "exposure_unknown": "exposure unknown",
}


def churn_knows_default_status(bundles: Mapping[str, ModelBundle]) -> bool:
    """Whether the churn model was trained knowing who was in default at t (metadata
    ``default_status_known``; a folder without the key: yes, the cautious reading). A model
    trained on a book with no credit data (no credit_events, no balances) saw every active
    client, status unknown: scoring such a client then matches its training."""
    bundle = bundles.get("churn")
    return bundle is None or bool(bundle.metadata.get("default_status_known", True))


# metadata key -> (the tables it names, what the scoring then knows, the report's field)
LACKING = {
    "default_status_from": (
        STATUS_SOURCES,
        "the models were trained knowing the defaults it shows, so only the clients the other "
        "tables show in default are known to be; every other client's default status is "
        "unknown (no default or churn probability)",
        "default_status_lacking",
    ),
    "lifecycle_stage_from": (
        STAGE_SOURCES,
        "the models were trained with it, so a client's life-cycle stage is known only where "
        "the other table proves it (in default, active); the others' stage is unknown and "
        "churn is not scored for them",
        "lifecycle_stage_lacking",
    ),
}


def lacking_tables(
    bundles: Mapping[str, ModelBundle], tables: Mapping[str, pd.DataFrame], key: str
) -> list[str]:
    """The tables the models were trained with (metadata ``key``: ``default_status_from``,
    the default triggers' credit_events and facility_balances; ``lifecycle_stage_from``, the
    stage's facilities and revenue) that ``tables`` (or a book's skeleton) lack: absent or
    without a row. A folder without the key (trained before it was recorded): the tables
    its features cannot be computed without (:func:`~predict.features.catalogue.
    source_tables` of its feature list).

    Without a default-trigger table, a client the others show in default is in default and
    any other client's status is unknown (event-only defaults would read as performing).
    Without revenue a client with revenue but no open line would read as churned or a
    prospect, without facilities one with an open line but no recent revenue: only the
    stages the remaining table proves (in default, active) are known."""
    sources = LACKING[key][0]
    trained: set[str] = set()
    for bundle in bundles.values():
        recorded = bundle.metadata.get(key)
        names = bundle.features.names
        trained |= set(source_tables(names, sources) if recorded is None else recorded)
    present = {name for name, frame in tables.items() if not frame.empty}
    return sorted(t for t in trained if t not in present)


def note_lacking(
    bundles: Mapping[str, ModelBundle], tables: Mapping[str, pd.DataFrame], report: ScoringReport
) -> None:
    """:func:`lacking_tables` of both keys into ``report`` (``default_status_lacking``,
    ``lifecycle_stage_lacking``), each warned about once per run."""
    for key, (_, meaning, field_name) in LACKING.items():
        lacking = lacking_tables(bundles, tables, key)
        if lacking and lacking != getattr(report, field_name):
            log.warning("%s absent: %s", ", ".join(lacking), meaning)
        setattr(report, field_name, lacking)


def apply_scope_rules(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    config: ScoreConfig,
    churn_needs_default_status: bool = True,
    lacking: Sequence[str] = (),
    stage_lacking: Sequence[str] = (),
) -> pd.DataFrame:
    """Clients a model does not apply to (outside its training population) get no model score.

    - in default at the as-of date (feature ``in_default_feature`` = 1): default probability
      ``defaulted_probability`` (missing when null), churn probability missing;
    - no exposure at the as-of date (feature ``exposure_feature`` = 0): default probability
      missing (their expected loss is 0: :func:`predict.scoring.relationship.add_value`);
    - not active at the as-of date (lifecycle stage in ``churn_not_scored_stages``): churn
      probability missing;
    - default status unknown (``in_default_feature`` absent, or missing for the client, as
      after ``score.missing_features: nan`` when neither credit_events nor
      facilities+facility_balances is given): fail closed, no default and no churn
      probability (a client in default may not be scored as if it were not); the churn
      probability only when ``churn_needs_default_status`` (the churn model was trained
      knowing the status: :func:`churn_knows_default_status`), else it is scored as trained;
    - default status partly known (``lacking``: a default-trigger table the models were
      trained with is absent, :func:`lacking_tables`): a client the other tables
      show in default is in default; any other is treated as status unknown (above), and
      its ``ever_defaulted`` 0 and its life-cycle stage (but ``potential``) are missing:
      each may be a default only the lacking table shows, so no stage rule (a win-back)
      fires on it;
    - life-cycle stage partly known (``stage_lacking``: facilities or revenue, which the
      models were trained with, is absent, :func:`lacking_tables`): only the stages
      the remaining table proves (in default, active) are kept; any other stage is missing
      and churn is not scored (its population is the active clients);
    - exposure unknown (``exposure_feature`` absent or missing): no default probability.
    ``default_not_scored_reason`` and ``churn_not_scored_reason`` say why (missing when the
    model scored the client), and the reasons say so. ``features`` is aligned row for row.
    """
    out = scores.copy()
    in_default = _flag(features, config.in_default_feature, 1)
    status_unknown = _unknown(features, config.in_default_feature)
    partial = np.full(len(out), bool(lacking)) & ~in_default & ~status_unknown
    status_unknown = status_unknown | partial
    no_exposure = _flag(features, config.exposure_feature, 0) & ~in_default & ~status_unknown
    exposure_unknown = _unknown(features, config.exposure_feature) & ~in_default & ~status_unknown
    flag = pd.Series(in_default, index=out.index, dtype="boolean")
    out["in_default"] = flag.mask(status_unknown)  # missing (not False) when unknown
    if "ever_defaulted" in features:  # for the action rules (no win-back after a default)
        ever = features["ever_defaulted"].to_numpy(dtype="float64")
        # a lacking default-trigger table: a past default only it showed is unknown too
        out["ever_defaulted"] = np.where(partial & (ever == 0), np.nan, ever)
    stage = features.get("lifecycle_stage", pd.Series(np.nan, index=features.index))
    named = stage.astype("str")
    # without an activity table only the stages the other proves are known
    stage_unknown = np.full(len(out), bool(stage_lacking)) & ~in_default
    stage_unknown &= ~named.isin(["in_default", "active"]).to_numpy(dtype=bool)
    # a lacking default trigger: the stage out of default, or in default; known for a
    # prospect only (no facility, nothing to default on)
    unknown_stage = partial & ~named.eq("potential").to_numpy(dtype=bool) | stage_unknown
    if unknown_stage.any() and "lifecycle_stage" in out:
        out["lifecycle_stage"] = out["lifecycle_stage"].mask(unknown_stage)
    idle = named.isin(config.churn_not_scored_stages).to_numpy(dtype=bool)
    idle = idle & ~in_default & ~status_unknown & ~stage_unknown
    out["default_not_scored_reason"] = _why(
        out.index,
        (in_default, "in_default"),
        (partial, "status_partial"),
        (status_unknown, "status_unknown"),
        (no_exposure, "no_exposure"),
        (exposure_unknown, "exposure_unknown"),
    )
    churn_unknown = status_unknown if churn_needs_default_status else np.zeros_like(status_unknown)
    if not churn_needs_default_status:
        idle = named.isin(config.churn_not_scored_stages).to_numpy(dtype=bool)
        idle = idle & ~in_default & ~stage_unknown
    out["churn_not_scored_reason"] = _why(
        out.index,
        (in_default, "in_default"),
        (churn_unknown & partial, "status_partial"),
        (churn_unknown, "status_unknown"),
        (stage_unknown, "stage_unknown"),
        (idle, "inactive"),
    )
    if "default_probability" in out:
        pd_in_default = config.defaulted_probability
        out.loc[in_default, "default_probability"] = (
            np.nan if pd_in_default is None else pd_in_default
        )
        set_to = "missing" if pd_in_default is None else f"set to {pd_in_default:.0%}"
        out.loc[in_default, "default_reasons"] = (
            f"In default at the as-of date (default trigger in force or in probation, or "
            f"written off): probability {set_to}, not a model score"
        )
        out.loc[no_exposure, "default_probability"] = np.nan
        out.loc[no_exposure, "default_reasons"] = (
            "No exposure at the as-of date (no open facility, no drawn balance): default is "
            "not scored"
        )
        out.loc[status_unknown | exposure_unknown, "default_probability"] = np.nan
        out.loc[status_unknown, "default_reasons"] = _unknown_reason("status_unknown", "default")
        out.loc[partial, "default_reasons"] = _unknown_reason("status_partial", "default")
        out.loc[exposure_unknown, "default_reasons"] = _unknown_reason(
            "exposure_unknown", "default"
        )
    if "churn_probability" in out:
        out.loc[in_default | churn_unknown | stage_unknown | idle, "churn_probability"] = np.nan
        out.loc[in_default, "churn_reasons"] = "In default at the as-of date: churn is not scored"
        out.loc[churn_unknown, "churn_reasons"] = _unknown_reason("status_unknown", "churn")
        out.loc[churn_unknown & partial, "churn_reasons"] = _unknown_reason(
            "status_partial", "churn"
        )
        out.loc[stage_unknown & ~churn_unknown, "churn_reasons"] = _unknown_reason(
            "stage_unknown", "churn"
        )
        out.loc[idle, "churn_reasons"] = (
            "Not active at the as-of date (stage "
            + stage.astype("str")[idle]
            + "): churn is not scored"
        ).to_numpy()
    return out


def _why(index: pd.Index, *rules: tuple[np.ndarray, str]) -> pd.Series:
    """The :data:`NOT_SCORED` text of the first rule whose mask holds; missing if none."""
    text = np.full(len(index), None, dtype=object)
    for mask, key in reversed(rules):
        text[mask] = NOT_SCORED[key]
    return pd.Series(text, index=index, dtype="str")


def _unknown_reason(key: str, target: str) -> str:
    text = NOT_SCORED[key]
    return f"{text[0].upper()}{text[1:]}: {target} is not scored"


def _flag(features: pd.DataFrame, column: str, value: int) -> np.ndarray:
    """Rows where the feature ``column`` equals ``value`` (none when it is absent; a missing
    value is no match: :func:`_unknown` marks it)."""
    if column not in features:
        return np.zeros(len(features), dtype=bool)
    return features[column].eq(value).fillna(False).to_numpy(dtype=bool)


def _unknown(features: pd.DataFrame, column: str) -> np.ndarray:
    """Rows where the feature ``column`` is absent or missing (its value is not known)."""
    if column not in features:
        return np.ones(len(features), dtype=bool)
    return features[column].isna().to_numpy(dtype=bool)


def ensure_targets(
    scores: pd.DataFrame, bundles: Mapping[str, ModelBundle], skipped: Mapping[str, str]
) -> pd.DataFrame:
    """Columns of every target, model or not: output, reasons and model version."""
    out = scores.copy()
    for target in TARGETS:
        bundle = bundles.get(target)
        if OUTPUT_COLUMN[target] not in out:
            out[OUTPUT_COLUMN[target]] = np.nan
        if f"{target}_reasons" not in out:
            why = skipped.get(target, "no model")
            out[f"{target}_reasons"] = f"Not scored: {why}"
        out[f"{target}_model_version"] = pd.Series(
            bundle.version if bundle is not None else np.nan, index=out.index, dtype="str"
        )
    return out
