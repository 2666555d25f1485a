"""Regulatory capital: the Basel IRB risk-weight function for corporate exposures.

For an exposure not in default (BCBS, Basel II June 2006 paras 272-273; Basel III CRE31.4-31.9):

- ``PD`` floored at ``pd_floor`` (CRE32.5: 0.05% for corporates; 0.03% under Basel II);
- correlation ``R = 0.12 w + 0.24 (1 - w)``, ``w = (1 - exp(-50 PD)) / (1 - exp(-50))``,
  less the SME firm-size adjustment ``0.04 (1 - (S - 5) / 45)`` where the annual turnover
  ``S`` (EUR millions, bounded to [5, 50]) is known and below 50;
- maturity adjustment ``b = (0.11852 - 0.05478 ln PD)^2``;
- ``K = [LGD N((1-R)^-0.5 G(PD) + (R / (1-R))^0.5 G(0.999)) - PD LGD]
  x (1 - 1.5 b)^-1 x (1 + (M - 2.5) b)``, M the effective maturity in years bounded to
  [1, 5];
- capital = ``scaling_factor x K x EAD`` (RWA = 12.5 x K x EAD).

An exposure in default (``in_default`` true, or PD = 1) has K = 0 here (the foundation
treatment: the loss is expected, covered by EL and provisions), whatever its model PD.
Checked against the illustrative risk weights of Basel II Annex 5 (``tests/unit/test_capital.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapitalConfig:
    """``score.value.capital`` in params.yaml."""

    pd_floor: float = 0.0005  # Basel III CRE32.5 (corporates); Basel II used 0.0003
    confidence: float = 0.999  # G(0.999) in the formula
    maturity_floor_years: float = 1.0  # M is bounded to [floor, cap] (CRE32.47)
    maturity_cap_years: float = 5.0
    default_maturity_years: float = 2.5  # M when no open facility has a maturity date
    sme_turnover_million: float = 50.0  # firm-size adjustment below this turnover (EUR m)
    sme_turnover_floor_million: float = 5.0  # smaller turnovers count as this
    turnover_unit: float = 1.0e6  # clients.annual_turnover / turnover_unit = S in EUR millions
    scaling_factor: float = 1.0  # x K; Basel II applied 1.06, Basel III none

    def __post_init__(self) -> None:
        if not 0.0 < self.pd_floor < 1.0 or not 0.5 < self.confidence < 1.0:
            raise ValueError("score.value.capital: pd_floor and confidence must be in (0, 1)")
        if not 0.0 < self.maturity_floor_years <= self.maturity_cap_years:
            raise ValueError("score.value.capital: need 0 < maturity_floor <= maturity_cap")
        if self.turnover_unit <= 0 or self.scaling_factor <= 0:
            raise ValueError("score.value.capital: turnover_unit, scaling_factor must be > 0")


def correlation(pd_: np.ndarray, turnover_million: np.ndarray, config: CapitalConfig) -> np.ndarray:
    """Asset correlation R, with the SME adjustment where the turnover is known and small."""
    w = (1.0 - np.exp(-50.0 * pd_)) / (1.0 - np.exp(-50.0))
    r = 0.12 * w + 0.24 * (1.0 - w)
    lo, hi = config.sme_turnover_floor_million, config.sme_turnover_million
    s = np.clip(turnover_million, lo, hi)
    sme = np.isfinite(turnover_million) & (turnover_million < hi)
    return np.where(sme, r - 0.04 * (1.0 - (s - lo) / (hi - lo)), r)


def capital_requirement(
    pd_: pd.Series | np.ndarray,
    lgd: pd.Series | np.ndarray,
    maturity_years: pd.Series | np.ndarray,
    turnover_million: pd.Series | np.ndarray | None,
    config: CapitalConfig,
    in_default: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """K per unit of EAD (NaN where PD or LGD is unknown; 0 in default: ``in_default`` or
    PD >= 1, whatever the model PD of a client flagged in default)."""
    p = np.asarray(pd_, dtype="float64")
    defaulted = p >= 1.0
    if in_default is not None:
        defaulted |= pd.Series(np.asarray(in_default)).fillna(False).to_numpy(dtype=bool)
    lgd_ = np.asarray(lgd, dtype="float64")
    s = np.full(p.shape, np.nan) if turnover_million is None else np.asarray(turnover_million)
    m = np.asarray(maturity_years, dtype="float64")
    m = np.where(np.isnan(m), config.default_maturity_years, m)
    m = np.clip(m, config.maturity_floor_years, config.maturity_cap_years)
    floored = np.clip(p, config.pd_floor, 1.0 - 1e-12)
    r = correlation(floored, s.astype("float64"), config)
    b = (0.11852 - 0.05478 * np.log(floored)) ** 2
    z = (norm.ppf(floored) + np.sqrt(r) * norm.ppf(config.confidence)) / np.sqrt(1.0 - r)
    k = (lgd_ * norm.cdf(z) - floored * lgd_) * (1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b)
    k = np.where(defaulted, 0.0, np.maximum(k, 0.0))
    return np.where(~defaulted & (np.isnan(p) | np.isnan(lgd_)), np.nan, k)


def regulatory_capital(
    pd_: pd.Series,
    lgd: pd.Series,
    ead: pd.Series,
    maturity_years: pd.Series,
    turnover: pd.Series | None,
    config: CapitalConfig,
    in_default: pd.Series | None = None,
) -> pd.Series:
    """``scaling_factor x K x EAD`` per client; 0 without exposure or in default, NaN where K
    is unknown. ``turnover`` 0 is a real zero turnover (S bounded up to the floor), not unknown."""
    million = None if turnover is None else turnover.astype("float64") / config.turnover_unit
    k = capital_requirement(pd_, lgd, maturity_years, million, config, in_default)
    ead_ = ead.astype("float64").to_numpy()
    capital = np.where(ead_ == 0.0, 0.0, config.scaling_factor * k * ead_)
    return pd.Series(capital, index=ead.index, dtype="float64")
