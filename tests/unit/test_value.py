"""Risk-adjusted value: funding, cost to serve, capital, economic profit, RAROC, CaR."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from predict.config import from_dict
from predict.scoring.value import ValueConfig, active_share, add_risk_adjusted_value

AS_OF = dt.date(2024, 6, 30)
CFG = ValueConfig(funding_rate=0.02, cost_to_serve={"sme": 10.0}, hurdle_rate=0.10)
K_1PCT = 0.0738534  # Basel IRB K at PD 1%, LGD 45%, M 2.5y (Basel II Annex 5: RW 92.32%)
# K at the one-year PD 1 - 0.99^2 = 0.0199 (a 1% PD over H = 6 months, annualised), LGD 45%,
# M 2.5y, by hand from the formula in predict.scoring.capital:
#   w = (1 - e^-0.995) / (1 - e^-50) = 0.630277; R = 0.12 w + 0.24 (1 - w) = 0.164367
#   b = (0.11852 - 0.05478 ln 0.0199)^2 = (0.11852 + 0.05478 x 3.917036)^2 = 0.110952
#   z = (G(0.0199) + R^0.5 G(0.999)) / (1 - R)^0.5
#     = (-2.055819 + 0.405422 x 3.090232) / 0.914130 = -0.878400; N(z) = 0.189863
#   K = (0.45 x 0.189863 - 0.0199 x 0.45) / (1 - 1.5 b) = 0.076484 / 0.833571 = 0.0917541
K_6M_1PCT = 0.0917541


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
            "capital_maturity_years": [2.5, np.nan],
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
    out = add_risk_adjusted_value(
        _scores(), _tables(), AS_OF, 12, CFG, inactivity_months=6
    ).set_index("client_id")
    a = out.loc["a"]
    # churn 0.2; a churner leaves within the first H - I = 6 of H = 12 months, half-way on
    # average: it is with the bank (12 - 6) / (2 x 12) = 0.25 of H, so the client is expected
    # for 1 - 0.2 x 0.75 = 0.85 of H: expected drawn = 800 x 0.85 = 680; funding = 2% x 680
    # = 13.6; cost to serve = 10 x 0.85 = 8.5
    assert a["funding_cost"] == pytest.approx(13.6)
    assert a["cost_to_serve"] == pytest.approx(8.5)
    assert a["capital"] == pytest.approx(K_1PCT * 1000.0, rel=1e-6)
    # net = 100 - 4.5 - 13.6 - 8.5 = 73.4; charge = 10% x 73.8534
    assert a["capital_charge"] == pytest.approx(0.1 * K_1PCT * 1000.0, rel=1e-6)
    assert a["economic_profit"] == pytest.approx(73.4 - 7.38534, abs=1e-4)
    assert a["raroc"] == pytest.approx(73.4 / 73.8534, rel=1e-5)
    # run rate = revenue dated in (2023-06-30, 2024-06-30] = 50 + 30; CaR = 0.2 x 80
    assert a["run_rate_revenue"] == 80.0 and a["contribution_at_risk"] == pytest.approx(16.0)


def test_a_prospect_has_no_capital_no_cost_and_no_value() -> None:
    out = add_risk_adjusted_value(_scores(), _tables(), AS_OF, 12, CFG, inactivity_months=6)
    b = out.set_index("client_id").loc["b"]
    assert b["capital"] == 0.0 and b["cost_to_serve"] == 0.0 and b["funding_cost"] == 0.0
    assert np.isnan(b["raroc"]) and np.isnan(b["economic_profit"])  # no contribution, no PD
    assert b["run_rate_revenue"] == 0.0 and np.isnan(b["contribution_at_risk"])


def test_shorter_horizon_scales_flows_and_raroc_stays_annual() -> None:
    a = (
        add_risk_adjusted_value(_scores(), _tables(), AS_OF, 6, CFG, inactivity_months=3)
        .set_index("client_id")
        .loc["a"]
    )
    # H = 6, I = 3: with the bank (6 - 3) / 12 = 0.25 of H if it churns, 0.85 expected:
    # funding 2% x 6/12 x 680 = 6.8, cost 10 x 6/12 x 0.85 = 4.25; net = 100 - 4.5 - 6.8
    # - 4.25 = 84.45 over half a year; the 6-month PD 1% is 1 - 0.99^2 = 1.99% a year:
    # capital 91.7541 (not K(1%) x 1000 = 73.85)
    assert a["capital"] == pytest.approx(K_6M_1PCT * 1000.0, rel=1e-5)
    # economic profit = 84.45 - 10% x 6/12 x 91.7541 = 79.8623; RAROC = 84.45 x 2 / 91.7541
    assert a["economic_profit"] == pytest.approx(79.8623, abs=1e-3)
    assert a["raroc"] == pytest.approx(1.840790, rel=1e-5)


def test_sme_turnover_comes_from_the_clients_table_in_turnover_units() -> None:
    # clients.annual_turnover 5e6 / turnover_unit 1e6 = EUR 5m: full SME adjustment, Basel II
    # Annex 5 RW 72.40% at PD 1%, LGD 45%, M 2.5 -> K = 0.7240 / 12.5 = 0.05792, capital 57.92;
    # client ids are matched as strings (1 in the clients table is "1" in the scores)
    clients = pd.DataFrame({"client_id": [2, 1], "annual_turnover": [9.9e9, 5.0e6]})
    scores = _scores().assign(client_id=pd.Series(["1", "2"], dtype="str"))
    out = add_risk_adjusted_value(scores, {"clients": clients}, AS_OF, 12, CFG, inactivity_months=6)
    assert out.loc[0, "capital"] == pytest.approx(57.92, abs=0.01)


def test_in_default_client_has_no_capital_whatever_its_model_pd() -> None:
    # in_default true with a model PD of 1% (< 1): K = 0, capital 0, RAROC undefined
    scores = _scores().assign(in_default=[True, False])
    a = (
        add_risk_adjusted_value(scores, {}, AS_OF, 12, CFG, inactivity_months=6)
        .set_index("client_id")
        .loc["a"]
    )
    assert a["capital"] == 0.0 and np.isnan(a["raroc"])


def test_unknown_drawn_leaves_funding_cost_missing_not_zero() -> None:
    # no facility_balances table: drawn unknown (NaN), so funding and economic profit too
    scores = _scores().assign(drawn=[np.nan, 0.0])
    a = (
        add_risk_adjusted_value(scores, {}, AS_OF, 12, CFG, inactivity_months=6)
        .set_index("client_id")
        .loc["a"]
    )
    assert np.isnan(a["funding_cost"]) and np.isnan(a["economic_profit"])


def test_no_revenue_table_means_unknown_contribution_at_risk() -> None:
    out = add_risk_adjusted_value(_scores(), {}, AS_OF, 12, CFG, inactivity_months=6)
    assert out["contribution_at_risk"].isna().all()


def test_value_params_are_read_and_checked() -> None:
    cfg = from_dict(ValueConfig, {"hurdle_rate": 0.12, "capital": {"pd_floor": 0.0003}})
    assert cfg.hurdle_rate == 0.12 and cfg.capital.pd_floor == 0.0003
    with pytest.raises(ValueError, match="rates must be"):
        ValueConfig(funding_rate=-0.01)


def test_a_churners_share_of_the_horizon_follows_the_churn_label() -> None:
    # inactive for the last I months of H: leaves within the first H - I, half-way on average
    assert active_share(12, 6) == 0.25 and active_share(12, 0) == 0.5
    assert active_share(24, 6) == pytest.approx(18 / 48)
    # I at or above H (H = 6 with the default I = 6): no activity anywhere in H, share 0;
    # this stopped the scoring of such a book before
    assert active_share(6, 6) == 0.0 and active_share(6, 9) == 0.0
    with pytest.raises(ValueError, match="must be >= 1"):
        active_share(0, 0)


def test_an_unknown_stage_leaves_the_cost_to_serve_unknown() -> None:
    # a stage masked as unknown (a table the models were trained with absent) may be a
    # churned client's, not served: its cost and so its economic profit are missing
    scores = _scores().assign(lifecycle_stage=pd.Series([None, "potential"], dtype="str"))
    a = add_risk_adjusted_value(scores, _tables(), AS_OF, 12, CFG, inactivity_months=6)
    a = a.set_index("client_id")
    assert np.isnan(a.loc["a", "cost_to_serve"]) and np.isnan(a.loc["a", "economic_profit"])
    assert a.loc["b", "cost_to_serve"] == 0.0
