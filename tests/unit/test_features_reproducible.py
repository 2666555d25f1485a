"""Same data, same features: bit for bit, even when a table spans many DuckDB row groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from predict.features.build import build_features
from tests.support.tables import random_tables


def test_features_are_bit_identical_run_to_run_on_a_table_large_enough_to_go_parallel() -> None:
    tables = random_tables(seed=7, n_clients=40)
    revenue = tables["revenue"]
    rng = np.random.default_rng(7)
    # ~300k revenue rows (> 2 DuckDB row groups of 122,880) with amounts whose float sums
    # depend on the order they are added in.
    big = revenue.sample(n=300_000, replace=True, random_state=7).reset_index(drop=True)
    big["amount"] = rng.lognormal(8.0, 2.0, len(big)) * rng.choice(
        [-1.0, 1.0], len(big), p=[0.05, 0.95]
    )
    tables = {**tables, "revenue": big}
    dates = [dt.date(2021, 12, 31), dt.date(2022, 6, 30)]
    first = build_features(tables, dates)
    for _ in range(2):
        pd.testing.assert_frame_equal(build_features(tables, dates), first, check_exact=True)
