"""Synthetic-book configs shared by the generator's tests (the books are their fixtures)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from predict.synthetic import GenerateConfig, OutcomeWindow

SMALL = GenerateConfig(
    seed=11,
    n_clients=1500,
    months=36,
    end_date=dt.date(2024, 12, 31),
    late_revenue_month=dt.date(2023, 5, 31),
    truth_paths=2,
    truth_step_months=12,
)
# Enough history and futures for the truth to be judged against what happened.
TRUTH = dataclasses.replace(
    SMALL, seed=5, n_clients=3000, months=48, truth_paths=8, truth_step_months=6
)
TINY = dataclasses.replace(SMALL, n_clients=250, months=15, truth_paths=2, truth_step_months=6)
WINDOW = OutcomeWindow(horizon_months=12, inactivity_months=6)
