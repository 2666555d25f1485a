"""Run the world: build the clients and the economy, simulate the history, compute the truth."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from predict.synthetic import facilities, world
from predict.synthetic.calendar import MonthGrid
from predict.synthetic.config import GenerateConfig, OutcomeWindow
from predict.synthetic.context import Context, sigmoid
from predict.synthetic.engine import COVENANT_IN, WATCH_IN, quality, step
from predict.synthetic.ledger import Ledger, Sink, id_strings
from predict.synthetic.macro import MacroPath, build_macro
from predict.synthetic.population import Network, build_network, build_population
from predict.synthetic.state import Book, any_row
from predict.synthetic.truth import truth_at

logger = logging.getLogger(__name__)

LEAD_MONTHS, TAIL_MONTHS = 400, 300


@dataclass
class History:
    """The simulated book after the last month, with what the tables and truth need."""

    config: GenerateConfig
    window: OutcomeWindow
    book: Book
    network: Network
    ctx: Context
    ledger: Ledger
    truth: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


def build_context(
    config: GenerateConfig, window: OutcomeWindow, macro_rng: np.random.Generator
) -> Context:
    grid = MonthGrid(config.end_date, config.months, lead=LEAD_MONTHS, tail=TAIL_MONTHS)
    macro: MacroPath = build_macro(grid, config.months + window.horizon_months + 1, macro_rng)
    late = None
    if config.late_revenue_month is not None:
        late_m = grid.index_of(config.late_revenue_month)
        late = late_m if 0 <= late_m < config.months - 1 else None
    return Context(
        grid=grid,
        macro=macro,
        default_shift=math.log(config.default_level),
        attrition_shift=math.log(config.attrition_level),
        late_m=late,
        missing_rate=config.missing_rate,
    )


def seed_existing(book: Book, ctx: Context, rng: np.random.Generator, rec: Ledger | None) -> None:
    """Clients onboarded before the data start, with seasoned facilities already running."""
    ii = np.nonzero(book.onboard_m < 0)[0]
    book.live[ii] = True
    book.x[ii] = rng.normal(0.0, 0.43, ii.shape[0])
    book.sat[ii] = book.sat_mean[ii] + rng.normal(0.0, 0.25, ii.shape[0])
    cust = ii[~book.prospect[ii]]
    want = rng.random((world.N_SLOTS, cust.shape[0])) < 0.7
    want[0] = rng.random(cust.shape[0]) < 0.92
    jj, ci = np.nonzero(want & book.slot_need[:, cust])
    ci = cust[ci]
    tenor = facilities.draw_tenor(book, jj, ci, rng)
    age = (rng.random(ci.shape[0]) * tenor).astype(np.int64)
    m0 = np.maximum(-1 - age, book.onboard_m[ci].astype(np.int64))
    day = rng.integers(1, 28, size=ci.shape[0])
    day = np.where(m0 == book.onboard_m[ci], np.maximum(day, book.onboard_day[ci]), day)
    e = quality(book, 0, ctx)
    facilities.originate(book, jj, ci, m0, day, e, ctx, rng, rec, tenor=tenor)
    appetite = world.SERVICE_APPETITE.T[:, book.seg[cust]]
    book.holds[:, cust] = rng.random(appetite.shape) < 0.6 * appetite
    facilities.update_balances(book, -1, e, rng)
    _running_state(book, cust, e, rng)


def _running_state(book: Book, cust: np.ndarray, e: np.ndarray, rng: np.random.Generator) -> None:
    """Arrears, watchlist and covenant status as they stood at the start (no events: older)."""
    entry = sigmoid(world.ARREARS_INTERCEPT[book.seg[cust]] - e[cust])
    owes = any_row(book.drawn()[:, cust])
    u = rng.random(cust.shape[0])
    k = np.select([u < 0.3 * entry, u < 0.8 * entry, u < 2.0 * entry], [3, 2, 1], 0)
    book.k[cust] = np.where(owes, k, 0)
    book.watch[cust] = (e[cust] < WATCH_IN) | (book.k[cust] >= 2)
    book.breach[cust] = book.covenants[cust] & (e[cust] < COVENANT_IN)


def truth_months(config: GenerateConfig) -> list[int]:
    """As-of month indices of the truth: back from the last month, every step months."""
    if config.truth_paths == 0:
        return []
    first = config.truth_min_history_months - 1
    return list(range(config.months - 1, first - 1, -config.truth_step_months))[::-1]


def simulate(config: GenerateConfig, window: OutcomeWindow, sinks: dict[str, Sink]) -> History:
    """Simulate ``config.months`` months; rows go to ``sinks``; truth at the as-of months."""
    seeds = np.random.SeedSequence(config.seed).spawn(4)
    rng_pop, rng_macro, rng_hist = (np.random.default_rng(s) for s in seeds[:3])
    ctx = build_context(config, window, rng_macro)
    net = build_network(config, rng_pop)
    book = build_population(config, net, rng_pop)
    width = max(7, len(str(config.n_clients)))
    ledger = Ledger(sinks, id_strings("C", book.cid, width), fid_width=max(8, width + 1))
    timings = {"history_s": 0.0, "truth_s": 0.0}
    as_of = set(truth_months(config))
    truth_seed = seeds[3]
    parts: list[pd.DataFrame] = []
    t0 = time.perf_counter()
    seed_existing(book, ctx, rng_hist, ledger)
    for m in range(config.months):
        step(book, m, ctx, rng_hist, ledger)
        ledger.flush_month()
        if m in as_of:
            t1 = time.perf_counter()
            child = np.random.SeedSequence(truth_seed.entropy, spawn_key=(*truth_seed.spawn_key, m))
            part = truth_at(book, m, ctx, window, config.truth_paths, child)
            parts.append(part.assign(m=m))
            timings["truth_s"] += time.perf_counter() - t1
            logger.info("truth at %s: %d clients", ctx.grid.month_end_date(m), len(part))
    timings["history_s"] = time.perf_counter() - t0 - timings["truth_s"]
    truth = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return History(config, window, book, net, ctx, ledger, truth, timings)
