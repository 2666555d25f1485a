"""Reason codes: the top drivers of each score, in plain words.

For one client and one score, the features whose SHAP contributions push the score up most
(and those pulling it down most) become sentences from the feature catalogue's templates,
e.g. ``Days past due reached 45 in the last 3 months``. Sentences of the same reason family
and direction are joined into one reason, followed by their approximate impact on the score
in its own units: percentage points of the probability for churn and default ("adds 2.1 pp
to default probability"), money for the expected contribution ("takes 1,234 off expected
contribution"). Reasons are separated by `` | ``; those pushing the score up come first.

The impact of a reason is the change of the calibrated output if the contributions of its
cited drivers were removed *together*, all others kept: ``to_output(raw) - to_output(raw -
S)`` with ``S`` the sum of those drivers' SHAP values (raw units, e.g. log-odds). Removing
them jointly through the same raw-to-output map keeps the impact in the score's units and
bounded: a reason pushing a probability up never claims more than the probability itself
(summing single-feature impacts did: three arrears drivers of +38 pts each read "+114 pts" on a
PD of 88%). Impacts of different reasons still do not add up exactly to the score, since
the map is not linear.

A feature whose value the client does not have (missing, NaN) is cited like any other, in
words (:data:`MISSING_WORDS`, e.g. a closed last loan leaves ``months_to_last_maturity``
missing: "No open facility left to mature"; other features: "Not known: <its meaning>"):
LightGBM sends a missing value down a branch of its own, and that is often the largest
driver. A feature the data did not give at all (``Explained.absent``, scored as missing) is
never cited: its missing value says nothing about the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from predict.scoring.explain import Explained, output_impact

SEPARATOR = " | "

# The score each target's impact is written against.
_TARGET_WORDS: dict[str, str] = {
    "default": "default probability",
    "churn": "churn probability",
    "contribution": "expected contribution",
}

# What a missing value means, in words, for the features where the catalogue's conventions
# make it clear ("maxima, means, 'last' values and 'months since' are missing when there is
# nothing to measure"); any other feature reads "Not known: <its description>".
MISSING_WORDS: dict[str, str] = {
    "months_to_maturity": "No open facility left to mature",
    "months_to_last_maturity": "No open facility left to mature",
    "maturing_limit_share_12m": "No open credit limit",
    "current_dpd": "No balance at the as-of month end, so nothing past due to measure",
    "max_dpd_12m": "No balance in the last 12 months, so no arrears to measure",
    "utilisation": "No open credit line, so no utilisation",
    "utilisation_change_3m": "No credit line 3 months apart, so no change of utilisation",
    "utilisation_change_6m": "No credit line 6 months apart, so no change of utilisation",
    "avg_interest_rate": "No open facility, so no interest rate",
    "rate_spread_open": "No open facility whose pricing can be compared",
    "rate_spread_all": "No facility whose pricing can be compared",
    "avg_drawn_12m": "No drawn balance in the last 12 months",
    "interest_margin_12m": "No drawn balance to earn interest on in the last 12 months",
    "effective_rate_3m": "No drawn balance to pay interest on in the last 3 months",
    "months_since_revenue": "No revenue booked so far",
    "months_since_rm_contact": "No contact with the relationship manager on record",
    "months_since_complaint": "No complaint on record",
    "months_since_credit_event": "No credit event on record",
    "csat_mean_12m": "No satisfaction answer in the last 12 months",
    "csat_last": "No satisfaction answer so far",
    "csat_trend_12m": "Too few satisfaction answers to compare with the year before",
    "nps_mean_12m": "No recommendation answer in the last 12 months",
    "nps_last": "No recommendation answer so far",
    "nps_status": "No recommendation answer so far",
    "survey_nonresponse_12m": "No survey sent in the last 12 months",
    "survey_score_all": "No survey answered so far",
    "survey_response_all": "No survey sent so far",
    "limit_to_turnover": "Annual turnover not known",
    "revenue_to_turnover_12m": "Annual turnover not known",
    "annual_turnover": "Annual turnover not known",
}


@dataclass(frozen=True)
class ReasonTemplate:
    """How one feature is put into words: a ``str.format`` template of ``{value}``."""

    template: str
    family: str = "other"
    missing: str = ""  # the reason when the client has no value (empty: "Not known")


@dataclass(frozen=True)
class ReasonsConfig:
    """``score.reasons`` in params.yaml."""

    top_up: int = 3  # drivers pushing the score up, per client and score
    top_down: int = 2  # drivers pulling it down
    min_abs_shap: float = 1e-6  # drivers with a smaller |SHAP| (raw units) are not cited


def plain_number(value: float) -> str:
    """A number for a sentence: integers without decimals, others to 3 significant digits."""
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def fallback_template(feature: str) -> ReasonTemplate:
    label = feature.replace("_", " ").capitalize()
    return ReasonTemplate(template=label + " is {value}", missing=f"Not known: {label.lower()}")


def is_missing_value(value: Any) -> bool:
    """None, NaN, pd.NA or the text forms a missing value takes in the explanations."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, str):
        return value in ("", "nan", "NaN", "None", "<NA>")
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


_PLURAL = re.compile(
    r"(?<![\d.,])1 ((?:[a-z-]+ ){0,2}?)"
    r"(months|days|times|facilities|contacts|complaints|services|events|requests|products)\b"
)
_SINGULAR = {"facilities": "facility"}


def singular_one(text: str) -> str:
    """ "1 months" -> "1 month", "1 open facilities" -> "1 open facility"."""

    def one(m: re.Match[str]) -> str:
        word = m.group(2)
        return f"1 {m.group(1)}{_SINGULAR.get(word, word[:-1])}"

    return _PLURAL.sub(one, text)


def sentence(template: ReasonTemplate, value: Any) -> str:
    """The template filled with the client's value (``{value}`` without a format spec: a
    number is written by :func:`plain_number`); a missing value gives the template's
    ``missing`` words ("Not known" without them)."""
    if is_missing_value(value):
        return template.missing or "Not known"
    if isinstance(value, (int, np.integer, np.floating)) and not isinstance(value, bool):
        value = float(value)
    text = template.template
    if isinstance(value, float) and "{value}" in text:
        value = plain_number(value)
    try:
        return singular_one(text.format(value=value))
    except (ValueError, TypeError, KeyError, IndexError):  # a spec that does not fit the value
        return singular_one(re.sub(r"\{value[^}]*\}", str(value), text))


def catalogue_templates() -> dict[str, ReasonTemplate]:
    """The feature catalogue's reason templates and families, by feature name."""
    from predict.features.catalogue import FEATURES

    return {
        name: ReasonTemplate(
            spec.reason,
            spec.family,
            MISSING_WORDS.get(name) or f"Not known: {spec.description.rstrip('.').lower()}",
        )
        for name, spec in FEATURES.items()
    }


def format_impact(impact: float, target: str, up: bool | None = None) -> str:
    """``+2.1 pp`` for probabilities (percentage points), ``+1,234`` for amounts.

    ``up`` fixes the sign (the driver's direction) when the impact itself rounds to zero.
    """
    sign = "+" if (impact >= 0 if up is None else up) else "−"
    if target == "contribution":
        return f"{sign}{abs(impact):,.0f}"
    pts = abs(impact) * 100.0
    return f"{sign}{pts:.1f} pp" if pts >= 0.05 else f"{sign}<0.1 pp"


def effect_words(impact: float, target: str, up: bool) -> str:
    """ "adds 2.1 pp to default probability" / "takes 1,234 off expected contribution"."""
    amount = format_impact(impact, target, up)[1:]
    score = _TARGET_WORDS.get(target, "the score")
    return f"adds {amount} to {score}" if up else f"takes {amount} off {score}"


def _family_label(family: str) -> str:
    return family.replace("_", " ").capitalize()


def select_drivers(
    shap_values: np.ndarray, present: np.ndarray, config: ReasonsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the top drivers up and down per row (-1 where none).

    ``present`` marks the cells that may be cited (:func:`reasons_text`: every feature the
    data gave, missing values included); the others are never drivers.
    Returns two int arrays of shape (n, top_up) and (n, top_down), strongest first.
    """
    eligible = np.where(present, shap_values, 0.0)
    up = _top(eligible, config.top_up, config.min_abs_shap)
    down = _top(-eligible, config.top_down, config.min_abs_shap)
    return up, down


def _top(values: np.ndarray, k: int, floor: float) -> np.ndarray:
    n, f = values.shape
    k = min(k, f)
    if k <= 0:
        return np.empty((n, 0), dtype=np.int64)
    part = np.argpartition(-values, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(values, part, axis=1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    strong = np.take_along_axis(values, idx, axis=1) > floor
    return np.where(strong, idx, -1)


def client_reasons(
    target: str,
    features: Sequence[str],
    values: Sequence[Any],
    drivers: Sequence[int],
    impacts: Sequence[float],
    templates: Mapping[str, ReasonTemplate],
    ups: Sequence[bool] | None = None,
) -> list[str]:
    """Reasons of one client for one score: drivers (strongest first) grouped by family.

    ``drivers`` are feature indices (``-1`` = none), ``impacts`` the impact on the output of
    each driver's *reason* (its family and direction removed jointly, see
    :func:`reason_impacts`; every driver of one reason carries the same value) and ``ups``
    whether each pushes the score up (its SHAP sign; default: the impact's sign, which a flat
    stretch of the calibrator can make zero).
    """
    groups: dict[tuple[bool, str], list[tuple[str, float]]] = {}
    signs = ups if ups is not None else [i >= 0 for i in impacts]
    for j, impact, up in zip(drivers, impacts, signs, strict=True):
        if j < 0:
            continue
        name = features[j]
        tmpl = templates.get(name) or fallback_template(name)
        groups.setdefault((up, tmpl.family), []).append((sentence(tmpl, values[j]), impact))
    out = []
    for (up, family), items in sorted(groups.items(), key=lambda kv: not kv[0][0]):
        total = items[0][1]  # the reason's joint impact (the same for each of its drivers)
        text = "; ".join(s for s, _ in items)
        out.append(f"{_family_label(family)}: {text} ({effect_words(total, target, up)})")
    return out


def reason_impacts(
    explained: Explained, drivers: np.ndarray, chosen: np.ndarray, families: Sequence[str]
) -> np.ndarray:
    """Per driver cell, the joint impact of its reason: the output change when every cited
    driver of the same family and direction in that row is removed together.

    ``drivers``: (n, k) feature indices (-1 = none), ``chosen``: their SHAP values.
    """
    codes = {name: i for i, name in enumerate(dict.fromkeys(families))}
    family = np.array([codes[f] for f in families], dtype=np.int64)
    valid = drivers >= 0
    key = np.where(valid, family[np.maximum(drivers, 0)] * 2 + (chosen > 0), -1)
    same = (key[:, :, None] == key[:, None, :]) & valid[:, None, :]  # (n, a, b)
    group_shap = np.einsum("nab,nb->na", same.astype("float64"), np.where(valid, chosen, 0.0))
    return output_impact(explained.raw, group_shap, explained.to_output)


def reasons_text(
    explained: Explained, templates: Mapping[str, ReasonTemplate], config: ReasonsConfig
) -> list[str]:
    """One reasons string per client of an explained chunk (reasons joined by `` | ``)."""
    citable = np.array([f not in explained.absent for f in explained.features], dtype=bool)
    up, down = select_drivers(
        explained.shap, np.broadcast_to(citable, explained.shap.shape), config
    )
    drivers = np.concatenate([up, down], axis=1)
    chosen = np.take_along_axis(explained.shap, np.maximum(drivers, 0), axis=1)
    features = list(explained.features)
    families = [(templates.get(f) or fallback_template(f)).family for f in features]
    impacts = reason_impacts(explained, drivers, chosen, families)
    ups = chosen > 0
    cells = explained.values.to_numpy(dtype=object)
    return [
        SEPARATOR.join(
            client_reasons(
                explained.target, features, cells[i], drivers[i], impacts[i], templates, ups[i]
            )
        )
        for i in range(len(cells))
    ]
