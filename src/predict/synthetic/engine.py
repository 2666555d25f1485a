"""One month of the world, for every client at once: the simulation engine.

The same :func:`step` writes the history (with a ledger) and simulates the futures the
truth is computed from (without one, many copies of each client side by side). Its order:
late postings, credit quality drift, arrears and default, workout, the month's revenue,
attrition, facility dynamics (balances, term changes, maturities), services, contacts and
satisfaction, early-warning events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predict.synthetic import facilities, revenue, service, world
from predict.synthetic.context import Context, days_in_month, sigmoid
from predict.synthetic.ledger import Ledger
from predict.synthetic.state import Book, any_row, cells, count_rows

X_PERSISTENCE, X_VOL = 0.96, 0.12  # monthly AR(1) of the idiosyncratic credit quality
ROLL = np.array([0.0, -1.85, -0.55, 0.1])  # log-odds of rolling to the next bucket from 1, 2, 3
CURE = np.array([0.0, 2.0, 0.8, -0.1])  # log-odds of paying everything back, if not rolling
UTP_INTERCEPT = -7.9  # log-odds of a default without 90 days past due (insolvency etc.)
RESTRUCTURE = np.array([0.06, 0.12, 0.12, 0.12])
RESOLVE_HAZARD, MIN_WORKOUT = 0.09, 3
WATCH_IN, WATCH_OUT, COVENANT_IN, COVENANT_OUT = -1.9, -1.5, -1.5, -1.1
LOAN_SLOT = (world.SLOT_PRODUCT == world.TERM)[:, None]  # term loans (or the project loan)


@dataclass
class StepResult:
    """What the truth needs from one month, per client."""

    p_default: np.ndarray  # probability of a default this month, before it is drawn
    rev_early: np.ndarray  # revenue booked before the default decision (late postings)
    last_rev_early: np.ndarray  # last month with revenue, before the default decision
    rev_before: np.ndarray  # revenue booked before the attrition decision
    rev_after: np.ndarray  # revenue booked after it (arrangement fees of new facilities)
    last_rev_before: np.ndarray  # last month with revenue, before the attrition decision
    pending: np.ndarray  # revenue to be posted next month (late postings)
    h_attrition: np.ndarray  # probability of attrition this month (0 where impossible)


def step(
    book: Book,
    m: int,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None = None,
    draw_exits: bool = True,
) -> StepResult:
    """Advance the book through month ``m``; rows go to ``rec`` when given.

    With ``draw_exits=False`` no client defaults or leaves this month: the probabilities
    that they would have are returned instead (the truth's conditional futures).
    """
    onboard(book, m, ctx, rng, rec)
    early = revenue.book_pending(book, m, ctx, rng, rec)
    last_early = book.last_rev.copy()
    e = drift(book, m, ctx, rng)
    p_default = delinquency(book, e, m, ctx, rng, rec, draw_exits)
    workout(book, m, ctx, rng, rec)
    rates = revenue.current_rates(book, m, ctx)
    rev = early + revenue.book_revenue(book, m, rates, ctx, rng, rec)
    last_rev, pending = book.last_rev.copy(), book.pending.copy()
    gap_pp = pricing_gap(book, e, rates, m, ctx)
    h = attrition_hazard(book, gap_pp, m, ctx)
    if draw_exits:
        attrit(book, rng.random(book.n) < h, m, ctx, rng, rec)
    facilities.update_balances(book, m, e, rng)
    facilities.change_terms(book, m, e, ctx, rng, rec)
    after = facilities.mature_and_renew(book, m, e, gap_pp, ctx, rng, rec)
    after += facilities.prepay_and_reopen(book, m, e, ctx, rng, rec)
    revenue.update_holdings(book, rng)
    service.serve(book, m, ctx, rng, rec)
    signals(book, e, m, ctx, rng, rec)
    if rec is not None:
        facilities.record_balances(book, m, ctx, rec)
    return StepResult(p_default, early, last_early, rev, after, last_rev, pending, h)


def quality(book: Book, m: int, ctx: Context) -> np.ndarray:
    """Effective credit quality this month: own level, drift, the industry's stress."""
    stress = ctx.macro.stress[m, book.ind.astype(np.int64)]
    return book.q_mean + book.x - stress - 0.4 * (book.forborne > 0)


def drift(book: Book, m: int, ctx: Context, rng: np.random.Generator) -> np.ndarray:
    book.x = X_PERSISTENCE * book.x + X_VOL * rng.normal(size=book.n)
    book.forborne = np.maximum(book.forborne - 1, 0).astype(np.int16)
    return quality(book, m, ctx)


def delinquency(
    book: Book,
    e: np.ndarray,
    m: int,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
    draw_default: bool = True,
) -> np.ndarray:
    """The arrears roll 0 -> 1-29 -> 30-59 -> 60-89 -> 90+ (default) with cures.

    Returns each client's probability of defaulting this month (0 if nothing is owed).
    """
    perf = book.performing()
    owes = perf & any_row(book.drawn()) & (book.onboard_m < m)
    k = np.where(owes, book.k, 0).astype(np.int64)
    kk = np.minimum(k, 3)
    roll = sigmoid(ROLL[kk] - 0.5 * e)
    cure = sigmoid(CURE[kk] + 0.4 * e)
    entry = sigmoid(world.ARREARS_INTERCEPT[book.seg] + ctx.default_shift - e)
    utp = sigmoid(
        UTP_INTERCEPT + world.UTP_SEGMENT[book.seg] + ctx.default_shift - 1.5 * e + 0.9 * k
    )
    p_default = np.where(owes, np.where(k == 3, roll + (1 - roll) * utp, utp), 0.0)
    default_now = (rng.random(book.n) < p_default) & draw_default
    v = rng.random(book.n)
    rolled = np.where(k == 0, v < entry, (k < 3) & (v < roll))
    cured = (k > 0) & ~rolled & (v < roll * (k < 3) + (1 - roll) * cure)
    new_k = np.where(rolled, k + 1, np.where(cured, 0, k))
    new_k = np.where(default_now, k + (k == 3), new_k)
    book.k = np.where(perf, np.where(owes, new_k, 0), book.k).astype(np.int16)
    restructure(book, owes & ~default_now & (book.k >= 2), m, ctx, rng, rec)
    on_default(book, default_now, k == 3, m, ctx, rng, rec)
    return p_default


def restructure(
    book: Book, cand: np.ndarray, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None
) -> None:
    """Forbearance: arrears cleared, the client watched closely for a year."""
    ii = np.nonzero(cand & (rng.random(book.n) < RESTRUCTURE[book.seg]))[0]
    book.k[ii] = 0
    book.forborne[ii] = 12
    book.x[ii] += 0.3
    if rec is not None:
        day = days_in_month(ctx, m, rng, ii.shape[0])
        _events(book, ii, _main_facility(book, ii), day, world.RESTRUCTURING_EV, rec)


def on_default(
    book: Book,
    mask: np.ndarray,
    by_arrears: np.ndarray,
    m: int,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
) -> None:
    """Default: recorded, undrawn lines and guarantees cancelled, services stopped."""
    ii = np.nonzero(mask)[0]
    if ii.shape[0] == 0:
        return
    start, end = ctx.grid.start(m), ctx.grid.end(m)
    crossed = ctx.grid.start(m - 3) + book.due_day[ii].astype(np.int64) - 1 + 90
    other = days_in_month(ctx, m, rng, ii.shape[0])
    day = np.where(by_arrears[ii], np.clip(crossed, start, end), other)
    if rec is not None:
        _events(book, ii, _main_facility(book, ii), day, world.DEFAULT_EV, rec)
    book.defaulted[ii], book.default_m[ii], book.watch[ii] = True, m, True
    book.holds[:, ii] = False
    undrawn = book.s_open[:, ii] & ~book.drawn()[:, ii]
    jj, ci = np.nonzero(undrawn)
    facilities.close_slots(book, jj, ii[ci], np.minimum(day[ci], start + 26), rec)


def workout(book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None) -> None:
    """Defaulted clients pay nothing; after a while the bank writes off or recovers, and exits."""
    wo = book.live & book.defaulted & (book.default_m < m)
    owed = wo & any_row(book.drawn())
    book.k = np.where(owed, np.minimum(book.k + 1, 300), book.k).astype(np.int16)
    resolve = wo & (m - book.default_m >= MIN_WORKOUT) & (rng.random(book.n) < RESOLVE_HAZARD)
    write_off = resolve & (rng.random(book.n) < world.WRITE_OFF_SHARE[book.seg])
    jj, ii = cells(book.s_open & resolve)
    day = days_in_month(ctx, m, rng, ii.shape[0])
    if rec is not None:
        w = write_off[ii]
        _events(book, ii[w], book.s_fid[jj[w], ii[w]], day[w], world.WRITE_OFF_EV, rec)
    facilities.close_slots(book, jj, ii, day, rec)
    book.terminated |= resolve
    book.live &= ~resolve


def pricing_gap(book: Book, e: np.ndarray, rates: np.ndarray, m: int, ctx: Context) -> np.ndarray:
    """Rate paid minus today's market rate for the same risk, in percentage points."""
    risk = world.RISK_PREMIUM * np.clip(-e, -1.5, 3.0)
    client = ctx.macro.base(m) + world.RATE_SEGMENT_ADD[book.seg] + risk
    w = book.s_out * book.drawn()
    total = w.sum(axis=0)
    gap = (w * (rates - book.slot_spread)).sum(axis=0) / np.where(total > 0, total, 1.0) - client
    return np.clip(100.0 * gap, -2.0, 2.0)


def attrition_hazard(book: Book, gap_pp: np.ndarray, m: int, ctx: Context) -> np.ndarray:
    """Monthly probability that the client moves to a competitor."""
    n_rel = count_rows(book.s_open) + count_rows(book.holds)
    cand = book.performing() & (n_rel > 0) & (book.onboard_m < m)
    z = (
        world.ATTRITION_INTERCEPT[book.seg]
        + ctx.attrition_shift
        - 0.9 * book.sat
        + 0.5 * np.minimum(book.complaints, 3.0)
        + 1.2 * book.price_sens * gap_pp
        - 0.3 * book.engagement
        - 0.25 * n_rel
        - 1.2 * (book.k > 0)
    )
    return sigmoid(z) * cand


def attrit(
    book: Book, mask: np.ndarray, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None
) -> None:
    """The client leaves: facilities repaid (refinanced elsewhere), services closed."""
    jj, ii = cells(book.s_open & mask)
    facilities.close_slots(book, jj, ii, days_in_month(ctx, m, rng, ii.shape[0]), rec)
    book.churned |= mask
    book.churn_m[mask] = m
    book.live &= ~mask
    book.holds[:, mask] = False


def signals(
    book: Book, e: np.ndarray, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None
) -> None:
    """Early-warning events: covenant breaches and watchlist entries (and quiet exits)."""
    perf = book.performing()
    has_loan = any_row(book.s_open & LOAN_SLOT)
    breach = perf & book.covenants & has_loan & ~book.breach & (e < COVENANT_IN)
    book.breach = (book.breach | breach) & ~(e > COVENANT_OUT)
    watch = perf & ~book.watch & ((e < WATCH_IN) | (book.k >= 2) | breach)
    book.watch = (book.watch | watch) & ~(perf & (e > WATCH_OUT) & (book.k == 0))
    if rec is None:
        return
    ii = np.nonzero(breach)[0]
    loan = np.where(book.s_open[0, ii], book.s_fid[0, ii], -1)
    _events(book, ii, loan, days_in_month(ctx, m, rng, ii.shape[0]), world.COVENANT_EV, rec)
    ii = np.nonzero(watch)[0]
    none = np.full(ii.shape[0], -1, dtype=np.int64)
    _events(book, ii, none, days_in_month(ctx, m, rng, ii.shape[0]), world.WATCHLIST_EV, rec)


def onboard(book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None) -> None:
    """Clients whose relationship starts this month: prospects, and customers' first facilities."""
    ii = np.nonzero(book.onboard_m == m)[0]
    if ii.shape[0] == 0:
        return
    book.live[ii] = True
    book.x[ii] = rng.normal(0.0, 0.43, ii.shape[0])
    book.sat[ii] = book.sat_mean[ii] + rng.normal(0.0, 0.25, ii.shape[0])
    cust = ii[~book.prospect[ii]]
    first = rng.random((world.N_SLOTS, cust.shape[0])) < 0.4
    first[0] = True
    jj, ci = np.nonzero(first & book.slot_need[:, cust])
    ci = cust[ci]
    day = np.maximum(book.onboard_day[ci], rng.integers(1, 28, size=ci.shape[0])).astype(np.int64)
    e = quality(book, m, ctx)
    fee = facilities.originate(book, jj, ci, np.full(ci.shape[0], m), day, e, ctx, rng, rec)
    facilities.book_fees(book, ci, ctx.grid.start(m) + day - 1, fee, m, rec)
    appetite = world.SERVICE_APPETITE.T[:, book.seg[cust]]
    book.holds[:, cust] = rng.random(appetite.shape) < 0.4 * appetite


def _main_facility(book: Book, ii: np.ndarray) -> np.ndarray:
    """The open facility with the largest balance (-1 if none)."""
    out = np.where(book.s_open[:, ii], book.s_out[:, ii], -1.0)
    j = out.argmax(axis=0)
    return np.where(book.s_open[j, ii], book.s_fid[j, ii], -1)


def _events(
    book: Book, ii: np.ndarray, fid: np.ndarray, day: np.ndarray, kind: int, rec: Ledger
) -> None:
    rec.add("credit_events", cid=book.cid[ii], fid=fid, day=day, kind=np.full(ii.shape[0], kind))
