"""Exposure, expected loss, value, actions and the early-warning list."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.config import from_dict
from predict.scoring.capital import CapitalConfig, capital_requirement
from predict.scoring.relationship import (
    ActionRule,
    Condition,
    RelationshipConfig,
    add_exposure,
    add_previous,
    add_value,
    assign_actions,
    client_exposure,
    facility_exposure,
)
from predict.scoring.value import add_one_year_pd

AS_OF = pd.Timestamp("2024-06-30")
CFG = RelationshipConfig(
    ccf={"revolving_credit": 0.75, "guarantee": 0.5},
    lgd={"revolving_credit": 0.4, "term_loan": 0.2},
    default_ccf=1.0,
    default_lgd=0.45,
)


def _d(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


def _tables() -> dict[str, pd.DataFrame]:
    facilities = pd.DataFrame(
        {
            "facility_id": ["f1", "f2", "f3", "f4", "f5", "f6"],
            "client_id": ["a", "a", "b", "b", "c", "d"],
            "product": [
                "revolving_credit",
                "term_loan",
                "guarantee",
                "revolving_credit",
                "term_loan",
                "term_loan",
            ],
            "limit_amount": [100.0, 50.0, 40.0, 10.0, 80.0, 30.0],
            "origination_date": [
                _d("2020-01-01"),
                _d("2021-01-01"),
                _d("2022-01-01"),
                _d("2024-08-01"),
                _d("2019-01-01"),
                _d("2024-06-15"),
            ],
            "closed_date": [pd.NaT, pd.NaT, pd.NaT, pd.NaT, _d("2024-05-15"), pd.NaT],
        }
    ).astype({"facility_id": "str", "client_id": "str", "product": "str"})
    balances = pd.DataFrame(
        {
            "facility_id": ["f1", "f1", "f1", "f2", "f5", "f3"],
            "month_end": [
                _d("2024-04-30"),
                _d("2024-05-31"),
                _d("2024-07-31"),
                _d("2024-06-30"),
                _d("2024-04-30"),
                _d("2024-06-30"),
            ],
            "outstanding": [10.0, 60.0, 99.0, 50.0, 80.0, 0.0],
            "days_past_due": [0, 0, 0, 0, 0, 0],
        }
    ).astype({"facility_id": "str"})
    return {"facilities": facilities, "facility_balances": balances}


def test_facility_exposure_is_point_in_time() -> None:
    t = _tables()
    fac = facility_exposure(t["facilities"], t["facility_balances"], AS_OF, CFG).set_index(
        "facility_id"
    )
    assert sorted(fac.index) == ["f1", "f2", "f3", "f6"]  # f4 not yet originated, f5 closed
    assert fac.loc["f1", "drawn"] == 60.0  # the July balance is after the as-of date
    assert fac.loc["f1", "ead"] == pytest.approx(60.0 + 0.75 * 40.0)
    assert fac.loc["f2", "ead"] == pytest.approx(50.0)
    assert fac.loc["f3", "ead"] == pytest.approx(0.5 * 40.0)  # undrawn guarantee, CCF 50%
    # f6 has no balance yet: counted as fully drawn (conservative)
    assert fac.loc["f6", "drawn"] == 30.0 and fac.loc["f6", "ead"] == 30.0


def test_a_line_closed_on_paper_still_owing_at_the_month_end_is_exposure() -> None:
    # f5 (c's term loan, 80) closed on 2024-05-15; its April balance is history, but a
    # balance of 25 at the as-of month end is still owed: EAD 25, nothing undrawn. The
    # features' has_exposure counts it, so the PD's population and the EAD's agree.
    t = _tables()
    late = pd.DataFrame(
        {"facility_id": ["f5"], "month_end": [AS_OF], "outstanding": [25.0], "days_past_due": [0]}
    ).astype({"facility_id": "str"})
    t["facility_balances"] = pd.concat([t["facility_balances"], late], ignore_index=True)
    fac = facility_exposure(t["facilities"], t["facility_balances"], AS_OF, CFG)
    row = fac.set_index("facility_id").loc["f5"]
    assert (row["drawn"], row["undrawn"], row["ead"]) == (25.0, 0.0, 25.0)
    assert row["undrawn_source"] == "closed" and row["lgd"] == 0.2  # term loan
    c = client_exposure(t, AS_OF, CFG).set_index("client_id").loc["c"]
    assert (c["ead"], c["drawn"], c["utilisation"]) == (25.0, 25.0, 1.0)
    assert c["open_facilities"] == 0 and c["limit_total"] == 0.0  # the line is closed
    # without a balance at the month end (only April's) f5 stays out, as before
    assert "f5" not in set(facility_exposure(*_tables().values(), AS_OF, CFG)["facility_id"])


def test_products_without_their_own_parameters_are_named_in_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t = _tables()
    t["facilities"].loc[1, "product"] = "overdraft"  # f2, open
    with caplog.at_level("WARNING", logger="predict.scoring.relationship"):
        fac = facility_exposure(t["facilities"], t["facility_balances"], AS_OF, CFG)
    said = {r.getMessage().split(" take")[0].split(".")[-1]: r.getMessage() for r in caplog.records}
    lgd = "take the default lgd 0.45: overdraft (1 facilities), guarantee (1 facilities)"
    assert said["lgd"].endswith(lgd)
    assert said["ccf"].startswith("products not in score.relationship.ccf take the default ccf 1.0")
    # f2 and f6, the one term loan in the exposure (no CCF of its own in CFG): f5, closed
    # and owing nothing at the as-of, is not counted
    assert "overdraft (1 facilities)" in said["ccf"] and "term_loan (1 facilities)" in said["ccf"]
    assert fac.set_index("facility_id").loc["f2", "lgd"] == 0.45


def test_client_exposure_weights_lgd_by_ead() -> None:
    exp = client_exposure(_tables(), AS_OF, CFG)
    assert exp is not None
    a = exp.set_index("client_id").loc["a"]
    assert a["ead"] == pytest.approx(90.0 + 50.0)
    assert a["lgd"] == pytest.approx((0.4 * 90.0 + 0.2 * 50.0) / 140.0)
    assert a["utilisation"] == pytest.approx(110.0 / 150.0)
    assert "c" not in set(exp["client_id"])  # no open facility


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(["a", "b", "c", "d"], dtype="str"),
            "as_of": AS_OF,
            "segment": pd.Series(["sme"] * 4, dtype="str"),
            "branch_id": pd.Series(["x"] * 4, dtype="str"),
            "default_probability": [0.10, 0.005, 0.02, np.nan],
            "churn_probability": [0.5, 0.05, 0.3, 0.2],
            "expected_contribution": [20.0, 5.0, 1.0, 3.0],
            # the rules' PD (H = 12: the PD itself; scoring/value.py add_one_year_pd)
            "one_year_default_probability": [0.10, 0.005, 0.02, np.nan],
        }
    )


def test_expected_loss_and_value() -> None:
    scores = add_value(add_exposure(_scores(), client_exposure(_tables(), AS_OF, CFG), CFG))
    by = scores.set_index("client_id")
    lgd_a = (0.4 * 90.0 + 0.2 * 50.0) / 140.0
    assert by.loc["a", "expected_loss"] == pytest.approx(0.10 * lgd_a * 140.0)
    assert by.loc["a", "relationship_value"] == pytest.approx(20.0 - 0.10 * lgd_a * 140.0)
    # no open facility: zero exposure, zero loss, value = contribution
    assert by.loc["c", "ead"] == 0.0 and by.loc["c", "expected_loss"] == 0.0
    assert by.loc["c", "relationship_value"] == 1.0
    assert by.loc["d", "ead"] == 30.0
    assert np.isnan(by.loc["d", "expected_loss"])  # unknown PD stays unknown


def test_no_facilities_table_means_unknown_exposure() -> None:
    scores = add_value(add_exposure(_scores(), client_exposure({}, AS_OF, CFG), CFG))
    assert scores["ead"].isna().all() and scores["expected_loss"].isna().all()


def test_actions_follow_ordered_rules_from_data() -> None:
    scores = add_value(add_exposure(_scores(), client_exposure(_tables(), AS_OF, CFG), CFG))
    out = assign_actions(scores, CFG).set_index("client_id")
    assert out.loc["a", "action"] == "watch"  # PD 10% (also churn-prone: first rule wins)
    assert out.loc["b", "action"] == "grow"  # low PD, low churn, utilisation 0 (< 0.7)
    assert out.loc["c", "action"] == "maintain"
    assert out.loc["d", "action"] == "maintain"  # NaN PD fires no rule
    assert out.loc["a", "action_rule"] == "watch: one_year_default_probability >= 0.05"


def test_a_rule_column_without_any_value_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    # the default model not applied (score.unsupported: missing): no PD anywhere, so no
    # client reaching the watch rule can be decided (it may be a watch): no action, and the
    # run says so
    scores = add_value(add_exposure(_scores(), client_exposure(_tables(), AS_OF, CFG), CFG))
    scores["default_probability"] = scores["one_year_default_probability"] = np.nan
    scores["default_model_version"] = pd.Series(pd.NA, index=scores.index, dtype="str")
    with caplog.at_level("WARNING"):
        out = assign_actions(scores, CFG).set_index("client_id")
    said = [r.getMessage() for r in caplog.records if "holds no value" in r.getMessage()]
    assert len(said) == 1 and "'one_year_default_probability'" in said[0] and "watch" in said[0]
    assert "cannot be decided" in said[0]
    assert out["action"].isna().all()
    why = "none decided: one_year_default_probability unknown (the watch rule)"
    assert (out["action_rule"] == why).all()


def test_a_prospect_without_a_potential_reference_gets_no_guessed_action() -> None:
    # convert on potential_value > 0, else none: without the reference in the model folder
    # the value is unknown (either may be right); for an active client it does not apply
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(["p", "a"], dtype="str"),
            "lifecycle_stage": pd.Series(["potential", "active"], dtype="str"),
            "potential_value": [np.nan, np.nan],
            "potential_not_scored_reason": pd.Series(
                ["no potential reference",
                 "stage active: potential value is for prospects and new clients"], dtype="str"),
        }
    )  # fmt: skip
    cfg = _three_valued([("convert", [("potential_value", ">", 0.0)])])
    out = assign_actions(scores, cfg).set_index("client_id")
    assert pd.isna(out.loc["p", "action"])
    assert out.loc["p", "action_rule"] == "none decided: potential_value unknown (the convert rule)"
    assert out.loc["a", "action"] == "maintain"


def _three_valued(rules: list[tuple[str, list[tuple[str, str, float]]]]) -> RelationshipConfig:
    return RelationshipConfig(
        rules=tuple(ActionRule(a, tuple(Condition(*c) for c in when)) for a, when in rules),
        default_action="maintain",
    )


def test_an_unknown_score_decides_no_action_unless_every_outcome_is_the_same() -> None:
    """Rules on a value the model could not score are undecidable, not false: the client
    gets the action only when every way the unknown value could fall gives it."""
    unknown = "default status unknown: credit_events and facility_balances absent"
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(list("abcde"), dtype="str"),
            "default_probability": [np.nan, np.nan, np.nan, np.nan, 0.001],
            "default_not_scored_reason": pd.Series(
                [unknown, "no exposure at the as-of date (no open facility, no drawn balance)",
                 unknown, unknown, None], dtype="str"),
            "default_model_version": pd.Series(["1"] * 5, dtype="str"),
            "churn_probability": [0.05, 0.05, 0.6, 0.05, 0.05],
        }
    )  # fmt: skip
    cfg = _three_valued(
        [
            ("watch", [("default_probability", ">=", 0.05)]),
            ("watch", [("churn_probability", ">=", 0.5)]),
            ("grow", [("default_probability", "<", 0.01), ("churn_probability", "<", 0.1)]),
        ]
    )
    out = assign_actions(scores, cfg).set_index("client_id")
    # a: PD unknown, churn low: watch, grow or maintain depending on the PD -> none
    assert pd.isna(out.loc["a", "action"])
    assert out.loc["a", "action_rule"] == (
        "none decided: default_probability unknown (the watch rule)"
    )
    # b: no PD because no exposure (does not apply): the PD rules are false -> maintain
    assert out.loc["b", "action"] == "maintain"
    # c: PD unknown, but churn 60% fires the second watch rule: watch whatever the PD
    assert out.loc["c", "action"] == "watch"
    assert out.loc["c", "action_rule"] == "watch: churn_probability >= 0.5"
    # e: PD known and low: the rules as ever
    assert out.loc["e", "action"] == "grow"
    # d is a alone: the same answer (a client's action depends only on its row)
    alone = assign_actions(scores.iloc[[3]], cfg)
    assert pd.isna(alone["action"].iloc[0])
    # without the unknown rule before it, the default decides: maintain for a, same for d
    only_grow = _three_valued([("grow", [("default_probability", "<", 0.01)])])
    again = assign_actions(scores, only_grow).set_index("client_id")
    assert pd.isna(again.loc["a", "action"])  # grow or maintain
    same = _three_valued([("maintain", [("default_probability", "<", 0.01)])])
    assert assign_actions(scores, same).set_index("client_id").loc["a", "action"] == "maintain"


def test_rules_come_from_params() -> None:
    cfg = from_dict(
        RelationshipConfig,
        {
            "rules": [
                {
                    "action": "retain",
                    "when": [
                        {"column": "expected_contribution", "op": ">=", "value": 15.0},
                        {"column": "churn_probability", "op": ">", "value": 0.1},
                    ],
                },
                {"action": "focus", "when": [{"column": "segment", "op": "==", "value": "sme"}]},
            ],
            "default_action": "none",
        },
    )
    out = assign_actions(_scores(), cfg).set_index("client_id")
    assert out["action"].to_dict() == {"a": "retain", "b": "focus", "c": "focus", "d": "focus"}


def test_the_shipped_rules_give_a_client_alone_the_action_it_gets_within_the_book() -> None:
    """The retain rule tests the frozen percentile, not a quantile of the scored input: each
    client's action is the same scored alone as within the book (the old portfolio quantile
    moved client a from retain to maintain when scored alone)."""
    cfg = RelationshipConfig()
    scores = _scores().assign(
        default_probability=[0.02, 0.02, 0.02, 0.02],
        one_year_default_probability=[0.02, 0.02, 0.02, 0.02],
        churn_probability=[0.3, 0.3, 0.05, 0.3],
        expected_contribution_percentile=[80.0, 60.0, 90.0, np.nan],
        lifecycle_stage=pd.Series(["active"] * 4, dtype="str"),
    )
    book = assign_actions(scores, cfg).set_index("client_id")
    assert book["action"].to_dict() == {
        "a": "retain",  # top quarter of its segment, churn 30%
        "b": "maintain",  # percentile 60
        "c": "maintain",  # churn 5%
        "d": "maintain",  # unknown percentile fires nothing
    }
    assert book.loc["a", "action_rule"] == (
        "retain: expected_contribution_percentile >= 75 and churn_probability >= 0.2"
    )
    for i in range(len(scores)):
        alone = assign_actions(scores.iloc[[i]], cfg).set_index("client_id")
        client = scores["client_id"].iloc[i]
        assert alone.loc[client, "action"] == book.loc[client, "action"], client


def test_rule_on_absent_column_never_fires_and_bad_rules_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = RelationshipConfig(
        rules=(ActionRule("watch", (Condition("default_probability_change", ">", 0.0),)),)
    )
    out = assign_actions(_scores(), cfg)
    assert (out["action"] == "maintain").all()
    assert "default_probability_change" in caplog.text
    with pytest.raises(ValueError, match="unknown column 'pd'"):
        Condition("pd", ">", 0.1)
    with pytest.raises(ValueError, match="unknown operator"):
        Condition("default_probability", "=>", 0.1)
    with pytest.raises(ValueError, match="give a value"):
        Condition("default_probability", ">")
    # A portfolio quantile made a client's action depend on who else was scored: refused,
    # from params too, saying what to use instead.
    with pytest.raises(ValueError, match="expected_contribution_percentile"):
        Condition("default_probability", ">", 0.1, quantile=0.5)
    with pytest.raises(ValueError, match=r"quantile 0\.75"):
        from_dict(
            RelationshipConfig,
            {
                "rules": [
                    {
                        "action": "retain",
                        "when": [{"column": "relationship_value", "op": ">=", "quantile": 0.75}],
                    }
                ]
            },
        )


def test_previous_scoring_and_changes() -> None:
    previous = pd.DataFrame(
        {
            "client_id": ["a", "b", "c"],
            "as_of": pd.Timestamp("2024-05-31"),
            "default_probability": [0.07, 0.004, 0.01],
            "churn_probability": [0.1, 0.05, 0.35],
            "expected_contribution": [18.0, 5.0, 1.0],
            "lifecycle_stage": pd.Series(["new", "active", "dormant"], dtype="str"),
        }
    )
    scores = add_previous(_scores(), previous)
    by = scores.set_index("client_id")
    assert by.loc["a", "default_probability_change"] == pytest.approx(0.03)
    assert by.loc["a", "contribution_change"] == pytest.approx(2.0)
    assert np.isnan(by.loc["d", "previous_churn_probability"])
    # the stage at the previous scoring rides along (the report's stage flows); d was not there
    assert by.loc["a", "previous_lifecycle_stage"] == "new"
    assert by.loc["c", "previous_lifecycle_stage"] == "dormant"
    assert pd.isna(by.loc["d", "previous_lifecycle_stage"])
    assert "lifecycle_stage_change" not in scores


def test_stage_rules_workout_win_back_convert_and_no_watch_for_the_gone() -> None:
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(list("pqrstuv"), dtype="str"),
            "lifecycle_stage": pd.Series(
                ["in_default", "churned", "churned", "potential", "potential", "active", "churned"],
                dtype="str",
            ),
            # PD 50%, churn 90% everywhere: the watch / retain rules would fire on all
            "default_probability": [1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            "churn_probability": [np.nan, np.nan, np.nan, np.nan, np.nan, 0.9, np.nan],
            "expected_contribution": [0.0, 10.0, 0.0, 5.0, 0.0, 10.0, 10.0],
            "relationship_value": [0.0, 10.0, 0.0, 5.0, 0.0, 10.0, 10.0],
            "utilisation": [0.1] * 7,
            "ever_defaulted": [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        }
    )
    scores = add_one_year_pd(scores, 12)
    out = assign_actions(scores, RelationshipConfig()).set_index("client_id")["action"]
    assert out.to_dict() == {
        "p": "workout",
        "q": "win_back",  # churned, revenue expected
        "r": "none",
        "s": "convert",  # prospect, revenue expected
        "t": "none",
        "u": "watch",  # an active client: the usual rules
        "v": "none",  # left through a default (and a recovery): no win-back
    }


@pytest.mark.parametrize(
    ("horizon", "pd_h", "expected"),
    [
        # one-year PD 1 - (1 - PD_H)^(12/H): the watch rule's 5% is a one-year level
        (12, 0.05, "watch"),  # 5% a year
        (24, 0.05, "maintain"),  # 1 - 0.95^0.5 = 2.53% a year: grade 7, not watched
        (24, 0.0975, "watch"),  # 1 - 0.9025^0.5 = 5.0% a year
        (6, 0.03, "watch"),  # 1 - 0.97^2 = 5.91% a year: grade 8, watched
        (6, 0.02, "maintain"),  # 1 - 0.98^2 = 3.96% a year
    ],
)
def test_the_watch_rule_reads_the_one_year_pd_whatever_the_horizon(
    horizon: int, pd_h: float, expected: str
) -> None:
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(["a"], dtype="str"),
            "lifecycle_stage": pd.Series(["active"], dtype="str"),
            "default_probability": [pd_h],
            "churn_probability": [0.15],
            "utilisation": [0.5],
        }
    )
    scored = add_one_year_pd(scores, horizon)
    assert scored["one_year_default_probability"].iloc[0] == pytest.approx(
        1 - (1 - pd_h) ** (12 / horizon)
    )
    assert assign_actions(scored, RelationshipConfig())["action"].iloc[0] == expected


def test_the_one_year_pd_change_compares_one_year_pds() -> None:
    scores = pd.DataFrame({"client_id": ["a"], "default_probability": [0.0975],
                           "previous_default_probability": [0.05]})  # fmt: skip
    out = add_one_year_pd(scores, 24)
    # 5.0% - 2.53% a year (the PD over 24 months rose 4.75 points)
    expected = (1 - 0.9025**0.5) - (1 - 0.95**0.5)
    assert out["one_year_default_probability_change"].iloc[0] == pytest.approx(expected)
    same = add_one_year_pd(scores, 12)  # H = 12: the PD and its change, to the bit
    assert same["one_year_default_probability"].iloc[0] == 0.0975
    assert same["one_year_default_probability_change"].iloc[0] == 0.0975 - 0.05


def test_no_exposure_means_zero_expected_loss_whatever_the_pd() -> None:
    scores = _scores().assign(default_probability=[0.10, 0.005, np.nan, np.nan])
    out = add_value(add_exposure(scores, client_exposure(_tables(), AS_OF, CFG), CFG))
    by = out.set_index("client_id")
    assert by.loc["c", "ead"] == 0 and by.loc["c", "expected_loss"] == 0  # no PD, no exposure
    assert np.isnan(by.loc["d", "expected_loss"])  # exposure 30, PD unknown: EL unknown


def _one_facility(product: str, available: float | None) -> dict[str, pd.DataFrame]:
    """A facility of limit 100, half repaid/drawn (outstanding 50) at the as-of date."""
    facilities = pd.DataFrame(
        {
            "facility_id": ["f"],
            "client_id": ["a"],
            "product": [product],
            "limit_amount": [100.0],
            "origination_date": [_d("2020-01-01")],
            "closed_date": [pd.NaT],
        }
    ).astype({"facility_id": "str", "client_id": "str", "product": "str"})
    balances = pd.DataFrame(
        {
            "facility_id": ["f", "f"],
            "month_end": [_d("2024-05-31"), AS_OF],
            "outstanding": [60.0, 50.0],
            "days_past_due": [0, 0],
            "available": [40.0, available],
        }
    ).astype({"facility_id": "str", "available": "float64"})
    return {"facilities": facilities, "facility_balances": balances}


RULE_CFG = RelationshipConfig(
    ccf={"term_loan": 0.75, "revolving_credit": 0.75},
    undrawn={"term_loan": "none", "revolving_credit": "headroom"},
)


def test_amortising_loan_ead_is_the_outstanding() -> None:
    # half-repaid term loan: no undrawn commitment, EAD 50 (not 50 + 0.75 x 50 = 87.5)
    exp = client_exposure(_one_facility("term_loan", None), AS_OF, RULE_CFG)
    assert exp is not None
    a = exp.iloc[0]
    assert (a["undrawn"], a["ead"], a["utilisation"]) == (0.0, 50.0, 1.0)


def test_revolver_ead_adds_ccf_on_headroom() -> None:
    exp = client_exposure(_one_facility("revolving_credit", None), AS_OF, RULE_CFG)
    assert exp is not None
    a = exp.iloc[0]
    assert a["undrawn"] == 50.0 and a["ead"] == pytest.approx(50.0 + 0.75 * 50.0)
    assert a["utilisation"] == pytest.approx(0.5)


def test_available_column_wins_over_the_product_rule() -> None:
    # the bank says 20 can still be drawn on the term loan (e.g. a delayed-draw tranche)
    fac = facility_exposure(
        *_one_facility("term_loan", 20.0).values(), as_of=AS_OF, config=RULE_CFG
    ).iloc[0]
    assert fac["undrawn"] == 20.0 and fac["ead"] == pytest.approx(50.0 + 0.75 * 20.0)
    assert fac["undrawn_source"] == "available"
    # an unknown product without the column: full headroom (conservative default)
    tables = _one_facility("mystery", None)
    tables["facility_balances"] = tables["facility_balances"].drop(columns="available")
    fac = facility_exposure(*tables.values(), as_of=AS_OF, config=RULE_CFG).iloc[0]
    assert fac["undrawn"] == 50.0 and fac["undrawn_source"] == "rule:headroom"
    with pytest.raises(ValueError, match="use one of"):
        RelationshipConfig(undrawn={"term_loan": "zero"})


def _three_facilities() -> dict[str, pd.DataFrame]:
    """Client a: term loans of EAD 100 maturing in 1 year, 300 in 3 years, 50 undated."""
    # 2024-06-30 -> 2025-06-30: 365 days; -> 2027-06-30: 365 + 365 + 365 = 1095 days
    facilities = pd.DataFrame(
        {
            "facility_id": ["f1", "f2", "f3"],
            "client_id": ["a", "a", "a"],
            "product": ["term_loan"] * 3,
            "limit_amount": [100.0, 300.0, 50.0],
            "origination_date": [_d("2020-01-01")] * 3,
            "closed_date": [pd.NaT] * 3,
            "maturity_date": [_d("2025-06-30"), _d("2027-06-30"), pd.NaT],
        }
    ).astype({"facility_id": "str", "client_id": "str", "product": "str"})
    balances = pd.DataFrame(
        {
            "facility_id": ["f1", "f2", "f3"],
            "month_end": [AS_OF] * 3,
            "outstanding": [100.0, 300.0, 50.0],
            "days_past_due": [0, 0, 0],
        }
    ).astype({"facility_id": "str"})
    return {"facilities": facilities, "facility_balances": balances}


def test_maturity_is_ead_weighted_over_dated_facilities() -> None:
    # in years of 365.25 days: M = (100 x 365 + 300 x 1095) / (100 + 300) / 365.25
    # = 912.5 / 365.25 = 2.498289 (about 1 and 3 years -> 2.5); the undated f3 (EAD 50) is in
    # neither the numerator nor the weights (with it: 365000 / 450 / 365.25 = 2.22)
    exp = client_exposure(_three_facilities(), AS_OF, RULE_CFG)
    assert exp is not None
    a = exp.iloc[0]
    assert a["ead"] == 450.0 and a["maturity_years"] == pytest.approx(2.498289, abs=1e-6)


def test_capital_maturity_bounds_each_facility_so_capital_adds_up_over_facilities() -> None:
    # the capital formula's M is bounded per exposure (CRE32.47): f1 (365 days, 0.9993 y) counts
    # as 1, f2 2.9979 y, the undated f3 the default 2.5; weighted by LGD x EAD (one LGD here):
    # (100 x 1 + 300 x 1095/365.25 + 50 x 2.5) / 450 = 2.498630
    exp = client_exposure(_three_facilities(), AS_OF, RULE_CFG)
    assert exp is not None
    a = exp.iloc[0]
    assert a["capital_maturity_years"] == pytest.approx(
        (100 * 1.0 + 300 * 1095 / 365.25 + 50 * 2.5) / 450, abs=1e-9
    )
    # with lines of different LGDs and a guarantee maturing in 3 days: the client's K x EAD
    # at that M is the sum of its facilities' K x EAD each at its own bounded M (K is linear
    # in LGD and M at one PD); the EAD-weighted mean of unbounded dated maturities (0.85 y,
    # bounded up to 1) gives about 11% less capital
    tables = _three_facilities()
    fac = tables["facilities"]
    fac["product"] = ["term_loan", "guarantee", "term_loan"]
    fac["maturity_date"] = [_d("2027-11-22"), _d("2024-07-03"), pd.NaT]
    config = RelationshipConfig(lgd={"term_loan": 0.45, "guarantee": 0.3})
    row = client_exposure(tables, AS_OF, config).iloc[0]
    each = facility_exposure(
        tables["facilities"], tables["facility_balances"], AS_OF, config
    ).set_index("facility_id")
    capital = CapitalConfig()
    months = each["maturity_years"].fillna(2.5)
    per_facility = sum(
        capital_requirement(np.array([0.02]), np.array([each.loc[f, "lgd"]]),
                            np.array([months[f]]), None, capital)[0] * each.loc[f, "ead"]
        for f in each.index
    )  # fmt: skip
    client = capital_requirement(
        np.array([0.02]),
        np.array([row["lgd"]]),
        np.array([row["capital_maturity_years"]]),
        None,
        capital,
    )[0]
    assert client * row["ead"] == pytest.approx(per_facility, rel=1e-12)
    unbounded = capital_requirement(
        np.array([0.02]), np.array([row["lgd"]]), np.array([row["maturity_years"]]), None, capital
    )[0]
    assert unbounded * row["ead"] < 0.95 * per_facility


def test_no_balances_table_leaves_drawn_unknown_and_ead_at_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # facilities but no facility_balances table: drawn / undrawn / utilisation unknown (NaN),
    # not an invented 'fully drawn' 1.0; EAD = limit 100 + 300 + 50 = 450 (conservative)
    tables = _three_facilities()
    del tables["facility_balances"]
    with caplog.at_level("WARNING"):
        exp = client_exposure(tables, AS_OF, RULE_CFG)
    assert "no facility_balances table" in caplog.text
    assert exp is not None
    a = exp.iloc[0]
    assert a["ead"] == 450.0 and a["limit_total"] == 450.0
    assert np.isnan(a["drawn"]) and np.isnan(a["undrawn"]) and np.isnan(a["utilisation"])
    # joined onto the scores the unknown stays unknown; a client with no facility gets 0
    scores = pd.DataFrame({"client_id": pd.Series(["a", "z"], dtype="str")})
    out = add_exposure(scores, exp, RULE_CFG).set_index("client_id")
    assert np.isnan(out.loc["a", "drawn"]) and out.loc["z", "drawn"] == 0.0


def test_a_client_without_exposure_has_no_lgd_and_zero_expected_loss() -> None:
    """c's only facility closed before the as-of date: EAD 0, LGD missing (not the default
    45%), expected loss 0 whatever the PD."""
    exposure = client_exposure(_tables(), AS_OF, CFG)
    scores = add_value(add_exposure(_scores(), exposure, CFG)).set_index("client_id")
    assert scores.loc["c", "ead"] == 0.0 and np.isnan(scores.loc["c", "lgd"])
    assert scores.loc["c", "expected_loss"] == 0.0
    assert scores.loc["a", "lgd"] == pytest.approx((0.4 * 90.0 + 0.2 * 50.0) / 140.0)


def test_an_issued_guarantee_is_not_a_funded_balance() -> None:
    """funded_drawn leaves out products the bank does not fund (score.relationship.funded):
    b's guarantee drawn 30 counts in drawn and EAD, not in the funding cost."""
    from predict.scoring.value import ValueConfig, add_risk_adjusted_value

    tables = _tables()
    balances = tables["facility_balances"].copy()
    balances.loc[balances["facility_id"].eq("f3"), "outstanding"] = 30.0
    tables["facility_balances"] = balances
    cfg = RelationshipConfig(
        ccf=CFG.ccf, lgd=CFG.lgd, default_ccf=1.0, default_lgd=0.45, funded={"guarantee": False}
    )
    exposure = client_exposure(tables, AS_OF, cfg).set_index("client_id")
    assert exposure.loc["b", "drawn"] == 30.0 and exposure.loc["b", "funded_drawn"] == 0.0
    assert exposure.loc["b", "ead"] == pytest.approx(30.0 + 0.5 * 10.0)  # headroom 10 at CCF 0.5
    assert exposure.loc["a", "funded_drawn"] == exposure.loc["a", "drawn"] == 110.0
    scores = add_value(add_exposure(_scores(), exposure.reset_index(), cfg))
    scores["lifecycle_stage"] = pd.Series("active", index=scores.index, dtype="str")
    value = ValueConfig(funding_rate=0.03)
    out = add_risk_adjusted_value(
        scores, tables, AS_OF.date(), 12, value, inactivity_months=6
    ).set_index("client_id")
    assert out.loc["b", "funding_cost"] == 0.0
    # a's churn 0.5: with H 12 and I 6 a churner holds its lines for a quarter of H on average
    assert out.loc["a", "funding_cost"] == pytest.approx(0.03 * 110.0 * (1 - 0.5 * 0.75))
    # Funded by default: the same book with no funded setting charges the guarantee.
    plain = client_exposure(tables, AS_OF, CFG).set_index("client_id")
    assert plain.loc["b", "funded_drawn"] == 30.0
    with pytest.raises(ValueError, match="use true or false"):
        RelationshipConfig(funded={"guarantee": "no"})  # type: ignore[dict-item]


def test_exposure_uses_the_terms_in_force_at_the_as_of_date() -> None:
    """With facility_terms, the limit and maturity at t are those of the latest terms row
    dated on or before t: a limit cut and a maturity extension after t change nothing at t
    (the same exposure as from the tables cut at t), and are used once in force."""
    tables = _tables()
    terms = pd.DataFrame(
        {
            "facility_id": ["f1", "f1", "f1"],
            "effective_date": [_d("2020-01-01"), _d("2024-03-31"), _d("2024-09-30")],
            "limit_amount": [100.0, 120.0, 70.0],  # raised before t, cut after t
            "interest_rate": [0.05, np.nan, 0.07],
            "maturity_date": [_d("2026-01-01"), pd.NaT, _d("2030-01-01")],  # extended after t
        }
    ).astype({"facility_id": "str"})
    tables["facility_terms"] = terms
    at_t = facility_exposure(
        tables["facilities"], tables["facility_balances"], AS_OF, CFG, terms
    ).set_index("facility_id")
    assert at_t.loc["f1", "limit_amount"] == 120.0  # the raise in force, not the later cut
    years = (_d("2026-01-01") - AS_OF).days / 365.25  # the maturity in force at t
    assert at_t.loc["f1", "maturity_years"] == pytest.approx(years)
    cut = dict(tables, facility_terms=terms[terms["effective_date"] <= AS_OF])
    pd.testing.assert_frame_equal(
        client_exposure(tables, AS_OF, CFG), client_exposure(cut, AS_OF, CFG)
    )
    later = pd.Timestamp("2024-10-31")
    after = facility_exposure(
        tables["facilities"], tables["facility_balances"], later, CFG, terms
    ).set_index("facility_id")
    assert after.loc["f1", "limit_amount"] == 70.0
    assert after.loc["f1", "maturity_years"] == pytest.approx(
        (_d("2030-01-01") - later).days / 365.25
    )
