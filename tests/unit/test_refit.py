"""The final refit (predict.models.refit, training.final_model) and its backtest."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, from_dict
from predict.io import read_json
from predict.models.backtest import refit_backtest
from predict.models.calibration import make_calibrator
from predict.models.evaluation import binary_metrics
from predict.models.metrics_files import detail_path
from predict.models.references import training_references
from predict.models.refit import RefitConfig, refit_rounds
from predict.models.split import SplitConfig
from predict.models.store import load_bundle
from predict.models.training import (
    TrainConfig,
    final_model,
    train_model,
)
from predict.report.card_sections import CardPolicy, ModelCardConfig
from predict.report.inputs import ModelInfo
from predict.report.model_card import card_page, model_card
from predict.report.site import environment
from tests.support.splits import Book, fast_config, make_book, train_into, write_split

FAST = fast_config(60, 15, learning_rate=0.1)


def _refit(rule: str = "same", *targets: str) -> TrainConfig:
    enabled = targets or ("churn", "default", "contribution")
    return dataclasses.replace(FAST, final_refit=RefitConfig(enabled=enabled, rounds=rule))


def _sets(book: Book) -> dict[str, pd.DataFrame]:
    return {"train": book.train, "valid": book.valid, "test": book.test}


def test_refit_rounds_scale_the_best_iteration_by_the_rule() -> None:
    # b = 100 trees on 400 rows; the refit has 900 rows: ratio 2.25, sqrt 1.5
    assert refit_rounds(100, 400, 900, "same") == 100
    assert refit_rounds(100, 400, 900, "sqrt_rows") == 150
    assert refit_rounds(100, 400, 900, "rows") == 225
    assert refit_rounds(1, 1000, 10, "rows") == 1  # never below one tree
    with pytest.raises(ValueError, match="rounds rule"):
        refit_rounds(100, 400, 900, "double")
    with pytest.raises(ValueError, match=">= 1"):
        refit_rounds(0, 400, 900, "same")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"final_refit": {"enabled": ["defualt"]}}, "defualt"),
        ({"final_refit": {"rounds": "double"}}, "double"),
        ({"final_refit": {"enabled": True}}, "enabled"),
        ({"final_refit": {"every": 1}}, "every"),
    ],
)
def test_bad_final_refit_params_are_clear_errors(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, section, "params.yaml:train")


def test_refit_fits_every_labelled_train_and_valid_row_and_no_other(split_book: Book) -> None:
    config = _refit("same", "default")
    evaluated = train_model(split_book.train, split_book.valid, "default", config)
    final = final_model(evaluated, _sets(split_book), config)
    labelled = pd.concat([split_book.train, split_book.valid])["label_default"].notna()
    assert final.metadata["fit"] == "refit"
    assert final.metadata["train_window"]["rows"] == int(labelled.sum())
    # censored rows (no label) added to valid, and other test labels: the same booster, so
    # neither unlabelled rows nor the calibration rows are fitted
    censored = split_book.test.assign(label_default=np.nan, label_churn=np.nan)
    relabelled = split_book.test.assign(label_default=1.0 - split_book.test["label_default"])
    other = {
        "train": split_book.train,
        "valid": pd.concat([split_book.valid, censored], ignore_index=True),
        "test": relabelled,
    }
    again = final_model(evaluated, other, config)
    assert again.booster.model_to_string() == final.booster.model_to_string()
    assert again.calibrator.to_dict() != final.calibrator.to_dict()
    # fitting the calibration rows too would change the booster
    with_test = {**other, "train": pd.concat([split_book.train, split_book.test])}
    assert (
        final_model(evaluated, with_test, config).booster.model_to_string()
        != final.booster.model_to_string()
    )


@pytest.mark.parametrize("rule", ["same", "sqrt_rows", "rows"])
def test_refit_has_the_rules_fixed_trees_and_is_calibrated_on_test(
    split_book: Book, rule: str
) -> None:
    config = _refit(rule, "contribution")
    evaluated = train_model(split_book.train, split_book.valid, "contribution", config)
    final = final_model(evaluated, _sets(split_book), config)
    best = evaluated.metadata["best_iteration"]
    rows = final.metadata["train_window"]["rows"]
    expected = refit_rounds(best, evaluated.metadata["train_window"]["rows"], rows, rule)
    assert final.booster.num_trees() == expected
    assert final.metadata["fits"]["refit"]["trees"] == expected
    test = split_book.test[split_book.test["label_contribution"].notna()]
    calibrator = make_calibrator("scale", "regression").fit(
        final.predict_uncalibrated(test), test["label_contribution"].to_numpy("float64")
    )
    assert final.calibrator.to_dict() == calibrator.to_dict()
    assert final.metadata["valid_window"]["to"] == str(test["as_of"].max().date())


def test_disabled_refit_saves_the_evaluation_fit_as_today(tmp_path: Path, split_book: Book) -> None:
    split = write_split(split_book, tmp_path / "split")
    result = train_into(split, "churn", FAST, tmp_path)
    direct = train_model(split_book.train, split_book.valid, "churn", FAST)
    loaded = load_bundle(tmp_path / "models" / "churn")
    assert loaded.booster.model_to_string() == direct.booster.model_to_string()
    assert loaded.calibrator.to_dict() == direct.calibrator.to_dict()
    assert loaded.metadata["fit"] == "evaluation"
    assert result.metrics["fits"]["scoring"] == "evaluation"
    assert "refit" not in result.metrics["fits"]


def test_refit_bundle_loads_scores_and_carries_references(tmp_path: Path, split_book: Book) -> None:
    split = write_split(split_book, tmp_path / "split")
    off = train_into(split, "default", FAST, tmp_path / "off")
    on = train_into(split, "default", _refit("sqrt_rows", "default"), tmp_path / "on")
    bundle = load_bundle(tmp_path / "on" / "models" / "default")
    assert bundle.metadata["fit"] == "refit"
    # the same frozen references as the evaluation fit: the rate reference of the split, the
    # drift bins of the train split's features (the score bins follow each fit's predictions)
    assert bundle.references.keys() == off.bundle.references.keys() >= {"rate", "drift"}
    assert bundle.references["rate"] == training_references(split)["rate"]
    assert off.bundle.references["rate"] == training_references(split)["rate"]
    drift, off_drift = bundle.references["drift"], off.bundle.references["drift"]
    assert drift["features"] == off_drift["features"]
    pred = bundle.predict(split_book.test)
    assert np.isfinite(pred).all() and ((pred >= 0) & (pred <= 1)).all()
    # the documented performance is the evaluation fit's, in both runs
    assert on.metrics["test"] == off.metrics["test"]
    detail = read_json(detail_path(tmp_path / "on" / "metrics", "default"))
    fits = detail["fits"]
    assert fits["scoring"] == "refit"
    assert fits["evaluation"]["trees"] == off.bundle.metadata["best_iteration"]
    assert fits["evaluation"]["train_window"] == off.bundle.metadata["train_window"]
    assert fits["refit"]["train_window"]["rows"] == bundle.metadata["train_window"]["rows"]
    assert fits["refit"]["calibration_window"]["from"] == "2022-12-31"
    assert bundle.metadata["fits"] == fits


def test_backtest_judges_every_variant_on_unseen_next_period_rows() -> None:
    dates = tuple(f"{y}-{m}" for y in (2020, 2021, 2022, 2023) for m in ("06-30", "12-31"))
    book = make_book(300, dates, seed=2)
    book = book.drop(columns=[c for c in book if c.startswith("true_")])
    labelled = [dt.date.fromisoformat(d) for d in dates]
    config = fast_config(40, 10, learning_rate=0.1)
    split = SplitConfig(valid_as_ofs=1)
    table = refit_backtest(book, labelled, 12, config, split, targets=("default",))
    # judged at the last date; as if the data ended there: split test = 2022-12-31, valid =
    # 2021-12-31, train up to 2020-12-31, the dates 2021-06-30 purged between them
    judged = book[(book["as_of"] == "2023-12-31") & book["label_default"].notna()]
    assert set(table["judge_rows"]) == {len(judged)}
    assert (pd.to_datetime(table["fit_to"]) < pd.Timestamp("2022-12-31")).all()
    variants = table.set_index("variant")
    assert {"evaluation", "recalibrated", "refit_same", "refit_all_rows"} <= set(variants.index)
    train = book[book["as_of"] <= "2020-12-31"]
    valid = book[book["as_of"] == "2021-12-31"]
    evaluation = train_model(train, valid, "default", config)
    expected = binary_metrics(judged["label_default"], evaluation.predict(judged))
    assert variants.loc["evaluation", "auc"] == pytest.approx(expected["auc"])
    assert variants.loc["evaluation", "trees"] == evaluation.booster.num_trees()
    fitted = pd.concat([train, valid])["label_default"].notna().sum()
    assert variants.loc["refit_same", "fit_rows"] == fitted
    assert variants.loc["refit_same", "calibration"] == "2022-12-31..2022-12-31"
    before = book[book["as_of"] <= "2021-12-31"]["label_default"].notna().sum()
    assert variants.loc["refit_all_rows", "fit_rows"] == before
    assert variants.loc["recalibrated", "trees"] == variants.loc["evaluation", "trees"]


def test_model_card_shows_both_fits_and_which_one_scores(split_book: Book) -> None:
    config = _refit("rows", "default")
    evaluated = train_model(split_book.train, split_book.valid, "default", config)
    final = final_model(evaluated, _sets(split_book), config)
    fits = final.metadata["fits"]
    info = ModelInfo("default", dict(final.metadata), final.features.to_dict())
    [card] = model_card({"default": info}, {"default": {"fits": fits}}, None)
    evaluation, refit = card["fit_rows"]
    n_train = int(split_book.train["label_default"].notna().sum())
    n_refit = n_train + int(split_book.valid["label_default"].notna().sum())
    assert evaluation[0] == "evaluation" and "scores" not in evaluation[1]
    assert evaluation[2:5] == ["2021-06-30 to 2021-12-31", n_train, "2022-06-30 to 2022-06-30"]
    assert refit[0] == "refit" and "scores the portfolio" in refit[1]
    assert refit[2:5] == ["2021-06-30 to 2022-06-30", n_refit, "2022-12-31 to 2022-12-31"]
    assert refit[5] == final.booster.num_trees() and "rows rule" in refit[6]
    assert not [name for name, _ in card["figures"] if name.startswith("fits")]
    assert not [name for name, _ in card["windows"] if name.startswith("fits")]
    html = (
        environment()
        .get_template("model_card.html.j2")
        .render(
            title="t",
            as_of="2024-12-31",
            cards=[card],
            limitations=(),
            **card_page(ModelCardConfig(), CardPolicy(), pd.Timestamp("2024-12-31")),
            definitions=(),
            definitions_source="",
            skipped={},
        )
    )
    assert 'id="fits-default"' in html and "final refit on train + valid" in html


def test_backtest_runs_only_the_variants_asked_for() -> None:
    dates = tuple(f"{y}-{m}" for y in (2020, 2021, 2022, 2023) for m in ("06-30", "12-31"))
    book = make_book(200, dates, seed=4).drop(
        columns=["true_p_churn", "true_p_default", "true_expected_contribution"]
    )
    labelled = [dt.date.fromisoformat(d) for d in dates]
    table = refit_backtest(
        book,
        labelled,
        12,
        fast_config(20, 5, learning_rate=0.1),
        SplitConfig(valid_as_ofs=1, min_train_as_ofs=1),
        judge=dt.date(2023, 6, 30),
        targets=("contribution",),
        rules=("sqrt_rows",),
        all_dates=False,
    )
    assert list(table["variant"]) == ["evaluation", "recalibrated", "refit_sqrt_rows"]
    assert set(table["judge_as_of"]) == {"2023-06-30"}
    # as if the data ended at 2023-06-30: test 2022-06-30, nothing fitted after 2021-06-30
    assert set(table["calibration"]) >= {"2022-06-30..2022-06-30"}
    assert (pd.to_datetime(table["fit_to"]) <= pd.Timestamp("2021-06-30")).all()
