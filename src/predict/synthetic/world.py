"""The fixed parameters of the synthetic world: segments, industries, products, regions.

These are the "physics" of the simulated bank. They are constants on purpose (documented in
``docs/synthetic.md``); the knobs a user turns (size, seed, dates, overall risk levels) live
in :class:`predict.synthetic.config.GenerateConfig`.
"""

from __future__ import annotations

import numpy as np

# --- segments -------------------------------------------------------------------------------
SEGMENTS: tuple[str, ...] = ("sme", "mid_corporate", "large_corporate", "project_finance")
SME, MID, LARGE, PF = 0, 1, 2, 3
SEGMENT_SHARE = np.array([0.70, 0.20, 0.07, 0.03])
TURNOVER_MEDIAN = np.array([4.0e6, 80.0e6, 1.2e9, 12.0e6])  # PF: operating revenue of the SPV
TURNOVER_LOG_SD = np.array([0.8, 0.6, 0.7, 0.6])
# Monthly log-odds of a missed payment (entry into 1-29 days past due) at average quality.
ARREARS_INTERCEPT = np.array([-4.25, -4.4, -6.3, -4.0])
# Extra log-odds of a default without 90 days past due (insolvency, distressed restructuring):
# for large borrowers the bank usually calls default before payments stop.
UTP_SEGMENT = np.array([0.0, 0.2, 0.3, 0.0])
# Average credit-quality index per segment (bigger, more diversified, more protected = higher).
SEGMENT_QUALITY = np.array([0.0, 0.35, 0.9, 0.3])
# Monthly log-odds of attrition to a competitor at average satisfaction.
ATTRITION_INTERCEPT = np.array([-5.5, -5.5, -5.3, -7.0])
WRITE_OFF_SHARE = np.array([0.60, 0.50, 0.40, 0.30])  # of resolved workouts; the rest recover
CONTACT_RATE = np.array([1.0, 1.6, 2.4, 1.3])  # relative intensity of RM contact
COVENANT_SHARE = np.array([0.25, 0.9, 1.0, 1.0])  # clients whose loans carry financial covenants
RATE_SEGMENT_ADD = np.array([0.010, 0.004, -0.004, 0.0])

# --- industries -----------------------------------------------------------------------------
INDUSTRIES: tuple[str, ...] = (
    "agriculture",
    "construction",
    "manufacturing",
    "wholesale_trade",
    "retail_trade",
    "transport_logistics",
    "hospitality",
    "real_estate",
    "energy_utilities",
    "technology_media",
    "healthcare",
    "professional_services",
)
INDUSTRY_WEIGHT = np.array([6, 9, 14, 12, 10, 7, 6, 8, 5, 7, 6, 10], dtype=float)
PF_INDUSTRY_WEIGHT = np.array([0, 0, 0, 0, 0, 20, 0, 15, 55, 0, 10, 0], dtype=float)
# Shift of the credit-quality index (negative = riskier) and sensitivity to the macro cycle.
INDUSTRY_QUALITY = np.array(
    [-0.10, -0.45, -0.10, -0.05, -0.25, -0.20, -0.40, -0.15, 0.30, 0.00, 0.35, 0.20]
)
INDUSTRY_CYCLICALITY = np.array([0.6, 1.4, 1.1, 0.9, 1.0, 1.2, 1.6, 1.2, 0.5, 0.8, 0.3, 0.6])
# Exposure of each industry to the scripted episodes (pandemic, energy/inflation, rate shock).
EPISODE_EXPOSURE = np.array(
    [
        # pandemic, energy, rates
        [0.1, 0.5, 0.1],  # agriculture
        [0.3, 0.3, 0.6],  # construction
        [0.3, 0.7, 0.2],  # manufacturing
        [0.2, 0.3, 0.2],  # wholesale_trade
        [0.7, 0.4, 0.2],  # retail_trade
        [0.8, 0.6, 0.1],  # transport_logistics
        [1.5, 0.5, 0.2],  # hospitality
        [0.2, 0.1, 0.8],  # real_estate
        [-0.1, -0.2, 0.1],  # energy_utilities
        [-0.2, 0.1, 0.2],  # technology_media
        [-0.2, 0.1, 0.0],  # healthcare
        [0.1, 0.1, 0.1],  # professional_services
    ]
)
# (start, peak, end) of each scripted episode and its strength in quality units.
EPISODES: tuple[tuple[str, str, str, float], ...] = (
    ("2020-03", "2020-06", "2021-09", 0.55),
    ("2022-02", "2022-10", "2023-12", 0.45),
    ("2022-09", "2023-09", "2025-06", 0.40),
)

# --- regions and branches -------------------------------------------------------------------
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
REGION_WEIGHT = np.array([0.22, 0.18, 0.15, 0.20, 0.25])
REGION_QUALITY = np.array([0.05, -0.10, -0.05, 0.0, 0.05])

# --- products -------------------------------------------------------------------------------
PRODUCTS: tuple[str, ...] = (
    "term_loan",
    "revolving_credit",
    "trade_finance",
    "guarantee",
    "project_finance",
)
TERM, REVOLVER, TRADE, GUARANTEE, PROJECT = 0, 1, 2, 3, 4
# A client holds at most one facility per slot at a time; a closed slot can be reopened.
SLOT_PRODUCT = np.array([TERM, REVOLVER, TRADE, GUARANTEE, TERM])
N_SLOTS = len(SLOT_PRODUCT)
# Probability that a client needs each slot's product (rows: segment; PF slot 0 = project loan).
SLOT_NEED = np.array(
    [
        [1.0, 0.50, 0.15, 0.15, 0.10],
        [1.0, 0.75, 0.40, 0.35, 0.30],
        [1.0, 0.90, 0.55, 0.55, 0.45],
        [1.0, 0.00, 0.00, 0.50, 0.00],
    ]
)
# Limit as a fraction of turnover, (low, high) per product and segment.
LIMIT_SHARE = np.array(
    [
        [[0.08, 0.35], [0.04, 0.20], [0.01, 0.06], [0.0, 0.0]],  # term loan
        [[0.05, 0.15], [0.03, 0.10], [0.01, 0.05], [0.0, 0.0]],  # revolving credit
        [[0.03, 0.10], [0.02, 0.08], [0.01, 0.04], [0.0, 0.0]],  # trade finance
        [[0.01, 0.05], [0.01, 0.04], [0.005, 0.02], [0.03, 0.08]],  # guarantee (PF: of project)
        [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.70, 0.85]],  # project finance (of project)
    ]
)
TENORS: tuple[tuple[int, ...], ...] = (
    (36, 48, 60, 84),
    (12, 12, 24, 36),
    (12,),
    (12, 24, 36, 60),
    (144, 180, 216, 240),
)
SPREAD = np.array([0.025, 0.020, 0.015, 0.012, 0.026])  # over the base rate (guarantee: fee)
FLOATING = np.array([False, True, True, False, False])
DRAWN = np.array([True, True, True, False, True])  # guarantees are off-balance: no arrears
ARRANGEMENT_FEE = np.array([0.0075, 0.0030, 0.0020, 0.0030, 0.0125])
COMMITMENT_FEE = 0.0040  # per year on the undrawn part of a revolving credit
NEED_CONTINUES = np.array([0.45, 0.90, 0.85, 0.70, 0.0])  # at maturity, per product
RISK_PREMIUM = 0.006  # extra spread per unit of weaker credit quality at origination
PREPAY_HAZARD = 0.003  # monthly early repayment of a term loan from own cash
# --- term changes of running facilities (facility_terms) ----------------------------------
LIMIT_CUT_HAZARD = 0.05  # monthly, a line (revolver, trade) of a watchlisted client is cut
LIMIT_CUT_KEEP = (0.5, 0.8)  # share of the limit kept by a cut (never below the drawn amount)
REPRICE_SHARE = 0.5  # lines repriced to today's rate for the client's risk at an anniversary
EXTEND_SHARE = 0.35  # lines reaching maturity extended by a year instead of renewed or repaid
EXTEND_MONTHS = 12

# --- cross-sold services --------------------------------------------------------------------
SERVICES: tuple[str, ...] = ("fx", "cash_management", "trade")
SERVICE_APPETITE = np.array(
    [
        [0.15, 0.35, 0.10],
        [0.35, 0.60, 0.30],
        [0.60, 0.85, 0.50],
        [0.10, 0.40, 0.00],
    ]
)
SERVICE_SCALE = np.array([90.0, 60.0, 90.0])  # monthly amount per (turnover in millions)^0.8
SERVICE_NOISE = np.array([0.6, 0.15, 0.5])

# --- revenue sources, interaction kinds, channels, credit-event kinds -----------------------
SOURCES: tuple[str, ...] = ("interest", "fee", "fx", "cash_management", "trade")
KINDS: tuple[str, ...] = ("rm_meeting", "call", "email", "service_request", "complaint", "survey")
MEETING, CALL, EMAIL, SERVICE, COMPLAINT, SURVEY = range(6)
CHANNELS: tuple[str, ...] = ("branch", "client_site", "video", "phone", "email", "portal")
# Channel mix per interaction kind (rows: kinds, columns: CHANNELS).
CHANNEL_MIX = np.array(
    [
        [0.50, 0.35, 0.15, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        [0.20, 0.0, 0.0, 0.30, 0.0, 0.50],
        [0.25, 0.0, 0.0, 0.45, 0.20, 0.10],
        [0.0, 0.0, 0.0, 0.0, 0.60, 0.40],
    ]
)
EVENT_KINDS: tuple[str, ...] = (
    "default",
    "write_off",
    "restructuring",
    "covenant_breach",
    "watchlist",
)
DEFAULT_EV, WRITE_OFF_EV, RESTRUCTURING_EV, COVENANT_EV, WATCHLIST_EV = range(5)
