"""The fail-closed rule of scoring: unusable tables, unavailable features, their gain share."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from predict.models.calibration import IsotonicCalibrator
from predict.models.store import FeatureSpec, ModelBundle
from predict.scoring.config import ScoreConfig
from predict.scoring.result import ScoringReport
from predict.scoring.support import (
    UnsupportedModelError,
    apply_support,
    gain_share,
    model_support,
    unusable_tables,
)


def _bundle(target: str = "churn") -> ModelBundle:
    """Trees on utilisation (balances) and tenure_months (clients) only: complaints_12m
    (interactions) is constant, so it has no split and no gain."""
    rng = np.random.default_rng(0)
    n = 400
    x = pd.DataFrame({
        "utilisation": rng.uniform(0, 1, n),
        "tenure_months": rng.uniform(0, 200, n),
        "complaints_12m": np.zeros(n),
    })  # fmt: skip
    y = (x["utilisation"] + rng.normal(0, 0.2, n) > 0.5).astype(float).to_numpy()
    spec = FeatureSpec.from_frame(x, tuple(x.columns))
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=5)
    return ModelBundle(target, booster, IsotonicCalibrator().fit(y, y), spec, {"task": "binary"})


def _bundle_on_clients() -> ModelBundle:
    """A default model on tenure_months alone (clients): the data always supports it."""
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"tenure_months": rng.uniform(0, 200, 300)})
    y = (x["tenure_months"] + rng.normal(0, 40, 300) > 100).astype(float).to_numpy()
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=3)
    spec = FeatureSpec(("tenure_months",))
    return ModelBundle("default", booster, IsotonicCalibrator().fit(y, y), spec, {"task": "binary"})


def test_gain_share_is_the_features_part_of_the_total_gain() -> None:
    bundle = _bundle()
    gains = dict(zip(bundle.booster.feature_name(),
                     bundle.booster.feature_importance("gain"), strict=True))  # fmt: skip
    total = sum(gains.values())
    assert gain_share(bundle, ("utilisation",)) == pytest.approx(gains["utilisation"] / total)
    assert gain_share(bundle, ("complaints_12m",)) == 0.0
    assert gain_share(bundle, bundle.features.names) == pytest.approx(1.0)


def test_absent_and_empty_tables_are_unusable() -> None:
    tables = {"clients": pd.DataFrame({"client_id": ["a"]}), "revenue": pd.DataFrame()}
    assert unusable_tables(tables, ("clients", "revenue", "interactions")) == {
        "revenue": "empty",
        "interactions": "absent",
    }


def test_model_support_names_the_features_and_tables_the_data_cannot_give() -> None:
    bundle = _bundle()
    clients = pd.DataFrame({"client_id": ["a"], "onboarding_date": [pd.Timestamp("2020-01-31")]})
    support = model_support(bundle, {"clients": clients}, None)
    assert support.unavailable == ("utilisation", "complaints_12m")
    assert set(support.tables) >= {"facilities", "facility_balances", "interactions"}
    assert support.gain_share == pytest.approx(gain_share(bundle, ("utilisation",)))
    assert support.gain_share > 0.5


def test_apply_support_stops_or_leaves_the_target_out() -> None:
    clients = pd.DataFrame({"client_id": ["a"], "onboarding_date": [pd.Timestamp("2020-01-31")]})
    bundles = {"churn": _bundle("churn"), "default": _bundle("default")}
    tables = {"clients": clients}
    with pytest.raises(UnsupportedModelError, match="facility_balances"):
        apply_support(bundles, tables, ScoreConfig(), ScoringReport())
    partial = ScoreConfig(unsupported="missing")
    with pytest.raises(UnsupportedModelError, match="churn, default"):  # none left: stop
        apply_support(bundles, tables, partial, ScoringReport())
    report = ScoringReport()
    one = {**bundles, "default": _bundle_on_clients()}
    kept = apply_support(one, tables, partial, report)
    assert set(kept) == {"default"} and set(report.unsupported) == {"churn"}
    assert report.unsupported["churn"]["tables"] == sorted(report.unsupported["churn"]["tables"])
    assert "limit 5%" in report.skipped_targets["churn"]
    lenient = ScoreConfig(max_unavailable_gain=0.99)
    assert set(apply_support(bundles, tables, lenient, ScoringReport())) == {"churn", "default"}


def test_a_feature_outside_the_catalogue_counts_when_the_data_lacks_its_column() -> None:
    bundle = _bundle()
    spec = FeatureSpec(("utilisation", "bank_rating"))
    other = ModelBundle("churn", bundle.booster, bundle.calibrator, spec, bundle.metadata)
    support = model_support(other, {}, frozenset({"client_id", "as_of"}))
    assert "bank_rating" in support.unavailable
