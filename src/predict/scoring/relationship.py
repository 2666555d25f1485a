"""The relationship evaluation: exposure, expected loss, value and action.

All figures are over the model horizon H (params ``labels``/``features``): the default
probability is the probability of default within H and the expected contribution is the
revenue expected within H, so ``relationship_value = expected_contribution - expected_loss``
is the risk-adjusted value of the relationship over the same H months.

- ``EAD = drawn + CCF(product) x undrawn`` summed over the client's facilities open at the
  as-of date (``origination_date <= as_of`` and no ``closed_date`` on or before it). Drawn is
  the latest ``facility_balances.outstanding`` at a month end on or before the as-of date; an
  open facility with no balance yet counts as fully drawn (conservative). Undrawn is the
  committed amount the client can still draw: ``facility_balances.available`` of that month
  end where given, else the product's rule (``undrawn``: ``headroom`` = limit - drawn for
  revolving-type products, ``none`` = 0 for amortising loans, whose repaid principal cannot
  be redrawn, so their EAD is the outstanding). ``utilisation = drawn / (drawn + undrawn)``.
- Limits and maturities are the terms in force at the as-of date: with the optional
  ``facility_terms`` table, per term the latest value of a row dated on or before it, else
  the value recorded in ``facilities`` (as the features read them, docs/data_dictionary.md),
  so scoring an earlier as-of never uses a later limit cut or maturity extension.
- ``LGD`` by product; a client's LGD is the EAD-weighted mean over its open facilities;
  missing for a client with no exposure (EAD 0: nothing to lose, so no LGD to state; its
  expected loss is 0). The contract has no collateral field, so secured vs unsecured is
  expressed through the product.
- ``funded_drawn``: the drawn balance of the facilities the bank funds (``funded``, by
  product: an issued guarantee's outstanding is a contingent liability, not a funded
  balance); the value's funding cost is charged on it (:mod:`~predict.scoring.value`).
- ``expected_loss = PD x LGD x EAD``; 0 for a client without exposure (no PD either).
- ``action``: the first rule in the ordered params list whose conditions all hold, else the
  default action. Rules are data (column, operator, value). A threshold is a fixed value,
  never a quantile of the scored portfolio: a client's action depends only on its own data
  and the model folders. To pick "the top quarter", test a percentile frozen at training
  (``expected_contribution_percentile``: the client's expected contribution among the
  contribution model's predictions for its segment, :mod:`predict.scoring.dimensions`).
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN
from predict.scoring.capital import CapitalConfig
from predict.scoring.early_warning import EarlyWarningConfig

log = logging.getLogger(__name__)

EXPOSURE_COLUMNS = (
    "client_id",
    "open_facilities",
    "limit_total",
    "drawn",
    "undrawn",
    "ead",
    "lgd",
    "utilisation",
    "maturity_years",
    "capital_maturity_years",
    "funded_drawn",
)
# Columns a rule may test; those of the previous scoring exist only when there is one.
RULE_COLUMNS = frozenset(
    {
        "churn_probability",
        "default_probability",
        "expected_contribution",
        "ead",
        "lgd",
        "expected_loss",
        "relationship_value",
        "rating_grade",
        "grade_change",
        "capital",
        "economic_profit",
        "raroc",
        "contribution_at_risk",
        "utilisation",
        "limit_total",
        "drawn",
        "undrawn",
        "open_facilities",
        "segment",
        "lifecycle_stage",
        "ever_defaulted",
        "branch_id",
        "churn_probability_change",
        "default_probability_change",
        "one_year_default_probability",
        "one_year_default_probability_change",
        "previous_churn_probability",
        "previous_default_probability",
        "potential_value",
        "growth_potential",
        # relationship dimensions (predict.scoring.dimensions, computed before the actions)
        "expected_contribution_percentile",
        "realised_contribution_percentile",
        "satisfaction_score",
        "loyalty_score",
        "retention_score",
        "contribution_score",
        "trust_score",
        "relationship_index",
    }
)
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Condition:
    """``column op value``. ``quantile`` (a portfolio quantile, accepted before) is refused:
    it made a client's action depend on who else was scored."""

    column: str
    op: str
    value: float | str | None = None
    quantile: float | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(
                f"rule condition on {self.column!r}: unknown operator {self.op!r}; "
                f"use one of {sorted(_OPS)}"
            )
        if self.quantile is not None:
            raise ValueError(
                f"rule condition on {self.column!r}: quantile {self.quantile:g} (a quantile of "
                "the scored portfolio) is no longer accepted: it made a client's action depend "
                "on who else is scored; give a value, or test a percentile frozen at training "
                "(expected_contribution_percentile >= 75 for the top quarter of the segment)"
            )
        if self.value is None:
            raise ValueError(f"rule condition on {self.column!r}: give a value")
        if self.column not in RULE_COLUMNS:
            raise ValueError(
                f"rule condition: unknown column {self.column!r}; "
                f"rules may test {sorted(RULE_COLUMNS)}"
            )

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value}"


@dataclass(frozen=True)
class ActionRule:
    """``action`` when every condition of ``when`` holds; ``rationale``: why (model card)."""

    action: str
    when: tuple[Condition, ...] = ()
    rationale: str | None = None  # the bank's reason for the rule, shown on the model card

    def __post_init__(self) -> None:
        if self.rationale is not None and not str(self.rationale).strip():
            raise ValueError(
                f"rule {self.action!r}: rationale is empty; leave it out or write the reason"
            )

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.when) or "always"


def _stage_is(stage: str) -> Condition:
    return Condition("lifecycle_stage", "==", stage)


def _default_rules() -> tuple[ActionRule, ...]:
    """The params' rules: workout for clients in default; churned clients and prospects
    their own (win back, convert, or none), never watch / retain / grow; then the rest."""
    expects_revenue = Condition("expected_contribution", ">", 0)
    never_defaulted = Condition("ever_defaulted", "==", 0)
    return (
        ActionRule("workout", (_stage_is("in_default"),)),
        ActionRule("win_back", (_stage_is("churned"), never_defaulted, expects_revenue)),
        ActionRule("none", (_stage_is("churned"),)),
        ActionRule("convert", (_stage_is("potential"), expects_revenue)),
        ActionRule("none", (_stage_is("potential"),)),
        ActionRule("watch", (Condition("one_year_default_probability", ">=", 0.05),)),
        ActionRule("watch", (Condition("one_year_default_probability_change", ">=", 0.02),)),
        ActionRule(
            "retain",
            (
                Condition("expected_contribution_percentile", ">=", 75),
                Condition("churn_probability", ">=", 0.2),
            ),
        ),
        ActionRule(
            "grow",
            (
                Condition("one_year_default_probability", "<", 0.01),
                Condition("churn_probability", "<", 0.1),
                Condition("utilisation", "<", 0.7),
            ),
        ),
    )


UNDRAWN_RULES = ("headroom", "none")


@dataclass(frozen=True)
class RelationshipConfig:
    """``score.relationship`` in params.yaml."""

    ccf: dict[str, float] = field(default_factory=dict)  # by product
    lgd: dict[str, float] = field(default_factory=dict)  # by product
    default_ccf: float = 0.5
    default_lgd: float = 0.45
    # Undrawn commitment when facility_balances.available is absent, by product:
    # headroom (limit - drawn, revolving-type) or none (0, amortising).
    undrawn: dict[str, str] = field(default_factory=dict)
    default_undrawn: str = "headroom"  # products not listed (conservative: full headroom)
    # Whether the drawn balance is funded by the bank (funding cost), by product: an issued
    # guarantee is off balance sheet (false); products not listed: default_funded.
    funded: dict[str, bool] = field(default_factory=dict)
    default_funded: bool = True
    rules: tuple[ActionRule, ...] = field(default_factory=_default_rules)
    default_action: str = "maintain"
    early_warning: EarlyWarningConfig = field(default_factory=EarlyWarningConfig)

    def __post_init__(self) -> None:
        for product, rule in {**self.undrawn, "(default_undrawn)": self.default_undrawn}.items():
            if rule not in UNDRAWN_RULES:
                raise ValueError(
                    f"score.relationship.undrawn: product {product!r} has rule {rule!r}; "
                    f"use one of {list(UNDRAWN_RULES)}"
                )
        for product, flag in {**self.funded, "(default_funded)": self.default_funded}.items():
            if not isinstance(flag, bool):
                raise ValueError(
                    f"score.relationship.funded: product {product!r} has {flag!r}; "
                    "use true or false"
                )


def _timestamp(as_of: dt.date | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(as_of).normalize()


TERMS = ("limit_amount", "interest_rate", "maturity_date")


def terms_in_force(
    facilities: pd.DataFrame, terms: pd.DataFrame | None, as_of: dt.date | pd.Timestamp
) -> pd.DataFrame:
    """``facilities`` with each term (limit, rate, maturity) in force at ``as_of``: the latest
    non-empty value of a ``facility_terms`` row dated on or before it, else as recorded."""
    if terms is None or terms.empty:
        return facilities
    t = _timestamp(as_of)
    dated = terms.loc[pd.to_datetime(terms["effective_date"]) <= t]
    dated = dated.sort_values(["facility_id", "effective_date"], kind="stable")
    out = facilities.copy()
    ids = out["facility_id"].astype("str")
    for column in TERMS:
        if column not in dated.columns:
            continue
        given = dated.loc[dated[column].notna()]
        latest = given.groupby(given["facility_id"].astype("str"), sort=False)[column].last()
        in_force = ids.map(latest)
        recorded = out.get(column, pd.Series(np.nan, index=out.index, dtype=given[column].dtype))
        if pd.api.types.is_datetime64_any_dtype(recorded):
            in_force = pd.to_datetime(in_force).astype(recorded.dtype)
        out[column] = in_force.where(in_force.notna(), recorded)
    return out


def facility_exposure(
    facilities: pd.DataFrame,
    balances: pd.DataFrame | None,
    as_of: dt.date | pd.Timestamp,
    config: RelationshipConfig,
    terms: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Point-in-time exposure at ``as_of`` (one row per facility), on the terms in force at
    ``as_of`` (``terms``: the optional ``facility_terms`` table): every facility open at
    ``as_of``, and every facility closed on paper that still has a balance outstanding at
    the ``as_of`` month end (the features' ``has_exposure`` counts it: the client is in the
    default model's population, so its exposure must be too); such a closed line's EAD is
    its balance (``undrawn`` 0, ``undrawn_source`` ``closed``: nothing more can be drawn)."""
    t = _timestamp(as_of)
    facilities = terms_in_force(facilities, terms, t)
    started = facilities["origination_date"] <= t
    closed = (facilities["closed_date"] <= t).fillna(False)
    open_ = facilities[started & ~closed]
    out = _facility_terms(open_, t, config)
    latest = _latest_balances(balances, t)
    out = out.merge(latest, on="facility_id", how="left")
    limit = out["limit_amount"].astype("float64")
    product = out["product"].astype("str")
    if balances is None:
        log.warning(
            "no facility_balances table: drawn, undrawn and utilisation are unknown; "
            "EAD of each of %d open facilities is its limit (conservative)",
            len(out),
        )
        out["drawn"] = np.nan
        out["undrawn"] = np.nan
        out["undrawn_source"] = "unknown"
        out["ead"] = limit
        _warn_unlisted_products(out["product"], config)
        return out
    unknown = out["drawn"].isna()
    if unknown.any():
        log.info(
            "%d open facilities have no balance on or before %s: counted as fully drawn",
            int(unknown.sum()),
            t.date(),
        )
    out["drawn"] = out["drawn"].astype("float64").fillna(limit)
    rule = product.map(config.undrawn).fillna(config.default_undrawn).astype("str")
    headroom = (limit - out["drawn"]).clip(lower=0.0)
    by_rule = pd.Series(np.where(rule == "headroom", headroom, 0.0), index=out.index)
    given = out["available"].astype("float64")
    out["undrawn"] = given.where(given.notna(), by_rule).clip(lower=0.0)
    out["undrawn_source"] = np.where(given.notna(), "available", "rule:" + rule)
    out["ead"] = out["drawn"] + out["ccf"] * out["undrawn"]
    owed = _closed_with_balance(facilities[started & closed], balances, t, config)
    out = out if owed.empty else pd.concat([out, owed], ignore_index=True)
    _warn_unlisted_products(out["product"], config)
    return out


def _facility_terms(
    facilities: pd.DataFrame, t: pd.Timestamp, config: RelationshipConfig
) -> pd.DataFrame:
    """facility_id, client_id, product, limit, maturity in years, CCF, LGD and funded."""
    out = facilities[["facility_id", "client_id", "product", "limit_amount"]].copy()
    maturity = facilities.get("maturity_date", pd.Series(pd.NaT, index=facilities.index))
    out["maturity_years"] = ((pd.to_datetime(maturity) - t).dt.days / 365.25).clip(lower=0.0)
    product = out["product"].astype("str")
    out["ccf"] = product.map(config.ccf).astype("float64").fillna(config.default_ccf)
    out["lgd"] = product.map(config.lgd).astype("float64").fillna(config.default_lgd)
    funded = product.map(config.funded).astype("object").fillna(config.default_funded)
    out["funded"] = funded.astype("bool")
    return out


def _closed_with_balance(
    closed: pd.DataFrame,
    balances: pd.DataFrame | None,
    t: pd.Timestamp,
    config: RelationshipConfig,
) -> pd.DataFrame:
    """The facilities closed on or before ``t`` with a balance outstanding at the month end
    ``t`` (> 0): drawn = that balance, undrawn 0, EAD = drawn."""
    if balances is None or balances.empty or closed.empty:
        return pd.DataFrame()
    at_t = balances.loc[
        (pd.to_datetime(balances["month_end"]) == t) & (balances["outstanding"] > 0),
        ["facility_id", "outstanding"],
    ]
    drawn = at_t.groupby(at_t["facility_id"].astype("str"))["outstanding"].sum()
    owed = closed[closed["facility_id"].astype("str").isin(drawn.index)]
    if owed.empty:
        return pd.DataFrame()
    out = _facility_terms(owed, t, config).reset_index(drop=True)
    out["drawn"] = out["facility_id"].astype("str").map(drawn).astype("float64")
    out["available"] = np.nan
    out["undrawn"] = 0.0
    out["undrawn_source"] = "closed"
    out["ead"] = out["drawn"]
    log.warning(
        "%d facilities closed on or before %s still have a balance outstanding at that month "
        "end (%s in all): counted as exposure (EAD = the balance)",
        len(out), t.date(), f"{out['drawn'].sum():,.0f}",
    )  # fmt: skip
    return out


def _warn_unlisted_products(products: pd.Series, config: RelationshipConfig) -> None:
    """Say which product codes of the facilities in the exposure take a default CCF, LGD or
    undrawn rule (not listed), and on how many facilities."""
    codes = products.astype("str")
    defaults: dict[str, tuple[Mapping[str, object], object]] = {
        "ccf": (config.ccf, config.default_ccf),
        "lgd": (config.lgd, config.default_lgd),
        "undrawn": (config.undrawn, config.default_undrawn),
    }
    for name, (listed, default) in defaults.items():
        unlisted = codes[~codes.isin(list(listed))].value_counts()
        if not unlisted.empty:
            log.warning(
                "products not in score.relationship.%s take the default %s %s: %s",
                name, name, default,
                ", ".join(f"{p} ({n} facilities)" for p, n in unlisted.items()),
            )  # fmt: skip


def _latest_balances(balances: pd.DataFrame | None, t: pd.Timestamp) -> pd.DataFrame:
    if balances is None or balances.empty:
        return pd.DataFrame(
            {
                "facility_id": pd.Series(dtype="str"),
                "drawn": pd.Series(dtype="float64"),
                "available": pd.Series(dtype="float64"),
            }
        )
    cols = ["facility_id", "month_end", "outstanding"]
    frame = balances[[*cols, "available"] if "available" in balances.columns else cols]
    avail = "available" if "available" in frame.columns else "CAST(NULL AS DOUBLE)"
    con = duckdb.connect()
    try:
        con.register("b", frame)
        return (
            con.sql(
                f"SELECT facility_id, outstanding AS drawn, {avail} AS available FROM b "
                f"WHERE month_end <= TIMESTAMP '{t:%Y-%m-%d}' "
                "QUALIFY row_number() OVER (PARTITION BY facility_id ORDER BY month_end DESC) = 1"
            )
            .df()
            .astype({"facility_id": "str", "drawn": "float64", "available": "float64"})
        )
    finally:
        con.close()


def client_exposure(
    tables: Mapping[str, pd.DataFrame],
    as_of: dt.date | pd.Timestamp,
    config: RelationshipConfig,
    capital: CapitalConfig | None = None,
) -> pd.DataFrame | None:
    """EAD, EAD-weighted LGD and utilisation per client at ``as_of``; None without facilities.

    ``capital_maturity_years``: the M of the capital formula, the LGD x EAD-weighted mean of
    each facility's maturity bounded to [floor, cap] (``capital``, ``score.value.capital``:
    ``maturity_floor_years``, ``maturity_cap_years``, and ``default_maturity_years`` for a
    facility without a maturity date). K is linear in LGD
    and in M at the client's PD, so the client's K x EAD at that M is the sum of its
    facilities' K x EAD, each at its own bounded maturity (CRE32.47: M per exposure), where
    a mean of unbounded maturities would let a line maturing in days pull M below the floor."""
    facilities = tables.get("facilities")
    if facilities is None:
        log.warning("no facilities table: EAD and expected loss are unknown (NaN)")
        return None
    fac = facility_exposure(
        facilities, tables.get("facility_balances"), as_of, config, tables.get("facility_terms")
    )
    fac["lgd_x_ead"] = fac["lgd"] * fac["ead"]
    fac["funded_drawn"] = fac["drawn"].where(fac["funded"], 0.0)
    dated = fac["maturity_years"].notna()
    fac["m_x_ead"] = (fac["maturity_years"] * fac["ead"]).where(dated, 0.0)
    fac["dated_ead"] = fac["ead"].where(dated, 0.0)
    cap = capital or CapitalConfig()
    bounded = fac["maturity_years"].fillna(cap.default_maturity_years)
    bounded = bounded.clip(cap.maturity_floor_years, cap.maturity_cap_years)
    fac["mcap_x_lgd_ead"] = bounded * fac["lgd_x_ead"]
    fac["drawn_unknown"] = fac["drawn"].isna() | fac["undrawn"].isna()
    fac["is_open"] = fac["undrawn_source"].ne("closed")  # a closed line still owing is not
    fac["open_limit"] = fac["limit_amount"].where(fac["is_open"], 0.0)
    g = (
        fac.groupby("client_id", sort=False)
        .agg(
            open_facilities=("is_open", "sum"),
            limit_total=("open_limit", "sum"),
            drawn=("drawn", "sum"),
            funded_drawn=("funded_drawn", "sum"),
            undrawn=("undrawn", "sum"),
            ead=("ead", "sum"),
            lgd_x_ead=("lgd_x_ead", "sum"),
            m_x_ead=("m_x_ead", "sum"),
            dated_ead=("dated_ead", "sum"),
            mcap_x_lgd_ead=("mcap_x_lgd_ead", "sum"),
            drawn_unknown=("drawn_unknown", "any"),
        )
        .reset_index()
    )
    g.loc[g["drawn_unknown"], ["drawn", "undrawn", "funded_drawn"]] = np.nan  # sum() skips NaN
    g["lgd"] = g["lgd_x_ead"] / g["ead"].where(g["ead"] > 0)  # no exposure: no LGD
    g["maturity_years"] = g["m_x_ead"] / g["dated_ead"].where(g["dated_ead"] > 0)
    g["capital_maturity_years"] = g["mcap_x_lgd_ead"] / g["lgd_x_ead"].where(g["lgd_x_ead"] > 0)
    committed = g["drawn"] + g["undrawn"]
    g["utilisation"] = g["drawn"] / committed.where(committed > 0)
    return g[list(EXPOSURE_COLUMNS)].astype({"client_id": "str"})


def add_exposure(
    scores: pd.DataFrame, exposure: pd.DataFrame | None, config: RelationshipConfig
) -> pd.DataFrame:
    """Join exposure onto the scores; clients with no open facility get zero exposure and
    no LGD (an unknown drawn / undrawn of a client with facilities stays unknown)."""
    out = scores.drop(columns=[c for c in EXPOSURE_COLUMNS[1:] if c in scores.columns])
    if exposure is None:
        for c in EXPOSURE_COLUMNS[1:]:
            out[c] = np.nan
        return out
    out = out.merge(exposure, on="client_id", how="left", validate="one_to_one")
    none_open = ~out["client_id"].isin(exposure["client_id"]).to_numpy()
    zero = ["open_facilities", "limit_total", "drawn", "undrawn", "ead", "funded_drawn"]
    out[zero] = out[zero].astype("float64")  # one dtype whoever else is in the input
    out.loc[none_open, zero] = out.loc[none_open, zero].fillna(0.0)
    out["lgd"] = out["lgd"].astype("float64")
    return out


def expected_loss(pd_: pd.Series, lgd: pd.Series, ead: pd.Series) -> pd.Series:
    """``EL = PD x LGD x EAD`` (NaN where any factor is unknown)."""
    return pd_.astype("float64") * lgd.astype("float64") * ead.astype("float64")


def add_value(scores: pd.DataFrame) -> pd.DataFrame:
    """Add ``expected_loss`` and ``relationship_value = expected_contribution - EL``.

    A client with no exposure (EAD 0) has EL 0, whatever its default probability (it has
    none: :func:`predict.scoring.scope.apply_scope_rules`).
    """
    out = scores.copy()
    out["expected_loss"] = expected_loss(out["default_probability"], out["lgd"], out["ead"])
    out.loc[out["ead"].eq(0).fillna(False).to_numpy(dtype=bool), "expected_loss"] = 0.0
    out["relationship_value"] = out["expected_contribution"] - out["expected_loss"]
    return out


def _condition_mask(frame: pd.DataFrame, cond: Condition) -> np.ndarray:
    col = frame[cond.column]
    threshold = cond.value
    if isinstance(threshold, str):
        values: pd.Series = col.astype("str")
    else:
        values = pd.to_numeric(col, errors="coerce")
    result = _OPS[cond.op](values, threshold)
    return (
        np.asarray(pd.Series(result, index=frame.index).fillna(False), dtype=bool)
        & col.notna().to_numpy()
    )


# A rule column that rests on a model's output: its missing value is *unknown* for a client
# the model could not score (its model not applied, or the client's not-scored reason one of
# _unknown_reasons()), and *does not apply* otherwise (no exposure, inactive, no previous
# score).
RESTS_ON: dict[str, tuple[str, ...]] = {
    "default_probability": ("default",),
    "default_probability_change": ("default",),
    "one_year_default_probability": ("default",),
    "one_year_default_probability_change": ("default",),
    "expected_loss": ("default",),
    "churn_probability": ("churn",),
    "churn_probability_change": ("churn",),
    "expected_contribution": ("contribution",),
    "contribution_change": ("contribution",),
    "expected_contribution_percentile": ("contribution",),
    "relationship_value": ("contribution", "default"),
    "rating_grade": ("default",),
    "grade_change": ("default",),
    "capital": ("default",),
    "economic_profit": ("contribution", "default"),
    "raroc": ("contribution", "default"),
    "contribution_at_risk": ("churn",),
}
# Columns whose missing value always means unknown: growth_potential fails closed to NA
# (scoring/potential.py), ever_defaulted is NA when a default-trigger table is lacking.
UNKNOWN_WHEN_MISSING = frozenset({"growth_potential", "ever_defaulted", "in_default"})
# Columns whose missing value does not apply (false): exposure of a client without facilities
# (none), the previous scoring's values of a client it did not have, a dimension not measured
# (no survey answer: a rule on satisfaction is about measured satisfaction). lifecycle_stage
# is decided apart (an unknown stage: no action); potential_value below.
MISSING_DOES_NOT_APPLY = frozenset(
    {
        "ead", "lgd", "utilisation", "limit_total", "drawn", "undrawn", "open_facilities",
        "segment", "branch_id", "lifecycle_stage", "previous_churn_probability",
        "previous_default_probability", "realised_contribution_percentile",
        "satisfaction_score", "loyalty_score", "retention_score", "contribution_score",
        "trust_score", "relationship_index",
    }
)  # fmt: skip
# potential_value is missing by design for stages other than prospects and new clients and
# for a client without a segment of converting clients; unknown when the model folder lacks
# the reference (potential_not_scored_reason says which)
POTENTIAL_DOES_NOT_APPLY = ("stage ", "no segment", "segment ")
_UNCLASSIFIED = RULE_COLUMNS - set(RESTS_ON) - UNKNOWN_WHEN_MISSING - MISSING_DOES_NOT_APPLY
if {"potential_value"} != _UNCLASSIFIED:  # every rule column says what its missing value means
    raise RuntimeError(f"rule columns without a missing-value rule: {sorted(_UNCLASSIFIED)}")


def _unknown_reasons() -> frozenset[str]:
    from predict.scoring.scope import NOT_SCORED

    keys = ("status_unknown", "status_partial", "stage_unknown", "exposure_unknown")
    return frozenset(NOT_SCORED[k] for k in keys)


def unknown_values(scores: pd.DataFrame, column: str) -> np.ndarray:
    """Rows whose ``column`` (one of ``scores``) is missing because it is *unknown* (see
    :data:`RESTS_ON`), not because it does not apply."""
    n = len(scores)
    missing = scores[column].isna().to_numpy()
    if column in UNKNOWN_WHEN_MISSING:
        return np.asarray(missing, dtype=bool)
    if column == "potential_value" and "potential_not_scored_reason" in scores:
        said = scores["potential_not_scored_reason"].astype("str")
        applies = said.notna() & ~said.str.startswith(POTENTIAL_DOES_NOT_APPLY).fillna(False)
        return np.asarray(missing & applies.to_numpy(dtype=bool), dtype=bool)
    unknown = np.zeros(n, dtype=bool)
    reasons = _unknown_reasons()
    for target in RESTS_ON.get(column, ()):
        version = f"{target}_model_version"
        if version in scores:
            unknown |= scores[version].isna().to_numpy()
        why = f"{target}_not_scored_reason"
        if why in scores:
            unknown |= scores[why].isin(list(reasons)).to_numpy(dtype=bool)
    return np.asarray(missing & unknown, dtype=bool)


def assign_actions(scores: pd.DataFrame, config: RelationshipConfig) -> pd.DataFrame:
    """``action`` and the ``action_rule`` that set it: the first rule whose conditions all hold.

    Three-valued, failing closed: a condition on a value that is *unknown* for the client
    (:func:`unknown_values`: a model that could not score it, or was not applied at all;
    ``growth_potential`` or ``ever_defaulted`` missing) may hold or not. The client then goes
    on down the rules; if the rule that decides it (or the default action) gives the same
    action as every such undecidable rule before it, that is its action (whatever the
    unknown value, the first matching rule would give it); otherwise it gets no action, and
    ``action_rule`` says "none decided: <column> unknown (the <action> rule)". A missing
    value that does not apply (no PD for a client without exposure, no change for a new
    client) is simply false, as is a condition on a column this scoring does not have (the
    change since the previous scoring when there is none); the run says so once per column,
    naming the rules that then never fire. A client whose ``lifecycle_stage`` is missing
    (unknown) gets no action when the rules test the stage: any stage rule may have been its
    own.
    """
    n = len(scores)
    action = np.full(n, config.default_action, dtype=object)
    rule_text = np.full(n, "default", dtype=object)
    decided = np.zeros(n, dtype=bool)
    # per client: the action of its first undecidable rule and why; and whether a later
    # undecidable rule had another action
    pending = np.full(n, None, dtype=object)
    pending_why = np.full(n, None, dtype=object)
    conflict = np.zeros(n, dtype=bool)
    absent: set[str] = set()
    empty: dict[str, list[str]] = {}
    unknown_cache: dict[str, np.ndarray] = {}
    for rule in config.rules:
        holds = ~decided
        maybe = np.zeros(n, dtype=bool)
        first_unknown = np.full(n, None, dtype=object)
        for cond in rule.when:
            if cond.column not in scores.columns:
                absent.add(cond.column)
                holds = np.zeros(n, dtype=bool)
                maybe = np.zeros(n, dtype=bool)
                break
            if n and scores[cond.column].isna().all():
                empty.setdefault(cond.column, []).append(rule.action)
            if cond.column not in unknown_cache:
                unknown_cache[cond.column] = unknown_values(scores, cond.column)
            unknown = unknown_cache[cond.column] & ~decided
            true = _condition_mask(scores, cond)
            first_unknown = np.where(unknown & (holds | maybe) & pd.isna(first_unknown),
                                     cond.column, first_unknown)  # fmt: skip
            maybe = (maybe | holds) & (true | unknown)
            holds = holds & true
        maybe &= ~holds
        fires = holds & ~decided
        # a rule that fires decides, unless an earlier undecidable rule had another action
        other = fires & (conflict | (pd.notna(pending) & (pending != rule.action)))
        action[fires & ~other] = rule.action
        rule_text[fires & ~other] = f"{rule.action}: {rule.describe()}"
        action[other] = None
        rule_text[other] = pending_why[other]
        decided |= fires
        # an undecidable rule: remember it (the first one names the reason)
        new = maybe & ~decided
        conflict |= new & pd.notna(pending) & (pending != rule.action)
        first = new & pd.isna(pending)
        pending[first] = rule.action
        pending_why[first] = [
            f"none decided: {c} unknown (the {rule.action} rule)" for c in first_unknown[first]
        ]
    # the default action: decided only if every undecidable rule had it too
    left = ~decided & pd.notna(pending)
    other = left & (conflict | (pending != config.default_action))
    action[other] = None
    rule_text[other] = pending_why[other]
    for column in sorted(absent):
        log.warning(
            "action rules: column %r not available in this scoring; its rules never fire", column
        )
    for column, actions in sorted(empty.items()):
        fate = (
            "cannot be decided for the clients that reach them (no action, unless the rule "
            "that decides them gives the same)"
            if unknown_cache[column].any()
            else "never fire, and their clients fall through to later rules"
        )
        log.warning(
            "action rules: column %r holds no value in this scoring (a model not applied?); "
            "the rules for %s %s",
            column, ", ".join(dict.fromkeys(actions)), fate,
        )  # fmt: skip
    staged = any(c.column == "lifecycle_stage" for r in config.rules for c in r.when)
    if staged and n and "lifecycle_stage" in scores.columns:
        # an unknown stage (a table the models were trained with absent: scoring/scope.py):
        # any stage rule may have been the client's, so no action is a guess
        unknown = scores["lifecycle_stage"].isna().to_numpy()
        action[unknown] = None
        rule_text[unknown] = "none decided: life-cycle stage unknown"
    out = scores.copy()
    out["action"] = pd.Series(action, index=scores.index, dtype="str")
    out["action_rule"] = pd.Series(rule_text, index=scores.index, dtype="str")
    return out


PREVIOUS_COLUMNS = tuple(OUTPUT_COLUMN.values())
# Carried from the previous scoring as ``previous_<column>`` when it has them (no change).
PREVIOUS_STATE_COLUMNS = ("lifecycle_stage",)


def add_previous(scores: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """Join the previous scoring (``previous_*`` columns and ``*_change`` = now - then).

    ``previous_lifecycle_stage`` is the stage at the previous scoring (missing for a client
    it did not have); the report's stage-flow matrix reads it."""
    if previous is None:
        return scores
    carried = (*PREVIOUS_COLUMNS, *PREVIOUS_STATE_COLUMNS)
    keep = ["client_id", "as_of", *[c for c in carried if c in previous.columns]]
    prev = previous[keep].rename(columns={c: f"previous_{c}" for c in keep if c != "client_id"})
    prev = prev.astype({"client_id": "str"}).drop_duplicates("client_id", keep="last")
    out = scores.drop(columns=[c for c in prev.columns if c != "client_id" and c in scores.columns])
    out = out.merge(prev, on="client_id", how="left", validate="one_to_one")
    matched = int(out["previous_as_of"].notna().sum())
    log.info("previous scoring: %d of %d clients found in it", matched, len(out))
    for c in PREVIOUS_COLUMNS:
        if c in out.columns and f"previous_{c}" in out.columns:
            name = "contribution_change" if c == "expected_contribution" else f"{c}_change"
            out[name] = out[c] - out[f"previous_{c}"]
    return out
