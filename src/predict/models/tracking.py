"""MLflow tracking and registry: the only module that talks to MLflow.

The tracking URI is passed in by the entry point (:func:`tracking_uri` builds it from
``MLFLOW_TRACKING_URI`` or ``sqlite:///<project>/mlflow.db``); nothing is read on import
and MLflow itself is imported only when a function here runs. With a SQLite store, run
artifacts go to ``mlartifacts/`` beside the database file.

One run per target per training, in the experiment ``train.tracking.experiment``: params,
the data hash, metrics (flattened: ``test.auc``, ``baseline.auc``, ...), the plot CSVs, the
bundle files (``bundle/``), the feature list, the train split as a dataset input
(``mlflow.log_input``: schema, profile, digest), and the model. The model is registered as
``predict-<target>`` with the alias ``challenger``.

The model is the whole bundle behind MLflow's pyfunc interface, logged as code
(:mod:`predict.models.mlflow_model`; the bundle folder as artifacts, the ``predict``
package as code; nothing pickled), with a signature (categorical features as strings,
numeric ones as doubles) and an input example. ``mlflow.pyfunc.load_model(uri).predict``
returns one column, the calibrated output (``OUTPUT_COLUMN[target]``), equal to what
``predict score`` computes for those rows before the scope rules (docs/models.md).

Promotion: ``champion`` moves to the challenger only when the challenger is better on the
test metric (``auc`` for churn/default, ``rmse`` by default for contribution), both scored
on the same test data; the first challenger becomes champion.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from predict.models.evaluation import LOWER_IS_BETTER
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
    min_improvement: float = 0.0  # challenger must beat the champion by more than this


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
        }
    )
    params = flatten(
        {
            "lgb": meta.get("params", {}),
            "train_window": meta.get("train_window", {}),
            "valid_window": meta.get("valid_window", {}),
        }
    )
    params.update(
        data_hash=data_hash,
        calibration=meta.get("calibration"),
        target_transform=meta.get("target_transform"),
        n_features=len(bundle.features.names),
    )
    mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
    mlflow.log_metrics(_numeric(metrics))
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


def _log_training_data(mlflow: Any, bundle: ModelBundle, train: pd.DataFrame) -> None:
    """The training rows as an MLflow dataset input (schema, profile and digest)."""
    from predict.models.training import LABEL_PREFIX

    label = LABEL_PREFIX + bundle.target
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
    training_data: pd.DataFrame | None = None,
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
class PromotionDecision:
    target: str
    metric: str
    challenger_version: str
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str

    def describe(self) -> str:
        champ = (
            f"champion v{self.champion_version} {self.metric}={self.champion_score:.5f}"
            if self.champion_version
            else "no champion yet"
        )
        verdict = "PROMOTED" if self.promoted else "kept"
        return (
            f"{self.target}: challenger v{self.challenger_version} "
            f"{self.metric}={self.challenger_score:.5f} vs {champ} -> {verdict} "
            f"({self.reason})"
        )


def _alias_version(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _download_bundle(mlflow: Any, run_id: str) -> ModelBundle:
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=BUNDLE_ARTIFACTS, dst_path=tmp
        )
        return load_bundle(path)


def _score(
    mlflow: Any,
    client: Any,
    version: Any,
    metric: str,
    evaluate: Callable[[ModelBundle], float] | None,
) -> tuple[float, str]:
    run = client.get_run(version.run_id)
    if evaluate is not None:
        return float(evaluate(_download_bundle(mlflow, version.run_id))), run.data.tags.get(
            "data_hash", ""
        )
    return float(run.data.metrics[f"test.{metric}"]), run.data.tags.get("data_hash", "")


def _better(challenger: float, champion: float, metric: str, margin: float) -> bool:
    if metric in LOWER_IS_BETTER:
        return challenger < champion - margin
    return challenger > champion + margin


def promote(
    uri: str,
    target: str,
    task: str,
    config: TrackingConfig,
    evaluate: Callable[[ModelBundle], float] | None = None,
) -> PromotionDecision:
    """Move ``champion`` to the ``challenger`` when it scores better (see module doc).

    ``evaluate`` scores a bundle on the current test split; without it the logged test
    metrics are compared, which is only allowed when both runs saw the same data.
    """
    mlflow = _mlflow(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name, metric = registered_name(target, config), promotion_metric(task, config)
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is None:
        raise LookupError(f"{name}: no version with alias {CHALLENGER!r}; train first")
    champion = _alias_version(client, name, CHAMPION)
    ch_score, ch_hash = _score(mlflow, client, challenger, metric, evaluate)
    if champion is None or champion.version == challenger.version:
        promoted = champion is None
        reason = "first champion" if promoted else "challenger is already champion"
        champ_score = None if champion is None else ch_score
    else:
        champ_score, champ_hash = _score(mlflow, client, champion, metric, evaluate)
        if evaluate is None and champ_hash != ch_hash:
            raise ValueError(
                f"{name}: champion and challenger were tested on different data "
                f"({champ_hash} vs {ch_hash}); re-score both on one test split"
            )
        promoted = _better(ch_score, champ_score, metric, config.min_improvement)
        reason = "better on the test split" if promoted else "not better on the test split"
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, challenger.version)
    return PromotionDecision(
        target,
        metric,
        str(challenger.version),
        ch_score,
        None if champion is None else str(champion.version),
        champ_score,
        promoted,
        reason,
    )
