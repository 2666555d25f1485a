"""Facilities: origination, drawdown and amortisation, maturity and renewal, days past due.

Slot arrays are ``(slots, clients)``; a facility is addressed by ``(jj, ii)`` (slot, client).
"""

from __future__ import annotations

import numpy as np

from predict.synthetic import world
from predict.synthetic.context import Context, days_in_month, per_client, sigmoid
from predict.synthetic.ledger import Ledger
from predict.synthetic.state import Book, cells

TENOR_TABLE = np.array([[t[i % len(t)] for i in range(4)] for t in world.TENORS])
FEE = world.SOURCES.index("fee")


def draw_tenor(book: Book, jj: np.ndarray, ii: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    prod = book.slot_prod[jj, ii]
    tenor = TENOR_TABLE[prod, rng.integers(0, 4, size=ii.shape[0])]
    small_revolver = (prod == world.REVOLVER) & (book.seg[ii] == world.SME)
    return np.where(small_revolver, 12, tenor)


def originate(
    book: Book,
    jj: np.ndarray,
    ii: np.ndarray,
    m: np.ndarray,
    day: np.ndarray,
    e: np.ndarray,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
    tenor: np.ndarray | None = None,
) -> np.ndarray:
    """Open new facilities in slots ``(jj, ii)`` in months ``m`` on days ``day`` (1..27).

    Returns the arrangement fee of each new facility (the caller books it or not).
    """
    n = ii.shape[0]
    prod, seg = book.slot_prod[jj, ii], book.seg[ii]
    tenor = draw_tenor(book, jj, ii, rng) if tenor is None else tenor
    limit = _limit(book, ii, prod, seg, m, rng)
    base, rate = ctx.macro.base(m), _price(book, ii, prod, m, e, ctx, rng)
    ramp = np.where(prod == world.PROJECT, rng.integers(12, 37, size=n), 0)
    balloon = np.where((prod == world.TERM) & (seg != world.SME), rng.uniform(0.0, 0.4, n), 0.0)
    util = _initial_util(book, ii, prod, m, ramp, rng)
    book.s_open[jj, ii] = True
    book.s_limit[jj, ii], book.s_rate[jj, ii], book.s_base0[jj, ii] = limit, rate, base
    book.s_util[jj, ii], book.s_out[jj, ii] = util, np.round(limit * util, 2)
    book.s_orig_m[jj, ii], book.s_mat_m[jj, ii] = m, m + tenor
    book.s_day[jj, ii], book.s_ramp[jj, ii], book.s_balloon[jj, ii] = day, ramp, balloon
    if rec is not None:
        book.s_fid[jj, ii] = _register(book, ii, prod, limit, rate, m, day, tenor, ctx, rec)
    return np.round(limit * world.ARRANGEMENT_FEE[prod], 2)


def _price(
    book: Book,
    ii: np.ndarray,
    prod: np.ndarray,
    m: np.ndarray | int,
    e: np.ndarray,
    ctx: Context,
    rng: np.random.Generator,
) -> np.ndarray:
    """The rate for clients ``ii``'s products ``prod`` set in month(s) ``m``: base rate
    (not for a guarantee fee), product spread, segment, risk premium and the client's gap."""
    risk = world.RISK_PREMIUM * np.clip(-e[ii], -1.5, 3.0)
    funding = np.where(prod == world.GUARANTEE, 0.0, ctx.macro.base(m))
    rate = funding + world.SPREAD[prod] + world.RATE_SEGMENT_ADD[book.seg[ii]] + risk
    rate = rate + book.price_gap[ii] + rng.normal(0.0, 0.001, ii.shape[0])
    return np.round(np.maximum(rate, 0.005), 4)


def change_terms(
    book: Book, m: int, e: np.ndarray, ctx: Context, rng: np.random.Generator, rec: Ledger | None
) -> None:
    """Term changes of the lines (revolvers, trade lines) opened before month m: a limit cut
    for a watchlisted client, a repricing at an anniversary, a maturity extension instead of
    maturing this month. At most one change per facility a month, on one day."""
    jj, ii = cells(book.s_open & np.isin(book.slot_prod, (world.REVOLVER, world.TRADE)))
    keep = (book.s_orig_m[jj, ii] < m) & book.performing()[ii]
    jj, ii = jj[keep], ii[keep]
    n, age = ii.shape[0], m - book.s_orig_m[jj, ii]
    running = book.s_mat_m[jj, ii] > m  # not at or past maturity (that is for extensions)
    cut = running & book.watch[ii] & (rng.random(n) < world.LIMIT_CUT_HAZARD)
    reprice = running & (age % 12 == 0) & (rng.random(n) < world.REPRICE_SHARE)
    ok = ~book.watch[ii] & (book.k[ii] == 0)
    extend = (book.s_mat_m[jj, ii] == m) & ok & (rng.random(n) < world.EXTEND_SHARE)
    low, high = world.LIMIT_CUT_KEEP
    kept = np.round(book.s_limit[jj, ii] * rng.uniform(low, high, n), -3)
    limit = np.where(cut, np.maximum(kept, np.ceil(book.s_out[jj, ii] / 1e3) * 1e3), np.nan)
    rate = np.where(reprice, _price(book, ii, book.slot_prod[jj, ii], m, e, ctx, rng), np.nan)
    changed = cut | reprice | extend
    jj, ii, extend = jj[changed], ii[changed], extend[changed]
    _apply_terms(book, jj, ii, m, limit[changed], rate[changed], extend, ctx)
    if rec is not None and ii.shape[0]:
        day = np.where(extend, book.s_day[jj, ii], rng.integers(1, 28, size=ii.shape[0]))
        rec.change_terms(
            book.s_fid[jj, ii],
            ctx.grid.start(m) + day - 1,
            book.s_limit[jj, ii],
            np.where(book.slot_prod[jj, ii] == world.GUARANTEE, np.nan, book.s_rate[jj, ii]),
            ctx.grid.start(book.s_mat_m[jj, ii]) + book.s_day[jj, ii] - 1,
        )


def _apply_terms(
    book: Book,
    jj: np.ndarray,
    ii: np.ndarray,
    m: int,
    limit: np.ndarray,
    rate: np.ndarray,
    extend: np.ndarray,
    ctx: Context,
) -> None:
    """Facilities ``(jj, ii)`` take their new terms (NaN: unchanged); the drawn amount stays."""
    cut = ~np.isnan(limit)
    book.s_limit[jj[cut], ii[cut]] = limit[cut]
    out = book.s_out[jj, ii]
    book.s_util[jj, ii] = np.clip(out / np.maximum(book.s_limit[jj, ii], 1.0), 0.0, 1.0)
    new = ~np.isnan(rate)
    book.s_rate[jj[new], ii[new]] = rate[new]
    book.s_base0[jj[new], ii[new]] = ctx.macro.base(m)
    book.s_mat_m[jj[extend], ii[extend]] += world.EXTEND_MONTHS


def _register(
    book: Book,
    ii: np.ndarray,
    prod: np.ndarray,
    limit: np.ndarray,
    rate: np.ndarray,
    m: np.ndarray,
    day: np.ndarray,
    tenor: np.ndarray,
    ctx: Context,
    rec: Ledger,
) -> np.ndarray:
    """New facility ids, entered in the facility register (guarantees carry no rate)."""
    fid = rec.new_fids(ii.shape[0])
    rec.open(
        fid=fid,
        cid=book.cid[ii],
        product=prod,
        limit=limit,
        rate=np.where(prod == world.GUARANTEE, np.nan, rate),
        orig=ctx.grid.start(m) + day - 1,
        maturity=ctx.grid.start(m + tenor) + day - 1,
    )
    return fid


def _limit(
    book: Book,
    ii: np.ndarray,
    prod: np.ndarray,
    seg: np.ndarray,
    m: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    lo, hi = world.LIMIT_SHARE[prod, seg, 0], world.LIMIT_SHARE[prod, seg, 1]
    size = np.where(seg == world.PF, book.pf_size[ii], book.turnover[ii])
    years = np.clip((m - book.onboard_m[ii]) / 12.0, 0.0, 10.0)
    limit = size * rng.uniform(lo, hi) * 1.03**years
    return np.maximum(np.round(limit, -3), 10_000.0)


def _initial_util(
    book: Book,
    ii: np.ndarray,
    prod: np.ndarray,
    m: np.ndarray,
    ramp: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    n = ii.shape[0]
    util = np.ones(n)
    util = np.where(prod == world.REVOLVER, book.util_mean[ii], util)
    util = np.where(prod == world.TRADE, _seasonal(book, ii, m), util)
    util = np.where(prod == world.GUARANTEE, rng.uniform(0.6, 1.0, n), util)
    return np.where(prod == world.PROJECT, 1.0 / np.maximum(ramp, 1), util)


def _seasonal(book: Book, ii: np.ndarray, m: np.ndarray | int) -> np.ndarray:
    wave = np.sin(2 * np.pi * (np.asarray(m) + book.trade_phase[ii]) / 12.0)
    return np.clip(book.util_mean[ii] * (1.0 + 0.35 * wave), 0.0, 1.0)


def update_balances(book: Book, m: int, e: np.ndarray, rng: np.random.Generator) -> None:
    """Move every open facility of a performing client to its month-end balance."""
    jj, ii = cells(book.s_open & ~book.defaulted)
    if ii.shape[0] == 0:
        return
    prod, paying = book.slot_prod[jj, ii], book.k[ii] == 0
    util = book.s_util[jj, ii]
    new = util.copy()
    for p, fn in _BALANCE_RULES.items():
        sel = np.nonzero(prod == p)[0]
        if sel.shape[0]:
            new[sel] = fn(book, jj[sel], ii[sel], m, e, rng)
    stuck = ~paying & ((prod == world.TERM) | (prod == world.PROJECT))
    new = np.where(stuck, util, new)  # in arrears: nothing repaid, nothing drawn
    new = np.where(~paying & (prod == world.REVOLVER), np.maximum(new, 0.85), new)
    new = np.where(~paying & (prod == world.TRADE), np.maximum(new, 0.5), new)
    book.s_util[jj, ii] = new
    book.s_out[jj, ii] = np.round(book.s_limit[jj, ii] * new, 2)


def _amortising(
    book: Book, jj: np.ndarray, ii: np.ndarray, m: int, e: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    age = m - book.s_orig_m[jj, ii]
    tenor = np.maximum(book.s_mat_m[jj, ii] - book.s_orig_m[jj, ii], 1)
    return 1.0 - (1.0 - book.s_balloon[jj, ii]) * np.clip(age / tenor, 0.0, 1.0)


def _project(
    book: Book, jj: np.ndarray, ii: np.ndarray, m: int, e: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Drawn down over the construction months, then amortised to zero at maturity."""
    age = m - book.s_orig_m[jj, ii]
    tenor = np.maximum(book.s_mat_m[jj, ii] - book.s_orig_m[jj, ii], 1)
    ramp = np.maximum(book.s_ramp[jj, ii], 1)
    repaid = np.clip((age - ramp) / np.maximum(tenor - ramp, 1), 0.0, 1.0)
    return np.where(age < ramp, np.minimum(1.0, (age + 1) / ramp), 1.0 - repaid)


def _revolving(
    book: Book, jj: np.ndarray, ii: np.ndarray, m: int, e: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Usage reverts to the client's habit, and rises as its credit weakens."""
    util = book.s_util[jj, ii]
    target = book.util_mean[ii] + 0.3 * np.clip(-e[ii], 0.0, 2.0)
    return np.clip(util + 0.25 * (target - util) + rng.normal(0.0, 0.08, ii.shape[0]), 0.0, 1.0)


def _trade(
    book: Book, jj: np.ndarray, ii: np.ndarray, m: int, e: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    return np.clip(_seasonal(book, ii, m) + rng.normal(0.0, 0.05, ii.shape[0]), 0.0, 1.0)


def _guarantee(
    book: Book, jj: np.ndarray, ii: np.ndarray, m: int, e: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    return np.clip(book.s_util[jj, ii] + rng.normal(0.0, 0.03, ii.shape[0]), 0.3, 1.0)


_BALANCE_RULES = {
    world.TERM: _amortising,
    world.REVOLVER: _revolving,
    world.TRADE: _trade,
    world.GUARANTEE: _guarantee,
    world.PROJECT: _project,
}


def close_slots(
    book: Book, jj: np.ndarray, ii: np.ndarray, day: np.ndarray, rec: Ledger | None
) -> None:
    """Close facilities (``day``: day numbers); the slot is free again."""
    if rec is not None and ii.shape[0]:
        rec.close(book.s_fid[jj, ii], day)
    book.s_open[jj, ii] = False
    book.s_out[jj, ii] = 0.0
    book.s_util[jj, ii] = 0.0


def mature_and_renew(
    book: Book,
    m: int,
    e: np.ndarray,
    gap_pp: np.ndarray,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
) -> np.ndarray:
    """Repay facilities at (or, once out of arrears, after) maturity; renew some. Fees back."""
    jj, ii = cells(book.s_open & (book.s_mat_m <= m))
    keep = book.performing()[ii] & (book.k[ii] == 0)
    jj, ii = jj[keep], ii[keep]
    if ii.shape[0] == 0:
        return np.zeros(book.n)
    on_time = book.s_mat_m[jj, ii] == m
    start = ctx.grid.start(m)
    day = np.where(on_time, book.s_day[jj, ii], rng.integers(1, 28, size=ii.shape[0]))
    close_slots(book, jj, ii, start + day - 1, rec)
    bank_ok = ~book.watch[ii] & (e[ii] > -2.0)
    worry = book.price_sens[ii] * gap_pp[ii] + 0.5 * np.minimum(book.complaints[ii], 3.0)
    stay = sigmoid(2.2 + book.sat[ii] - worry)
    need = world.NEED_CONTINUES[book.slot_prod[jj, ii]]
    renew = on_time & bank_ok & (rng.random(ii.shape[0]) < stay * need)
    r_j, r_i = jj[renew], ii[renew]
    fee = originate(book, r_j, r_i, np.full(r_i.shape[0], m), day[renew], e, ctx, rng, rec)
    return book_fees(book, r_i, start + day[renew] - 1, fee, m, rec)


def prepay_and_reopen(
    book: Book,
    m: int,
    e: np.ndarray,
    ctx: Context,
    rng: np.random.Generator,
    rec: Ledger | None,
) -> np.ndarray:
    """Early repayment of term loans; new facilities in free slots that are needed. Fees back."""
    ok = book.performing() & (book.k == 0)
    jj, ii = cells(book.s_open & (book.slot_prod == world.TERM) & (book.s_orig_m < m))
    pick = ok[ii] & (rng.random(ii.shape[0]) < world.PREPAY_HAZARD)
    close_slots(book, jj[pick], ii[pick], days_in_month(ctx, m, rng, int(pick.sum())), rec)
    ok &= ~book.watch & (e > -1.5)
    jj, ii = cells(~book.s_open & book.slot_need & (book.slot_prod != world.PROJECT) & ok)
    appetite = 0.012 * np.exp(0.3 * book.engagement[ii] + 0.3 * book.sat[ii])
    pick = rng.random(ii.shape[0]) < appetite
    jj, ii = jj[pick], ii[pick]
    day = rng.integers(1, 28, size=ii.shape[0])
    fee = originate(book, jj, ii, np.full(ii.shape[0], m), day, e, ctx, rng, rec)
    return book_fees(book, ii, ctx.grid.start(m) + day - 1, fee, m, rec)


def book_fees(
    book: Book, ii: np.ndarray, day: np.ndarray, fee: np.ndarray, m: int, rec: Ledger | None
) -> np.ndarray:
    """Book arrangement fees on the origination dates; per-client totals back."""
    keep = fee != 0
    if rec is not None:
        src = np.full(int(keep.sum()), FEE)
        rec.add("revenue", cid=book.cid[ii[keep]], day=day[keep], amount=fee[keep], source=src)
    book.last_rev[ii[keep]] = m
    return per_client(book.n, ii, fee)


def days_past_due(book: Book, jj: np.ndarray, ii: np.ndarray, m: int, ctx: Context) -> np.ndarray:
    """Days past due at the end of month m of facilities ``(jj, ii)`` (0 if nothing owed).

    All drawn facilities of a client share its arrears: k missed monthly instalments, the
    oldest due on the client's due day (5th-25th) of month m-k+1. So k = 1, 2, 3 give
    1-29, 30-59, 60-89 days, and k >= 4 gives 90 or more.
    """
    k = book.k[ii].astype(np.int64)
    due_date = ctx.grid.start(m - k + 1) + book.due_day[ii].astype(np.int64) - 1
    owed = book.slot_drawn[jj, ii] & (book.s_out[jj, ii] > 0) & (k > 0)
    return np.where(owed, ctx.grid.end(m) - due_date, 0)


def available(book: Book, jj: np.ndarray, ii: np.ndarray, m: int) -> np.ndarray:
    """Committed amount facilities ``(jj, ii)`` can still draw at the end of month m.

    Revolvers, trade lines and guarantees: limit - outstanding; a project-finance loan
    during its construction (availability) months likewise; a term loan, and a project
    loan once it amortises: 0 (repaid principal cannot be redrawn). A defaulted client's
    lines are frozen: 0.
    """
    prod = book.slot_prod[jj, ii]
    headroom = np.maximum(book.s_limit[jj, ii] - book.s_out[jj, ii], 0.0)
    drawing = (prod == world.PROJECT) & (m - book.s_orig_m[jj, ii] < book.s_ramp[jj, ii])
    can_draw = np.isin(prod, (world.REVOLVER, world.TRADE, world.GUARANTEE)) | drawing
    return np.round(np.where(can_draw & ~book.defaulted[ii], headroom, 0.0), 2)


def record_balances(book: Book, m: int, ctx: Context, rec: Ledger) -> None:
    jj, ii = cells(book.s_open)
    rec.add(
        "facility_balances",
        fid=book.s_fid[jj, ii],
        day=np.full(ii.shape[0], ctx.grid.end(m)),
        out=book.s_out[jj, ii],
        dpd=days_past_due(book, jj, ii, m, ctx).astype(np.int64),
        avail=available(book, jj, ii, m),
    )
