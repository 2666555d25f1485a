"""Model bundles: the feature boundary, the files, and the refusal of anything unsafe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.models.store import (
    BUNDLE_FILES,
    FeatureMismatchError,
    FeatureSpec,
    ModelBundle,
    UnsafeModelError,
    load_bundle,
    save_bundle,
)
from predict.models.training import BoosterConfig, ContributionConfig, TrainConfig, train_model
from tests.support.splits import Book


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": [1.0, None, 3.0],
            "flag": [True, False, True],
            "cat": pd.Series(["b", None, "a"], dtype="str"),
        }
    )


def test_spec_infers_categoricals_and_sorted_categories() -> None:
    spec = FeatureSpec.from_frame(_frame(), ("num", "flag", "cat"))
    assert spec.dtypes == {"num": "float64", "flag": "float64", "cat": "category"}
    assert spec.categories == {"cat": ("a", "b")}


def test_spec_refuses_a_date_feature_by_name() -> None:
    frame = _frame().assign(when=pd.Timestamp("2022-01-31"))
    with pytest.raises(FeatureMismatchError, match="'when'"):
        FeatureSpec.from_frame(frame, ("num", "when"))


def test_matrix_casts_to_training_dtypes_and_order() -> None:
    spec = FeatureSpec(names=("cat", "num"), categories={"cat": ("a", "b")})
    x = spec.matrix(_frame().assign(extra="ignored"))
    assert list(x.columns) == ["cat", "num"]
    assert x["num"].dtype == "float64"
    assert list(x["cat"].cat.categories) == ["a", "b"]
    assert x["cat"].tolist()[0] == "b" and pd.isna(x["cat"].tolist()[1])


def test_matrix_names_every_missing_feature() -> None:
    spec = FeatureSpec(names=("num", "dpd_max_12m", "utilisation"))
    with pytest.raises(FeatureMismatchError, match=r"\['dpd_max_12m', 'utilisation'\]"):
        spec.matrix(_frame())


def test_matrix_makes_unseen_categories_missing() -> None:
    spec = FeatureSpec(names=("cat",), categories={"cat": ("a",)})
    x = spec.matrix(pd.DataFrame({"cat": pd.Series(["a", "zzz"], dtype="str")}))
    assert x["cat"].isna().tolist() == [False, True]


def test_matrix_refuses_text_in_a_numeric_feature() -> None:
    spec = FeatureSpec(names=("num",))
    with pytest.raises(FeatureMismatchError, match="'num' must be numeric"):
        spec.matrix(pd.DataFrame({"num": ["1.5", "high"]}))


def test_matrix_is_idempotent(split_book: Book, default_bundle: ModelBundle) -> None:
    once = default_bundle.matrix(split_book.test)
    pd.testing.assert_frame_equal(default_bundle.matrix(once), once)


def test_predict_does_not_depend_on_column_order_or_category_order(
    split_book: Book,
    default_bundle: ModelBundle,
) -> None:
    shuffled = split_book.test[list(reversed(split_book.test.columns))].copy()
    shuffled["industry"] = pd.Categorical(
        shuffled["industry"], categories=sorted(shuffled["industry"].dropna().unique())[::-1]
    )
    np.testing.assert_allclose(
        default_bundle.predict(shuffled), default_bundle.predict(split_book.test)
    )


def test_predict_raw_is_what_shap_values_sum_to(
    split_book: Book, default_bundle: ModelBundle
) -> None:
    contrib = np.asarray(
        default_bundle.booster.predict(default_bundle.matrix(split_book.test), pred_contrib=True)
    )
    np.testing.assert_allclose(
        contrib.sum(axis=1), default_bundle.predict_raw(split_book.test), atol=1e-9
    )


def test_save_load_round_trip_predicts_identically(
    tmp_path: Path,
    split_book: Book,
    default_bundle: ModelBundle,
) -> None:
    folder = save_bundle(default_bundle, tmp_path / "default")
    assert sorted(p.name for p in folder.iterdir()) == sorted(BUNDLE_FILES)
    loaded = load_bundle(folder)
    np.testing.assert_array_equal(
        loaded.predict(split_book.test), default_bundle.predict(split_book.test)
    )
    text = (folder / "model.txt").read_bytes()
    assert loaded.version == hashlib.sha256(text).hexdigest()[:12] == default_bundle.version
    features = json.loads((folder / "features.json").read_text())
    assert features["dtypes"]["industry"] == "category"
    assert features["categories"]["industry"] == sorted(
        split_book.train["industry"].dropna().unique()
    )


def test_load_refuses_a_pickle_in_the_folder(tmp_path: Path, default_bundle: ModelBundle) -> None:
    folder = save_bundle(default_bundle, tmp_path / "m")
    (folder / "model.pkl").write_bytes(b"\x80\x04not really")
    with pytest.raises(UnsafeModelError, match=r"model\.pkl"):
        load_bundle(folder)


def test_load_refuses_a_missing_file(tmp_path: Path, default_bundle: ModelBundle) -> None:
    folder = save_bundle(default_bundle, tmp_path / "m")
    (folder / "calibrator.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"calibrator\.json"):
        load_bundle(folder)


def test_load_refuses_a_model_text_that_does_not_match_its_version(
    tmp_path: Path, default_bundle: ModelBundle
) -> None:
    folder = save_bundle(default_bundle, tmp_path / "m")
    path = folder / "model.txt"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(UnsafeModelError, match="model_version"):
        load_bundle(folder)


def test_regression_bundle_inverts_the_signed_log(split_book: Book) -> None:
    cfg = TrainConfig(
        num_threads=1,
        booster=BoosterConfig(num_boost_round=20, early_stopping_rounds=5, min_data_in_leaf=20),
        contribution=ContributionConfig(objective="huber_slog"),
    )
    trained = train_model(split_book.train, split_book.valid, "contribution", cfg)
    assert trained.metadata["target_transform"] == "slog"
    raw = trained.booster.predict(trained.matrix(split_book.test))
    np.testing.assert_allclose(
        trained.predict_uncalibrated(split_book.test), np.sign(raw) * np.expm1(np.abs(raw))
    )
    assert 100 < np.median(trained.predict(split_book.test)) < 100_000  # money, not logs
