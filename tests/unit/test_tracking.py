"""MLflow tracking and promotion against a real SQLite store in tmp_path."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predict.models.calibration import PlattCalibrator
from predict.models.evaluation import (
    COMPARABLE_METRICS,
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    binary_metrics,
    regression_metrics,
)
from predict.models.refit import RefitConfig
from predict.models.store import ModelBundle, save_bundle
from predict.models.tracking import (
    PromotionData,
    TrackingConfig,
    flatten,
    log_training,
    paired_bootstrap,
    promote,
    registered_name,
    tracking_uri,
)
from predict.models.training import final_model, labelled_rows, train_model
from tests.support.splits import Book
from tests.unit.conftest import SPLIT_TRAINING


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory, churn_bundle: ModelBundle) -> Path:
    return save_bundle(churn_bundle, tmp_path_factory.mktemp("models") / "churn")


def _git_head() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


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
    assert run.data.metrics["auc"] == 0.7  # the headline name, as `dvc exp show` lists it
    assert run.data.tags["git_revision"] == _git_head()
    assert run.data.tags["dvc_experiment"] == "none"
    artifacts = {a.path for a in client.list_artifacts(info.run_id, "bundle")}
    assert {"bundle/model.txt", "bundle/calibrator.json"} <= artifacts
    root = Path(mlflow_uri.removeprefix("sqlite:///")).parent
    assert (root / "mlartifacts").is_dir()  # artifacts beside the store, not in the cwd
    model = mlflow.pyfunc.load_model(f"models:/{registered_name('churn', config)}@challenger")
    out = model.predict(split_book.test)["churn_probability"].to_numpy()
    np.testing.assert_allclose(out, churn_bundle.predict(split_book.test), rtol=0, atol=1e-12)
    signature = mlflow.models.get_model_info(f"runs:/{info.run_id}/model").signature
    assert signature.inputs.input_names() == list(churn_bundle.features.names)


def _test_data(book: Book) -> PromotionData:
    rows = labelled_rows(book.test, "default", "test")
    return PromotionData(rows, rows["label_default"].to_numpy("float64"))


def _weak(book: Book) -> ModelBundle:
    """A default model that never sees the arrears feature: AUC about 0.59 vs 0.75, and
    calibrated by Platt's two parameters, ECE 0.031 on the test rows against the good model's
    0.018. (With isotonic calibration it took 6 values, and the ECE of tied predictions
    shared pro rata between bins, as it should be, is 0.0135: better than the good model's,
    which would rightly block the promotion this test wants to see.)"""
    drop = ["dpd_max_12m"]
    platt = dataclasses.replace(SPLIT_TRAINING, calibration="platt")
    return train_model(
        book.train.drop(columns=drop), book.valid.drop(columns=drop), "default", platt
    )


def _log_bundle(
    store: str, config: TrackingConfig, bundle: ModelBundle, book: Book, folder: Path
) -> Any:
    return _log(store, config, bundle, save_bundle(bundle, folder), book, auc=0.0)


def _tag(store: str, config: TrackingConfig, version: str) -> str:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    return str(
        client.get_model_version(registered_name("default", config), version).tags["promotion"]
    )


def test_promotion_moves_champion_only_when_the_paired_interval_excludes_zero(
    mlflow_uri: str, default_bundle: ModelBundle, split_book: Book, tmp_path: Path
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="promo-", draws=200, seed=3)
    test = _test_data(split_book)
    _log_bundle(mlflow_uri, config, _weak(split_book), split_book, tmp_path / "weak")
    first = promote(mlflow_uri, "default", "binary", config)  # no test data needed
    assert first.promoted and first.reason == "first champion"
    _log_bundle(mlflow_uri, config, _weak(split_book), split_book, tmp_path / "weak2")
    same = promote(mlflow_uri, "default", "binary", config, test)
    assert not same.promoted and same.comparison is not None
    assert same.comparison.gain == same.comparison.low == same.comparison.high == 0.0
    assert same.reason.startswith("not better") and _tag(mlflow_uri, config, "2") == same.reason
    better = _log_bundle(mlflow_uri, config, default_bundle, split_book, tmp_path / "good")
    decision = promote(mlflow_uri, "default", "binary", config, test)
    c = decision.comparison
    assert decision.promoted and decision.champion_version == first.challenger_version
    assert c is not None and c.low > 0 and c.challenger_calibration <= c.champion_calibration
    assert c.gain == pytest.approx(c.challenger - c.champion)  # AUC: higher is better
    assert c.gain > 0.1 and f"auc gain {c.gain:+.5f}" in decision.describe()
    assert "PROMOTED" in decision.describe()
    assert _tag(mlflow_uri, config, better.registered_version).startswith("better and")
    again = promote(mlflow_uri, "default", "binary", config, test)
    assert not again.promoted and again.reason == "challenger is already champion"


def test_promotion_does_not_compare_on_rows_the_refit_was_calibrated_on(
    mlflow_uri: str, split_book: Book, tmp_path: Path
) -> None:
    """The final refit is calibrated on the test split: re-scored on the same split's test
    rows it would be judged in sample (flattered), so promotion declines to compare."""
    config = TrackingConfig(experiment="unit", model_prefix="insample-", draws=200, seed=3)
    _log_bundle(mlflow_uri, config, _weak(split_book), split_book, tmp_path / "weak")
    promote(mlflow_uri, "default", "binary", config)  # first champion
    training = dataclasses.replace(SPLIT_TRAINING, final_refit=RefitConfig(enabled=("default",)))
    evaluated = train_model(split_book.train, split_book.valid, "default", training)
    sets = {"train": split_book.train, "valid": split_book.valid, "test": split_book.test}
    refit = final_model(evaluated, sets, training)
    assert refit.metadata["fits"]["refit"]["calibration_set"] == "test"
    refit = dataclasses.replace(refit, metadata={**refit.metadata, "data_hash": "split-a"})
    _log_bundle(mlflow_uri, config, refit, split_book, tmp_path / "refit")
    rows = labelled_rows(split_book.test, "default", "test")
    y = rows["label_default"].to_numpy("float64")
    same_split = promote(
        mlflow_uri, "default", "binary", config, PromotionData(rows, y, data_hash="split-a")
    )
    assert not same_split.promoted and same_split.comparison is None
    assert same_split.reason.startswith("not compared: the test rows are in sample for")
    assert "challenger v2 (fitted or calibrated on them)" in same_split.reason
    assert _tag(mlflow_uri, config, "2") == same_split.reason
    # The same rows from another split (say a later one's test set) are out of its sample.
    later = promote(
        mlflow_uri, "default", "binary", config, PromotionData(rows, y, data_hash="split-b")
    )
    assert later.comparison is not None and later.promoted


def test_promotion_refuses_a_better_ranking_with_worse_calibration(
    mlflow_uri: str, default_bundle: ModelBundle, split_book: Book, tmp_path: Path
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="cal-", draws=200)
    test = _test_data(split_book)
    _log_bundle(mlflow_uri, config, _weak(split_book), split_book, tmp_path / "weak")
    promote(mlflow_uri, "default", "binary", config)
    shifted = PlattCalibrator.from_dict({"kind": "platt", "a": 1.0, "b": 2.0})  # +2 log-odds
    overconfident = dataclasses.replace(default_bundle, calibrator=shifted)
    _log_bundle(mlflow_uri, config, overconfident, split_book, tmp_path / "over")
    decision = promote(mlflow_uri, "default", "binary", config, test)
    c = decision.comparison
    assert c is not None and c.low > 0  # the ranking is better ...
    assert c.challenger_calibration > c.champion_calibration  # ... the probabilities are not
    assert not decision.promoted and decision.reason.startswith("better but calibration worse")
    assert decision.champion_version == "1"


def test_paired_bootstrap_is_seeded_and_oriented(
    default_bundle: ModelBundle, split_book: Book
) -> None:
    test = _test_data(split_book)
    weak = _weak(split_book)
    config = TrackingConfig(draws=100, seed=1)
    one = paired_bootstrap(
        "binary", "brier", test, default_bundle.predict(test.rows), weak.predict(test.rows), config
    )
    assert one == paired_bootstrap(
        "binary", "brier", test, default_bundle.predict(test.rows), weak.predict(test.rows), config
    )
    # Brier: lower is better, so the better model's gain is positive
    brier = [float(np.mean((b.predict(test.rows) - test.y) ** 2)) for b in (default_bundle, weak)]
    assert one[0] == pytest.approx(brier[1] - brier[0]) and one[0] > 0
    assert one[1] <= one[0] <= one[2]
    # the seed drives the draws: another seed, another interval (same point gain)
    other = paired_bootstrap(
        "binary",
        "brier",
        test,
        default_bundle.predict(test.rows),
        weak.predict(test.rows),
        dataclasses.replace(config, seed=2),
    )
    assert other[0] == one[0] and other[1:] != one[1:]


def test_paired_bootstrap_of_a_lower_is_better_metric_by_hand() -> None:
    # y = 0..99, challenger = y + 1, champion = y + 2: on any resample of rows the
    # challenger's RMSE is 1 and the champion's 2, so every draw's gain is
    # -(1 - 2) = +1 (lower is better, the challenger is better) -> (1, 1, 1).
    y = np.arange(100, dtype="float64")
    data = PromotionData(rows=pd.DataFrame(index=range(100)), y=y)
    got = paired_bootstrap("regression", "rmse", data, y + 1, y + 2, TrackingConfig(draws=50))
    assert got == pytest.approx((1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("binary_metric", "bias"),  # regression metric: no binary meaning
        ("binary_metric", "logloss"),  # not computed by evaluation
        ("binary_metric", "base_rate"),  # computed, but has no direction
        ("regression_metric", "n"),
        ("regression_metric", "bias"),  # signed: neither lower nor higher is better
        ("regression_metric", "auc"),
    ],
)
def test_tracking_config_refuses_a_metric_it_cannot_compare(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"train.tracking.{key} = '{value}'"):
        TrackingConfig(**{key: value})


def test_comparable_metrics_are_computed_and_have_a_direction() -> None:
    y, p = np.array([0.0, 1.0, 0.0, 1.0]), np.array([0.1, 0.8, 0.3, 0.6])
    for task, computed in (
        ("binary", binary_metrics(y, p)),
        ("regression", regression_metrics(y, p)),
    ):
        assert COMPARABLE_METRICS[task] <= computed.keys()
        assert COMPARABLE_METRICS[task] <= LOWER_IS_BETTER | HIGHER_IS_BETTER
    assert not LOWER_IS_BETTER & HIGHER_IS_BETTER
    TrackingConfig(binary_metric="brier", regression_metric="spearman")  # accepted


def test_comparing_two_versions_needs_the_test_split(
    mlflow_uri: str, churn_bundle: ModelBundle, bundle_dir: Path, split_book: Book
) -> None:
    config = TrackingConfig(experiment="unit", model_prefix="hash-")
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.70)
    promote(mlflow_uri, "churn", "binary", config)
    _log(mlflow_uri, config, churn_bundle, bundle_dir, split_book, auc=0.90)
    with pytest.raises(ValueError, match="needs the test split"):
        promote(mlflow_uri, "churn", "binary", config)


def test_promotion_without_a_challenger_says_train_first(mlflow_uri: str) -> None:
    with pytest.raises(LookupError, match="train first"):
        promote(mlflow_uri, "default", "binary", TrackingConfig(model_prefix="none-"))
