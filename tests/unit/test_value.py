"""Risk-adjusted value: funding, cost to serve, capital, economic profit, RAROC, CaR."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from predict.config import from_dict
from predict.scoring.value import ValueConfig, add_risk_adjusted_value

AS_OF = dt.date(2024, 6, 30)
CFG = ValueConfig(funding_rate=0.02, cost_to_serve={"sme": 10.0}, hurdle_rate=0.10)
K_1PCT = 0.0738534  # Basel IRB K at PD 1%, LGD 45%, M 2.5y (Basel II Annex 5: RW 92.32%)


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(["a", "b"], dtype="str"),
            "segment": pd.Series(["sme", "sme"], dtype="str"),
            "lifecycle_stage": pd.Series(["active", "potential"], dtype="str"),
            "churn_probability": [0.2, np.nan],
            "default_probability": [0.01, np.nan],
            "expected_contribution": [100.0, np.nan],
            "lgd": [0.45, 0.45],
            "ead": [1000.0, 0.0],
            "drawn": [800.0, 0.0],
            "maturity_years": [2.5, np.nan],
            "expected_loss": [0.01 * 0.45 * 1000.0, np.nan],
        }
    )


def _tables() -> dict[str, pd.DataFrame]:
    revenue = pd.DataFrame(
        {
            "client_id": ["a", "a", "a", "a"],
            "date": pd.to_datetime(["2023-06-30", "2023-07-01", "2024-06-30", "2024-07-01"]),
            "amount": [1000.0, 50.0, 30.0, 999.0],
        }
    )
    return {"revenue": revenue}


def test_raroc_and_economic_profit_on_a_hand_computed_client() -> None:
    out = add_risk_adjusted_value(_scores(), _tables(), AS_OF, 12, CFG).set_index("client_id")
    a = out.loc["a"]
    # expected drawn = 800 x (1 - 0.2/2) = 720; funding = 2% x 720 = 14.4; cost = 10
    assert a["funding_cost"] == pytest.approx(14.4)
    assert a["cost_to_serve"] == pytest.approx(10.0)
    assert a["capital"] == pytest.approx(K_1PCT * 1000.0, rel=1e-6)
    # net = 100 - 4.5 - 14.4 - 10 = 71.1; charge = 10% x 73.8534
    assert a["capital_charge"] == pytest.approx(0.1 * K_1PCT * 1000.0, rel=1e-6)
    assert a["economic_profit"] == pytest.approx(71.1 - 7.38534, abs=1e-4)
    assert a["raroc"] == pytest.approx(71.1 / 73.8534, rel=1e-5)
    # run rate = revenue dated in (2023-06-30, 2024-06-30] = 50 + 30; CaR = 0.2 x 80
    assert a["run_rate_revenue"] == 80.0 and a["contribution_at_risk"] == pytest.approx(16.0)


def test_a_prospect_has_no_capital_no_cost_and_no_value() -> None:
    out = add_risk_adjusted_value(_scores(), _tables(), AS_OF, 12, CFG)
    b = out.set_index("client_id").loc["b"]
    assert b["capital"] == 0.0 and b["cost_to_serve"] == 0.0 and b["funding_cost"] == 0.0
    assert np.isnan(b["raroc"]) and np.isnan(b["economic_profit"])  # no contribution, no PD
    assert b["run_rate_revenue"] == 0.0 and np.isnan(b["contribution_at_risk"])


def test_shorter_horizon_scales_flows_and_raroc_stays_annual() -> None:
    a = add_risk_adjusted_value(_scores(), _tables(), AS_OF, 6, CFG).set_index("client_id").loc["a"]
    # H = 6: funding 7.2, cost 5; net = 100 - 4.5 - 7.2 - 5 = 83.3 over half a year
    assert a["economic_profit"] == pytest.approx(83.3 - 0.05 * K_1PCT * 1000.0, abs=1e-4)
    assert a["raroc"] == pytest.approx(83.3 * 2 / (K_1PCT * 1000.0), rel=1e-5)


def test_no_revenue_table_means_unknown_contribution_at_risk() -> None:
    out = add_risk_adjusted_value(_scores(), {}, AS_OF, 12, CFG)
    assert out["contribution_at_risk"].isna().all()


def test_value_params_are_read_and_checked() -> None:
    cfg = from_dict(ValueConfig, {"hurdle_rate": 0.12, "capital": {"pd_floor": 0.0003}})
    assert cfg.hurdle_rate == 0.12 and cfg.capital.pd_floor == 0.0003
    with pytest.raises(ValueError, match="rates must be"):
        ValueConfig(funding_rate=-0.01)
