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
    # first activity, open facility now, revenue in 6 months, revenue in 3 months -> stage
    (None, False, False, False, "potential"),
    (D(2020, 1, 5), False, False, False, "churned"),
    (D(2020, 1, 5), False, True, False, "dormant"),
    (D(2023, 7, 1), True, False, False, "new"),  # July 2023: within the last 12 months
    (D(2023, 6, 30), True, False, False, "active"),  # June 2023: 13 months ago
    (D(2023, 7, 1), False, True, False, "dormant"),  # dormant before new
    (D(2020, 1, 5), False, True, True, "active"),
]


@pytest.mark.parametrize(("first", "open_now", "rev6", "rev3", "stage"), CASES)
def test_python_and_sql_rules_agree(
    first: dt.date | None, open_now: bool, rev6: bool, rev3: bool, stage: str
) -> None:
    assert classify(first, T, open_now, rev6, rev3, CONFIG) == stage
    first_sql = "NULL::DATE" if first is None else f"DATE '{first.isoformat()}'"
    sql = stage_sql(
        first_sql, str(T.year * 12 + T.month), str(open_now), str(rev6), str(rev3), CONFIG
    )
    assert duckdb.connect().execute(f"SELECT {sql}").fetchall() == [(stage,)]
    assert stage in STAGES


def test_dormant_must_be_shorter_than_inactivity() -> None:
    CONFIG.check(inactivity_months=6)
    with pytest.raises(ValueError, match="dormant_months"):
        CONFIG.check(inactivity_months=3)
    with pytest.raises(ValueError, match=">= 1"):
        LifecycleConfig(new_months=0)
