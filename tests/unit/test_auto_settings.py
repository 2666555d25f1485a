"""Automatic settings that follow the data or other params: the carry-forward baseline's
revenue scale (``train.baseline.revenue_scale: auto`` = H / 12)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.models.baselines import BaselineConfig, make_baseline, resolve_revenue_scale
from predict.models.store import FeatureSpec

SPEC = FeatureSpec(("revenue_12m",))
FRAME = pd.DataFrame({"revenue_12m": [1200.0, None, -60.0]})


def test_revenue_scale_auto_is_the_horizon_over_twelve() -> None:
    config = BaselineConfig()
    assert config.revenue_scale == "auto"
    six = resolve_revenue_scale(config, 6)
    assert six.revenue_scale == 0.5
    baseline = make_baseline("regression", SPEC, six, FRAME.columns)
    assert baseline is not None
    # 12 months of revenue carried over 6 months: half; missing revenue counts as 0
    np.testing.assert_allclose(baseline.predict(FRAME), [600.0, 0.0, -30.0])
    assert resolve_revenue_scale(config, 18).revenue_scale == 1.5


def test_a_revenue_scale_given_wins_over_auto() -> None:
    given = BaselineConfig(revenue_scale=2.0)
    assert resolve_revenue_scale(given, 6) is given
    baseline = make_baseline("regression", SPEC, given, FRAME.columns)
    assert baseline is not None
    np.testing.assert_allclose(baseline.predict(FRAME), [2400.0, 0.0, -120.0])


def test_an_unresolved_or_bad_revenue_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="auto is not resolved"):
        make_baseline("regression", SPEC, BaselineConfig(), FRAME.columns)
    with pytest.raises(ValueError, match="horizon_months must be >= 1"):
        resolve_revenue_scale(BaselineConfig(), 0)
    for bad in ("twice", 0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="revenue_scale"):
            BaselineConfig(revenue_scale=bad)
