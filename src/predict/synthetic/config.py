"""Settings of the synthetic portfolio generator (the ``generate`` section of params.yaml)."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GenerateConfig:
    """How big, how long, how risky, and how the known truth is computed.

    ``end_date`` is the last month end of the data; ``months`` of monthly history end there.
    ``late_revenue_month`` is one month end whose interest is partly booked a few days late
    (in the next month); ``None`` turns that off. ``default_level`` and ``attrition_level``
    multiply the odds of a missed payment and of attrition (1.0 = the calibrated world).
    The truth is computed every ``truth_step_months`` back from ``end_date`` (as far back as
    ``truth_min_history_months`` after the start) with ``truth_paths`` simulated futures per
    client; ``truth_paths: 0`` skips it.
    """

    seed: int = 20251231
    n_clients: int = 20_000
    months: int = 72
    end_date: dt.date = dt.date(2025, 12, 31)
    prospect_share: float = 0.10
    pre_start_share: float = 0.40
    n_branches: int = 20
    missing_rate: float = 0.02
    no_interaction_share: float = 0.04
    late_revenue_month: dt.date | None = dt.date(2024, 3, 31)
    default_level: float = 1.0
    attrition_level: float = 1.0
    truth_paths: int = 16
    truth_step_months: int = 6
    truth_min_history_months: int = 12

    def __post_init__(self) -> None:
        last_day = calendar.monthrange(self.end_date.year, self.end_date.month)[1]
        if self.end_date.day != last_day:
            raise ValueError(f"generate.end_date {self.end_date} is not the last day of a month")
        if self.n_clients < 1 or self.months < 2 or self.n_branches < 1:
            raise ValueError("generate: n_clients >= 1, months >= 2 and n_branches >= 1 needed")
        for name in ("prospect_share", "pre_start_share", "missing_rate", "no_interaction_share"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"generate.{name} must be in [0, 1)")
        if self.truth_paths < 0 or self.truth_step_months < 1:
            raise ValueError("generate: truth_paths >= 0 and truth_step_months >= 1 needed")
        if self.default_level <= 0 or self.attrition_level <= 0:
            raise ValueError("generate: default_level and attrition_level must be > 0")


@dataclass(frozen=True)
class OutcomeWindow:
    """The target definitions' two lengths (from the ``features`` section of params.yaml)."""

    horizon_months: int = 12
    inactivity_months: int = 6

    def __post_init__(self) -> None:
        if self.horizon_months < 1 or self.inactivity_months < 1:
            raise ValueError("horizon_months and inactivity_months must be >= 1")


def outcome_window(params: Mapping[str, Any]) -> OutcomeWindow:
    """The two target lengths from a loaded params mapping (``features`` section; defaults)."""
    features = params.get("features") or {}
    return OutcomeWindow(
        horizon_months=int(features.get("horizon_months", 12)),
        inactivity_months=int(features.get("inactivity_months", 6)),
    )
