"""The point-in-time rule, proved: features at t from the full history equal features at t
from the history as known at t, and nothing dated after t moves a feature at t.

"History as known at t" (``history_at`` in tests/support/tables.py): every row dated on
or before t, facilities originated on or before t with a closure after t not yet known
(closed_date set to null), balances at month ends on or before t.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predict.features.build import build_features
from predict.features.labels import LabelConfig, build_labels
from predict.features.snapshots import add_months, month_end
from tests.support.tables import contract_tables, history_at, random_tables

D = dt.date
Tables = dict[str, pd.DataFrame]


def assert_same_features(full: pd.DataFrame, cut: pd.DataFrame, as_of: dt.date) -> None:
    """The rows of ``full`` at ``as_of`` equal ``cut`` (floats up to summation order)."""
    at_t = full[full["as_of"] == pd.Timestamp(as_of)].reset_index(drop=True)
    assert len(at_t) == len(cut), f"{as_of}: {len(at_t)} rows from full, {len(cut)} from cut"
    pd.testing.assert_frame_equal(
        at_t, cut, check_exact=False, rtol=1e-9, atol=1e-6, obj=str(as_of)
    )


def check_point_in_time(tables: Tables, dates: list[dt.date]) -> pd.DataFrame:
    full = build_features(tables, dates)
    names = [c for c in full.columns if c not in ("client_id", "as_of")]
    for as_of in dates:
        cut = build_features(history_at(tables, as_of), [as_of], names=names)
        assert_same_features(full, cut, as_of)
    return full


def generated_book() -> Tables:
    """The synthetic generator's book when it is there, else the random contract-shaped book."""
    try:
        from predict.synthetic import GenerateConfig, generate_portfolio
    except ImportError:
        return random_tables(seed=11, n_clients=120, start="2020-01-01", months=72)
    return generate_portfolio(GenerateConfig(n_clients=150, truth_paths=0)).tables


def test_point_in_time_on_the_generated_book() -> None:
    tables = generated_book()
    # Month ends across the history: early (little history), leap February, the late-booked
    # revenue month of the generator, and the last month of data.
    dates = [D(2020, 1, 31), D(2020, 11, 30), D(2022, 3, 31), D(2023, 8, 31)]
    dates += [D(2024, 2, 29), D(2024, 3, 31), D(2024, 4, 30), D(2025, 12, 31)]
    full = check_point_in_time(tables, dates)
    assert full["as_of"].nunique() == len(dates) and len(full) > 500
    assert full["months_in_arrears_12m"].gt(0).any() and full["complaints_12m"].gt(0).any()


def test_point_in_time_on_a_random_book_at_every_month_end() -> None:
    tables = random_tables(seed=3, n_clients=30, start="2019-01-01", months=36)
    dates = [add_months(D(2019, 1, 31), k) for k in range(1, 36, 4)]
    full = check_point_in_time(tables, dates)
    closed_later = tables["facilities"]["closed_date"].notna()
    assert closed_later.any() and full["facilities_closed_12m"].gt(0).any()
    # The default status is among the features proved: clients in default, cured ones (a
    # default before, none in force) and a stage of its own.
    assert full["in_default"].eq(1).any() and full["has_exposure"].eq(0).any()
    assert (full["ever_defaulted"].eq(1) & full["in_default"].eq(0)).any()
    assert full["lifecycle_stage"].eq("in_default").any()


DAYS = st.dates(D(2019, 1, 1), D(2021, 12, 31))


@st.composite
def small_histories(draw: st.DrawFn) -> tuple[Tables, list[dt.date]]:
    """1-3 clients with random facilities, balances, revenue, interactions and events."""
    n = draw(st.integers(1, 3))
    ids = [f"c{i}" for i in range(n)]
    clients = [(c, draw(DAYS).isoformat(), "sme", "A", "n", "b", "r", 1e6) for c in ids]
    facilities, balances = [], []
    for k in range(draw(st.integers(0, 4))):
        opened = draw(DAYS)
        days_open = draw(st.none() | st.integers(0, 900))
        closed = None if days_open is None else opened + dt.timedelta(days_open)
        closed = closed if closed is None or closed <= D(2021, 12, 31) else None
        fid = f"f{k}"
        facilities.append(
            (
                fid,
                draw(st.sampled_from(ids)),
                draw(st.sampled_from(["loan", "line"])),
                float(draw(st.integers(0, 3))) * 1e5,
                0.05,
                opened.isoformat(),
                (opened + dt.timedelta(draw(st.integers(0, 2000)))).isoformat(),
                None if closed is None else closed.isoformat(),
            )
        )
        m = month_end(opened)
        while m <= month_end(closed or D(2021, 12, 31)):
            dpd = draw(st.sampled_from([0, 0, 10, 40, 95]))
            balances.append((fid, m.isoformat(), float(draw(st.integers(0, 3))) * 5e4, dpd))
            m = add_months(m, 1)
    revenue = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ids),
                DAYS.map(str),
                st.floats(-500, 2000, allow_nan=False),
                st.sampled_from(["interest", "fee", "fx", None]),
            ),
            max_size=15,
        )
    )
    kinds = st.sampled_from(["rm_meeting", "call", "complaint", "survey", "service_request"])
    interactions = draw(
        st.lists(
            st.tuples(
                st.sampled_from(ids),
                DAYS.map(str),
                kinds,
                st.just("portal"),
                st.none() | st.integers(1, 5),
                st.none() | st.integers(0, 10),
            ),
            max_size=12,
        )
    )
    event_kinds = st.sampled_from(
        ["watchlist", "restructuring", "covenant_breach", "default", "write_off"]
    )
    events = draw(
        st.lists(st.tuples(st.sampled_from(ids), st.none(), DAYS.map(str), event_kinds), max_size=4)
    )
    tables = contract_tables(clients, facilities, balances, revenue, interactions, events)
    month_ends = st.integers(0, 35).map(lambda k: add_months(D(2019, 1, 31), k))
    dates = sorted(set(draw(st.lists(month_ends, min_size=1, max_size=2))))
    return tables, dates


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=small_histories())
def test_point_in_time_property_on_small_random_histories(
    history: tuple[Tables, list[dt.date]],
) -> None:
    tables, dates = history
    check_point_in_time(tables, dates)


def _rewrite_the_future(tables: Tables, t: pd.Timestamp, seed: int) -> Tables:
    """Every row dated after t changed (and new ones added); rows up to t untouched."""
    rng = np.random.default_rng(seed)
    out = {k: v.copy() for k, v in tables.items()}
    rev = out["revenue"]
    later = rev["date"] > t
    rev.loc[later, "amount"] = rev.loc[later, "amount"] * -3 + 7
    rev.loc[later, "source"] = "fee"
    extra = rev[later].assign(date=rev.loc[later, "date"] + pd.Timedelta(days=1))
    out["revenue"] = pd.concat([rev, extra], ignore_index=True)
    itx = out["interactions"]
    itx.loc[itx["date"] > t, ["kind"]] = "complaint"
    itx.loc[itx["date"] > t, "csat"] = 1
    ev = out["credit_events"]
    ev.loc[ev["date"] > t, "kind"] = "default"
    bal = out["facility_balances"]
    bal.loc[bal["month_end"] > t, "days_past_due"] = 120
    bal.loc[bal["month_end"] > t, "outstanding"] = 1e7
    fac = out["facilities"]
    later_fac = fac["origination_date"] > t
    fac.loc[later_fac, "limit_amount"] = 9e9
    closes_later = fac["closed_date"] > t
    shift = pd.to_timedelta(rng.integers(1, 400, len(fac)), unit="D")
    fac.loc[closes_later, "closed_date"] = (t + shift)[closes_later.to_numpy()]
    cl = out["clients"]
    cl.loc[cl["onboarding_date"] > t, "segment"] = "changed"
    return out


@pytest.mark.parametrize("as_of", [D(2020, 6, 30), D(2021, 8, 31)])
def test_rows_after_t_change_no_feature_at_t_but_do_change_labels(as_of: dt.date) -> None:
    tables = random_tables(seed=5, n_clients=40, start="2019-01-01", months=48)
    future = _rewrite_the_future(tables, pd.Timestamp(as_of), seed=1)
    assert_same_features(build_features(tables, [as_of]), build_features(future, [as_of]), as_of)
    config = LabelConfig(horizon_months=12)
    before = build_labels(tables, [as_of], config)
    after = build_labels(future, [as_of], config)
    assert not before.equals(after)  # the rewrite reaches the label window
