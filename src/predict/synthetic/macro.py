"""The realised economy: a base interest rate path and credit stress per industry and month."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predict.synthetic import world
from predict.synthetic.calendar import MonthGrid

# A stylised euro-area policy rate: (YYYY-MM, annual rate); flat before the first and
# after the last knot.
BASE_RATE_KNOTS: tuple[tuple[str, float], ...] = (
    ("2008-09", 0.0425),
    ("2009-05", 0.0100),
    ("2011-07", 0.0150),
    ("2012-07", 0.0075),
    ("2014-09", 0.0005),
    ("2016-03", 0.0000),
    ("2022-06", 0.0000),
    ("2022-12", 0.0250),
    ("2023-09", 0.0450),
    ("2024-05", 0.0450),
    ("2025-06", 0.0215),
)


@dataclass(frozen=True)
class MacroPath:
    """``base_rate[m + lead]`` for every grid month; ``stress[m, industry]`` for m >= 0.

    Stress is in units of the credit-quality index: it is subtracted from each client's
    quality, so a stress of 0.5 makes every client of that industry half a unit weaker.
    """

    base_rate: np.ndarray
    cycle: np.ndarray
    stress: np.ndarray
    lead: int

    def base(self, m: np.ndarray | int) -> np.ndarray:
        return self.base_rate[np.asarray(m) + self.lead]


def build_macro(grid: MonthGrid, n_months: int, rng: np.random.Generator) -> MacroPath:
    """The macro path for months ``0 .. n_months - 1`` (history plus the truth's horizon)."""
    months = grid.month64[: grid.lead + n_months]
    base = _base_rate(months)
    sim = months[grid.lead :]
    cycle = np.zeros(n_months)
    noise = rng.normal(0.0, 0.06, size=n_months)
    for m in range(1, n_months):
        cycle[m] = 0.96 * cycle[m - 1] + noise[m]
    episodes = np.stack([_episode(sim, *ep) for ep in world.EPISODES], axis=1)
    industry_noise = _ar1(rng, (n_months, len(world.INDUSTRIES)), rho=0.9, sd=0.05)
    stress = (
        np.outer(cycle, world.INDUSTRY_CYCLICALITY)
        + episodes @ world.EPISODE_EXPOSURE.T
        + industry_noise
    )
    return MacroPath(base_rate=base, cycle=cycle, stress=stress, lead=grid.lead)


def _base_rate(months: np.ndarray) -> np.ndarray:
    x = months.astype(np.int64).astype(float)
    knots = np.array([np.datetime64(k, "M").astype(np.int64) for k, _ in BASE_RATE_KNOTS])
    return np.interp(x, knots.astype(float), np.array([v for _, v in BASE_RATE_KNOTS]))


def _episode(months: np.ndarray, start: str, peak: str, end: str, strength: float) -> np.ndarray:
    """A rise from ``start`` to ``peak`` and a linear fade to ``end``, scaled by strength."""
    x = months.astype(np.int64).astype(float)
    pts = [float(np.datetime64(d, "M").astype(np.int64)) for d in (start, peak, end)]
    return strength * np.interp(x, pts, [0.0, 1.0, 0.0], left=0.0, right=0.0)


def _ar1(rng: np.random.Generator, shape: tuple[int, int], rho: float, sd: float) -> np.ndarray:
    eps = rng.normal(0.0, sd, size=shape)
    out = np.zeros(shape)
    for m in range(1, shape[0]):
        out[m] = rho * out[m - 1] + eps[m]
    return out
