"""Training: signal is learned, NaN labels are left out, settings are honoured, runs repeat."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.contract.spec import POPULATIONS
from predict.models.baselines import CarryForwardBaseline, ScorecardBaseline
from predict.models.flags import FLAG_CODES
from predict.models.metrics_files import BINARY_HEADLINE, REGRESSION_HEADLINE
from predict.models.store import FeatureSpec, load_bundle
from predict.models.training import (
    ContributionConfig,
    SkippedTraining,
    TrainConfig,
    booster_config,
    evaluate_model,
    feature_columns,
    lgb_params,
    population_block,
    run_training,
    split_fingerprint,
    train_model,
)
from predict.scoring.align import check_label_settings
from tests.support.splits import Book, fast_config, write_split

FLAG_KEYS = {f"flag_{code}" for code in FLAG_CODES}
FAST = fast_config(60, 15, learning_rate=0.1)


def _on_grid(rows: pd.DataFrame, feature: str, grid: np.ndarray) -> pd.DataFrame:
    """``rows`` repeated once per grid value of ``feature`` (grid value varies fastest)."""
    frame = rows.loc[rows.index.repeat(len(grid))].reset_index(drop=True)
    return frame.assign(**{feature: np.tile(grid, len(rows))})


def test_feature_columns_leave_out_keys_labels_and_exclusions(split_book: Book) -> None:
    names = feature_columns(split_book.train, exclude=("nps_last",))
    assert "client_id" not in names and "as_of" not in names and "nps_last" not in names
    assert not [n for n in names if n.startswith("label_")]
    assert "segment" in names and "dpd_max_12m" in names


@pytest.mark.parametrize("target", ["churn", "default"])
def test_binary_models_learn_the_planted_signal(split_book: Book, target: str) -> None:
    bundle = train_model(split_book.train, split_book.valid, target, FAST)
    test = split_book.test[split_book.test[f"label_{target}"].notna()]
    metrics, _ = evaluate_model(bundle, split_book.train, split_book.valid, test, FAST)
    assert metrics["test"]["auc"] > 0.65
    p = bundle.predict(test)
    assert np.all((p >= 0) & (p <= 1))
    assert abs(p.mean() - test[f"label_{target}"].mean()) < 0.05


def test_rows_without_a_label_are_not_training_rows(
    split_book: Book, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="predict.models.training"):
        bundle = train_model(split_book.train, split_book.valid, "default", FAST)
    labelled = int(split_book.train["label_default"].notna().sum())
    assert labelled < len(split_book.train)
    assert bundle.metadata["train_window"]["rows"] == labelled
    missing = len(split_book.train) - labelled
    assert f"{missing} of {len(split_book.train)} rows have no label_default" in caplog.text


def test_training_is_deterministic(split_book: Book) -> None:
    one = train_model(split_book.train, split_book.valid, "churn", FAST)
    two = train_model(
        split_book.train.sample(frac=1.0, random_state=1), split_book.valid, "churn", FAST
    )
    assert one.booster.model_to_string() == two.booster.model_to_string()
    assert one.version == two.version


def test_monotone_constraint_holds_on_a_grid(split_book: Book) -> None:
    cfg = dataclasses.replace(FAST, monotone={"default": {"dpd_max_12m": 1, "utilisation": 1}})
    bundle = train_model(split_book.train, split_book.valid, "default", cfg)
    assert bundle.metadata["params"]["monotone_constraints"][:4] == [0, 0, 1, 1]
    rows = split_book.test.head(200)
    grids = {"dpd_max_12m": np.arange(0.0, 181.0, 5.0), "utilisation": np.linspace(0, 1.2, 25)}
    for feature, grid in grids.items():
        frame = _on_grid(rows, feature, grid)
        for pred in (bundle.predict(frame), bundle.predict_raw(frame)):
            steps = np.diff(pred.reshape(len(rows), len(grid)), axis=1)
            assert np.all(steps >= -1e-12), feature
        assert np.ptp(bundle.predict(frame)) > 0.05  # the feature does move the score


def test_monotone_constraint_on_an_unknown_feature_is_ignored_with_a_warning(
    split_book: Book, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = dataclasses.replace(FAST, monotone={"default": {"no_such_feature": 1}})
    spec = FeatureSpec.from_frame(split_book.train, feature_columns(split_book.train))
    with caplog.at_level(logging.WARNING, logger="predict.models.training"):
        params = lgb_params("default", spec, np.array([0.0, 1.0]), cfg)
    assert "no_such_feature" in caplog.text
    assert set(params["monotone_constraints"]) == {0}


def test_monotone_constraint_on_a_categorical_is_refused(split_book: Book) -> None:
    cfg = dataclasses.replace(FAST, monotone={"default": {"industry": 1}})
    spec = FeatureSpec.from_frame(split_book.train, feature_columns(split_book.train))
    with pytest.raises(ValueError, match=r"industry.*categorical"):
        lgb_params("default", spec, np.array([0.0, 1.0]), cfg)


def test_balanced_imbalance_sets_scale_pos_weight_and_calibration_repairs_it(
    split_book: Book,
) -> None:
    cfg = dataclasses.replace(FAST, imbalance="balanced")
    bundle = train_model(split_book.train, split_book.valid, "default", cfg)
    assert bundle.metadata["params"]["scale_pos_weight"] > 3
    test = split_book.test[split_book.test["label_default"].notna()]
    raw, calibrated = bundle.predict_uncalibrated(test), bundle.predict(test)
    base_rate = test["label_default"].mean()
    assert raw.mean() > 1.3 * base_rate  # reweighting inflates the scores...
    assert abs(calibrated.mean() - base_rate) < 0.05  # ...and the calibrator maps them back


def test_platt_calibration_is_available(split_book: Book) -> None:
    bundle = train_model(
        split_book.train, split_book.valid, "churn", dataclasses.replace(FAST, calibration="platt")
    )
    assert bundle.calibrator.kind == "platt"


@pytest.mark.parametrize("objective", ["tweedie", "l2", "huber_slog"])
def test_contribution_objectives_rank_revenue(split_book: Book, objective: str) -> None:
    cfg = dataclasses.replace(FAST, contribution=ContributionConfig(objective=objective))
    bundle = train_model(split_book.train, split_book.valid, "contribution", cfg)
    assert bundle.task == "regression"
    test = split_book.test[split_book.test["label_contribution"].notna()]
    metrics, _ = evaluate_model(bundle, split_book.train, split_book.valid, test, cfg)
    assert metrics["test"]["spearman"] > 0.5
    if objective == "tweedie":
        assert bundle.predict(test).min() >= 0


def test_unknown_contribution_objective_is_refused(split_book: Book) -> None:
    cfg = dataclasses.replace(FAST, contribution=ContributionConfig(objective="poisson_magic"))
    with pytest.raises(ValueError, match="poisson_magic"):
        train_model(split_book.train, split_book.valid, "contribution", cfg)


def test_contribution_booster_settings_override_train_booster_for_that_model_only(
    split_book: Book,
) -> None:
    """train.contribution.booster: its keys over train.booster for the contribution model;
    the classifiers keep train.booster; an unknown key or a wrong type stops the run."""
    override = ContributionConfig(booster={"learning_rate": 0.2, "num_leaves": 7})
    cfg = dataclasses.replace(FAST, contribution=override)
    own = booster_config("contribution", cfg)
    assert (own.learning_rate, own.num_leaves) == (0.2, 7)
    assert own.min_data_in_leaf == FAST.booster.min_data_in_leaf == 20  # the rest as given
    assert booster_config("churn", cfg) == booster_config("default", cfg) == FAST.booster
    contribution = train_model(split_book.train, split_book.valid, "contribution", cfg)
    assert contribution.metadata["params"]["learning_rate"] == 0.2
    assert contribution.metadata["params"]["num_leaves"] == 7
    leaves = [t["num_leaves"] for t in contribution.booster.dump_model()["tree_info"]]
    assert max(leaves) <= 7
    churn = train_model(split_book.train, split_book.valid, "churn", cfg)
    assert churn.metadata["params"]["learning_rate"] == FAST.booster.learning_rate == 0.1
    plain = train_model(split_book.train, split_book.valid, "contribution", FAST)
    assert plain.metadata["params"]["learning_rate"] == 0.1
    with pytest.raises(ValueError, match=r"\['learnin_rate'\] not settings of train.booster"):
        booster_config("contribution", dataclasses.replace(
            FAST, contribution=ContributionConfig(booster={"learnin_rate": 0.05})))  # fmt: skip
    with pytest.raises(ValueError, match=r"num_leaves: 7\.5 is not a int"):
        booster_config("contribution", dataclasses.replace(
            FAST, contribution=ContributionConfig(booster={"num_leaves": 7.5})))  # fmt: skip


def test_a_bad_contribution_booster_key_stops_the_params_load(tmp_path: Path) -> None:
    # refused when params.yaml is read (before any data), naming the key and the section
    from predict.config import ConfigError, load_settings

    params = tmp_path / "params.yaml"
    params.write_text("train:\n  contribution:\n    booster: {learnin_rate: 0.05}\n")
    with pytest.raises(ConfigError, match=r"train.contribution.booster: \['learnin_rate'\]"):
        load_settings(params, "train", TrainConfig)


def test_unknown_target_is_refused(split_book: Book) -> None:
    with pytest.raises(ValueError, match="unknown target 'ltv'"):
        train_model(split_book.train, split_book.valid, "ltv", FAST)


def test_baselines_predict_sensibly(split_book: Book) -> None:
    spec = FeatureSpec.from_frame(split_book.train, feature_columns(split_book.train))
    tr, va = (f[f["label_default"].notna()] for f in (split_book.train, split_book.valid))
    scorecard = ScorecardBaseline(spec).fit(
        tr, tr["label_default"].to_numpy(), va, va["label_default"].to_numpy()
    )
    p = scorecard.predict(split_book.test.assign(industry="never_seen"))
    assert np.all((p > 0) & (p < 1))
    assert abs(scorecard.predict(va).mean() - va["label_default"].mean()) < 0.02  # recalibrated
    carry = CarryForwardBaseline("revenue_12m", scale=0.5).fit(
        split_book.test, np.zeros(1), va, np.zeros(1)
    )
    expected = split_book.test["revenue_12m"].fillna(0).to_numpy() * 0.5
    np.testing.assert_allclose(carry.predict(split_book.test), expected)


def test_run_training_writes_bundle_metrics_and_plots(tmp_path: Path, split_book: Book) -> None:
    split = write_split(split_book, tmp_path / "split")
    split_book.truth.to_parquet(_write_split_dir(tmp_path / "truth") / "truth.parquet")
    result = run_training(
        split,
        "churn",
        FAST,
        models_dir=tmp_path / "models",
        metrics_dir=tmp_path / "metrics",
        plots_dir=tmp_path / "plots",
        truth_dir=tmp_path / "truth",
        label_settings={"horizon_months": 12, "inactivity_months": 6},
    )
    loaded = load_bundle(tmp_path / "models" / "churn")
    assert loaded.version == result.bundle.version
    # the label settings travel with the model, and scoring refuses others
    assert loaded.metadata["labels"] == {"horizon_months": 12, "inactivity_months": 6}
    check_label_settings({"churn": loaded}, 12, 6)
    with pytest.raises(ValueError, match=r"horizon_months 12 \(params: 6\)"):
        check_label_settings({"churn": loaded}, 6, 3)
    with pytest.raises(ValueError, match=r"inactivity_months 6 \(params: 3\)"):
        check_label_settings({"churn": loaded}, 12, 3)
    assert "contribution_quantiles" not in loaded.references  # the contribution model's only
    assert (
        loaded.metadata["data_hash"]
        == result.data_hash
        == split_fingerprint(split.glob("*.parquet"))
    )
    metrics = json.loads((tmp_path / "metrics" / "detail" / "churn.json").read_text())
    assert metrics == result.metrics
    assert set(metrics) >= {"test", "baseline", "uplift", "truth", "by_segment"}
    assert metrics["truth"]["available"] is True
    assert metrics["truth"]["truth_auc"] > 0.5
    assert metrics["uplift"]["auc"] == pytest.approx(
        metrics["test"]["auc"] - metrics["baseline"]["auc"]
    )
    assert set(metrics["by_segment"]["model"]) == set(split_book.test["segment"].unique())
    assert metrics["by_segment"]["baseline"]["sme"]["auc"] > 0.5
    headline = json.loads((tmp_path / "metrics" / "churn.json").read_text())
    assert set(headline) == set(BINARY_HEADLINE) | FLAG_KEYS and len(headline) <= 17
    assert headline["flag_below_baseline"] == float(metrics["flag_codes"]["below_baseline"])
    assert headline["auc"] == metrics["test"]["auc"]
    assert headline["gap_auc_low"] <= headline["gap_auc"] <= headline["gap_auc_high"]
    assert all(isinstance(v, float) for v in headline.values())
    for name, columns in (
        ("roc", {"fpr", "tpr"}),
        ("calibration", {"predicted", "observed"}),
        ("lift", {"decile", "lift"}),
    ):
        table = pd.read_csv(tmp_path / "plots" / "churn" / f"{name}.csv")
        assert columns <= set(table.columns) and len(table) > 1


def _write_split_dir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def test_run_training_without_truth_or_revenue_feature_says_so(
    tmp_path: Path, split_book: Book
) -> None:
    train, valid, test = (
        f.drop(columns=["revenue_12m"])
        for f in (split_book.train, split_book.valid, split_book.test)
    )
    reduced = Book(train=train, valid=valid, test=test, truth=split_book.truth)
    split = write_split(reduced, tmp_path / "split")
    result = run_training(
        split,
        "contribution",
        FAST,
        models_dir=tmp_path / "m",
        metrics_dir=tmp_path / "x",
        plots_dir=tmp_path / "p",
        truth_dir=tmp_path / "no_truth_here",
    )
    assert result.metrics["truth"]["available"] is False
    assert "revenue_12m" in result.metrics["baseline"]["skipped"]
    assert result.metrics["uplift"] == {}
    headline = json.loads((tmp_path / "x" / "contribution.json").read_text())
    assert (
        set(headline)
        == {k for k in REGRESSION_HEADLINE if not k.startswith(("baseline", "truth"))} | FLAG_KEYS
    )
    assert json.loads((tmp_path / "x" / "detail" / "contribution.json").read_text())["by_segment"]
    # The contribution folder freezes its segment percentiles (contribution_score): of the
    # scoring model's predictions on the labelled test rows (not of the labels), and none of
    # revenue_12m, which this split lacks.
    bundle = load_bundle(tmp_path / "m" / "contribution")
    frozen = bundle.references["contribution_quantiles"]
    labelled = test.loc[test["label_contribution"].notna()]
    predicted = bundle.predict(labelled)
    assert frozen["all"]["rows"] == len(labelled) and frozen["all"]["realised"] is None
    assert frozen["all"]["expected"][50] == pytest.approx(float(np.median(predicted)))
    assert np.std(predicted) < labelled["label_contribution"].std()  # narrower than outcomes
    assert frozen["all"]["expected"][50] != pytest.approx(labelled["label_contribution"].median())
    assert set(frozen["segments"]) == set(labelled["segment"].dropna().astype("str"))


def test_split_fingerprint_changes_with_the_data(tmp_path: Path) -> None:
    a = tmp_path / "train.parquet"
    a.write_bytes(b"one")
    before = split_fingerprint([a])
    a.write_bytes(b"two")
    assert split_fingerprint([a]) != before


def test_untrainable_says_why_a_target_cannot_make_a_model() -> None:
    from predict.models.skipped import untrainable

    ok = {"train": np.array([0.0] * 10 + [1.0] * 10), "valid": np.array([0.0, 1.0]),
          "test": np.array([1.0, 0.0])}  # fmt: skip
    assert untrainable(ok, "binary", 10) is None
    assert "only 10 training rows" in str(untrainable(ok, "binary", 11))
    none = {**ok, "valid": np.array([])}
    assert "no labelled rows in valid" in str(untrainable(none, "regression", 10))
    one = {**ok, "test": np.array([0.0, 0.0])}
    assert untrainable(one, "binary", 1) == "one class only in test (all 0): nothing to tell apart"
    assert untrainable(one, "regression", 1) is None


def test_run_training_skips_a_target_with_no_label(tmp_path: Path, split_book: Book) -> None:
    from predict.models.skipped import read_skipped

    folder = tmp_path / "split"
    write_split(split_book, folder)
    for name in ("train", "valid", "test"):
        part = pd.read_parquet(folder / f"{name}.parquet").assign(label_default=np.nan)
        part.to_parquet(folder / f"{name}.parquet", index=False)
    dirs = {
        "models_dir": tmp_path / "m",
        "metrics_dir": tmp_path / "x",
        "plots_dir": tmp_path / "p",
    }
    result = run_training(folder, "default", FAST, **dirs)
    assert isinstance(result, SkippedTraining) and "no labelled rows" in result.reason
    assert read_skipped(tmp_path / "m" / "default")["rows"] == {"train": 0, "valid": 0, "test": 0}
    assert json.loads((tmp_path / "x" / "default.json").read_text()) == {"skipped": True}
    assert list(pd.read_csv(tmp_path / "p" / "default" / "roc.csv").columns)[:2] == ["fpr", "tpr"]


def test_population_block_states_the_definition_and_counts_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "client_id": ["a", "a", "b", "c", "d"],
            "label_default": [0.0, 1.0, np.nan, np.nan, 0.0],
            "in_default": [0.0, 0.0, 1.0, 0.0, 0.0],
            "has_exposure": [1.0, 1.0, 1.0, 0.0, 1.0],
        }
    )
    block = population_block("default", {"test": frame})
    assert block["definition"] == POPULATIONS["default"]
    assert block["test"] == {
        "rows": 3,
        "clients": 2,
        "rows_unlabelled": 2,
        "rows_in_default": 1,
        "rows_without_exposure": 1,
    }


def _no_reversals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label_contribution=frame["label_contribution"].clip(lower=0.0))


def test_contribution_is_never_negative_on_a_book_without_negative_revenue(
    split_book: Book,
) -> None:
    train, valid = _no_reversals(split_book.train), _no_reversals(split_book.valid)
    bundle = train_model(train, valid, "contribution", FAST)
    assert bundle.calibrator.kind == "scale"  # the default
    rows = pd.concat([split_book.test, split_book.test.assign(revenue_12m=0.0, revenue_3m=0.0)])
    pred = bundle.predict(rows)
    assert pred.min() >= 0 and np.isfinite(pred).all()
    va = valid[valid["label_contribution"].notna()]  # the validation total is matched
    assert bundle.predict(va).sum() == pytest.approx(va["label_contribution"].sum(), rel=1e-9)
    metrics, _ = evaluate_model(bundle, train, valid, _no_reversals(split_book.test), FAST)
    assert metrics["test"]["revenue_gini"] > 0.3
    assert metrics["test"]["tweedie_deviance"] > 0  # labels >= 0, predictions > 0: defined


def test_contribution_with_reversals_keeps_the_sign_and_matches_the_net_total(
    split_book: Book,
) -> None:
    """Negative labels: tweedie fits the amount clipped at 0, the scale factor brings the
    level down to the net validation total, and no prediction turns negative."""
    va = split_book.valid[split_book.valid["label_contribution"].notna()]
    assert (va["label_contribution"] < 0).any()
    bundle = train_model(split_book.train, split_book.valid, "contribution", FAST)
    raw = bundle.predict_uncalibrated(va)
    factor = va["label_contribution"].sum() / raw.sum()
    assert bundle.calibrator.to_dict()["b"] == pytest.approx(factor)
    assert bundle.predict(split_book.test).min() >= 0
    metrics, _ = evaluate_model(bundle, split_book.train, split_book.valid, split_book.test, FAST)
    assert metrics["test"]["tweedie_deviance"] is None  # undefined with negative labels


def test_a_probability_calibrator_for_contribution_is_refused(split_book: Book) -> None:
    cfg = dataclasses.replace(FAST, contribution=ContributionConfig(calibration="isotonic"))
    with pytest.raises(ValueError, match="'isotonic' does not fit a regression model"):
        train_model(split_book.train, split_book.valid, "contribution", cfg)
