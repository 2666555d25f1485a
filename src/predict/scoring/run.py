"""Score a portfolio: probabilities, SHAP explanations, reasons, relationship evaluation, drift.

The flow (:func:`score_snapshot`): the features of every client at the as-of date are
aligned with each model (a feature the model needs but the data cannot give becomes an
all-missing column, a category unseen in training becomes missing; both are reported);
then, chunk by chunk of ``chunk_size`` clients, each model's TreeSHAP contributions are
computed (their sum is the raw score, mapped to the calibrated output), the long
explanations are appended to a Parquet file and the reasons are written. Only one chunk's
SHAP matrices are in memory at a time. The relationship evaluation (exposure, expected loss,
value, action), the change since the previous scoring, the early-warning list and the drift
check follow on the whole portfolio.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.contract.spec import TARGETS
from predict.io import write_csv, write_json, write_parquet
from predict.models.store import FeatureMismatchError, ModelBundle, load_bundle
from predict.progress import ProgressReporter, SilentProgress, progress_display
from predict.scoring import drift as drift_mod
from predict.scoring import relationship as rel
from predict.scoring.explain import (
    Explained,
    ExplanationWriter,
    explain_matrix,
    long_table,
)
from predict.scoring.reasons import ReasonsConfig, ReasonTemplate, reasons_text

log = logging.getLogger(__name__)

FeatureBuilder = Callable[[Mapping[str, pd.DataFrame], list[dt.date]], pd.DataFrame]

OUTPUT_COLUMN = {
    "churn": "churn_probability",
    "default": "default_probability",
    "contribution": "expected_contribution",
}
SCORE_COLUMNS = (
    "client_id",
    "as_of",
    "segment",
    "branch_id",
    "lifecycle_stage",
    "churn_probability",
    "default_probability",
    "expected_contribution",
    "ead",
    "expected_loss",
    "relationship_value",
    "action",
    "churn_model_version",
    "default_model_version",
    "contribution_model_version",
    "churn_reasons",
    "default_reasons",
    "contribution_reasons",
)
EXTRA_COLUMNS = (
    "rm_id",
    "in_default",
    "open_facilities",
    "limit_total",
    "drawn",
    "undrawn",
    "utilisation",
    "lgd",
    "action_rule",
)
MISSING_FEATURE_RULES = ("nan", "error")


@dataclass(frozen=True)
class ScoreConfig:
    """The ``score`` section of params.yaml."""

    chunk_size: int = 50_000  # clients scored, explained and written at a time
    explanations_top_k: int = 0  # 0: every feature with |shap| > 0; k: the k largest per client
    missing_features: str = "nan"  # a model feature absent from the data: nan (warn) or error
    previous: str = "month_end"  # without --previous: month_end (rescore t-1 month) or none
    in_default_feature: str = "ever_defaulted"  # 1 = already in default at the as-of date
    defaulted_probability: float | None = 1.0  # their default probability; null: keep model's
    churn_not_scored_stages: tuple[str, ...] = ("potential", "churned")  # not active at t
    reasons: ReasonsConfig = field(default_factory=ReasonsConfig)
    relationship: rel.RelationshipConfig = field(default_factory=rel.RelationshipConfig)
    drift: drift_mod.DriftConfig = field(default_factory=drift_mod.DriftConfig)

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"score.chunk_size must be >= 1, got {self.chunk_size}")
        if self.missing_features not in MISSING_FEATURE_RULES:
            raise ValueError(f"score.missing_features must be one of {MISSING_FEATURE_RULES}")
        if self.previous not in ("month_end", "none"):
            raise ValueError("score.previous must be 'month_end' or 'none'")


@dataclass
class ScoringReport:
    """What the run noticed, written to ``score_summary.json`` beside the scores."""

    as_of: str = ""
    clients: int = 0
    models: dict[str, str] = field(default_factory=dict)  # target -> version
    skipped_targets: dict[str, str] = field(default_factory=dict)  # target -> why
    missing_features: dict[str, list[str]] = field(default_factory=dict)  # target -> names
    # target -> feature -> {unseen value: clients}
    unseen_categories: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    previous: str = "none"
    explanation_rows: int = 0
    early_warning_rows: int = 0
    drift_warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- models


def load_models(
    models_dir: str | os.PathLike[str],
) -> tuple[dict[str, ModelBundle], dict[str, str]]:
    """The bundles under ``models_dir/<target>/``; a target whose folder is absent is skipped.

    Returns (bundles by target, skipped target -> why). A folder that exists but does not
    load (unsafe or broken files) raises: it is never silently skipped.
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"models folder {root} does not exist (train the models first)")
    bundles: dict[str, ModelBundle] = {}
    skipped: dict[str, str] = {}
    for target in TARGETS:
        folder = root / target
        if not folder.exists():
            skipped[target] = f"no model folder {folder}"
            log.warning("%s: not scored (no model folder %s)", target, folder)
            continue
        bundles[target] = load_bundle(folder)
    if not bundles:
        raise FileNotFoundError(f"no model in {root}: expected folders {list(TARGETS)}")
    return bundles, skipped


# ---------------------------------------------------------------- features vs models


def add_missing_features(
    frame: pd.DataFrame, bundles: Mapping[str, ModelBundle], rule: str, report: ScoringReport
) -> pd.DataFrame:
    """Add, as all-missing columns, the model features the data does not give (rule ``nan``).

    With rule ``error`` raise :class:`FeatureMismatchError` naming them instead. LightGBM
    handles a missing value as it learnt to; the reasons never cite it.
    """
    added: dict[str, pd.Series] = {}
    for target, bundle in bundles.items():
        missing = [n for n in bundle.features.names if n not in frame.columns]
        if not missing:
            continue
        report.missing_features[target] = missing
        if rule == "error":
            raise FeatureMismatchError(
                f"{target} model needs feature(s) {missing} that the data does not give "
                "(a table or column absent?); set score.missing_features: nan to score anyway"
            )
        log.warning(
            "%s model: %d feature(s) absent from the data, scored as missing: %s",
            target,
            len(missing),
            ", ".join(missing),
        )
        for name in missing:
            dtype = "str" if name in bundle.features.categories else "float64"
            added.setdefault(name, pd.Series(np.nan, index=frame.index, dtype=dtype))
    return frame.assign(**added) if added else frame


def unseen_categories(
    frame: pd.DataFrame, bundles: Mapping[str, ModelBundle], report: ScoringReport
) -> None:
    """Count, per model and categorical feature, values the model did not see in training.

    They are scored as missing. (A model trained on part of the clients, e.g. churn on active
    ones, has not seen the stages of the others: that shows here too.)
    """
    for target, bundle in bundles.items():
        for name, cats in bundle.features.categories.items():
            values = frame[name].astype("str")
            unseen = values.notna() & ~values.isin(cats)
            if unseen.any():
                top = values[unseen].value_counts().head(20)
                found = {str(k): int(v) for k, v in top.items()}
                report.unseen_categories.setdefault(target, {})[name] = found
                log.warning(
                    "%s model, feature %r: categories unseen in training, scored as missing: %s",
                    target,
                    name,
                    found,
                )


def known_categories(frame: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """``frame`` with categories the model did not see in training set to missing."""
    cleaned = {}
    for name, cats in bundle.features.categories.items():
        col = frame[name].astype("str")
        cleaned[name] = col.where(col.isin(cats))
    return frame.assign(**cleaned) if cleaned else frame


def model_input(frame: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """The booster's input for ``frame``: unseen categories set missing, then cast."""
    return bundle.matrix(known_categories(frame, bundle))


# ---------------------------------------------------------------- chunked scoring


def explain_chunk(chunk: pd.DataFrame, bundle: ModelBundle) -> Explained:
    """SHAP of one chunk for one model (values: the clients' own feature values)."""
    names = list(bundle.features.names)
    return explain_matrix(
        bundle.target, bundle.booster, model_input(chunk, bundle), chunk[names], bundle.from_raw
    )


def score_chunks(
    features: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: ScoreConfig,
    templates: Mapping[str, ReasonTemplate],
    writer: ExplanationWriter | None = None,
    progress: ProgressReporter | None = None,
) -> pd.DataFrame:
    """Model outputs and reasons per client, writing explanations chunk by chunk.

    Returns one row per row of ``features``: client_id, ``<output>`` per target and
    ``<target>_reasons``, in the order of ``features``.
    """
    progress = progress or SilentProgress()
    task = progress.task("scoring + SHAP + reasons", total=len(features))
    as_of = pd.Timestamp(features["as_of"].iloc[0]) if len(features) else pd.Timestamp("NaT")
    parts: list[pd.DataFrame] = []
    for start in range(0, len(features), config.chunk_size):
        chunk = features.iloc[start : start + config.chunk_size]
        part = pd.DataFrame({"client_id": chunk["client_id"].to_numpy()})
        for target, bundle in bundles.items():
            ex = explain_chunk(chunk, bundle)
            part[OUTPUT_COLUMN[target]] = bundle.from_raw(ex.raw)
            part[f"{target}_reasons"] = reasons_text(ex, templates, config.reasons)
            if writer is not None:
                writer.write(
                    long_table(
                        chunk["client_id"],
                        as_of,
                        target,
                        ex.values,
                        ex.shap,
                        config.explanations_top_k,
                        base=ex.base,
                    )
                )
        parts.append(part)
        progress.advance(task, len(chunk))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"client_id": []})


# ---------------------------------------------------------------- portfolio rules


def client_attributes(tables: Mapping[str, pd.DataFrame], client_ids: pd.Series) -> pd.DataFrame:
    """segment, branch_id, rm_id of each client (missing where the clients table lacks them)."""
    out = pd.DataFrame({"client_id": client_ids.astype("str").to_numpy()})
    clients = tables.get("clients")
    for column in ("segment", "branch_id", "rm_id"):
        if clients is not None and column in clients.columns:
            mapping = clients.drop_duplicates("client_id").set_index("client_id")[column]
            out[column] = out["client_id"].map(mapping).astype("str")
        else:
            out[column] = pd.Series(np.nan, index=out.index, dtype="str")
    return out


def apply_scope_rules(
    scores: pd.DataFrame, features: pd.DataFrame, config: ScoreConfig
) -> pd.DataFrame:
    """Clients a model does not apply to (the training labels leave them out).

    - already in default at the as-of date (feature ``in_default_feature`` = 1): the default
      model is not for them; their default probability is ``defaulted_probability``;
    - not active at the as-of date (lifecycle stage in ``churn_not_scored_stages``): they
      cannot churn; churn probability missing.
    The reasons say so. ``features`` is aligned row for row with ``scores``.
    """
    out = scores.copy()
    flag = config.in_default_feature
    in_default = (
        (features[flag] == 1).fillna(False).to_numpy(dtype=bool)
        if flag in features
        else np.zeros(len(out), dtype=bool)
    )
    out["in_default"] = in_default
    if config.defaulted_probability is not None and "default_probability" in out:
        pct = f"{config.defaulted_probability:.0%}"
        out.loc[in_default, "default_probability"] = config.defaulted_probability
        out.loc[in_default, "default_reasons"] = (
            f"Already in default at the as-of date (default event or arrears): probability "
            f"set to {pct}, not a model score"
        )
    if "lifecycle_stage" in features and "churn_probability" in out:
        stage = features["lifecycle_stage"].astype("str")
        idle = stage.isin(config.churn_not_scored_stages).to_numpy(dtype=bool)
        out.loc[idle, "churn_probability"] = np.nan
        out.loc[idle, "churn_reasons"] = (
            "Not active at the as-of date (stage " + stage[idle] + "): churn is not scored"
        ).to_numpy()
    return out


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


def predict_outputs(
    features: pd.DataFrame, bundles: Mapping[str, ModelBundle], chunk_size: int
) -> pd.DataFrame:
    """Model outputs only (no SHAP), chunk by chunk: client_id and one column per target."""
    out = pd.DataFrame({"client_id": features["client_id"].astype("str").to_numpy()})
    for target, bundle in bundles.items():
        parts = [
            bundle.predict(known_categories(features.iloc[s : s + chunk_size], bundle))
            for s in range(0, len(features), chunk_size)
        ]
        out[OUTPUT_COLUMN[target]] = np.concatenate(parts) if parts else np.array([])
    return out


# ---------------------------------------------------------------- previous scoring


def read_previous(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A previous ``scores.parquet`` (or ``.csv``) with client_id, as_of and probabilities."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"previous scores {p} not found")
    frame = pd.read_csv(p) if p.suffix == ".csv" else pd.read_parquet(p)
    needed = {"client_id", "as_of"}
    if not needed <= set(frame.columns) or not set(rel.PREVIOUS_COLUMNS) & set(frame.columns):
        raise ValueError(
            f"previous scores {p}: need client_id, as_of and some of "
            f"{list(rel.PREVIOUS_COLUMNS)}; found {sorted(frame.columns)}"
        )
    frame["client_id"] = frame["client_id"].astype("str")
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[s]")
    return frame


def rescore_previous(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    build: FeatureBuilder,
    config: ScoreConfig,
) -> pd.DataFrame | None:
    """The same models on the month end before ``as_of`` (None when the data start later)."""
    from predict.features.snapshots import add_months, data_start

    prev = add_months(as_of, -1)
    if prev < data_start(tables):
        log.warning("no previous scoring: %s is before the data start", prev)
        return None
    features = build(tables, [prev]).reset_index(drop=True)
    if features.empty:
        return None
    features = add_missing_features(features, bundles, "nan", ScoringReport())
    out = predict_outputs(features, bundles, config.chunk_size)
    out = apply_scope_rules(out, features, config)
    out["as_of"] = pd.Timestamp(prev)
    return out


# ---------------------------------------------------------------- drift


def drift_report(
    reference: pd.DataFrame | None,
    features: pd.DataFrame,
    outputs: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    config: drift_mod.DriftConfig,
) -> pd.DataFrame:
    """PSI of every model feature and every model output, training period vs this snapshot.

    ``reference``: rows of the training period (the train split); its score distribution is
    the models' predictions on it. Bins are fixed on the reference.
    """
    if reference is None or reference.empty:
        log.warning("no training reference: drift not computed")
        return drift_mod.compare([], features, "feature", config)
    if len(reference) > config.reference_max_rows:
        reference = reference.sample(config.reference_max_rows, random_state=config.seed)
    names = list(dict.fromkeys(n for b in bundles.values() for n in b.features.names))
    feature_drift = drift_mod.compare(
        drift_mod.fit_reference(reference, names, config), features, "feature", config
    )
    ref_outputs = predict_outputs(reference, bundles, 50_000)
    columns = [OUTPUT_COLUMN[t] for t in bundles]
    score_drift = drift_mod.compare(
        drift_mod.fit_reference(ref_outputs, columns, config), outputs, "score", config
    )
    out = pd.concat([score_drift, feature_drift], ignore_index=True)
    drift_mod.log_warnings(out, config)
    return out


# ---------------------------------------------------------------- the whole snapshot


@dataclass(frozen=True)
class ScoringResult:
    scores: pd.DataFrame
    early_warning: pd.DataFrame
    drift: pd.DataFrame
    report: ScoringReport


def evaluate_relationships(
    scores: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    previous: pd.DataFrame | None,
    config: ScoreConfig,
) -> pd.DataFrame:
    """Exposure, expected loss, value, change since the previous scoring and action."""
    exposure = rel.client_exposure(tables, as_of, config.relationship)
    out = rel.add_value(rel.add_exposure(scores, exposure, config.relationship))
    out = rel.add_previous(out, previous)
    return rel.assign_actions(out, config.relationship)


def order_columns(scores: pd.DataFrame) -> pd.DataFrame:
    """The documented columns first (BRIEF item 6), then the extras, then the rest."""
    first = [c for c in (*SCORE_COLUMNS, *EXTRA_COLUMNS) if c in scores.columns]
    return scores[first + [c for c in scores.columns if c not in first]]


def score_snapshot(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date,
    bundles: Mapping[str, ModelBundle],
    build: FeatureBuilder,
    out_dir: str | os.PathLike[str],
    config: ScoreConfig,
    *,
    templates: Mapping[str, ReasonTemplate],
    previous: pd.DataFrame | None = None,
    reference: pd.DataFrame | None = None,
    report: ScoringReport | None = None,
    progress: ProgressReporter | None = None,
) -> ScoringResult:
    """Score every client at ``as_of``; explanations are written to ``out_dir`` on the way.

    ``previous``: an earlier scoring to compare with; None and ``config.previous ==
    "month_end"``: the same models are run on the month end before ``as_of``.
    """
    report = report or ScoringReport()
    progress = progress or SilentProgress()
    task = progress.task("features", total=None)
    features = build(tables, [as_of]).reset_index(drop=True)
    progress.done(task)
    report.as_of, report.clients = as_of.isoformat(), len(features)
    report.models = {t: b.version for t, b in bundles.items()}
    features = add_missing_features(features, bundles, config.missing_features, report)
    unseen_categories(features, bundles, report)
    with ExplanationWriter(Path(out_dir) / "explanations.parquet") as writer:
        outputs = score_chunks(features, bundles, config, templates, writer, progress)
    report.explanation_rows = writer.rows
    scores = client_attributes(tables, features["client_id"]).merge(
        outputs, on="client_id", how="left", validate="one_to_one"
    )
    scores.insert(1, "as_of", pd.Timestamp(as_of).as_unit("s"))
    stage = features.get("lifecycle_stage", np.nan)
    scores["lifecycle_stage"] = pd.Series(stage, index=scores.index, dtype="str")
    scores = ensure_targets(
        apply_scope_rules(scores, features, config), bundles, report.skipped_targets
    )
    if previous is None and config.previous == "month_end":
        task = progress.task("previous month end", total=None)
        previous = rescore_previous(tables, as_of, bundles, build, config)
        progress.done(task)
        report.previous = "rescored previous month end" if previous is not None else "none"
    scores = order_columns(evaluate_relationships(scores, tables, as_of, previous, config))
    early = rel.early_warning(scores, config.relationship.early_warning)
    report.early_warning_rows = len(early)
    task = progress.task("drift", total=None)
    drift = drift_report(reference, features, outputs, bundles, config.drift)
    progress.done(task)
    flagged = drift[drift["level"].isin(["warning", "alert"])]
    report.drift_warnings = [
        f"{v}: PSI {p:.3f} ({lv})"
        for v, p, lv in zip(flagged["variable"], flagged["psi"], flagged["level"], strict=True)
    ]
    return ScoringResult(scores, early, drift, report)


# ---------------------------------------------------------------- files in, files out


def load_input(
    input_dir: str | os.PathLike[str],
    validated: bool,
    mode: str,
    out_dir: str | os.PathLike[str],
    report: ScoringReport,
) -> dict[str, pd.DataFrame]:
    """The contract tables of ``input_dir``: as they are if already validated, else validated
    now (``mode``; lenient by default for scoring: bad rows are quarantined under
    ``out_dir/quarantine/`` with the report in ``out_dir/validation/``)."""
    from predict.contract.validation import (
        ValidationConfig,
        ValidationFailed,
        failure_message,
        load_validated,
        summary_text,
        validate_folder,
        write_report,
    )

    if validated:
        return load_validated(input_dir)
    result = validate_folder(input_dir, ValidationConfig(mode=mode))
    report_path = write_report(result, Path(out_dir) / "validation")
    if not result.ok:
        raise ValidationFailed(failure_message(result, report_path))
    log.info("%s", summary_text(result))
    report.quarantined = {
        n: c.rows_quarantined for n, c in result.counts.items() if c.rows_quarantined
    }
    for name, rows in result.quarantined.items():
        if not rows.empty:
            write_parquet(rows, Path(out_dir) / "quarantine" / f"{name}.parquet")
    if report.quarantined:
        log.warning(
            "quarantined rows (not scored from): %s; see %s", report.quarantined, report_path
        )
    return dict(result.tables)


def read_reference(
    path: str | os.PathLike[str] | None, bundles: Mapping[str, ModelBundle]
) -> pd.DataFrame | None:
    """The training rows (model features only) for the drift check; None if not there."""
    if path is None or not Path(path).is_file():
        log.warning("training reference %s not found: drift not computed", path)
        return None
    import pyarrow.parquet as pq

    wanted = {n for b in bundles.values() for n in b.features.names}
    columns = [c for c in pq.read_schema(path).names if c in wanted or c == "client_id"]
    return pd.read_parquet(path, columns=columns)


def write_outputs(result: ScoringResult, out_dir: str | os.PathLike[str]) -> None:
    """scores (.parquet, .csv), early_warning, drift and score_summary.json into ``out_dir``."""
    out = Path(out_dir)
    write_parquet(result.scores, out / "scores.parquet")
    write_csv(result.scores, out / "scores.csv")
    write_parquet(result.early_warning, out / "early_warning.parquet")
    write_parquet(result.drift, out / "drift.parquet")
    write_json(asdict(result.report), out / "score_summary.json")


def score_folder(
    input_dir: str | os.PathLike[str],
    models_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: ScoreConfig,
    features_config: Any,
    *,
    as_of: dt.date | None = None,
    previous_path: str | os.PathLike[str] | None = None,
    reference_path: str | os.PathLike[str] | None = None,
    validated: bool = False,
    validation_mode: str = "lenient",
    quiet: bool | None = False,
) -> ScoringResult:
    """``predict score``: validate (unless ``validated``), build features, score, write."""
    from predict.features.build import build_features
    from predict.features.snapshots import require_month_ends, scoring_as_of
    from predict.scoring.reasons import catalogue_templates

    report = ScoringReport()
    bundles, report.skipped_targets = load_models(models_dir)
    tables = load_input(input_dir, validated, validation_mode, out_dir, report)
    as_of = as_of or scoring_as_of(tables, features_config.as_of)
    require_month_ends([as_of], "scoring as-of (--as-of)")
    previous = read_previous(previous_path) if previous_path else None
    if previous is not None:
        report.previous = str(previous_path)

    def build(t: Mapping[str, pd.DataFrame], dates: list[dt.date]) -> pd.DataFrame:
        return build_features(t, dates, features_config)

    with progress_display(quiet) as progress:
        result = score_snapshot(
            tables,
            as_of,
            bundles,
            build,
            out_dir,
            config,
            templates=catalogue_templates(),
            previous=previous,
            reference=read_reference(reference_path, bundles),
            report=report,
            progress=progress,
        )
    write_outputs(result, out_dir)
    return result


def _by_value(per_target: Mapping[str, Any]) -> dict[str, Any]:
    """Targets that share the same value, joined: {"churn, default": value, ...}."""
    groups: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for target, value in per_target.items():
        key = repr(value)
        groups.setdefault(key, []).append(target)
        values[key] = value
    return {", ".join(ts): values[k] for k, ts in groups.items()}


def summary_lines(result: ScoringResult) -> list[str]:
    """A few lines for the console (the details are in score_summary.json)."""
    r, s = result.report, result.scores
    lines = [f"scored {r.clients} clients as of {r.as_of} with {', '.join(r.models) or 'no model'}"]
    lines += [f"  skipped {t}: {why}" for t, why in r.skipped_targets.items()]
    for targets, names in _by_value(r.missing_features).items():
        lines.append(
            f"  {targets}: {len(names)} feature(s) absent from the data, scored as "
            f"missing: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}"
        )
    for targets, per in _by_value(r.unseen_categories).items():
        for name, counts in per.items():
            shown = dict(list(counts.items())[:5])
            lines.append(
                f"  {targets}: categories of {name} unseen in training, scored as "
                f"missing: {shown}{' ...' if len(counts) > 5 else ''}"
            )
    if r.quarantined:
        lines.append(f"  quarantined rows: {r.quarantined}")
    counts = s["action"].value_counts()
    lines.append("  actions: " + ", ".join(f"{a!s} {int(n)}" for a, n in counts.items()))
    lines.append(f"  early warning: {r.early_warning_rows} row(s); previous: {r.previous}")
    flagged = len(r.drift_warnings)
    lines += [f"  drift {w}" for w in r.drift_warnings[:10]]
    if flagged > 10:
        lines.append(f"  ... {flagged - 10} more drift warnings (drift.parquet)")
    return lines


def configs_from_params(params_path: str | os.PathLike[str] | None) -> tuple[ScoreConfig, Any]:
    """``score`` and ``features`` sections of a params file; defaults for what is absent."""
    from predict.config import load_params, load_section
    from predict.features.build import FeaturesConfig

    path = Path(params_path) if params_path is not None else None
    if path is None or not path.is_file():
        log.info("no params file %s: default settings", params_path)
        return ScoreConfig(), FeaturesConfig()
    present = load_params(path)
    score = load_section(path, "score", ScoreConfig) if "score" in present else None
    features = load_section(path, "features", FeaturesConfig) if "features" in present else None
    return score or ScoreConfig(), features or FeaturesConfig()
