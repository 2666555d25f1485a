"""Lifecycle rules: each stage, their order, and the SQL giving the same answer."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from predict.features.lifecycle import STAGES, LifecycleConfig, classify, stage_sql

D = dt.date
CONFIG = LifecycleConfig(new_months=12, dormant_months=3)
T = D(2024, 6, 30)
CASES = [
    # in default, first activity, open facility now, revenue in 6 / 3 months -> stage
    (False, None, False, False, False, "potential"),
    (False, D(2020, 1, 5), False, False, False, "churned"),
    (False, D(2020, 1, 5), False, True, False, "dormant"),
    (False, D(2023, 7, 1), True, False, False, "new"),  # July 2023: within the last 12 months
    (False, D(2023, 6, 30), True, False, False, "active"),  # June 2023: 13 months ago
    (False, D(2023, 7, 1), False, True, False, "dormant"),  # dormant before new
    (False, D(2020, 1, 5), False, True, True, "active"),
    (True, D(2020, 1, 5), True, True, True, "in_default"),  # before every other stage
    (True, D(2020, 1, 5), False, False, False, "in_default"),  # exit through default
    (True, None, False, False, False, "in_default"),
    # status unknown (no credit_events, no facility_balances): never in_default
    (None, D(2020, 1, 5), True, True, True, "active"),
    (None, D(2020, 1, 5), False, False, False, "churned"),
]


@pytest.mark.parametrize(("in_default", "first", "open_now", "rev6", "rev3", "stage"), CASES)
def test_python_and_sql_rules_agree(
    in_default: bool | None,
    first: dt.date | None,
    open_now: bool,
    rev6: bool,
    rev3: bool,
    stage: str,
) -> None:
    assert classify(in_default, first, T, open_now, rev6, rev3, CONFIG) == stage
    first_sql = "NULL::DATE" if first is None else f"DATE '{first.isoformat()}'"
    month = str(T.year * 12 + T.month)
    status = "(NULL = 1)" if in_default is None else str(in_default)  # as build.py writes it
    sql = stage_sql(status, first_sql, month, str(open_now), str(rev6), str(rev3), CONFIG)
    assert duckdb.connect().execute(f"SELECT {sql}").fetchall() == [(stage,)]
    assert stage in STAGES


def test_dormant_must_be_shorter_than_inactivity() -> None:
    CONFIG.check(inactivity_months=6)
    with pytest.raises(ValueError, match="dormant_months"):
        CONFIG.check(inactivity_months=3)
    with pytest.raises(ValueError, match=">= 1"):
        LifecycleConfig(new_months=0)
