"""Labels per the contract: worked by hand on the tiny book, censoring, absent tables, and
checked against the synthetic generator's independent reference implementation."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

from predict.contract.spec import DEFAULT_EVENT_KINDS
from predict.features.labels import (
    LABEL_COLUMNS,
    LabelConfig,
    build_labels,
    label_availability,
)
from tests.support.tables import tiny_tables

D = dt.date
H6 = LabelConfig(horizon_months=6, data_end=D(2023, 6, 30))  # nothing censored


def at(frame: pd.DataFrame, client: str, day: dt.date) -> pd.Series:
    rows = frame[(frame["client_id"] == client) & (frame["as_of"] == pd.Timestamp(day))]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture(scope="module")
def labels() -> pd.DataFrame:
    dates = [D(2021, 6, 30), D(2022, 3, 31), D(2022, 6, 30), D(2022, 8, 31), D(2022, 12, 31)]
    return build_labels(tiny_tables(), dates, H6)


def test_frame_shape_and_dtypes(labels: pd.DataFrame) -> None:
    assert list(labels.columns) == ["client_id", "as_of", *LABEL_COLUMNS]
    assert all(labels[c].dtype == "float64" for c in LABEL_COLUMNS)
    assert labels["as_of"].dtype == "datetime64[s]" and labels["client_id"].dtype == "str"
    assert not labels.duplicated(["client_id", "as_of"]).any()


def test_default_label_by_hand(labels: pd.DataFrame) -> None:
    # c2: 60 dpd at most until 2022-09, then 90 dpd and a default event at 2022-10-31.
    assert at(labels, "c2", D(2022, 3, 31))["label_default"] == 0  # window to 2022-09-30
    assert at(labels, "c2", D(2022, 6, 30))["label_default"] == 1
    # Already in default at t: build_labels gives the label, apply_populations takes it out
    # (tests/unit/test_default_status.py).
    assert at(labels, "c2", D(2022, 12, 31))["label_default"] == 0
    assert at(labels, "c1", D(2022, 6, 30))["label_default"] == 0


def test_default_by_arrears_alone_and_by_event_alone() -> None:
    tables = tiny_tables()
    no_events = {k: v for k, v in tables.items() if k != "credit_events"}
    by_dpd = build_labels(no_events, [D(2022, 6, 30)], H6)
    assert at(by_dpd, "c2", D(2022, 6, 30))["label_default"] == 1  # 90 dpd at 2022-10-31
    bal = tables["facility_balances"]
    tables["facility_balances"] = bal.assign(days_past_due=bal["days_past_due"].clip(upper=60))
    by_event = build_labels(tables, [D(2022, 6, 30)], H6)
    assert at(by_event, "c2", D(2022, 6, 30))["label_default"] == 1  # the default event


def test_churn_label_by_hand(labels: pd.DataFrame) -> None:
    assert np.isnan(at(labels, "c2", D(2021, 6, 30))["label_churn"])  # not active yet
    assert at(labels, "c1", D(2022, 6, 30))["label_churn"] == 0  # loan still open at t+H
    assert np.isnan(at(labels, "c2", D(2022, 6, 30))["label_churn"])  # defaults in October
    tables = tiny_tables()
    fac = tables["facilities"]
    fac.loc[fac["facility_id"] == "f3", "closed_date"] = pd.Timestamp("2022-10-31")
    closed = build_labels(tables, [D(2022, 8, 31), D(2022, 9, 30)], H6)
    assert np.isnan(at(closed, "c2", D(2022, 8, 31))["label_churn"])  # default in October
    tables["credit_events"] = tables["credit_events"].iloc[:2]  # no default event
    bal = tables["facility_balances"]
    tables["facility_balances"] = bal.assign(days_past_due=bal["days_past_due"].clip(upper=60))
    closed = build_labels(tables, [D(2022, 8, 31), D(2022, 9, 30)], H6)
    assert at(closed, "c2", D(2022, 8, 31))["label_churn"] == 0  # revenue 2022-09-20 in window
    assert at(closed, "c2", D(2022, 9, 30))["label_churn"] == 1  # nothing Oct 22-Mar 23


def test_churn_by_revenue_alone_without_facilities() -> None:
    tiny = tiny_tables()
    tables = {"clients": tiny["clients"], "revenue": tiny["revenue"]}
    frame = build_labels(tables, [D(2022, 3, 31), D(2022, 9, 30), D(2023, 3, 31)], H6)
    assert at(frame, "c2", D(2022, 3, 31))["label_churn"] == 0  # revenue 2022-09-20
    assert at(frame, "c2", D(2022, 9, 30))["label_churn"] == 1  # none Oct 22-Mar 23
    assert np.isnan(at(frame, "c2", D(2023, 3, 31))["label_churn"])  # not active at t
    assert frame["label_default"].isna().all()


def test_contribution_label_by_hand(labels: pd.DataFrame) -> None:
    # c1: (2021-06-30, 2021-12-31]: 6 x 500 interest + fees in September and December.
    assert at(labels, "c1", D(2021, 6, 30))["label_contribution"] == 3200
    assert at(labels, "c2", D(2022, 6, 30))["label_contribution"] == 2400  # Jul-Sep
    assert at(labels, "c2", D(2022, 8, 31))["label_contribution"] == 800  # September
    assert at(labels, "c2", D(2022, 12, 31))["label_contribution"] == 0


def test_censored_snapshots_have_no_labels(caplog: pytest.LogCaptureFixture) -> None:
    config = LabelConfig(horizon_months=6, data_end=D(2022, 12, 31))
    with caplog.at_level(logging.INFO, logger="predict.features.labels"):
        frame = build_labels(tiny_tables(), [D(2022, 6, 30), D(2022, 7, 31)], config)
    assert frame.loc[frame["as_of"] == "2022-07-31", list(LABEL_COLUMNS)].isna().all().all()
    assert frame.loc[frame["as_of"] == "2022-06-30", "label_contribution"].notna().all()
    assert any("1 of 2 as-of dates censored" in r.getMessage() for r in caplog.records)
    assert any("2 rows have no labels" in r.getMessage() for r in caplog.records)


def test_targets_without_their_tables_are_skipped_not_faked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = {"clients": tiny_tables()["clients"]}
    assert label_availability(tables) == {
        "churn": "needs facilities or revenue, absent from the input",
        "default": (
            "needs facilities, with credit_events or facility_balances, absent from the input"
        ),
        "contribution": "needs revenue, absent from the input",
    }
    with caplog.at_level(logging.WARNING, logger="predict.features.labels"):
        frame = build_labels(tables, [D(2022, 6, 30)], H6)
    assert len(frame) == 2 and frame[list(LABEL_COLUMNS)].isna().all().all()
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 3


def test_labels_equal_the_generators_reference_implementation() -> None:
    synthetic = pytest.importorskip("predict.synthetic")
    from predict.features.snapshots import add_months, data_end

    book = synthetic.generate_portfolio(synthetic.GenerateConfig(n_clients=150, truth_paths=0))
    tables = book.tables
    dates = [add_months(D(2020, 12, 31), k) for k in range(0, 61, 5)]
    ours = build_labels(tables, dates, LabelConfig())
    window = synthetic.OutcomeWindow(horizon_months=12, inactivity_months=6)
    ref = synthetic.realised_outcomes(tables, dates, window, data_end=data_end(tables))
    merged = ours.merge(ref, on=["client_id", "as_of"], how="outer", validate="1:1")
    assert len(merged) == len(ours) == len(ref)
    # The reference gives each target on its model's population (default: exposure and never
    # defaulted, the generator's clients never cure; churn: active, not in default, no default
    # in the horizon); ours before apply_populations gives default to every client: compared
    # where the reference defines it.
    merged.loc[merged["default"].isna(), "label_default"] = np.nan
    # The reference never lets a client out of default; ours does after the probation (a
    # cure): churn of a client with a trigger on or before t is compared only where the
    # reference defines it.
    events = tables["credit_events"]
    balances = tables["facility_balances"].merge(tables["facilities"], on="facility_id")
    triggers = pd.concat(
        [
            events.loc[events["kind"].isin(DEFAULT_EVENT_KINDS), ["client_id", "date"]],
            balances.loc[balances["days_past_due"] >= 90, ["client_id", "month_end"]].set_axis(
                ["client_id", "date"], axis=1
            ),
        ]
    )
    first = pd.to_datetime(triggers.groupby("client_id")["date"].min())
    defaulted_before = pd.to_datetime(merged["client_id"].map(first)) <= merged["as_of"]
    cured = defaulted_before & merged["churn"].isna() & merged["label_churn"].notna()
    assert cured.sum() < 0.01 * merged["label_churn"].notna().sum()
    merged.loc[cured, "label_churn"] = np.nan
    for target in ("churn", "default", "contribution"):
        a, b = merged[f"label_{target}"].to_numpy(), merged[target].to_numpy()
        same = (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=1e-6)
        assert same.all(), f"{target}: {(~same).sum()} rows differ"
        assert (~np.isnan(a)).sum() > 100


def test_the_label_trigger_and_the_feature_trigger_agree() -> None:
    # The default trigger is written twice: the labels' (def_ev / def_dpd, trigger in
    # (t, t+H]) and the features' (status_ctes, ever_defaulted: a trigger on or before t).
    # Same triggers <=> for a client never defaulted at t, label_default(t) equals
    # ever_defaulted(t + H).
    synthetic = pytest.importorskip("predict.synthetic")
    from predict.features.build import build_features
    from predict.features.snapshots import add_months, data_end

    book = synthetic.generate_portfolio(synthetic.GenerateConfig(n_clients=150, truth_paths=0))
    dates = [add_months(D(2020, 12, 31), k) for k in range(0, 61, 12)]
    features = build_features(book.tables, dates, names=["ever_defaulted"])
    config = LabelConfig(horizon_months=12, data_end=data_end(book.tables))
    labels = build_labels(book.tables, dates, config)
    now = features.merge(labels, on=["client_id", "as_of"], validate="1:1")
    later = features.assign(as_of=features["as_of"] - pd.DateOffset(months=12))
    later["as_of"] = (later["as_of"] + pd.offsets.MonthEnd(0)).astype("datetime64[s]")
    both = now.merge(later, on=["client_id", "as_of"], suffixes=("", "_h"), validate="1:1")
    compared = both[both["ever_defaulted"].eq(0) & both["label_default"].notna()]
    assert len(compared) > 100 and compared["label_default"].eq(1).sum() > 5
    assert (compared["label_default"] == compared["ever_defaulted_h"]).all()
