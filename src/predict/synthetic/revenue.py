"""Income: interest on drawn balances, fees, cross-sold services; reversals; late postings."""

from __future__ import annotations

import numpy as np

from predict.synthetic import world
from predict.synthetic.context import Context, days_in_month
from predict.synthetic.ledger import Ledger
from predict.synthetic.state import Book, any_row, cells

FEE = world.SOURCES.index("fee")
INTEREST = world.SOURCES.index("interest")
LATE_SHARE = 0.35  # clients whose interest of the late month is posted in the next month
REVERSAL_RATE = 0.03


def current_rates(book: Book, m: int, ctx: Context) -> np.ndarray:
    """``(slots, n)`` annual rate paid now: fixed at origination, or floating over the base."""
    shift = (ctx.macro.base(m) - book.s_base0) * book.slot_floating
    return np.maximum(book.s_rate + shift, 0.0)


def book_pending(
    book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None
) -> np.ndarray:
    """Post last month's late interest (days 2-6 of this month); amounts per client back."""
    ii = np.nonzero(book.pending)[0]
    amount = np.zeros(book.n)
    if ii.shape[0] == 0:
        return amount
    amount[ii] = book.pending[ii]
    if rec is not None:
        day = ctx.grid.start(m) + rng.integers(1, 6, size=ii.shape[0])
        src = np.full(ii.shape[0], INTEREST)
        rec.add("revenue", cid=book.cid[ii], day=day, amount=book.pending[ii], source=src)
    book.pending[ii] = 0.0
    book.last_rev[ii] = m
    return amount


def book_revenue(
    book: Book,
    m: int,
    rates: np.ndarray,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
) -> np.ndarray:
    """Book the month's interest, periodic fees and services; amounts per client back."""
    perf = book.performing()
    interest = _interest(book, rates, perf)
    if ctx.late_m == m:
        late = perf & (rng.random(book.n) < LATE_SHARE)
        book.pending = np.where(late, interest, 0.0)
        interest = np.where(late, 0.0, interest)
    fee = _periodic_fees(book, m, ctx, perf)
    reversal = np.where(
        (fee > 0) & (rng.random(book.n) < REVERSAL_RATE),
        -np.round(fee * rng.uniform(0.2, 1.0, book.n), 2),
        0.0,
    )
    services = _services(book, perf, rng)
    rows = (interest != 0) | (fee != 0) | any_row(services != 0)
    book.last_rev[rows] = m
    if rec is not None:
        _record(book, m, ctx, rng, rec, interest, fee, reversal, services)
    return interest + fee + reversal + services.sum(axis=0)


def _interest(book: Book, rates: np.ndarray, perf: np.ndarray) -> np.ndarray:
    drawn = book.s_open & book.slot_drawn
    monthly = (book.s_out * rates * drawn).sum(axis=0) / 12.0
    return np.where(perf, np.round(monthly, 2), 0.0)


def _periodic_fees(book: Book, m: int, ctx: Context, perf: np.ndarray) -> np.ndarray:
    """Quarterly: commitment fee on undrawn revolving credit, fee on issued guarantees."""
    if ctx.grid.month_of_year(m) % 3 != 0:
        return np.zeros(book.n)
    prod = book.slot_prod
    undrawn = (book.s_limit - book.s_out) * (prod == world.REVOLVER) * world.COMMITMENT_FEE
    guarantee = book.s_out * book.s_rate * (prod == world.GUARANTEE)
    quarterly = ((undrawn + guarantee) * book.s_open).sum(axis=0) / 4.0
    return np.where(perf, np.round(quarterly, 2), 0.0)


def _services(book: Book, perf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(services, n)`` monthly income of the cross-sold services each client holds."""
    pp, ii = cells(book.holds & perf)
    size = (book.turnover[ii] / 1e6) ** 0.8
    noise = np.exp(rng.normal(0.0, 1.0, ii.shape[0]) * world.SERVICE_NOISE[pp])
    out = np.zeros(book.holds.shape)
    out[pp, ii] = np.round(np.maximum(world.SERVICE_SCALE[pp] * size * noise, 1.0), 2)
    return out


def _record(
    book: Book,
    m: int,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger,
    interest: np.ndarray,
    fee: np.ndarray,
    reversal: np.ndarray,
    services: np.ndarray,
) -> None:
    start = ctx.grid.start(m)
    ii = np.nonzero(interest)[0]
    due = start + book.due_day[ii].astype(np.int64) - 1
    rec.add(
        "revenue",
        cid=book.cid[ii],
        day=due,
        amount=interest[ii],
        source=np.full(ii.shape[0], INTEREST),
    )
    ii = np.nonzero(fee)[0]
    day = days_in_month(ctx, m, rng, ii.shape[0], last=20)
    rec.add("revenue", cid=book.cid[ii], day=day, amount=fee[ii], source=np.full(ii.shape[0], FEE))
    later = day + rng.integers(1, 8, size=ii.shape[0])
    rv = reversal[ii] != 0
    src = np.full(int(rv.sum()), FEE)
    rec.add("revenue", cid=book.cid[ii[rv]], day=later[rv], amount=reversal[ii[rv]], source=src)
    pp, ii = cells(services != 0)
    day = days_in_month(ctx, m, rng, ii.shape[0])
    src = pp + world.SOURCES.index("fx")
    rec.add("revenue", cid=book.cid[ii], day=day, amount=services[pp, ii], source=src)


def update_holdings(book: Book, rng: np.random.Generator) -> None:
    """Clients take up and drop cross-sold services, with engagement and satisfaction."""
    perf = book.performing()
    related = any_row(book.s_open)
    mood = np.exp(0.5 * book.engagement + 0.3 * book.sat) * np.where(related, 0.015, 0.0045)
    adopt = book.svc_appetite * mood
    drop = 0.008 * np.exp(-0.7 * book.sat)
    u = rng.random(book.holds.shape)
    take_up = ~book.holds & perf & (u < adopt)
    give_up = book.holds & perf & (u < drop)
    book.holds = (book.holds | take_up) & ~give_up
