"""The Basel IRB capital formula against the published illustrative risk weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.scoring.capital import CapitalConfig, capital_requirement, regulatory_capital

# Basel II (BCBS, June 2006 comprehensive version), Annex 5 "Illustrative IRB risk weights",
# corporate exposures, LGD 45%, M 2.5 years: risk weight (RW = 12.5 K) at turnover EUR 50m
# (no firm-size adjustment) and EUR 5m (full adjustment). No 1.06 scaling in the table.
ANNEX5 = [  # PD, RW turnover 50m, RW turnover 5m
    (0.0003, 0.1444, 0.1130),
    (0.0010, 0.2965, 0.2330),
    (0.0100, 0.9232, 0.7240),
    (0.0250, 1.2216, 0.9343),
]
BASEL2 = CapitalConfig(pd_floor=0.0003)


@pytest.mark.parametrize(("pd_", "rw_large", "rw_sme"), ANNEX5)
def test_capital_requirement_matches_basel_annex5(pd_, rw_large, rw_sme) -> None:
    k = capital_requirement([pd_, pd_], [0.45, 0.45], [2.5, 2.5], [50.0, 5.0], BASEL2)
    # the table rounds to 0.01 percentage points; one unit of its last digit of tolerance
    assert 12.5 * k == pytest.approx([rw_large, rw_sme], abs=1e-4)


def test_pd_1pct_lgd_45pct_m_2_5_gives_k_0_0739() -> None:
    # K = 0.92317 / 12.5 = 0.073853 (RW 92.32% in Annex 5); unknown turnover: no adjustment
    k = capital_requirement([0.01], [0.45], [2.5], None, CapitalConfig())
    assert k[0] == pytest.approx(0.0738534, abs=1e-6)


def test_floors_bounds_default_and_unknowns() -> None:
    cfg = CapitalConfig()  # PD floor 0.05%, M in [1, 5]
    k = capital_requirement(
        [0.0, 0.0005, 0.01, 0.01, 0.01, 1.0, np.nan, 0.01],
        [0.45, 0.45, 0.45, 0.45, 0.45, 0.45, 0.45, np.nan],
        [2.5, 2.5, 0.2, 1.0, 9.0, 2.5, 2.5, 2.5],
        None,
        cfg,
    )
    assert k[0] == pytest.approx(k[1])  # PD 0 floored to 0.05% (Annex 5: RW 19.65%)
    assert 12.5 * k[1] == pytest.approx(0.1965, abs=5e-5)
    assert k[2] == pytest.approx(k[3])  # M 0.2y counts as 1 year
    assert k[4] == pytest.approx(capital_requirement([0.01], [0.45], [5.0], None, cfg)[0])
    assert k[5] == 0.0  # in default: foundation treatment, K = 0
    assert np.isnan(k[6]) and np.isnan(k[7])


def test_regulatory_capital_is_k_times_ead_and_turnover_is_scaled() -> None:
    cfg = CapitalConfig(turnover_unit=1.0e6, scaling_factor=1.06)
    cap = regulatory_capital(
        pd.Series([0.01, 0.01, 0.01]),
        pd.Series([0.45, 0.45, 0.45]),
        pd.Series([1000.0, 1000.0, 0.0]),
        pd.Series([2.5, 2.5, np.nan]),
        pd.Series([5.0e6, np.nan, 5.0e6]),
        cfg,
    )
    assert cap[0] == pytest.approx(1.06 * 0.7240 / 12.5 * 1000.0, rel=1e-4)  # SME at EUR 5m
    assert cap[1] == pytest.approx(1.06 * 0.0738534 * 1000.0, rel=1e-5)  # turnover unknown
    assert cap[2] == 0.0  # no exposure


def test_maturity_adjustment_at_five_years_by_hand() -> None:
    # b = (0.11852 - 0.05478 ln 0.01)^2 = (0.11852 + 0.05478 x 4.605170)^2 = 0.137486.
    # K(M) = [...] (1 - 1.5 b)^-1 (1 + (M - 2.5) b); the Annex 5 K(2.5) = 0.0738534 already
    # holds the (1 - 1.5 b)^-1 factor, so K(5) = 0.0738534 x (1 + 2.5 x 0.137486) = 0.099238
    k = capital_requirement([0.01], [0.45], [5.0], None, CapitalConfig())
    assert k[0] == pytest.approx(0.099238, abs=1e-6)


def test_in_default_flag_gives_k_0_whatever_the_model_pd() -> None:
    # in_default true at a model PD of 1% (< 1): foundation treatment, K = 0 (not 0.0739);
    # an unknown flag (None) is not a default
    k = capital_requirement(
        [0.01, 0.01, 0.01], [0.45] * 3, [2.5] * 3, None, CapitalConfig(), [True, False, None]
    )
    assert k[0] == 0.0
    assert k[1] == pytest.approx(0.0738534, abs=1e-6) and k[2] == pytest.approx(k[1])


def test_zero_turnover_is_a_real_zero_bounded_to_the_5m_floor() -> None:
    # annual_turnover 0 is not unknown: S = max(0, 5) = EUR 5m, the full SME adjustment
    # (Annex 5 RW 72.40% at PD 1%, LGD 45%, M 2.5)
    cap = regulatory_capital(
        pd.Series([0.01]),
        pd.Series([0.45]),
        pd.Series([1000.0]),
        pd.Series([2.5]),
        pd.Series([0.0]),
        CapitalConfig(),
    )
    assert cap[0] == pytest.approx(0.7240 / 12.5 * 1000.0, rel=1e-4)
