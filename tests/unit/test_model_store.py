"""Model bundles: the feature boundary, the files, and the refusal of anything unsafe."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from predict.models.booster_text import check_model_text
from predict.models.store import (
    BUNDLE_FILES,
    FeatureMismatchError,
    FeatureSpec,
    ModelBundle,
    ModelOutputError,
    UnsafeModelError,
    load_bundle,
    manifest,
    save_bundle,
)
from predict.models.training import BoosterConfig, ContributionConfig, TrainConfig, train_model
from tests.support.splits import Book, fast_config


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
    assert sorted(p.name for p in folder.iterdir()) == sorted((*BUNDLE_FILES, "manifest.json"))
    loaded = load_bundle(folder)
    np.testing.assert_array_equal(
        loaded.predict(split_book.test), default_bundle.predict(split_book.test)
    )
    sealed = json.loads((folder / "manifest.json").read_text())
    assert loaded.version == default_bundle.version == sealed["model_version"]
    assert sealed["model_version"] == sealed["digest"][:12]  # the version names the digest
    listing = "".join(f"{sealed['files'][n]}  {n}\n" for n in sorted(BUNDLE_FILES))
    assert sealed["digest"] == hashlib.sha256(listing.encode()).hexdigest()  # sha256sum listing
    assert (
        sealed["files"]["model.txt"]
        == hashlib.sha256((folder / "model.txt").read_bytes()).hexdigest()
    )
    features = json.loads((folder / "features.json").read_text())
    assert features["dtypes"]["industry"] == "category"
    assert features["categories"]["industry"] == sorted(
        split_book.train["industry"].dropna().unique()
    )


def test_load_refuses_a_pickle_in_the_folder(tmp_path: Path, default_bundle: ModelBundle) -> None:
    folder = save_bundle(default_bundle, tmp_path / "default")
    (folder / "model.pkl").write_bytes(b"\x80\x04not really")
    with pytest.raises(UnsafeModelError, match=r"model\.pkl"):
        load_bundle(folder)


def test_load_refuses_a_missing_file(tmp_path: Path, default_bundle: ModelBundle) -> None:
    folder = save_bundle(default_bundle, tmp_path / "default")
    (folder / "calibrator.json").unlink()
    with pytest.raises(UnsafeModelError, match=r"calibrator\.json: missing"):
        load_bundle(folder)


def test_load_refuses_a_model_text_that_does_not_match_its_version(
    tmp_path: Path, default_bundle: ModelBundle
) -> None:
    folder = save_bundle(default_bundle, tmp_path / "default")
    path = folder / "model.txt"
    path.write_text(path.read_text() + "\n")
    with pytest.raises(UnsafeModelError, match=r"default: model\.txt: changed since"):
        load_bundle(folder)


def _reseal(folder: Path) -> str:
    """Rewrite the manifest over the folder's files as they are now (what a careful tamperer
    would do); returns the new version."""
    contents = {n: (folder / n).read_bytes() for n in BUNDLE_FILES}
    sealed = manifest(contents)
    (folder / "manifest.json").write_text(json.dumps(sealed))
    return str(sealed["model_version"])


@pytest.mark.parametrize("name", BUNDLE_FILES)
def test_the_version_changes_when_any_file_changes(
    tmp_path: Path, default_bundle: ModelBundle, name: str
) -> None:
    folder = save_bundle(default_bundle, tmp_path / "default")
    path = folder / name
    if name == "model.txt":  # one leaf value a little different (same length)
        text = path.read_text()
        at = text.index(" ", text.index("leaf_value=")) - 1  # last digit of the first value
        path.write_text(text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :])
    else:  # same meaning, new bytes
        path.write_bytes(path.read_bytes().rstrip(b"\n") + b"\n\n")
    with pytest.raises(UnsafeModelError, match=f"{name}: changed since the model was saved"):
        load_bundle(folder)
    version = _reseal(folder)
    assert version != default_bundle.version
    assert load_bundle(folder).version == version


def test_swapped_folders_are_refused(tmp_path: Path, default_bundle: ModelBundle) -> None:
    save_bundle(default_bundle, tmp_path / "default")
    (tmp_path / "default").rename(tmp_path / "churn")
    with pytest.raises(UnsafeModelError, match="target is 'default' but the folder is 'churn'"):
        load_bundle(tmp_path / "churn")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda y: [v * 46 for v in y], r"probabilities outside \[0, 1\]"),
        (lambda y: [float("nan")] * len(y), "non-finite"),
    ],
)
def test_an_edited_calibrator_is_refused_at_load(
    tmp_path: Path, split_book: Book, edit: Any, message: str
) -> None:
    # an isotonic calibrator (the small book's valid period would get platt under auto)
    isotonic = dataclasses.replace(fast_config(30, 10), calibration="isotonic")
    bundle = train_model(split_book.train, split_book.valid, "default", isotonic)
    folder = save_bundle(bundle, tmp_path / "default")
    cal = json.loads((folder / "calibrator.json").read_text())
    assert cal["kind"] == "isotonic"
    cal["y"] = edit(cal["y"])
    (folder / "calibrator.json").write_text(json.dumps(cal))
    _reseal(folder)  # even with a matching manifest
    with pytest.raises(UnsafeModelError, match=message) as info:
        load_bundle(folder)
    assert "calibrator.json" in str(info.value)


def test_outputs_out_of_range_are_refused_at_scoring(default_bundle: ModelBundle) -> None:
    assert default_bundle.require_valid(np.array([0.0, 0.5, 1.0])).tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ModelOutputError, match=r"not finite probabilities in \[0, 1\]"):
        default_bundle.require_valid(np.array([0.1, 46.0]))
    with pytest.raises(ModelOutputError, match="SHAP contributions are not"):
        default_bundle.require_valid(np.array([[0.1, np.nan]]), "SHAP contributions")


def _corrupt_texts(text: str) -> dict[str, str]:
    """Edits of a model text that make LightGBM 4 abort (SIGABRT/SIGSEGV/SIGFPE) or misread."""
    first = text.index("Tree=0")
    return {
        "truncated": text[: first + (len(text) - first) // 2],
        "num_leaves": text.replace("num_leaves=", "num_leaves=9", 1),
        "child": re.sub(r"^left_child=\d+", "left_child=100", text, count=1, flags=re.M),
        "split_feature": re.sub(
            r"^split_feature=\d+", "split_feature=-5", text, count=1, flags=re.M
        ),
        "tree_sizes": re.sub(r"^tree_sizes=\d+", "tree_sizes=99999999", text, count=1, flags=re.M),
        "per_iteration": text.replace("num_tree_per_iteration=1", "num_tree_per_iteration=0"),
        "categorical": re.sub(r"^decision_type=\d+", "decision_type=1", text, count=1, flags=re.M),
        "shrinkage": re.sub(r"^shrinkage=\S+", "shrinkage=x", text, count=1, flags=re.M),
        "garbage": "hello\n",
    }


def test_a_corrupt_model_text_with_a_matching_hash_is_an_error_not_an_abort(
    tmp_path: Path, default_bundle: ModelBundle
) -> None:
    """Each load runs in a child process: an abort there fails the test instead of pytest."""
    text = default_bundle.booster.model_to_string()
    cases = _corrupt_texts(text)
    for name, corrupt in cases.items():
        folder = save_bundle(default_bundle, tmp_path / name / "default")
        (folder / "model.txt").write_text(corrupt)
        _reseal(folder)
    code = (
        "import sys\nfrom predict.models.store import UnsafeModelError, load_bundle\n"
        "for folder in sys.argv[1:]:\n"
        "    try:\n        load_bundle(folder)\n        print('LOADED', folder, flush=True)\n"
        "    except UnsafeModelError as exc:\n        print('REFUSED', exc, flush=True)\n"
    )
    folders = [str(tmp_path / name / "default") for name in cases]
    run = subprocess.run(
        [sys.executable, "-c", code, *folders], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr  # never a signal (-6, -11, -8)
    lines = run.stdout.splitlines()
    assert len(lines) == len(cases) and all(line.startswith("REFUSED") for line in lines), lines
    assert all("model.txt: not a valid LightGBM model text" in line for line in lines)


def test_checking_the_real_model_texts_is_cheap(
    default_bundle: ModelBundle, churn_bundle: ModelBundle
) -> None:
    """The check of the pipeline's own models (when present; models/ is not in git) and of
    the session's trained boosters passes and takes < 0.5 s each."""
    root = Path(__file__).resolve().parents[2] / "models"
    texts = [p.read_text() for p in sorted(root.glob("*/model.txt"))]
    texts += [b.booster.model_to_string() for b in (default_bundle, churn_bundle)]
    assert len(texts) >= 2
    for text in texts:
        start = time.perf_counter()
        assert check_model_text(text).trees > 0
        assert time.perf_counter() - start < 0.5


def test_a_non_ascii_feature_name_passes_the_check() -> None:
    """tree_sizes count bytes: a feature named größe (2 bytes for ß, ö) in the header and
    in feature_importances after the trees must not shift the trees or be refused."""
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"größe": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["größe"] > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    text = lgb.train(params, lgb.Dataset(x, y), num_boost_round=3).model_to_string()
    assert "\ngröße=" in text.split("end of trees", 1)[1]  # named after the trees too
    assert check_model_text(text).trees == 3


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
