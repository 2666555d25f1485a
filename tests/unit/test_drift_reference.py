"""The drift reference frozen at training (references.json ``drift``): PSI by hand on
frozen bins, the same PSI as refitting the bins on the same training rows (the computation
before the bins were frozen), the score reference on the test rows, the round trip through
a saved model folder, and the refusals (a folder without it, models that disagree, old
params)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from predict.cli import app
from predict.config import ConfigError, load_section
from predict.contract.spec import OUTPUT_COLUMN
from predict.features import rates
from predict.features.build import FeaturesConfig, build_features
from predict.models.bins import (
    Bins,
    DriftReferenceConfig,
    DriftReferenceError,
    check,
    fit_bins,
    shares,
)
from predict.models.references import drift_reference
from predict.models.store import (
    REFERENCES_FILE,
    ModelBundle,
    UnsafeModelError,
    load_bundle,
    save_bundle,
)
from predict.models.training import TrainConfig, run_training
from predict.scoring.align import load_models
from predict.scoring.chunks import predict_outputs
from predict.scoring.config import ScoreConfig
from predict.scoring.drift import DriftConfig, compare
from predict.scoring.drift_check import drift_report
from predict.scoring.references import ReferenceMismatchError, frozen_drift_bins
from predict.scoring.run import score_folder
from tests.support.scoring import TRAIN_AS_OF, Book
from tests.support.splits import Book as SplitBook
from tests.support.splits import fast_config, write_split

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2025, 12, 31)


def test_psi_on_frozen_bins_by_hand() -> None:
    # bins (-inf, 1], (1, 2], (2, inf], missing; expected shares 0.5, 0.3, 0.1, 0.1
    bins = Bins("x", "numeric", (1.0, 2.0), (), (0.5, 0.3, 0.1, 0.1), 1000)
    current = pd.DataFrame({"x": [1.0, 1.5, 2.0, 3.0, np.nan]})  # 1.0 and 2.0: right-closed
    assert shares(bins, current["x"]).tolist() == [0.2, 0.4, 0.2, 0.2]
    by_hand = (
        (0.2 - 0.5) * math.log(0.2 / 0.5)
        + (0.4 - 0.3) * math.log(0.4 / 0.3)
        + 2 * (0.2 - 0.1) * math.log(0.2 / 0.1)
    )
    row = compare([bins], current, "feature", DriftConfig()).iloc[0]
    assert row["psi"] == pytest.approx(by_hand, rel=1e-12)  # 0.2749 + 0.0288 + 0.1386 = 0.4423
    # 5 rows are too few for a PSI over 4 bins: an unchanged population shows (4 - 1) / n
    # by chance; assessed from (4 - 1) / (0.25 x 0.1) = 120 rows (the same shares: alert)
    assert row["level"] == "too few rows" and row["n_bins"] == 4
    assert row["reference_rows"] == 1000 and row["current_rows"] == 5
    many = compare([bins], pd.concat([current] * 24), "feature", DriftConfig()).iloc[0]
    assert many["psi"] == pytest.approx(by_hand, rel=1e-12) and many["level"] == "alert"
    fewer = compare([bins], pd.concat([current] * 23), "feature", DriftConfig()).iloc[0]
    assert fewer["current_rows"] == 115 and fewer["level"] == "too few rows"
    assert row["reference_missing_share"] == 0.1 and row["current_missing_share"] == 0.2


def _old_psi(reference: pd.Series, current: pd.Series, n_bins: int, top: int) -> float:
    """PSI as scoring computed it before the bins were frozen, written out again: bins
    refitted on the reference rows at each scoring (quantile edges moved into the gaps
    between reference values, or top categories), then shares floored at 1e-4."""
    if pd.api.types.is_numeric_dtype(reference):
        ref = reference.to_numpy("float64")
        finite = ref[np.isfinite(ref)]
        # a feature with no finite reference value (a window the data cannot cover): no cut
        cuts = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1]) if finite.size else []
        # each cut in the middle of the gap between the reference values around it
        gaps = []
        for cut in cuts:
            below = finite[finite <= cut + 1e-9 * max(1.0, abs(cut))]
            above = finite[finite > cut + 1e-9 * max(1.0, abs(cut))]
            if above.size:
                gaps.append((below.max() + above.min()) / 2)
        edges = np.unique(gaps)

        def index(v: pd.Series) -> np.ndarray:
            arr = v.to_numpy("float64", na_value=np.nan)
            return np.where(np.isnan(arr), len(edges) + 1, np.searchsorted(edges, arr, "left"))

        n = len(edges) + 2
    else:
        cats = list(reference.dropna().astype("string").value_counts().head(top).index)

        def index(v: pd.Series) -> np.ndarray:
            s = v.astype("string")
            pos = [cats.index(x) if x in cats else len(cats) for x in s.fillna("\0")]
            return np.where(s.isna().to_numpy(), len(cats) + 1, pos)

        n = len(cats) + 2
    e = np.bincount(index(reference), minlength=n) / len(reference)
    a = np.bincount(index(current), minlength=n) / len(current)
    e, a = np.clip(e, 1e-4, None), np.clip(a, 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


@pytest.fixture(scope="module")
def snapshot(scoring_book: Book) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Features and model outputs of the book at ``AS_OF``, and the loaded models."""
    bundles, _ = load_models(scoring_book.models)
    frozen = bundles["default"].references["rate"]
    features = build_features(
        scoring_book.tables, [AS_OF], FeaturesConfig(),
        rate_reference=rates.frozen_table(frozen, [AS_OF]),
    )  # fmt: skip
    return features, predict_outputs(features, bundles, 1000), bundles


def test_frozen_feature_psi_equals_the_bins_refitted_on_the_same_rows(
    scoring_book: Book, snapshot: tuple[pd.DataFrame, pd.DataFrame, dict]
) -> None:
    features, outputs, bundles = snapshot
    drift = drift_report(features, outputs, bundles, DriftConfig())
    training = pd.read_parquet(scoring_book.training)
    train_rows = training[training["as_of"] < pd.Timestamp(TRAIN_AS_OF[-1])]  # as build_book
    rows = drift[drift["kind"] == "feature"].set_index("variable")
    names = list(dict.fromkeys(n for b in bundles.values() for n in b.features.names))
    assert list(rows.index) == names
    kinds = {b.name: b.kind for b in frozen_drift_bins(bundles).features}
    assert "categorical" in kinds.values() and "numeric" in kinds.values()
    for name in names:
        expected = _old_psi(train_rows[name], features[name], 10, 20)
        assert rows.loc[name, "psi"] == pytest.approx(expected, rel=1e-9, abs=1e-12), name
        assert rows.loc[name, "reference_rows"] == len(train_rows)


def test_score_psi_uses_the_test_rows_calibrated_predictions(
    scoring_book: Book, snapshot: tuple[pd.DataFrame, pd.DataFrame, dict]
) -> None:
    features, outputs, bundles = snapshot
    training = pd.read_parquet(scoring_book.training)
    test_rows = training[training["as_of"] == pd.Timestamp(TRAIN_AS_OF[-1])]  # as build_book
    drift = drift_report(features, outputs, bundles, DriftConfig())
    rows = drift[drift["kind"] == "score"].set_index("variable")
    for target, bundle in bundles.items():
        column = OUTPUT_COLUMN[target]
        reference = pd.Series(bundle.predict(test_rows))
        expected = _old_psi(reference, outputs[column], 10, 20)
        assert rows.loc[column, "psi"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert rows.loc[column, "reference_rows"] == len(test_rows)


@pytest.fixture(scope="module")
def trained(split_book: SplitBook, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``split_book`` written as a split folder and the default model trained on it."""
    root = tmp_path_factory.mktemp("drift_reference")
    split = write_split(split_book, root / "split")
    config = dataclasses.replace(
        fast_config(30, 10), drift_reference=DriftReferenceConfig(max_rows=150, seed=3)
    )
    run_training(split, "default", config, models_dir=root / "models",
                 metrics_dir=root / "metrics", plots_dir=root / "plots")  # fmt: skip
    return root


def test_training_freezes_feature_bins_on_train_and_score_bins_on_test(
    trained: Path, split_book: SplitBook
) -> None:
    bundle = load_bundle(trained / "models" / "default")
    reference = bundle.references["drift"]
    check(reference)
    assert reference["settings"] == {"bins": 10, "max_categories": 20, "max_rows": 150, "seed": 3}
    sample = split_book.train.sample(150, random_state=3)  # max_rows < train rows: seeded
    assert reference["features"]["rows"] == len(split_book.train) > 150
    for spec in reference["features"]["bins"]:
        categorical = spec["name"] in bundle.features.categories
        refit = fit_bins(sample[spec["name"]], spec["name"], DriftReferenceConfig(), categorical)
        assert Bins.from_dict(spec) == refit
    score = Bins.from_dict(reference["score"]["bins"])
    test = split_book.test.sample(150, random_state=3) if len(split_book.test) > 150 else (
        split_book.test
    )  # fmt: skip
    assert score.name == "default_probability" and reference["score"]["split"] == "test"
    assert score.reference_rows == len(test) == reference["score"]["binned_rows"]
    assert reference["score"]["rows"] == len(split_book.test)
    predicted = pd.Series(bundle.predict(test))  # calibrated, out of sample
    assert score == fit_bins(predicted, score.name, DriftReferenceConfig(), categorical=False)
    assert reference["score"]["first_as_of"] == str(split_book.test["as_of"].min().date())


def test_the_score_reference_counts_every_test_row_with_a_prediction(
    split_book: SplitBook, default_bundle: ModelBundle
) -> None:
    config = DriftReferenceConfig()
    reference = drift_reference(default_bundle, split_book.train, split_book.test, config)
    predicted = default_bundle.predict(split_book.test)
    assert np.isfinite(predicted).all()
    assert reference["score"]["bins"]["reference_rows"] == len(split_book.test) == len(predicted)
    assert reference["features"]["bins"][0]["reference_rows"] == len(split_book.train)


def test_the_drift_reference_round_trips_through_the_model_folder(
    trained: Path, tmp_path: Path
) -> None:
    bundle = load_bundle(trained / "models" / "default")
    text = json.loads((trained / "models" / "default" / REFERENCES_FILE).read_text())
    assert text["drift"] == bundle.references["drift"]
    copy = load_bundle(save_bundle(bundle, tmp_path / "default"))
    assert copy.references == bundle.references and copy.version == bundle.version
    frozen = frozen_drift_bins({"default": copy})
    assert [b.name for b in frozen.features] == list(copy.features.names)
    assert [b.to_dict() for b in frozen.features] == text["drift"]["features"]["bins"]


def test_a_malformed_drift_reference_is_refused_on_load(trained: Path, tmp_path: Path) -> None:
    bundle = load_bundle(trained / "models" / "default")
    drift = json.loads(json.dumps(bundle.references["drift"]))
    drift["score"]["bins"]["reference_shares"][0] += 0.5  # shares no longer sum to 1
    with pytest.raises(DriftReferenceError, match="summing to 1"):
        check(drift)
    bad = dataclasses.replace(bundle, references={**bundle.references, "drift": drift})
    with pytest.raises(UnsafeModelError, match=r"references\.json: bins of 'default_prob"):
        load_bundle(save_bundle(bad, tmp_path / "default"))


def _models_with(book: Book, tmp_path: Path, target: str, references: dict) -> Path:
    models = tmp_path / "models"
    shutil.copytree(book.models, models)
    bundle = load_bundle(models / target)
    save_bundle(dataclasses.replace(bundle, references=references), models / target)
    return models


def test_a_model_folder_without_drift_bins_is_refused_with_retrain(
    scoring_book: Book, tmp_path: Path
) -> None:
    rate = load_bundle(scoring_book.models / "churn").references["rate"]
    models = _models_with(scoring_book, tmp_path, "churn", {"rate": rate})
    with pytest.raises(ReferenceMismatchError, match=r"\['churn'\].*no frozen drift.*retrain"):
        score_folder(scoring_book.raw, models, tmp_path / "out", ScoreConfig(previous="none"),
                     FeaturesConfig(), validated=True, quiet=True)  # fmt: skip
    assert not (tmp_path / "out").exists()  # refused before anything was written
    result = CliRunner().invoke(app, [
        "score", "--input", str(scoring_book.raw), "--models", str(models), "--validated",
        "--out", str(tmp_path / "cli"), "--params", str(ROOT / "params.yaml"), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 1 and "retrain" in result.output


def test_models_with_different_bins_for_one_feature_are_refused(
    scoring_book: Book, tmp_path: Path
) -> None:
    bundle = load_bundle(scoring_book.models / "default")
    drift = json.loads(json.dumps(bundle.references["drift"]))
    first = drift["features"]["bins"][0]
    assert first["kind"] == "numeric" and first["edges"], "needs a numeric first feature"
    first["edges"][0] -= 1.0  # another split would have given other edges
    models = _models_with(scoring_book, tmp_path, "default", {**bundle.references, "drift": drift})
    bundles, _ = load_models(models)
    with pytest.raises(ReferenceMismatchError, match=rf"different drift bins.*{first['name']}"):
        frozen_drift_bins(bundles)


def _params_file(tmp_path: Path, edit: Callable[[dict], object]) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    edit(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_old_params_with_score_drift_bins_are_refused_saying_where_they_moved(
    tmp_path: Path,
) -> None:
    path = _params_file(tmp_path, lambda p: p["score"]["drift"].update(bins=10, seed=7))
    with pytest.raises(ConfigError, match=r"'bins' moved to train\.drift_reference\.bins"):
        load_section(path, "score", ScoreConfig)
    result = CliRunner().invoke(app, ["score", "--input", str(tmp_path), "--params", str(path)])
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "train.drift_reference.seed" in line


@pytest.mark.parametrize(
    ("key", "value"), [("bins", 1), ("max_categories", 0), ("max_rows", 0), ("seed", -1)]
)
def test_bad_drift_reference_settings_are_refused(tmp_path: Path, key: str, value: int) -> None:
    path = _params_file(tmp_path, lambda p: p["train"]["drift_reference"].update({key: value}))
    with pytest.raises(ConfigError, match=rf"train\.drift_reference\.{key} must be an integer"):
        load_section(path, "train", TrainConfig)
    assert load_section(ROOT / "params.yaml", "train", TrainConfig).drift_reference == (
        DriftReferenceConfig()
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [({"warn": 0.3, "alert": 0.25}, "warn <= alert"), ({"epsilon": 0.0}, "epsilon must be in")],
)
def test_bad_drift_alert_settings_are_refused(
    tmp_path: Path, edit: dict[str, float], message: str
) -> None:
    path = _params_file(tmp_path, lambda p: p["score"]["drift"].update(edit))
    with pytest.raises(ConfigError, match=message):
        load_section(path, "score", ScoreConfig)
