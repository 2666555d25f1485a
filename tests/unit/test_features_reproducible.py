"""Same data, same features: bit for bit, even when a table spans many DuckDB row groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from predict.features.build import build_features
from tests.support.tables import random_tables


def _noisy_book(seed: int, n_clients: int, revenue_rows: int) -> dict[str, pd.DataFrame]:
    """A random book whose revenue is resampled to ``revenue_rows`` rows with amounts whose
    float sums depend on the order and grouping they are added in."""
    tables = random_tables(seed=seed, n_clients=n_clients)
    rng = np.random.default_rng(seed)
    revenue = tables["revenue"].sample(n=revenue_rows, replace=True, random_state=seed)
    revenue = revenue.reset_index(drop=True)
    revenue["amount"] = rng.lognormal(8.0, 2.0, len(revenue)) * rng.choice(
        [-1.0, 1.0], len(revenue), p=[0.05, 0.95]
    )
    return {**tables, "revenue": revenue}


def test_features_are_bit_identical_run_to_run_on_a_table_large_enough_to_go_parallel() -> None:
    # ~300k revenue rows: more than 2 DuckDB row groups of 122,880
    tables = _noisy_book(7, 40, 300_000)
    dates = [dt.date(2021, 12, 31), dt.date(2022, 6, 30)]
    first = build_features(tables, dates)
    for _ in range(2):
        pd.testing.assert_frame_equal(build_features(tables, dates), first, check_exact=True)


def test_a_date_built_alone_equals_its_rows_built_with_other_dates() -> None:
    # the scoring date alone, the scoring date with its previous month end, and the features
    # stage's many dates: the same bits for each snapshot (every month is its own bucket).
    # Amounts whose float sums depend on how they are grouped: with buckets ending at the
    # as-of months and window starts, the revenue windows differed in their last bits.
    tables = _noisy_book(11, 60, 40_000)
    dates = [dt.date(2021, 11, 30), dt.date(2021, 12, 31), dt.date(2022, 3, 31),
             dt.date(2022, 8, 31)]  # fmt: skip
    together = build_features(tables, dates)
    sums = [c for c in together.columns if c.startswith("revenue_")]
    assert together[sums].notna().any().all()  # the windows hold money at these dates
    for subset in ([dates[1]], [dates[0], dates[1]], [dates[3]]):
        alone = build_features(tables, subset).reset_index(drop=True)
        rows = together[together["as_of"].isin(pd.to_datetime(subset))].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, rows, check_exact=True)
