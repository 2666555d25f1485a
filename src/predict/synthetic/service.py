"""Service: contacts, service requests, complaints, surveys and the latent satisfaction."""

from __future__ import annotations

import numpy as np

from predict.synthetic import world
from predict.synthetic.context import Context, sigmoid
from predict.synthetic.ledger import Ledger
from predict.synthetic.state import Book, count_rows

PROSPECT_MONTHS = 18  # how long a prospect stays in the sales pipeline
SURVEY_EVERY = 6


def serve(book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger | None) -> None:
    """One month of contacts; complaints and meetings move satisfaction (the rest is recorded)."""
    cust, perf = book.customer(), book.performing()
    arrears = (book.k > 0) & cust
    n_rel = count_rows(book.s_open) + count_rows(book.holds)
    u = rng.random((3, book.n))
    meet = small_poisson(0.15 * book.contact * perf, u[0])
    requests = small_poisson(book.request_rate * (1 + 0.3 * n_rel) * cust, u[1])
    lam = 0.006 * np.exp(-0.8 * book.sat) + 0.5 * book.svc_fail * requests + 0.05 * arrears
    complaints = small_poisson(lam * cust, u[2])
    pull = 0.12 * (book.sat_mean + 0.4 * book.service_q - book.sat)
    shock = 0.12 * rng.normal(size=book.n) - 0.45 * complaints + 0.05 * meet - 0.1 * arrears
    book.sat = np.where(book.live, book.sat + pull + shock, book.sat)
    book.complaints = 0.85 * book.complaints + complaints
    if rec is not None:
        counts = _other_contacts(book, m, rng, cust, arrears)
        counts[:, world.MEETING] += meet
        counts[:, world.SERVICE] = requests
        counts[:, world.COMPLAINT] = complaints
        _record_contacts(book, m, ctx, rng, rec, counts * book.crm[:, None])
        _record_surveys(book, m, ctx, rng, rec, perf & book.crm)


def small_poisson(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Poisson counts by inverting the CDF with one uniform each, capped at 4 (rates < 1)."""
    p = np.exp(-lam)
    cdf, count = p.copy(), (u > p).astype(np.int64)
    for k in range(1, 4):
        p = p * lam / k
        cdf += p
        count += u > cdf
    return count


def _other_contacts(
    book: Book, m: int, rng: np.random.Generator, cust: np.ndarray, arrears: np.ndarray
) -> np.ndarray:
    """Contacts that leave no trace in the latent state: calls, e-mails, prospect meetings."""
    pipeline = book.live & book.prospect & (m - book.onboard_m < PROSPECT_MONTHS)
    counts = np.zeros((book.n, len(world.KINDS)), dtype=np.int64)
    counts[:, world.MEETING] = rng.poisson(np.where(pipeline, 0.10, 0.0))
    call = np.where(cust, 0.25 * book.contact + 1.5 * arrears, np.where(pipeline, 0.12, 0.0))
    counts[:, world.CALL] = rng.poisson(call)
    counts[:, world.EMAIL] = rng.poisson(
        np.where(cust, 0.4 * book.contact, np.where(pipeline, 0.15, 0.0))
    )
    return counts


def _record_contacts(
    book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger, counts: np.ndarray
) -> None:
    flat = counts.ravel()
    cells = np.repeat(np.arange(flat.shape[0]), flat)
    ii, kind = cells // counts.shape[1], cells % counts.shape[1]
    n = ii.shape[0]
    day = ctx.grid.start(m) + (rng.random(n) * ctx.grid.days_in(m)).astype(np.int64)
    null = np.full(n, -1)
    rec.add(
        "interactions",
        cid=book.cid[ii],
        day=day,
        kind=kind,
        channel=_channels(kind, ctx, rng),
        csat=null,
        nps=null,
    )


def _channels(kind: np.ndarray, ctx: Context, rng: np.random.Generator) -> np.ndarray:
    cum = np.cumsum(world.CHANNEL_MIX, axis=1)[kind]
    channel = (rng.random((kind.shape[0], 1)) > cum).sum(axis=1)
    channel = np.minimum(channel, len(world.CHANNELS) - 1)
    return np.where(rng.random(kind.shape[0]) < ctx.missing_rate, -1, channel)


def _record_surveys(
    book: Book, m: int, ctx: Context, rng: np.random.Generator, rec: Ledger, eligible: np.ndarray
) -> None:
    """A relationship survey every six months; answers follow satisfaction, many never come."""
    ii = np.nonzero(eligible & ((m - book.survey_phase) % SURVEY_EVERY == 0))[0]
    n = ii.shape[0]
    sat = book.sat[ii]
    answered = rng.random(n) < sigmoid(-0.5 + 0.5 * book.engagement[ii] + 0.3 * np.abs(sat))
    csat = np.clip(np.rint(3.8 + 0.9 * sat + rng.normal(0.0, 0.6, n)), 1, 5).astype(np.int64)
    nps = np.clip(np.rint(7.9 + 1.5 * sat + rng.normal(0.0, 1.1, n)), 0, 10).astype(np.int64)
    partial = rng.random(n)
    csat = np.where(answered & (partial >= 0.05), csat, -1)
    nps = np.where(answered & ((partial < 0.05) | (partial >= 0.10)), nps, -1)
    kind = np.full(n, world.SURVEY)
    rec.add(
        "interactions",
        cid=book.cid[ii],
        day=ctx.grid.start(m) + (rng.random(n) * ctx.grid.days_in(m)).astype(np.int64),
        kind=kind,
        channel=_channels(kind, ctx, rng),
        csat=csat,
        nps=nps,
    )
