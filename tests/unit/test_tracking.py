"""MLflow tracking and promotion against a real SQLite store in tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predict.models.store import ModelBundle, save_bundle
from predict.models.tracking import (
    TrackingConfig,
    flatten,
    log_training,
    promote,
    registered_name,
    tracking_uri,
)
from tests.support.splits import Book


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, churn_bundle: ModelBundle) -> Path:
    return save_bundle(churn_bundle, tmp_path_factory.mktemp("models") / "churn")


def _log(
    store: str,
    config: TrackingConfig,
    bundle: ModelBundle,
    bundle_dir: Path,
    book: Book,
    auc: float,
    data_hash: str = "h1",
) -> Any:
    metrics = {"test": {"auc": auc, "n": 10}, "by_segment": {"model": {"a b+c": {"auc": auc}}}}
    return log_training(
        store,
        config,
        bundle,
        metrics=metrics,
        data_hash=data_hash,
        bundle_dir=bundle_dir,
        input_example=book.test.head(3),
    )


def test_tracking_uri_prefers_the_environment(tmp_path: Path) -> None:
    assert tracking_uri({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, tmp_path) == (
        "http://mlflow:5000"
    )
    assert tracking_uri({}, tmp_path) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_flatten_makes_mlflow_safe_names() -> None:
    assert flatten({"by_segment": {"large corp/x+y": {"auc": 1}}}) == {
        "by_segment.large corp/x_y.auc": 1
    }


def test_a_training_run_is_logged_and_registered_as_challenger(
    mlflow_uri: str, churn_bundle: ModelBundle, bundle_dir: Path, split_book: Book
) -> None:
    import mlflow

    config = TrackingConfig(experiment="unit", model_prefix="log-")
    info = _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.7)
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    version = client.get_model_version_by_alias(registered_name("churn", config), "challenger")
    assert str(version.version) == info.registered_version and version.run_id == info.run_id
    run = client.get_run(info.run_id)
    assert run.data.params["data_hash"] == "h1"
    assert run.data.tags["model_version"] == churn_bundle.version
    assert run.data.metrics["test.auc"] == 0.7
    assert run.data.metrics["by_segment.model.a b_c.auc"] == 0.7
    artifacts = {a.path for a in client.list_artifacts(info.run_id, "bundle")}
    assert {"bundle/model.txt", "bundle/calibrator.json"} <= artifacts
    root = Path(mlflow_uri.removeprefix("sqlite:///")).parent
    assert (root / "mlartifacts").is_dir()  # artifacts beside the store, not in the cwd
    model = mlflow.pyfunc.load_model(f"models:/{registered_name('churn', config)}@challenger")
    out = model.predict(split_book.test)["churn_probability"].to_numpy()
    np.testing.assert_allclose(out, churn_bundle.predict(split_book.test), rtol=0, atol=1e-12)
    signature = mlflow.models.get_model_info(f"runs:/{info.run_id}/model").signature
    assert signature.inputs.input_names() == list(churn_bundle.features.names)


def test_promotion_first_time_then_only_when_better(
    mlflow_uri: str, churn_bundle: ModelBundle, bundle_dir: Path, split_book: Book
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="promo-")
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.70)
    first = promote(mlflow_uri, "churn", "binary", config)
    assert first.promoted and first.reason == "first champion"
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.65)
    worse = promote(mlflow_uri, "churn", "binary", config)
    assert not worse.promoted and worse.champion_version == first.challenger_version
    assert "0.65000 vs champion" in worse.describe()
    better_run = _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.75)
    better = promote(mlflow_uri, "churn", "binary", config)
    assert better.promoted and better.challenger_version == better_run.registered_version


def test_promotion_refuses_to_compare_metrics_from_different_data(
    mlflow_uri: str, churn_bundle: ModelBundle, bundle_dir: Path, split_book: Book
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="hash-")
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.70, data_hash="old")
    promote(mlflow_uri, "churn", "binary", config)
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.90, data_hash="new")
    with pytest.raises(ValueError, match="different data"):
        promote(mlflow_uri, "churn", "binary", config)


def test_promotion_can_rescore_both_bundles_on_one_test_split(
    mlflow_uri: str, churn_bundle: ModelBundle, bundle_dir: Path, split_book: Book
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="rescore-")
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.70, data_hash="old")
    promote(mlflow_uri, "churn", "binary", config)
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.90, data_hash="new")
    seen: list[str] = []

    def evaluate(candidate: ModelBundle) -> float:
        seen.append(candidate.version)
        return 0.8  # the same model: equal scores, so no promotion

    decision = promote(mlflow_uri, "churn", "binary", config, evaluate=evaluate)
    assert seen == [churn_bundle.version, churn_bundle.version]
    assert not decision.promoted and decision.challenger_score == decision.champion_score == 0.8


def test_promotion_without_a_challenger_says_train_first(mlflow_uri: str) -> None:
    with pytest.raises(LookupError, match="train first"):
        promote(mlflow_uri, "default", "binary", TrackingConfig(model_prefix="none-"))
