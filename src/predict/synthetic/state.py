"""The state of the simulated book: one array per attribute, one entry per client.

Facility attributes are ``(N_SLOTS, n_clients)`` arrays (slot-major, so that sums over a
client's slots are fast): a client holds at most one facility per slot at a time (slot
products in :data:`world.SLOT_PRODUCT`); a closed slot may open again with a new facility.
Services held are ``(N_SERVICES, n_clients)`` too. Copying a subset of clients, possibly
repeated (``take``), is how the truth replicates the state at an as-of date into many
simulated futures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

NEVER = -(10**6)  # "no such month" for month-index fields


@dataclass
class Book:
    # who the client is (never changes)
    cid: np.ndarray
    seg: np.ndarray
    ind: np.ndarray
    region: np.ndarray
    branch: np.ndarray
    rm: np.ndarray
    turnover: np.ndarray
    pf_size: np.ndarray
    onboard_m: np.ndarray
    onboard_day: np.ndarray
    prospect: np.ndarray
    crm: np.ndarray
    covenants: np.ndarray
    # latent traits (never change; written to traits.parquet)
    q_mean: np.ndarray
    sat_mean: np.ndarray
    price_sens: np.ndarray
    engagement: np.ndarray
    price_gap: np.ndarray
    contact: np.ndarray
    service_q: np.ndarray
    util_mean: np.ndarray
    trade_phase: np.ndarray
    due_day: np.ndarray
    survey_phase: np.ndarray
    slot_prod: np.ndarray
    slot_need: np.ndarray
    slot_drawn: np.ndarray  # derived from slot_prod (kept to save work every month)
    slot_floating: np.ndarray
    slot_spread: np.ndarray
    svc_appetite: np.ndarray  # (services, n): monthly take-up rate at neutral mood
    svc_fail: np.ndarray  # probability that a service request goes wrong
    request_rate: np.ndarray  # service requests per month per product held
    # the relationship, month by month
    live: np.ndarray
    churned: np.ndarray
    terminated: np.ndarray
    defaulted: np.ndarray
    default_m: np.ndarray
    churn_m: np.ndarray
    x: np.ndarray
    sat: np.ndarray
    complaints: np.ndarray
    k: np.ndarray
    watch: np.ndarray
    breach: np.ndarray
    forborne: np.ndarray
    holds: np.ndarray
    pending: np.ndarray
    last_rev: np.ndarray
    # facilities, one column per slot
    s_open: np.ndarray
    s_fid: np.ndarray
    s_limit: np.ndarray
    s_rate: np.ndarray
    s_base0: np.ndarray
    s_out: np.ndarray
    s_util: np.ndarray
    s_orig_m: np.ndarray
    s_mat_m: np.ndarray
    s_day: np.ndarray
    s_ramp: np.ndarray
    s_balloon: np.ndarray

    @property
    def n(self) -> int:
        return int(self.cid.shape[0])

    def take(self, idx: np.ndarray) -> Book:
        """A new book of the clients at ``idx`` (repeats allowed), every array copied."""
        cols = {}
        for f in dataclasses.fields(self):
            arr = getattr(self, f.name)
            cols[f.name] = arr[:, idx] if f.name in WIDE else arr[idx]
        return Book(**cols)

    def customer(self) -> np.ndarray:
        """Onboarded clients (not prospects) whose relationship has not ended."""
        return self.live & ~self.prospect

    def performing(self) -> np.ndarray:
        """Customers not in default."""
        return self.live & ~self.prospect & ~self.defaulted

    def drawn(self) -> np.ndarray:
        """``(slots, n)``: open facilities of a drawn product with a positive balance."""
        return self.s_open & self.slot_drawn & (self.s_out > 0)

    def active(self, m: int, inactivity_months: int) -> np.ndarray:
        """The contract's "active at the end of month m" from the state after month m."""
        recent = self.last_rev >= m - inactivity_months + 1
        return any_row(self.s_open) | recent


WIDE = frozenset(
    {f.name for f in dataclasses.fields(Book) if f.name.startswith(("s_", "slot_"))}
    | {"holds", "svc_appetite"}
)


def any_row(mask: np.ndarray) -> np.ndarray:
    """Per client: any of the rows (slots, services) true; faster than ``any(axis=0)``."""
    out = mask[0].copy()
    for row in mask[1:]:
        out |= row
    return out


def count_rows(mask: np.ndarray) -> np.ndarray:
    """Per client: how many of the rows are true."""
    out = mask[0].astype(np.int16)
    for row in mask[1:]:
        out += row
    return out


def cells(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(row, client)`` indices of the true cells of a ``(rows, n)`` mask (fast nonzero)."""
    flat = np.flatnonzero(mask)
    return np.divmod(flat, mask.shape[1])


def empty_slots(n: int, n_slots: int) -> dict[str, np.ndarray]:
    """Facility arrays of ``n`` clients with every slot closed."""
    shape = (n_slots, n)
    return {
        "s_open": np.zeros(shape, dtype=bool),
        "s_fid": np.full(shape, -1, dtype=np.int64),
        "s_limit": np.zeros(shape),
        "s_rate": np.zeros(shape),
        "s_base0": np.zeros(shape),
        "s_out": np.zeros(shape),
        "s_util": np.zeros(shape),
        "s_orig_m": np.full(shape, NEVER, dtype=np.int32),
        "s_mat_m": np.full(shape, NEVER, dtype=np.int32),
        "s_day": np.ones(shape, dtype=np.int8),
        "s_ramp": np.zeros(shape, dtype=np.int16),
        "s_balloon": np.zeros(shape),
    }
