"""The contribution model's offset (recent revenue carried forward, issue #13 item 5).

offset = log1p(scale * max(revenue_3m, 0)) (missing -> 0) is the booster's init_score at
training and is added to its raw score wherever the bundle predicts; the model folder
records it; explanations carry it as a row of its own so that they still sum to the raw
score; the expected contribution is never negative.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, from_dict
from predict.models.calibration import IdentityCalibrator, ScaleCalibrator
from predict.models.offset import Offset, OffsetConfig, OffsetError, resolve_offset_scale
from predict.models.store import (
    FeatureSpec,
    ModelBundle,
    UnsafeModelError,
    bundle_files,
    load_bundle,
    manifest,
    save_bundle,
)
from predict.models.training import ContributionConfig, TrainConfig, train_model
from predict.scoring.chunks import explain_chunk
from predict.scoring.explain import BASE_FEATURE, OFFSET_FEATURE, long_table
from predict.scoring.reasons import (
    ReasonsConfig,
    catalogue_templates,
    reason_impacts,
    reasons_text,
    select_drivers,
)
from predict.scoring.support import gain_share, model_support
from tests.support.splits import fast_config, make_split

NAMES = ("revenue_3m", "tenure_months")


def _frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    revenue = np.where(rng.random(n) < 0.2, 0.0, rng.lognormal(8.0, 1.0, n))
    revenue[:3] = [np.nan, -250.0, 0.0]  # missing, negative (a reversal), none
    return pd.DataFrame(
        {
            "client_id": pd.Series([f"c{i:04d}" for i in range(n)], dtype="str"),
            "as_of": pd.Timestamp("2024-12-31"),
            "revenue_3m": revenue,
            "tenure_months": rng.integers(1, 200, n).astype("float64"),
        }
    )


def _tiny_bundle(scale: float = 4.0, trees: int = 8) -> ModelBundle:
    """A tweedie booster fitted with the offset as init_score, identity calibration."""
    frame = _frame()
    spec = FeatureSpec.from_frame(frame, NAMES)
    X = spec.matrix(frame)
    rev = frame["revenue_3m"].fillna(0.0).clip(lower=0.0).to_numpy()
    y = scale * rev * np.exp(0.3 * (X["tenure_months"].to_numpy() > 100))
    init = np.log1p(scale * rev)
    params = {
        "objective": "tweedie",
        "tweedie_variance_power": 1.2,
        "num_leaves": 4,
        "min_data_in_leaf": 20,
        "verbose": -1,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
    }
    booster = lgb.train(params, lgb.Dataset(X, y, init_score=init), num_boost_round=trees)
    meta = {
        "target": "contribution",
        "task": "regression",
        "objective": "tweedie",
        "target_transform": "clip0",
        "offset": Offset("revenue_3m", scale).to_dict(),
    }
    return ModelBundle("contribution", booster, IdentityCalibrator(), spec, meta)


def test_offset_values_by_hand() -> None:
    frame = pd.DataFrame({"revenue_3m": [1000.0, -50.0, np.nan, 0.0, 2.5]})
    got = Offset("revenue_3m", 4.0).values(frame)
    # log1p(4 x 1000) = log(4001); negative and missing count as 0: log(1) = 0; log(1 + 10)
    np.testing.assert_allclose(got, [math.log(4001.0), 0.0, 0.0, 0.0, math.log(11.0)])
    assert Offset.from_metadata({}) is None
    rec = {"feature": "revenue_3m", "scale": 4.0, "kind": "log1p_scaled"}
    assert Offset.from_metadata({"offset": rec}) == Offset("revenue_3m", 4.0)


def test_scale_auto_is_the_horizon_over_the_months() -> None:
    config = OffsetConfig()
    assert (config.feature, config.months, config.scale) == ("revenue_3m", 3, "auto")
    assert resolve_offset_scale(config, 12).scale == 4.0
    assert resolve_offset_scale(config, 6).scale == 2.0
    assert resolve_offset_scale(OffsetConfig("revenue_6m", 6), 12).scale == 2.0
    given = OffsetConfig(scale=3.5)
    assert resolve_offset_scale(given, 12) is given
    with pytest.raises(OffsetError, match="auto is not resolved"):
        Offset.from_config(config)


def test_the_train_command_resolves_the_offset_scale(tmp_path: Path) -> None:
    from predict.cli import _with_revenue_scale

    params = tmp_path / "params.yaml"
    params.write_text("features: {horizon_months: 6}\ntrain: {}\n")
    config = TrainConfig(contribution=ContributionConfig(offset=OffsetConfig()))
    resolved = _with_revenue_scale(config, params)
    assert resolved.contribution.offset is not None
    assert resolved.contribution.offset.scale == 2.0  # 6 / 3
    assert resolved.baseline.revenue_scale == 0.5  # 6 / 12


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        ({"feature": "revenue_3months"}, "not a feature of the catalogue"),
        ({"months": 0}, "months must be an integer >= 1"),
        ({"months": 2.5}, "expected int"),
        ({"scale": -1}, "scale must be a finite number > 0"),
        ({"scale": 0}, "scale must be a finite number > 0"),
        ({"scale": "lots"}, "neither auto nor a number"),
        ({"unknown": 1}, "unknown key"),
    ],
)
def test_bad_offset_params_are_refused(offset: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_dict(TrainConfig, {"contribution": {"offset": offset}}, where="train")


def test_params_read_null_as_no_offset_and_a_mapping_as_one() -> None:
    none = from_dict(TrainConfig, {"contribution": {"offset": None}})
    assert none.contribution.offset is None
    some = from_dict(TrainConfig, {"contribution": {"offset": {"scale": 4}}})
    assert some.contribution.offset == OffsetConfig(scale=4.0)


def test_bundle_predicts_exp_of_offset_plus_raw() -> None:
    bundle = _tiny_bundle()
    frame = _frame(50, seed=1)
    booster_raw = bundle.booster.predict(bundle.matrix(frame), raw_score=True)
    rev = frame["revenue_3m"].to_numpy()
    offset = np.log1p(4.0 * np.where(np.isnan(rev), 0.0, np.maximum(rev, 0.0)))
    np.testing.assert_allclose(bundle.predict_raw(frame), booster_raw + offset, rtol=1e-12)
    np.testing.assert_allclose(bundle.predict(frame), np.exp(booster_raw + offset), rtol=1e-12)
    assert (bundle.predict(frame) >= 0).all()


def test_save_load_round_trip_keeps_the_offset(tmp_path: Path) -> None:
    bundle = _tiny_bundle()
    loaded = load_bundle(save_bundle(bundle, tmp_path / "contribution"))
    assert loaded.offset == Offset("revenue_3m", 4.0)
    meta = json.loads((tmp_path / "contribution" / "metadata.json").read_text())
    assert meta["offset"] == {"feature": "revenue_3m", "scale": 4.0, "kind": "log1p_scaled"}
    frame = _frame(50, seed=2)
    np.testing.assert_array_equal(loaded.predict(frame), bundle.predict(frame))


def test_the_offset_changes_the_digest() -> None:
    bundle = _tiny_bundle()
    versions = {
        manifest(bundle_files(b))["digest"]
        for b in (
            bundle,
            dataclasses.replace(bundle, metadata={**bundle.metadata, "offset": None}),
            dataclasses.replace(
                bundle, metadata={**bundle.metadata, "offset": Offset("revenue_3m", 2.0).to_dict()}
            ),
        )
    }
    assert len(versions) == 3


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"feature": "revenue_6m", "scale": 4.0, "kind": "log1p_scaled"}, "not a numeric feature"),
        ({"feature": "revenue_3m", "scale": -4.0, "kind": "log1p_scaled"}, "finite number > 0"),
        ({"feature": "revenue_3m", "scale": 4.0, "kind": "log"}, "kind 'log' is unknown"),
        ({"feature": "revenue_3m", "scale": 4.0}, "exactly feature, scale, kind"),
    ],
)
def test_a_bundle_with_a_bad_offset_is_refused_at_load(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    bundle = _tiny_bundle()
    bad = dataclasses.replace(bundle, metadata={**bundle.metadata, "offset": record})
    folder = save_bundle(bad, tmp_path / "contribution")
    with pytest.raises(UnsafeModelError, match=message):
        load_bundle(folder)


def test_explanations_sum_to_the_raw_score_with_the_offset_row() -> None:
    bundle = _tiny_bundle()
    chunk = _frame(40, seed=3)
    ex = explain_chunk(chunk, bundle)
    assert ex.offset is not None
    np.testing.assert_allclose(ex.raw, bundle.predict_raw(chunk), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bundle.from_raw(ex.raw), bundle.predict(chunk), rtol=1e-10)
    # without the offset the SHAP values sum to the booster's own raw score only
    booster_raw = bundle.booster.predict(bundle.matrix(chunk), raw_score=True)
    np.testing.assert_allclose(ex.shap.sum(axis=1) + ex.base, booster_raw, atol=1e-10)
    table = long_table(
        chunk["client_id"],
        pd.Timestamp("2024-12-31"),
        "contribution",
        ex.values,
        ex.shap,
        base=ex.base,
        offset=(ex.offset, ex.values["revenue_3m"]),
    ).to_pandas()
    table["feature"] = table["feature"].astype("str")
    sums = table.groupby("client_id")["shap"].sum().reindex(chunk["client_id"])
    np.testing.assert_allclose(sums.to_numpy(), bundle.predict_raw(chunk), atol=1e-9)
    rows = table[table["feature"] == OFFSET_FEATURE].set_index("client_id")
    assert len(rows) == len(chunk) and (table["feature"] == BASE_FEATURE).sum() == len(chunk)
    np.testing.assert_allclose(rows["shap"].reindex(chunk["client_id"]), ex.offset)
    assert rows.loc["c0003", "value"] == str(chunk["revenue_3m"].iloc[3])


def test_reason_impacts_stay_within_the_score() -> None:
    bundle = _tiny_bundle(trees=30)
    chunk = _frame(200, seed=4)
    ex = explain_chunk(chunk, bundle)
    config = ReasonsConfig(top_up=2, top_down=2)
    citable = np.ones(ex.shap.shape, dtype=bool)
    up, down = select_drivers(ex.shap, citable, config)
    drivers = np.concatenate([up, down], axis=1)
    chosen = np.take_along_axis(ex.shap, np.maximum(drivers, 0), axis=1)
    impacts = reason_impacts(ex, drivers, chosen, ["contribution", "relationship"])
    pred = bundle.predict(chunk)
    pushing_up = (drivers >= 0) & (chosen > 0)
    assert pushing_up.any() and impacts[pushing_up].max() > 100  # real amounts, not zeros
    # removing what pushes the score up can take it at most to 0: never more than the score
    assert (impacts[pushing_up] >= 0).all()
    assert (impacts <= pred[:, None] * (1 + 1e-12)).all()
    assert all(isinstance(t, str) for t in reasons_text(ex, catalogue_templates(), config))


def test_an_unavailable_offset_feature_makes_the_model_unsupported() -> None:
    bundle = _tiny_bundle()
    support = model_support(bundle, {"clients": pd.DataFrame({"x": [1]})}, frozenset(NAMES))
    assert support.unavailable == ("revenue_3m",)
    assert gain_share(bundle, ("revenue_3m",)) < 1.0  # its own gain is not all
    assert support.gain_share == 1.0


def _book_with_recent_revenue(nonnegative: bool) -> tuple[pd.DataFrame, ...]:
    book = make_split(n_clients=500, seed=5)
    out = []
    for frame in (book.train, book.valid, book.test):
        rng = np.random.default_rng(len(frame))
        recent = frame["revenue_12m"] / 4.0 * rng.lognormal(0.0, 0.3, len(frame))
        frame = frame.assign(revenue_3m=recent)
        if nonnegative:
            frame = frame.assign(label_contribution=frame["label_contribution"].clip(lower=0.0))
        out.append(frame)
    return tuple(out)


def _config(offset: OffsetConfig | None, **contribution: object) -> TrainConfig:
    base = fast_config(rounds=60, stop=20)
    return dataclasses.replace(
        base,
        contribution=ContributionConfig(offset=offset, **contribution),  # type: ignore[arg-type]
    )


def test_contribution_is_never_negative_on_a_book_without_negative_revenue() -> None:
    train, valid, test = _book_with_recent_revenue(nonnegative=True)
    bundle = train_model(train, valid, "contribution", _config(OffsetConfig(scale=4.0)))
    assert bundle.offset == Offset("revenue_3m", 4.0)
    assert bundle.metadata["offset"]["scale"] == 4.0
    assert isinstance(bundle.calibrator, ScaleCalibrator)
    odd = test.head(4).assign(revenue_3m=[np.nan, -1e6, 0.0, 1e9], revenue_12m=np.nan)
    pred = bundle.predict(pd.concat([test, odd], ignore_index=True))
    assert np.isfinite(pred).all() and (pred >= 0).all()
    # the booster starts from the offset: its own raw score is the log-ratio on top of it
    booster_raw = bundle.booster.predict(bundle.matrix(test), raw_score=True)
    offset = bundle.offset_of(bundle.matrix(test))
    np.testing.assert_allclose(bundle.predict_raw(test), booster_raw + offset)


def test_training_refuses_an_offset_it_cannot_compute() -> None:
    train, valid, _ = _book_with_recent_revenue(nonnegative=True)
    with pytest.raises(ValueError, match="'revenue_3m' is not a numeric column of the split"):
        train_model(
            train.drop(columns="revenue_3m"),
            valid.drop(columns="revenue_3m"),
            "contribution",
            _config(OffsetConfig(scale=4.0)),
        )
    excluded = dataclasses.replace(
        _config(OffsetConfig(scale=4.0)), exclude_features=("revenue_3m",)
    )
    with pytest.raises(ValueError, match=r"is in train\.exclude_features"):
        train_model(train, valid, "contribution", excluded)
    with pytest.raises(ValueError, match="needs the tweedie objective"):
        train_model(train, valid, "contribution", _config(OffsetConfig(scale=4.0), objective="l2"))
    with pytest.raises(OffsetError, match="auto is not resolved"):
        train_model(train, valid, "contribution", _config(OffsetConfig()))
    # churn and default ignore the contribution's offset
    churn = train_model(train, valid, "churn", _config(OffsetConfig(scale=4.0)))
    assert churn.offset is None and "offset" not in churn.metadata


def test_the_report_shows_the_offset_as_a_waterfall_step_not_a_feature() -> None:
    from predict.report.explanations import client_waterfall, feature_label, shap_importance

    expl = pd.DataFrame(
        {
            "client_id": ["a", "a", "a", "a"],
            "target": ["contribution"] * 4,
            "feature": [BASE_FEATURE, OFFSET_FEATURE, "revenue_3m", "tenure_months"],
            "value": [None, "1000", "1000", "12"],
            "shap": [0.5, math.log(4001.0), 0.2, -0.1],
        }
    )
    steps, base = client_waterfall(expl, "a", "contribution")
    assert base == 0.5
    assert steps[0] == ("Recent revenue carried forward (offset)", math.log(4001.0))
    assert base + sum(v for _, v in steps) == pytest.approx(0.6 + math.log(4001.0))
    assert feature_label(OFFSET_FEATURE, "1000") == "Recent revenue carried forward (offset)"
    assert list(shap_importance(expl, "contribution")["feature"]) == ["revenue_3m", "tenure_months"]


def test_scoring_writes_the_offset_row_and_scores_from_the_full_raw_score(tmp_path: Path) -> None:
    from predict.scoring.chunks import score_chunks
    from predict.scoring.config import ScoreConfig
    from predict.scoring.explain import ExplanationWriter

    bundle = _tiny_bundle()
    chunk = _frame(30, seed=6)
    path = tmp_path / "explanations.parquet"
    with ExplanationWriter(path) as writer:
        scores = score_chunks(
            chunk,
            {"contribution": bundle},
            ScoreConfig(chunk_size=7),
            catalogue_templates(),
            writer,
        )
    np.testing.assert_allclose(scores["expected_contribution"], bundle.predict(chunk), rtol=1e-10)
    expl = pd.read_parquet(path)
    expl["feature"] = expl["feature"].astype("str")
    sums = expl.groupby("client_id")["shap"].sum().reindex(chunk["client_id"])
    np.testing.assert_allclose(sums.to_numpy(), bundle.predict_raw(chunk), atol=1e-9)
    assert (expl["feature"] == OFFSET_FEATURE).sum() == len(chunk)
