"""Who the clients are: segments, industries, branches, relationship managers, latent traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from predict.synthetic import world
from predict.synthetic.config import GenerateConfig
from predict.synthetic.state import NEVER, Book, empty_slots

CLIENTS_PER_RM = 150


@dataclass(frozen=True)
class Network:
    """Branches (each in a region) and relationship managers (each in a branch)."""

    branch_region: np.ndarray
    branch_weight: np.ndarray
    branch_quality: np.ndarray
    rm_offset: np.ndarray  # first RM index of each branch
    rm_count: np.ndarray
    rm_quality: np.ndarray
    rm_pricing: np.ndarray


def build_network(config: GenerateConfig, rng: np.random.Generator) -> Network:
    n_b = config.n_branches
    region = np.arange(n_b) % len(world.REGIONS)
    per_region = np.bincount(region, minlength=len(world.REGIONS))
    weight = rng.dirichlet(np.full(n_b, 4.0)) * world.REGION_WEIGHT[region] / per_region[region]
    weight /= weight.sum()
    count = np.maximum(2, np.rint(weight * config.n_clients / CLIENTS_PER_RM)).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    n_rm = int(count.sum())
    return Network(
        branch_region=region,
        branch_weight=weight,
        branch_quality=rng.normal(0.0, 0.25, n_b),
        rm_offset=offset,
        rm_count=count,
        rm_quality=rng.normal(0.0, 0.35, n_rm),
        rm_pricing=rng.normal(0.0, 0.0015, n_rm),
    )


def build_population(config: GenerateConfig, net: Network, rng: np.random.Generator) -> Book:
    """A book of ``config.n_clients`` clients, none onboarded yet, no facility open."""
    n = config.n_clients
    prospect = rng.random(n) < config.prospect_share
    seg = rng.choice(len(world.SEGMENTS), size=n, p=world.SEGMENT_SHARE).astype(np.int8)
    ind = _industries(seg, rng)
    branch = rng.choice(len(net.branch_weight), size=n, p=net.branch_weight)
    hub = net.branch_region[branch]  # the region's first branch serves large clients
    branch = np.where(seg >= world.LARGE, np.minimum(hub, len(net.branch_weight) - 1), branch)
    region = net.branch_region[branch].astype(np.int8)
    rm = net.rm_offset[branch] + (rng.random(n) * net.rm_count[branch]).astype(np.int64)
    onboard_m = _onboarding_months(config, prospect, rng)
    statics = _statics(seg, ind, region, prospect, config, rng)
    statics["service_q"] = net.rm_quality[rm] + net.branch_quality[branch]
    statics["svc_fail"] = 1.0 / (1.0 + np.exp(2.2 + 0.8 * statics["service_q"]))
    statics["price_gap"] = rng.normal(0.0, 0.003, n) + net.rm_pricing[rm]
    dyn = _initial_dynamics(n)
    return Book(
        cid=np.arange(n, dtype=np.int64),
        seg=seg,
        ind=ind,
        region=region,
        branch=branch.astype(np.int32),
        rm=rm.astype(np.int32),
        onboard_m=onboard_m,
        onboard_day=rng.integers(1, 28, size=n).astype(np.int8),
        prospect=prospect,
        crm=rng.random(n) >= config.no_interaction_share,
        **statics,
        **dyn,
        **empty_slots(n, world.N_SLOTS),
    )


def _industries(seg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n_ind = len(world.INDUSTRIES)
    general = rng.choice(
        n_ind, size=seg.shape[0], p=world.INDUSTRY_WEIGHT / world.INDUSTRY_WEIGHT.sum()
    )
    pf_w = world.PF_INDUSTRY_WEIGHT / world.PF_INDUSTRY_WEIGHT.sum()
    pf = rng.choice(n_ind, size=seg.shape[0], p=pf_w)
    return np.where(seg == world.PF, pf, general).astype(np.int8)


def _onboarding_months(
    config: GenerateConfig, prospect: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Month index of onboarding: some long before the data start, the rest spread over it."""
    n, months = prospect.shape[0], config.months
    pre = rng.random(n) < np.where(prospect, 0.2, config.pre_start_share)
    age = np.minimum(rng.exponential(np.where(prospect, 8.0, 66.0)), 300).astype(np.int32)
    ramp = np.linspace(1.0, 1.3, months)
    new = np.asarray(rng.choice(months, size=n, p=ramp / ramp.sum()), dtype=np.int32)
    return np.where(pre, -1 - age, new).astype(np.int32)


def _statics(
    seg: np.ndarray,
    ind: np.ndarray,
    region: np.ndarray,
    prospect: np.ndarray,
    config: GenerateConfig,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    n = seg.shape[0]
    z_sat = rng.normal(size=n)
    turnover = np.exp(
        np.log(world.TURNOVER_MEDIAN[seg]) + world.TURNOVER_LOG_SD[seg] * rng.normal(size=n)
    )
    slot_prod = np.tile(world.SLOT_PRODUCT.astype(np.int8)[:, None], (1, n))
    slot_prod[0, seg == world.PF] = world.PROJECT
    need = (rng.random((world.N_SLOTS, n)) < world.SLOT_NEED[seg].T) & ~prospect
    sens = rng.beta(2.0, 3.0, n) + np.where(seg == world.LARGE, 0.15, 0.0)
    contact = np.exp(rng.normal(0.0, 0.35, n)) * world.CONTACT_RATE[seg]
    return {
        "turnover": turnover,
        "pf_size": turnover / rng.uniform(0.08, 0.14, n),
        "covenants": rng.random(n) < world.COVENANT_SHARE[seg],
        "q_mean": world.SEGMENT_QUALITY[seg]
        + world.INDUSTRY_QUALITY[ind]
        + world.REGION_QUALITY[region]
        + rng.normal(size=n),
        "sat_mean": 0.6 * z_sat,
        "price_sens": np.clip(sens, 0.0, 1.0),
        "engagement": 0.35 * z_sat + np.sqrt(1 - 0.35**2) * rng.normal(size=n),
        "contact": contact,
        "util_mean": rng.beta(2.5, 3.5, n),
        "trade_phase": rng.uniform(0.0, 12.0, n),
        "due_day": rng.integers(5, 26, size=n).astype(np.int8),
        "survey_phase": rng.integers(0, 6, size=n).astype(np.int8),
        "slot_prod": slot_prod,
        "slot_need": need,
        "slot_drawn": world.DRAWN[slot_prod],
        "slot_floating": world.FLOATING[slot_prod],
        "slot_spread": world.SPREAD[slot_prod],
        "svc_appetite": world.SERVICE_APPETITE.T[:, seg],
        "request_rate": 0.10 * np.sqrt(contact),
    }


def _initial_dynamics(n: int) -> dict[str, np.ndarray]:
    return {
        "live": np.zeros(n, dtype=bool),
        "churned": np.zeros(n, dtype=bool),
        "terminated": np.zeros(n, dtype=bool),
        "defaulted": np.zeros(n, dtype=bool),
        "default_m": np.full(n, NEVER, dtype=np.int32),
        "churn_m": np.full(n, NEVER, dtype=np.int32),
        "x": np.zeros(n),
        "sat": np.zeros(n),
        "complaints": np.zeros(n),
        "k": np.zeros(n, dtype=np.int16),
        "watch": np.zeros(n, dtype=bool),
        "breach": np.zeros(n, dtype=bool),
        "forborne": np.zeros(n, dtype=np.int16),
        "holds": np.zeros((len(world.SERVICES), n), dtype=bool),
        "pending": np.zeros(n),
        "last_rev": np.full(n, NEVER, dtype=np.int32),
    }
