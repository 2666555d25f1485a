"""Everything the report reads, loaded once: scores, explanations, drift, tables, models, metrics.

Only JSON and Parquet are read; model boosters are not loaded (the model card needs the
metadata and the feature list, not the trees).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from predict.contract.spec import TARGETS
from predict.contract.validation import load_validated
from predict.io import parquet_metadata, read_json
from predict.models.metrics_files import read_metrics_folder
from predict.scoring.outputs import AS_OF_KEY, RUN_ID_KEY

logger = logging.getLogger(__name__)

SCORE_COLUMNS = (
    "client_id",
    "as_of",
    "churn_probability",
    "default_probability",
    "expected_contribution",
    "expected_loss",
    "lifecycle_stage",
    "action",
)
EXPLANATION_COLUMNS = ("client_id", "target", "feature", "value", "shap")


class ReportInputError(ValueError):
    """An input of the report is missing or does not have the documented shape."""


@dataclass(frozen=True)
class ModelInfo:
    """What the model card shows of one trained model: its metadata and feature list."""

    target: str
    metadata: dict[str, Any]
    features: dict[str, Any]


@dataclass(frozen=True)
class ReportInputs:
    scores: pd.DataFrame
    explanations: pd.DataFrame
    drift: pd.DataFrame | None = None
    early_warning: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, dict[str, pd.DataFrame]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # score_summary.json of the scoring
    migration: pd.DataFrame | None = None  # migration.parquet: clients by previous grade, grade
    skipped_models: dict[str, str] = field(default_factory=dict)  # target -> why not trained
    features: pd.DataFrame | None = None  # features table, every snapshot (index from the data)
    contribution_reference: dict[str, Any] | None = None  # contribution_quantiles, frozen

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.scores["as_of"].max())


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...], where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportInputError(
            f"{where}: missing column(s) {missing}; found {sorted(map(str, frame.columns))}"
        )


def _read_optional(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        logger.warning("report: %s not found; its section is left out", path)
        return None
    return pd.read_parquet(path)


Frames = tuple[
    pd.DataFrame, pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None
]


SUMMARY_FILE = "score_summary.json"
SCORE_FILES = (
    "scores.parquet",
    "explanations.parquet",
    "drift.parquet",
    "early_warning.parquet",
    "migration.parquet",
)


def check_one_run(root: Path, summary: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(run id, as-of) shared by every output file of ``root``; refuses a mixed folder.

    Each Parquet file carries ``predict.run_id`` / ``predict.as_of`` in its metadata and
    ``score_summary.json`` carries ``run_id`` / ``as_of`` (written by ``predict score``).
    ``summary``: that file as already read (:func:`load_summary`; empty when absent), else
    it is read here.
    """
    if summary is None:
        summary = load_summary(root)
    found: dict[str, tuple[str, str]] = {}
    if summary:
        found[SUMMARY_FILE] = (str(summary.get("run_id", "")), str(summary.get("as_of", "")))
    for name in SCORE_FILES:
        if (root / name).is_file():
            meta = parquet_metadata(root / name)
            found[name] = (meta.get(RUN_ID_KEY, ""), meta.get(AS_OF_KEY, ""))
    unstamped = [n for n, (run, day) in found.items() if not run or not day]
    if unstamped or SUMMARY_FILE not in found:
        raise ReportInputError(
            f"{root}: {unstamped or [SUMMARY_FILE]} carry no run id and as-of date "
            "(written by another tool or an older predict score): run `predict score` again"
        )
    if len(set(found.values())) > 1:
        listing = "; ".join(f"{n}: run {r} as of {d}" for n, (r, d) in found.items())
        raise ReportInputError(
            f"{root} mixes the files of several scoring runs ({listing}): the folder was "
            "copied together or a run was interrupted; run `predict score` again"
        )
    return found[SUMMARY_FILE]


def load_scores(
    scores_dir: str | os.PathLike[str], summary: Mapping[str, Any] | None = None
) -> Frames:
    """scores, explanations, drift, early_warning and migration (each None when absent) from
    ``scores_dir``, checked to come from one run (``summary``: see :func:`check_one_run`)."""
    root = Path(scores_dir)
    path = root / "scores.parquet"
    if not path.exists():
        raise ReportInputError(f"scores file {path} not found (run `predict score` first)")
    _, as_of = check_one_run(root, summary)
    scores = pd.read_parquet(path)
    require_columns(scores, SCORE_COLUMNS, str(path))
    days = {pd.Timestamp(d).date().isoformat() for d in scores["as_of"].dropna().unique()}
    if days - {as_of}:
        raise ReportInputError(f"{path}: as_of {sorted(days)} differs from the run's {as_of}")
    scores["client_id"] = scores["client_id"].astype("str")
    dup = scores["client_id"].duplicated()
    if dup.any():
        raise ReportInputError(
            f"{path}: client_id {scores.loc[dup, 'client_id'].iloc[0]!r} "
            "appears twice (rule: one row per client)"
        )
    expl_path = root / "explanations.parquet"
    expl = _read_optional(expl_path)
    if expl is None:
        expl = pd.DataFrame({c: pd.Series(dtype="str") for c in EXPLANATION_COLUMNS})
        expl["shap"] = expl["shap"].astype("float64")
    require_columns(expl, EXPLANATION_COLUMNS, str(expl_path))
    expl = expl.astype({"client_id": "str", "target": "str", "feature": "str", "shap": "float64"})
    return (
        scores,
        expl,
        _read_optional(root / "drift.parquet"),
        _read_optional(root / "early_warning.parquet"),
        _read_optional(root / "migration.parquet"),
    )


def load_tables(tables_dir: str | os.PathLike[str] | None) -> dict[str, pd.DataFrame]:
    """The validated contract tables present in ``tables_dir`` (none when it is None)."""
    if tables_dir is None:
        return {}
    root = Path(tables_dir)
    if not root.is_dir():
        raise ReportInputError(f"tables folder {root} does not exist")
    return dict(load_validated(root))  # the validation stage's own reader


def load_models(models_dir: str | os.PathLike[str] | None) -> dict[str, ModelInfo]:
    """Metadata and feature list of each ``models/<target>/`` folder, checked against its
    manifest (``model_version`` is the folder digest the scores carry)."""
    from predict.models.skipped import SKIPPED_FILE
    from predict.models.store import UnsafeModelError, read_model_info

    out: dict[str, ModelInfo] = {}
    if models_dir is None or not Path(models_dir).is_dir():
        return out
    for target in TARGETS:
        folder = Path(models_dir) / target
        if folder.is_dir() and not (folder / SKIPPED_FILE).is_file():  # not trained: notes
            try:
                metadata, features = read_model_info(folder)
            except (OSError, UnsafeModelError) as exc:
                raise ReportInputError(str(exc)) from exc
            out[target] = ModelInfo(target=target, metadata=metadata, features=features)
    return out


def load_skipped_models(models_dir: str | os.PathLike[str] | None) -> dict[str, str]:
    """Target -> reason of each ``models/<target>/skipped.json`` (targets not trained)."""
    from predict.models.skipped import read_skipped

    if models_dir is None or not Path(models_dir).is_dir():
        return {}
    out = {}
    for target in TARGETS:
        record = read_skipped(Path(models_dir) / target)
        if record is not None:
            out[target] = str(record.get("reason", "no reason given"))
    return out


def load_summary(scores_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``score_summary.json`` of the scoring (empty when absent)."""
    path = Path(scores_dir) / SUMMARY_FILE
    summary = read_json(path) if path.is_file() else {}
    return summary if isinstance(summary, dict) else {}


def load_plots(plots_dir: str | os.PathLike[str] | None) -> dict[str, dict[str, pd.DataFrame]]:
    """``plots/<target>/<name>.csv`` tables (roc, calibration, lift) by target and name."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    if plots_dir is None or not Path(plots_dir).is_dir():
        return out
    for target in TARGETS:
        folder = Path(plots_dir) / target
        if folder.is_dir():
            out[target] = {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))}
    return out


def load_features(
    path: str | os.PathLike[str] | None, columns: Sequence[str] | None = None
) -> pd.DataFrame | None:
    """The features table (every snapshot), only ``columns`` of it that the file has
    (all when None); None when ``path`` is None or absent."""
    if path is None or not Path(path).exists():
        return None
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        names = ds.dataset(path, format="parquet").schema.names
    except (OSError, pa.ArrowInvalid) as exc:
        raise ReportInputError(f"features table {path}: {exc}") from exc
    wanted = None if columns is None else [c for c in columns if c in names]
    frame = pd.read_parquet(path, columns=wanted)
    for name in ("client_id", "as_of"):
        if name not in frame:
            raise ReportInputError(f"features table {path}: no column {name!r}")
    return frame


def load_contribution_reference(
    models_dir: str | os.PathLike[str] | None,
) -> dict[str, Any] | None:
    """``contribution_quantiles`` of ``models/contribution/references.json``, checked; None
    when there is no contribution model folder or it has none (trained before they were
    frozen)."""
    from predict.models.references import (
        ContributionQuantilesError,
        check_contribution_quantiles,
    )
    from predict.models.store import REFERENCES_FILE

    if models_dir is None:
        return None
    path = Path(models_dir) / "contribution" / REFERENCES_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    reference = data.get("contribution_quantiles") if isinstance(data, dict) else None
    if reference is None:
        return None
    try:
        check_contribution_quantiles(reference)
    except ContributionQuantilesError as exc:
        raise ReportInputError(f"{path}: {exc}") from exc
    return dict(reference)


def load_inputs(
    scores_dir: str | os.PathLike[str],
    models_dir: str | os.PathLike[str] | None = None,
    metrics_dir: str | os.PathLike[str] | None = None,
    tables_dir: str | os.PathLike[str] | None = None,
    plots_dir: str | os.PathLike[str] | None = None,
    features_path: str | os.PathLike[str] | None = None,
    feature_columns: Sequence[str] | None = None,
) -> ReportInputs:
    """Load everything the report shows; optional inputs that are absent are left out."""
    summary = load_summary(scores_dir)  # read once: the same-run check and the notes
    scores, expl, drift, early, migration = load_scores(scores_dir, summary)
    return ReportInputs(
        scores=scores,
        explanations=expl,
        drift=drift,
        early_warning=early,
        tables=load_tables(tables_dir),
        models=load_models(models_dir),
        metrics=read_metrics_folder(metrics_dir),
        plots=load_plots(plots_dir),
        summary=summary,
        migration=migration,
        skipped_models=load_skipped_models(models_dir),
        features=load_features(features_path, feature_columns),
        contribution_reference=load_contribution_reference(models_dir),
    )
