"""What every monthly step needs besides the book: calendar, economy, levels, helpers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predict.synthetic.calendar import MonthGrid
from predict.synthetic.macro import MacroPath


@dataclass(frozen=True)
class Context:
    grid: MonthGrid
    macro: MacroPath
    default_shift: float  # log-odds added to every missed-payment and insolvency hazard
    attrition_shift: float  # log-odds added to every attrition hazard
    late_m: int | None  # the month whose interest is partly booked in the next month
    missing_rate: float


def sigmoid(z: np.ndarray) -> np.ndarray:
    out = np.exp(-z)
    out += 1.0
    return np.reciprocal(out, out=out)


def days_in_month(
    ctx: Context, m: int, rng: np.random.Generator, n: int, last: int = 27
) -> np.ndarray:
    """``n`` random day numbers in month ``m`` (day of month 1..``last``)."""
    top = min(last, int(ctx.grid.days_in(m)))
    return ctx.grid.start(m) + rng.integers(0, top, size=n)


def per_client(n: int, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Sum ``values`` at client positions ``idx`` into an array of length ``n``."""
    return np.bincount(idx, weights=values, minlength=n)[:n].astype(np.float64, copy=False)
