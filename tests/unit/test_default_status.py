"""Default status with cure (feature ``in_default``) and the models' populations, by hand.

One client per rule, on a monthly book from 2021-01 to 2024-12 (probation 3 months, 12 after
a distressed restructuring, as in params): the trigger months and the month each client
cures are counted by hand in the comments.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from predict.features.build import FeaturesConfig, build_features
from predict.features.labels import (
    DefaultDefinition,
    LabelConfig,
    apply_populations,
    build_labels,
)
from predict.features.snapshots import add_months
from predict.scoring.config import ScoreConfig
from predict.scoring.scope import apply_scope_rules
from tests.support.tables import contract_tables

D = dt.date
FIRST, LAST = D(2021, 1, 31), D(2024, 12, 31)
MONTHS = [add_months(FIRST, k) for k in range(48)]


def _book() -> dict[str, pd.DataFrame]:
    """Clients and their facility's days past due (0 unless given) and credit events."""
    cases: dict[str, tuple[dict[str, int], list[tuple[str, str]], str | None]] = {
        # 90 dpd in March 2022 only: in default March-June 2022, cured from July.
        "dpd": ({"2022-03-31": 90, "2022-04-30": 30}, [], None),
        # a default event in May 2022, never past due: in default May-August 2022.
        "event": ({}, [("2022-05-10", "default")], None),
        # a write-off in 2021: never cures.
        "written_off": ({"2021-06-30": 120}, [("2021-07-15", "write_off")], "2021-07-31"),
        # 90 dpd in March 2022, restructured in April (in probation: distressed): in default
        # until April 2023 (12 months after April 2022), cured from May 2023.
        "restructured": ({"2022-03-31": 95}, [("2022-04-20", "restructuring")], None),
        # restructured while 30 dpd (distressed) in January 2022, then 90 dpd in June 2022:
        # 12 months of probation after June, cured from July 2023.
        "restructured_first": (
            {"2021-12-31": 30, "2022-06-30": 90},
            [("2022-01-10", "restructuring")],
            None,
        ),
        # restructured while performing in January 2022, 90 dpd in June 2022: 3 months.
        "performing_restructuring": ({"2022-06-30": 90}, [("2022-01-10", "restructuring")], None),
        # 90 dpd in March 2022, cured from July 2022; restructured in June 2023 with 30 dpd
        # (distressed, but 15 months after the trigger, after March + 3 = June 2022): not this
        # default episode and no new trigger, so it stays cured.
        "restructured_after_cure": (
            {"2022-03-31": 90, "2023-06-30": 30},
            [("2023-06-10", "restructuring")],
            None,
        ),
        # never in default; its facility closes in June 2022 (no exposure after).
        "closed": ({}, [], "2022-06-30"),
    }
    clients, facilities, balances, events = [], [], [], []
    for cid, (dpd, evs, closed) in cases.items():
        clients.append((cid, "2020-06-01", "sme", "A", "n", "b1", "rm1", 1e6))
        facilities.append(
            (f"f_{cid}", cid, "term_loan", 1e5, 0.05, "2020-06-01", "2030-01-01", closed)
        )
        end = pd.Timestamp(closed) if closed else pd.Timestamp(LAST)
        for m in MONTHS:
            if pd.Timestamp(m) <= end:
                balances.append((f"f_{cid}", m.isoformat(), 5e4, dpd.get(m.isoformat(), 0)))
        events += [(cid, None, day, kind) for day, kind in evs]
    revenue = [(c[0], m.isoformat(), 100.0, "interest") for c in clients for m in MONTHS]
    return contract_tables(clients, facilities, balances, revenue, [], events)


@pytest.fixture(scope="module")
def status() -> pd.DataFrame:
    frame = build_features(_book(), MONTHS[:40], names=["in_default", "lifecycle_stage"])
    return frame.pivot(index="as_of", columns="client_id", values="in_default")


def months_in_default(status: pd.DataFrame, client: str) -> list[str]:
    flags = status[client]
    return [f"{d:%Y-%m}" for d in flags.index[flags == 1]]


def span(first: str, last: str) -> list[str]:
    days = pd.date_range(f"{first}-01", f"{last}-01", freq="MS")
    return [f"{d:%Y-%m}" for d in days]


# The months each client is in default (first, last; None: never), from the comments of
# _book: trigger month L, then L + 3 (probation) or max(L, R) + 12 (distressed restructuring).
SPANS: dict[str, tuple[str, str] | None] = {
    "dpd": ("2022-03", "2022-06"),  # L = March 2022, + 3
    "event": ("2022-05", "2022-08"),  # the event's month holds, then the probation
    "written_off": ("2021-06", "2024-04"),  # never cures (to the last date built)
    "restructured": ("2022-03", "2023-04"),  # R = April 2022, + 12
    "restructured_first": ("2022-06", "2023-06"),  # R before L = June 2022: L + 12
    "performing_restructuring": ("2022-06", "2022-09"),  # not distressed: L + 3
    "restructured_after_cure": ("2022-03", "2022-06"),  # R after L + 3: stays cured
    "closed": None,
}


@pytest.mark.parametrize(("client", "expected"), SPANS.items(), ids=list(SPANS))
def test_months_in_default_per_client(
    status: pd.DataFrame, client: str, expected: tuple[str, str] | None
) -> None:
    assert months_in_default(status, client) == (span(*expected) if expected else [])


def test_the_probation_params_move_the_cure() -> None:
    config = FeaturesConfig(default=DefaultDefinition(probation_months=0))
    frame = build_features(_book(), MONTHS[:24], config, names=["in_default"])
    flags = frame.pivot(index="as_of", columns="client_id", values="in_default")
    assert months_in_default(flags, "dpd") == ["2022-03"]  # the trigger month only
    with pytest.raises(ValueError, match="probation_months"):
        DefaultDefinition(probation_months=13)
    with pytest.raises(ValueError, match="write_off_kinds"):
        DefaultDefinition(write_off_kinds=("charge_off",))


def test_stage_in_default_only_while_in_default() -> None:
    frame = build_features(_book(), [D(2022, 6, 30), D(2022, 7, 31)], names=["lifecycle_stage"])
    stage = frame.set_index(["client_id", frame["as_of"].dt.strftime("%Y-%m")])["lifecycle_stage"]
    assert stage["dpd", "2022-06"] == "in_default"  # in probation: still in default
    assert stage["dpd", "2022-07"] == "active"  # cured
    assert stage["written_off", "2022-07"] == "in_default"  # not churned: a forced exit


def _populations(dates: list[dt.date]) -> pd.DataFrame:
    tables = _book()
    features = build_features(tables, dates, names=["in_default", "has_exposure"])
    labels = build_labels(tables, dates, LabelConfig(horizon_months=6, data_end=LAST))
    frame = features.merge(labels, on=["client_id", "as_of"], validate="1:1")
    apply_populations(frame)
    return frame.set_index(["client_id", frame["as_of"].dt.strftime("%Y-%m")])


def test_clients_in_default_are_in_neither_model_and_cured_ones_are_back() -> None:
    frame = _populations([D(2021, 12, 31), D(2022, 6, 30), D(2022, 7, 31)])
    in_probation, cured = frame.loc[("dpd", "2022-06")], frame.loc[("dpd", "2022-07")]
    assert np.isnan(in_probation["label_default"]) and np.isnan(in_probation["label_churn"])
    assert cured["label_default"] == 0 and cured["label_churn"] == 0
    before = frame.loc[("dpd", "2021-12")]  # 90 dpd in March 2022, within 6 months
    assert before["label_default"] == 1
    assert np.isnan(before["label_churn"])  # a default in the horizon: no voluntary exit


def test_no_exposure_no_default_label_and_an_exit_through_default_is_not_churn() -> None:
    frame = _populations([D(2021, 3, 31), D(2022, 12, 31)])
    closed = frame.loc[("closed", "2022-12")]  # facility closed in June: no exposure
    assert closed["has_exposure"] == 0 and np.isnan(closed["label_default"])
    assert closed["label_churn"] == 0  # still active by revenue, and scored for churn
    exit_by_default = frame.loc[("written_off", "2021-03")]  # 120 dpd June, closed July
    assert exit_by_default["label_default"] == 1 and np.isnan(exit_by_default["label_churn"])


def test_scope_rules_cured_scored_in_default_set_no_exposure_missing() -> None:
    features = pd.DataFrame(
        {
            "client_id": ["cured", "defaulted", "no_exposure", "prospect"],
            "ever_defaulted": [1.0, 1.0, 0.0, 0.0],
            "in_default": [0.0, 1.0, 0.0, 0.0],
            "has_exposure": [1.0, 1.0, 0.0, 0.0],
            "lifecycle_stage": ["active", "in_default", "active", "potential"],
        }
    )
    scores = pd.DataFrame(
        {
            "client_id": features["client_id"],
            "default_probability": [0.2, 0.3, 0.01, 0.02],
            "default_reasons": "model",
            "churn_probability": [0.1, 0.2, 0.3, 0.4],
            "churn_reasons": "model",
        }
    )
    out = apply_scope_rules(scores, features, ScoreConfig()).set_index("client_id")
    assert out.loc["cured", "default_probability"] == 0.2  # the model's score
    assert out.loc["cured", "churn_probability"] == 0.1
    assert pd.isna(out.loc["cured", "default_not_scored_reason"])
    assert out.loc["defaulted", "default_probability"] == 1.0
    assert np.isnan(out.loc["defaulted", "churn_probability"])
    assert out.loc["defaulted", "default_not_scored_reason"] == "in default at the as-of date"
    assert np.isnan(out.loc["no_exposure", "default_probability"])
    assert out.loc["no_exposure", "default_not_scored_reason"].startswith("no exposure")
    assert out.loc["no_exposure", "churn_probability"] == 0.3  # active: churn is scored
    assert np.isnan(out.loc["prospect", "churn_probability"])
    assert out.loc["prospect", "churn_not_scored_reason"] == "not active at the as-of date"
