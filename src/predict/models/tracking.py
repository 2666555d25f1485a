"""MLflow tracking and registry (with :mod:`.mlflow_model`, the code of the logged model,
the only modules that import MLflow).

The tracking URI is passed in by the entry point (:func:`tracking_uri` builds it from
``MLFLOW_TRACKING_URI`` or ``sqlite:///<project>/mlflow.db``); nothing is read on import
and MLflow itself is imported only when a function here runs. With a SQLite store, run
artifacts go to ``mlartifacts/`` beside the database file.

One run per target per training, in the experiment ``train.tracking.experiment``: params
(the LightGBM settings, the windows, the stage's ``train`` section as ``train.<key>``), the
data hash, metrics (the flattened detail: ``test.auc``, ``baseline.auc``, ...; and the
headline of ``metrics/<target>.json`` under its own names, ``auc``, ``truth_auc``, ..., the
columns of ``dvc exp show``), the provenance tags (git revision, DVC experiment name and
baseline: :mod:`.provenance`), the plot CSVs, the bundle files (``bundle/``), the feature
list, the train split as a dataset input (``mlflow.log_input``: schema, profile, digest),
and the model. The model is registered as ``predict-<target>`` with the alias
``challenger``.

The model is the whole bundle behind MLflow's pyfunc interface, logged as code
(:mod:`predict.models.mlflow_model`; the bundle folder as artifacts, the ``predict``
package as code; nothing pickled), with a signature (categorical features as strings,
numeric ones as doubles) and an input example. ``mlflow.pyfunc.load_model(uri).predict``
returns one column, the calibrated output (``OUTPUT_COLUMN[target]``), equal to what
``predict score`` computes for those rows before the scope rules (docs/models.md).

Promotion (:func:`promote`): ``champion`` moves to the challenger only when, re-scored on
the same test rows, the paired bootstrap interval of its metric gain excludes zero and its
calibration is no worse (:func:`verdict`); the first challenger becomes champion. The reason
is tagged ``promotion`` on the challenger's version.
"""

from __future__ import annotations

import json
import logging
import math
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from predict.models.evaluation import (
    COMPARABLE_METRICS,
    LOWER_IS_BETTER,
    expected_calibration_error,
    target_metrics,
)
from predict.models.metrics_files import headline_metrics
from predict.models.provenance import run_context
from predict.models.store import ModelBundle, load_bundle

log = logging.getLogger(__name__)

CHALLENGER = "challenger"
CHAMPION = "champion"
BUNDLE_ARTIFACTS = "bundle"


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow settings (``train.tracking`` in params.yaml)."""

    enabled: bool = True
    experiment: str = "predict"
    register: bool = True
    model_prefix: str = "predict-"
    binary_metric: str = "auc"  # promotion metric for churn and default
    regression_metric: str = "rmse"  # promotion metric for contribution
    draws: int = 500  # paired bootstrap draws for promotion
    seed: int = 0  # seed of the bootstrap draws
    level: float = 0.95  # coverage of the bootstrap interval of the gain

    def __post_init__(self) -> None:
        """Refuse a promotion metric that evaluation does not compute or that has no
        direction (``n``, ``base_rate``, ``bias``...): caught when params are read, not
        after the bundles are downloaded."""
        for key, task, value in (
            ("binary_metric", "binary", self.binary_metric),
            ("regression_metric", "regression", self.regression_metric),
        ):
            allowed = COMPARABLE_METRICS[task]
            if value not in allowed:
                raise ValueError(
                    f"train.tracking.{key} = {value!r} is not a {task} metric with a "
                    f"direction; use one of {', '.join(sorted(allowed))}"
                )


@dataclass(frozen=True)
class TrackingInfo:
    run_id: str
    registered_name: str | None
    registered_version: str | None


def tracking_uri(environ: Mapping[str, str], project_dir: str | Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite file ``mlflow.db`` in the project."""
    explicit = environ.get("MLFLOW_TRACKING_URI", "").strip()
    return explicit or f"sqlite:///{(Path(project_dir) / 'mlflow.db').resolve()}"


def registered_name(target: str, config: TrackingConfig) -> str:
    return f"{config.model_prefix}{target}"


def promotion_metric(task: str, config: TrackingConfig) -> str:
    return config.binary_metric if task == "binary" else config.regression_metric


def _mlflow(uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def _artifact_location(uri: str, experiment: str) -> str | None:
    """For a SQLite store: ``mlartifacts/<experiment>`` beside the database file."""
    if not uri.startswith("sqlite:///"):
        return None
    db = Path(uri.removeprefix("sqlite:///"))
    return (db.parent / "mlartifacts" / experiment).resolve().as_uri()


def _experiment_id(mlflow: Any, uri: str, name: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow.create_experiment(name, artifact_location=_artifact_location(uri, name)))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; keys made safe for MLflow names."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = re.sub(r"[^\w.\- /]", "_", f"{prefix}{key}")
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    flat = flatten(metrics)
    return {
        k: float(v)
        for k, v in flat.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _log_run_content(
    mlflow: Any,
    bundle: ModelBundle,
    metrics: Mapping[str, Any],
    data_hash: str,
    artifacts: Mapping[str, Path],
) -> None:
    meta = bundle.metadata
    mlflow.set_tags(
        {
            "target": bundle.target,
            "task": bundle.task,
            "data_hash": data_hash,
            "model_version": bundle.version,
            **run_context(Path.cwd()),
        }
    )
    params = flatten(
        {
            "lgb": meta.get("params", {}),
            "train_window": meta.get("train_window", {}),
            "valid_window": meta.get("valid_window", {}),
        }
    )
    params.update(flatten({"train": meta.get("config", {})}))
    params.update(
        data_hash=data_hash,
        calibration=meta.get("calibration"),
        target_transform=meta.get("target_transform"),
        n_features=len(bundle.features.names),
    )
    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
    numbers = _numeric(metrics)
    # the headline under the names of metrics/<target>.json, as `dvc exp show` lists them
    headline = headline_metrics(metrics, bundle.task)
    numbers.update({k: float(v) for k, v in headline.items() if v is not None})
    mlflow.log_metrics(numbers)
    mlflow.log_dict(bundle.features.to_dict(), "features.json")
    mlflow.log_dict(dict(metrics), "metrics.json")
    for name, path in artifacts.items():
        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), name)


MODEL_CODE = Path(__file__).with_name("mlflow_model.py")


def model_example(bundle: ModelBundle, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's features of ``frame`` as the pyfunc takes them: strings and floats.

    Categorical features become ``str`` (missing stays missing), numeric ones ``float64``;
    this is the frame MLflow's signature and a JSON request describe.
    """
    out: dict[str, Any] = {}
    for name in bundle.features.names:
        if name in bundle.features.categories:
            out[name] = frame[name].astype("str")
        else:
            out[name] = pd.to_numeric(frame[name], errors="raise").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _log_pyfunc(
    mlflow: Any, bundle: ModelBundle, bundle_dir: Path, example: pd.DataFrame, name: str | None
) -> Any:
    """Log the whole bundle as a models-from-code pyfunc (see :mod:`.mlflow_model`)."""
    import lightgbm
    from mlflow.models import infer_signature

    from predict.contract.spec import OUTPUT_COLUMN

    output = pd.DataFrame({OUTPUT_COLUMN[bundle.target]: bundle.predict(example)})
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_CODE),
        artifacts={BUNDLE_ARTIFACTS: str(bundle_dir)},
        code_paths=[str(Path(__file__).resolve().parents[1])],
        signature=infer_signature(example, output),
        input_example=example,
        registered_model_name=name,
        pip_requirements=[
            f"mlflow=={mlflow.__version__}",
            f"lightgbm=={lightgbm.__version__}",
            f"pandas=={pd.__version__}",
        ],
    )


@dataclass(frozen=True)
class DatasetDescriptor:
    """The training rows of a fit on a Dask cluster, described without being read: their
    files (``train.parquet``, and ``valid.parquet`` for a refit), the split's fingerprint
    (``data_hash``), their row count and a frame of their columns (no row needed)."""

    files: tuple[Path, ...]
    digest: str
    rows: int
    columns: pd.DataFrame


def _log_training_data(
    mlflow: Any, bundle: ModelBundle, train: pd.DataFrame | DatasetDescriptor
) -> None:
    """The training rows as an MLflow dataset input (schema, profile and digest); of a
    :class:`DatasetDescriptor`: its source (the first file), digest and schema only, under
    the same name (MLflow's ``MetaDataset``: no row is read)."""
    from predict.models.training import LABEL_PREFIX

    label = LABEL_PREFIX + bundle.target
    if isinstance(train, DatasetDescriptor):
        from mlflow.data.dataset_source_registry import (
            get_registered_sources,
            resolve_dataset_source,
        )
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.types.utils import _infer_schema

        empty = train.columns.iloc[0:0]
        frame = model_example(bundle, empty).assign(**{label: empty[label].astype("float64")})
        rows = train.rows

        class Described(MetaDataset):  # its profile: the row count (no row read)
            @property
            def profile(self) -> Any | None:
                return {"num_rows": rows}

            def to_dict(self) -> dict[str, str]:
                return {**super().to_dict(), "profile": json.dumps(self.profile)}

        meta = Described(
            # a local file (MLflow registers that kind twice: one of them, no warning)
            source=resolve_dataset_source(
                str(train.files[0].resolve()),
                candidate_sources=[
                    s
                    for s in get_registered_sources()
                    if getattr(s, "__name__", "") == "LocalArtifactDatasetSource"
                ][:1],
            ),
            name=f"{bundle.target}-train",
            digest=train.digest[:8],
            schema=_infer_schema(frame),
        )
        mlflow.log_input(meta, context="training")
        return
    frame = model_example(bundle, train).assign(**{label: train[label].to_numpy("float64")})
    dataset = mlflow.data.from_pandas(frame, name=f"{bundle.target}-train", targets=label)
    mlflow.log_input(dataset, context="training")


def log_training(
    uri: str,
    config: TrackingConfig,
    bundle: ModelBundle,
    *,
    metrics: Mapping[str, Any],
    data_hash: str,
    bundle_dir: Path,
    input_example: pd.DataFrame,
    plots_dir: Path | None = None,
    training_data: pd.DataFrame | DatasetDescriptor | None = None,
) -> TrackingInfo:
    """One MLflow run for a trained bundle; registers it as ``challenger`` when asked.

    ``training_data`` (the train split) is logged as the run's dataset input.
    """
    mlflow = _mlflow(uri)
    experiment_id = _experiment_id(mlflow, uri, config.experiment)
    name = registered_name(bundle.target, config) if config.register else None
    artifacts = {BUNDLE_ARTIFACTS: bundle_dir, **({"plots": plots_dir} if plots_dir else {})}
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=f"{bundle.target}-{bundle.version}"
    ) as run:
        _log_run_content(mlflow, bundle, metrics, data_hash, artifacts)
        if training_data is not None:
            _log_training_data(mlflow, bundle, training_data)
        example = model_example(bundle, input_example)
        info = _log_pyfunc(mlflow, bundle, bundle_dir, example, name)
    version = None
    if name is not None:
        version = str(info.registered_model_version)
        client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.set_model_version_tag(name, version, "model_version", bundle.version)
        client.set_model_version_tag(name, version, "data_hash", data_hash)
        client.set_registered_model_alias(name, CHALLENGER, version)
        log.info("registered %s version %s as %s", name, version, CHALLENGER)
    return TrackingInfo(run.info.run_id, name, version)


@dataclass(frozen=True)
class PromotionData:
    """The test rows both models are scored on (labelled for the target) and their labels."""

    rows: pd.DataFrame
    y: np.ndarray
    n_bins: int = 10
    # split_fingerprint of the split the rows come from (a model's metadata ``data_hash``):
    # a model trained on that split whose scoring fit used its test set (the final refit is
    # calibrated on it) has seen these rows, and is not compared on them.
    data_hash: str | None = None


def fitted_on(bundle: ModelBundle, data: PromotionData) -> str | None:
    """Why ``bundle`` has seen ``data``'s rows (None when it has not): trained on the same
    split (``data_hash``) with a scoring fit that used the test set (fitted or calibrated
    on it, as the final refit is: :mod:`predict.models.refit`)."""
    meta = bundle.metadata
    if data.data_hash is None or meta.get("data_hash") != data.data_hash:
        return None
    fits = meta.get("fits") or {}
    if fits.get("scoring") != "refit":
        return None
    refit = fits.get("refit") or {}
    used = [*refit.get("fit_sets", []), refit.get("calibration_set")]
    return "fitted or calibrated on them" if "test" in used else None


@dataclass(frozen=True)
class Comparison:
    """Challenger minus champion on one test set, oriented so that positive is better."""

    metric: str
    challenger: float
    champion: float
    gain: float  # challenger better by this much (metric difference, sign by direction)
    low: float  # paired bootstrap interval of the gain
    high: float
    calibration: str  # "ece" (binary) or "abs_bias" (regression), lower is better
    challenger_calibration: float
    champion_calibration: float


@dataclass(frozen=True)
class PromotionDecision:
    target: str
    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str
    comparison: Comparison | None = None

    def describe(self) -> str:
        """One line for the command's output, e.g. ``default: challenger v3 auc=0.81234 vs
        champion v2 auc=0.80110 -> PROMOTED (better and calibration no worse (...))``."""
        verdict = "PROMOTED" if self.promoted else "kept"
        scores = ""
        if self.comparison is not None:
            scores = (
                f" {self.metric}={self.challenger_score:.5f} vs champion "
                f"v{self.champion_version} {self.metric}={self.champion_score:.5f}"
            )
        return (
            f"{self.target}: challenger v{self.challenger_version}{scores} -> {verdict} "
            f"({self.reason})"
        )


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _download_bundle(mlflow: Any, run_id: str, target: str) -> ModelBundle:
    """The run's model folder, downloaded into a folder named after its target (the store
    loads a model only from the folder named after its target)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=BUNDLE_ARTIFACTS, dst_path=tmp
        )
        folder = Path(tmp) / target
        Path(path).rename(folder)
        return load_bundle(folder)


def _metric(task: str, metric: str, y: np.ndarray, pred: np.ndarray, n_bins: int) -> float:
    """One test metric as :mod:`.evaluation` defines it (common ones without the others)."""
    fast = {
        "auc": lambda: roc_auc_score(y, pred) if 0 < y.sum() < len(y) else math.nan,
        "rmse": lambda: np.sqrt(np.mean((pred - y) ** 2)),
        "mae": lambda: np.mean(np.abs(pred - y)),
        "brier": lambda: np.mean((pred - y) ** 2),
    }
    if metric in fast:
        return float(fast[metric]())
    return float(target_metrics(task, y, pred, n_bins)[metric])


def _calibration(task: str, y: np.ndarray, pred: np.ndarray, n_bins: int) -> tuple[str, float]:
    """ECE for probabilities; |mean predicted - mean actual| for amounts (lower is better)."""
    if task == "binary":
        return "ece", expected_calibration_error(y, pred, n_bins)
    return "abs_bias", float(abs(np.mean(pred) - np.mean(y)))


def paired_bootstrap(
    task: str,
    metric: str,
    data: PromotionData,
    challenger: np.ndarray,
    champion: np.ndarray,
    config: TrackingConfig,
) -> tuple[float, float, float]:
    """Gain of the challenger (positive = better) and its paired bootstrap interval.

    Each of ``config.draws`` draws resamples the test rows with replacement (seed
    ``config.seed``) and scores both models on the same rows; the interval holds the
    central ``config.level`` of the gains. Draws where the metric is undefined are dropped.
    """
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    y, n = data.y, len(data.y)

    def gain(idx: np.ndarray | slice) -> float:
        ch = _metric(task, metric, y[idx], challenger[idx], data.n_bins)
        cm = _metric(task, metric, y[idx], champion[idx], data.n_bins)
        return sign * (ch - cm)

    rng = np.random.default_rng(config.seed)
    gains = np.array([gain(rng.integers(0, n, n)) for _ in range(config.draws)])
    gains = gains[np.isfinite(gains)]
    if len(gains) < config.draws // 2:
        raise ValueError(f"{metric} undefined on most bootstrap draws of {n} test rows")
    tail = (1.0 - config.level) / 2.0
    low, high = np.quantile(gains, [tail, 1.0 - tail])
    return gain(slice(None)), float(low), float(high)


def compare(
    task: str,
    metric: str,
    data: PromotionData,
    challenger: ModelBundle,
    champion: ModelBundle,
    config: TrackingConfig,
) -> Comparison:
    """Both models on the same test rows: metric, paired bootstrap gain, calibration."""
    p_ch, p_cm = challenger.predict(data.rows), champion.predict(data.rows)
    gain, low, high = paired_bootstrap(task, metric, data, p_ch, p_cm, config)
    name, cal_ch = _calibration(task, data.y, p_ch, data.n_bins)
    _, cal_cm = _calibration(task, data.y, p_cm, data.n_bins)
    return Comparison(
        metric,
        _metric(task, metric, data.y, p_ch, data.n_bins),
        _metric(task, metric, data.y, p_cm, data.n_bins),
        gain,
        low,
        high,
        name,
        cal_ch,
        cal_cm,
    )


def verdict(c: Comparison, level: float) -> tuple[bool, str]:
    """Promote only when the gain's interval excludes zero and calibration is no worse."""
    interval = (
        f"{c.metric} gain {c.gain:+.5f}, {level:.0%} paired bootstrap [{c.low:+.5f}, {c.high:+.5f}]"
    )
    calibration = f"{c.calibration} {c.challenger_calibration:.5f} vs {c.champion_calibration:.5f}"
    if c.low <= 0.0:
        return False, f"not better: interval includes zero or below ({interval}; {calibration})"
    if c.challenger_calibration > c.champion_calibration:
        return False, f"better but calibration worse ({interval}; {calibration})"
    return True, f"better and calibration no worse ({interval}; {calibration})"


def promote(
    uri: str,
    target: str,
    task: str,
    config: TrackingConfig,
    test: PromotionData | None = None,
) -> PromotionDecision:
    """Move ``champion`` to the ``challenger`` when it is better (see :func:`verdict`).

    Both bundles are downloaded from their runs and scored on ``test``; without test rows
    only a first champion can be set. The reason is printed and tagged on the challenger
    version (``promotion``).
    """
    mlflow = _mlflow(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name, metric = registered_name(target, config), promotion_metric(task, config)
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise LookupError(f"{name}: no version with alias {CHALLENGER!r}; train first")
    champion = _alias_version(client, name, CHAMPION)
    comparison = None
    if champion is None or champion.version == challenger.version:
        promoted = champion is None
        reason = "first champion" if promoted else "challenger is already champion"
    elif test is None:
        raise ValueError(
            f"{name}: comparing challenger v{challenger.version} with champion "
            f"v{champion.version} needs the test split (both are re-scored on it)"
        )
    else:
        bundles = {
            f"{who} v{v.version}": _download_bundle(mlflow, v.run_id, target)
            for who, v in (("challenger", challenger), ("champion", champion))
        }
        seen = {who: why for who, b in bundles.items() if (why := fitted_on(b, test))}
        if seen:  # an in-sample comparison would favour the model that saw the rows
            promoted = False
            reason = (
                "not compared: the test rows are in sample for "
                + "; ".join(f"{who} ({why})" for who, why in seen.items())
                + ": compare on labelled rows neither model saw (a later split's test set)"
            )
        else:
            new, old = bundles.values()
            comparison = compare(task, metric, test, new, old, config)
            promoted, reason = verdict(comparison, config.level)
    client.set_model_version_tag(name, challenger.version, "promotion", reason[:5000])
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
    log.info("%s v%s: %s", name, challenger.version, reason)
    return PromotionDecision(
        target,
        metric,
        str(challenger.version),
        math.nan if comparison is None else comparison.challenger,
        None if champion is None else str(champion.version),
        None if comparison is None else comparison.champion,
        promoted,
        reason,
        comparison,
    )
