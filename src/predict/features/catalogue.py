"""The feature catalogue: every feature's name, meaning, source and plain-words reason.

:data:`FEATURES` maps a feature name to its :class:`FeatureSpec`. The review report and the
reason codes render :attr:`FeatureSpec.reason` with the client's value, e.g.
``FEATURES["max_dpd_12m"].render(95.0)`` -> "Days past due reached 95 in the last 12 months".
``docs/features.md`` is generated from this module (``python -m predict.features.catalogue``).

``requires`` says which input is needed: ``"facilities+facility_balances|credit_events"``
means (facilities and facility_balances) or credit_events; ``table.column`` names an
optional column that must hold values. A feature whose inputs are absent is left out.

Conventions: sums and counts over an empty window are 0 for a client present at the as-of
date; maxima, means, "last" values and "months since" are missing (NaN) when there is
nothing to measure. Windows are calendar months ending with the as-of month end:
"last 3 months" at 2024-06-30 is 2024-04-01..2024-06-30.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Family = Literal["relationship", "loans", "contribution", "interactions", "credit_events"]
Kind = Literal["numeric", "categorical"]
FAMILIES: tuple[Family, ...] = (
    "relationship",
    "loans",
    "contribution",
    "interactions",
    "credit_events",
)
REVENUE_FAMILIES = ("interest", "fee", "other")  # revenue sources map into these (params)
CREDIT_EVENT_FAMILIES = ("watchlist", "restructuring", "covenant_breach")


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    family: Family  # reason family: what part of the relationship the feature speaks of
    kind: Kind
    requires: str  # alternatives separated by "|", each a "+"-joined list of tables/columns
    description: str  # one line
    reason: str  # plain-words template, formatted with the value: "{value:.0f}"

    @property
    def alternatives(self) -> tuple[tuple[str, ...], ...]:
        """``requires`` parsed: any one alternative fully present makes the feature available."""
        return tuple(tuple(p.strip() for p in alt.split("+")) for alt in self.requires.split("|"))

    @property
    def tables(self) -> frozenset[str]:
        """Every table named in ``requires``."""
        return frozenset(p.split(".")[0] for alt in self.alternatives for p in alt)

    def render(self, value: object) -> str:
        """The reason in plain words for ``value`` (a missing value says "not known")."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return f"{self.description.rstrip('.')}: not known"
        try:
            return self.reason.format(value=value)
        except (ValueError, TypeError):
            return re.sub(r"\{value[^}]*\}", str(value), self.reason)


def _spec(
    name: str, family: Family, requires: str, description: str, reason: str, kind: Kind = "numeric"
) -> FeatureSpec:
    return FeatureSpec(name, family, kind, requires, description, reason)


def _windowed(
    stem: str, months: Iterable[int], family: Family, requires: str, description: str, reason: str
) -> list[FeatureSpec]:
    """One spec per window: ``{n}`` in the texts becomes the number of months."""
    return [
        _spec(
            f"{stem}_{n}m",
            family,
            requires,
            description.replace("{n}", str(n)),
            reason.replace("{n}", str(n)),
        )
        for n in months
    ]


def _relationship() -> list[FeatureSpec]:
    turnover = "clients.annual_turnover"
    return [
        _spec(
            "tenure_months",
            "relationship",
            "clients",
            "Months since the client's onboarding date.",
            "Client for {value:.0f} months",
        ),
        _spec(
            "lifecycle_stage",
            "relationship",
            "facilities|revenue",
            "Relationship stage: potential, new, active, dormant or churned (rules in params).",
            "Relationship stage is {value}",
            "categorical",
        ),
        _spec(
            "n_open_facilities",
            "relationship",
            "facilities",
            "Facilities open at the as-of date.",
            "{value:.0f} open facilities",
        ),
        _spec(
            "n_products",
            "relationship",
            "facilities",
            "Distinct products among the open facilities.",
            "Holds {value:.0f} different credit products",
        ),
        _spec(
            "limit_to_turnover",
            "relationship",
            f"facilities+{turnover}",
            "Total open limit divided by annual turnover (share-of-wallet proxy).",
            "Credit limits are {value:.0%} of annual turnover",
        ),
        _spec(
            "revenue_to_turnover_12m",
            "relationship",
            f"revenue+{turnover}",
            "Revenue of the last 12 months divided by annual turnover (share-of-wallet proxy).",
            "Revenue over 12 months is {value:.2%} of annual turnover",
        ),
        _spec(
            "services_held_3m",
            "relationship",
            "revenue.source",
            "Cross-sold services in use: distinct revenue source codes other than interest and "
            "fees (e.g. fx, cash management; mapped in params) with income in the last 3 months.",
            "Uses {value:.0f} cross-sold services",
        ),
        _spec(
            "annual_turnover",
            "relationship",
            turnover,
            "The client's annual turnover (its size).",
            "Annual turnover of {value:,.0f}",
        ),
        _spec(
            "segment",
            "relationship",
            "clients.segment",
            "Client segment.",
            "Segment is {value}",
            "categorical",
        ),
        _spec(
            "industry",
            "relationship",
            "clients.industry",
            "Industry (sector code).",
            "Industry is {value}",
            "categorical",
        ),
        _spec(
            "region",
            "relationship",
            "clients.region",
            "Region.",
            "Region is {value}",
            "categorical",
        ),
    ]


def _loans() -> list[FeatureSpec]:
    fac, bal = "facilities", "facilities+facility_balances"
    return [
        _spec(
            "total_limit",
            "loans",
            fac,
            "Sum of the limits of the facilities open at the as-of date.",
            "Total credit limit of {value:,.0f}",
        ),
        _spec(
            "drawn_balance",
            "loans",
            bal,
            "Outstanding balance of all facilities at the as-of month end.",
            "Drawn balance of {value:,.0f}",
        ),
        _spec(
            "avg_drawn_12m",
            "loans",
            bal,
            "Average month-end drawn balance over the last 12 months (months with a balance).",
            "Average drawn balance of {value:,.0f} over the last 12 months",
        ),
        _spec(
            "utilisation",
            "loans",
            bal,
            "Drawn balance divided by the total open limit at the as-of date.",
            "Credit lines {value:.0%} used",
        ),
        _spec(
            "utilisation_change_3m",
            "loans",
            bal,
            "Utilisation now minus utilisation 3 months earlier.",
            "Utilisation changed by {value:+.0%} in the last 3 months",
        ),
        _spec(
            "utilisation_change_6m",
            "loans",
            bal,
            "Utilisation now minus utilisation 6 months earlier.",
            "Utilisation changed by {value:+.0%} in the last 6 months",
        ),
        _spec(
            "avg_interest_rate",
            "loans",
            "facilities.interest_rate",
            "Limit-weighted annual interest rate of the open facilities.",
            "Average interest rate of {value:.2%}",
        ),
        _spec(
            "months_to_maturity",
            "loans",
            "facilities.maturity_date",
            "Months to the nearest maturity among open facilities (negative: past maturity).",
            "Nearest facility matures in {value:.0f} months",
        ),
        _spec(
            "months_to_last_maturity",
            "loans",
            "facilities.maturity_date",
            "Months to the latest maturity among open facilities: when the last one runs off "
            "unless renewed (negative: past maturity).",
            "Last open facility matures in {value:.0f} months",
        ),
        _spec(
            "maturing_limit_share_12m",
            "loans",
            "facilities.maturity_date",
            "Share of the open limit on facilities maturing in the next 12 months (up to the "
            "month end 12 months after the as-of date).",
            "{value:.0%} of the credit limit matures within 12 months",
        ),
        _spec(
            "rate_spread_open",
            "loans",
            "facilities.interest_rate",
            "Limit-weighted spread of the open facilities' rates over the median rate of the "
            "book's facilities of the same product originated in the same month (at least 3): "
            "the risk premium priced at origination.",
            "Priced {value:+.2%} against comparable facilities of the same month",
        ),
        _spec(
            "rate_spread_all",
            "loans",
            "facilities.interest_rate",
            "Mean spread (as in rate_spread_open) of every facility originated on or before the "
            "as-of date, open or closed: the pricing history of the client's risk.",
            "Priced {value:+.2%} on average against comparable facilities, all facilities so far",
        ),
        _spec(
            "facilities_opened_12m",
            "loans",
            fac,
            "Facilities originated in the last 12 months.",
            "{value:.0f} facilities opened in the last 12 months",
        ),
        _spec(
            "facilities_closed_12m",
            "loans",
            fac,
            "Facilities closed in the last 12 months.",
            "{value:.0f} facilities closed in the last 12 months",
        ),
        _spec(
            "current_dpd",
            "loans",
            bal,
            "Highest days past due across facilities at the as-of month end.",
            "Currently {value:.0f} days past due",
        ),
        _spec(
            "max_dpd_12m",
            "loans",
            bal,
            "Highest days past due at any month end in the last 12 months.",
            "Days past due reached {value:.0f} in the last 12 months",
        ),
        *_windowed(
            "months_in_arrears",
            (3, 6, 12, 24),
            "loans",
            bal,
            "Month ends with any facility past due (dpd > 0) in the last {n} months.",
            "In arrears at {value:.0f} of the last {n} month ends",
        ),
        _spec(
            "cures_12m",
            "loans",
            bal,
            "Times arrears went back to zero from one month end to the next, last 12 months.",
            "Arrears cured {value:.0f} times in the last 12 months",
        ),
    ]


def _contribution() -> list[FeatureSpec]:
    specs = _windowed(
        "revenue",
        (3, 6, 12),
        "contribution",
        "revenue",
        "Revenue booked in the last {n} months (all sources).",
        "Revenue of {value:,.0f} in the last {n} months",
    )
    for fam in REVENUE_FAMILIES:
        specs += _windowed(
            f"revenue_{fam}",
            (3, 6, 12),
            "contribution",
            "revenue",
            f"Revenue from {fam} sources in the last {{n}} months (source codes mapped in params).",
            f"{fam.capitalize()} revenue of {{value:,.0f}} in the last {{n}} months",
        )
    return [
        *specs,
        _spec(
            "revenue_trend_3m",
            "contribution",
            "revenue",
            "Revenue of the last 3 months minus revenue of the 3 months before.",
            "Revenue changed by {value:+,.0f} against the 3 months before",
        ),
        _spec(
            "revenue_volatility_12m",
            "contribution",
            "revenue",
            "Standard deviation of monthly revenue over the last 12 months (since onboarding).",
            "Monthly revenue varies by {value:,.0f} (standard deviation, 12 months)",
        ),
        _spec(
            "interest_margin_12m",
            "contribution",
            "revenue+facilities+facility_balances",
            "Interest revenue of the last 12 months divided by the average drawn balance.",
            "Interest margin of {value:.2%} on the drawn balance",
        ),
        _spec(
            "effective_rate_3m",
            "contribution",
            "revenue+facilities+facility_balances",
            "Interest revenue of the last 3 months, annualised (x 4), divided by the average "
            "month-end drawn balance of those months: the rate paid now, floating repricing "
            "included.",
            "Pays an effective {value:.2%} a year on its drawn balance",
        ),
        _spec(
            "months_since_revenue",
            "contribution",
            "revenue",
            "Months since the latest revenue booking (non-zero amount).",
            "Last revenue booked {value:.0f} months ago",
        ),
    ]


def _interactions() -> list[FeatureSpec]:
    csat, nps = "interactions.csat", "interactions.nps"
    return [
        *_windowed(
            "contacts",
            (3, 12),
            "interactions",
            "interactions",
            "Interactions of any kind in the last {n} months.",
            "{value:.0f} contacts in the last {n} months",
        ),
        _spec(
            "months_since_rm_contact",
            "interactions",
            "interactions",
            "Months since the latest relationship-manager contact (kinds mapped in params).",
            "Last contact with the relationship manager {value:.0f} months ago",
        ),
        _spec(
            "service_requests_12m",
            "interactions",
            "interactions",
            "Service requests in the last 12 months.",
            "{value:.0f} service requests in the last 12 months",
        ),
        _spec(
            "complaints_12m",
            "interactions",
            "interactions",
            "Complaints in the last 12 months.",
            "{value:.0f} complaints in the last 12 months",
        ),
        _spec(
            "months_since_complaint",
            "interactions",
            "interactions",
            "Months since the latest complaint.",
            "Last complaint {value:.0f} months ago",
        ),
        _spec(
            "csat_mean_12m",
            "interactions",
            csat,
            "Mean satisfaction score (CSAT 1-5) answered in the last 12 months.",
            "Average satisfaction of {value:.1f} out of 5 in the last 12 months",
        ),
        _spec(
            "csat_last",
            "interactions",
            csat,
            "The latest CSAT answer (the highest if several on that day).",
            "Latest satisfaction score {value:.0f} out of 5",
        ),
        _spec(
            "csat_trend_12m",
            "interactions",
            csat,
            "Mean CSAT of the last 12 months minus mean CSAT of the 12 months before.",
            "Satisfaction moved by {value:+.1f} points against the year before",
        ),
        _spec(
            "nps_mean_12m",
            "interactions",
            nps,
            "Mean likelihood-to-recommend score (NPS 0-10) answered in the last 12 months.",
            "Average recommendation score of {value:.1f} out of 10 in the last 12 months",
        ),
        _spec(
            "nps_last",
            "interactions",
            nps,
            "The latest NPS answer (the highest if several on that day).",
            "Latest recommendation score {value:.0f} out of 10",
        ),
        _spec(
            "nps_status",
            "interactions",
            nps,
            "Promoter (9-10), passive (7-8) or detractor (0-6) from the latest NPS answer.",
            "The client is a {value} (latest recommendation score)",
            "categorical",
        ),
        _spec(
            "survey_nonresponse_12m",
            "interactions",
            f"{csat}|{nps}",
            "Share of surveys in the last 12 months with no CSAT or NPS answer.",
            "{value:.0%} of surveys left unanswered in the last 12 months",
        ),
        _spec(
            "survey_score_all",
            "interactions",
            f"{csat}|{nps}",
            "Mean of every CSAT and NPS answer on or before the as-of date, pooled on a 0-1 "
            "scale ((CSAT - 1) / 4, NPS / 10): long-run satisfaction.",
            "Long-run survey score of {value:.0%} (all answers so far)",
        ),
        _spec(
            "survey_response_all",
            "interactions",
            f"{csat}|{nps}",
            "Share of all surveys on or before the as-of date with a CSAT or NPS answer "
            "(engagement).",
            "Answered {value:.0%} of all surveys so far",
        ),
    ]


def _credit_events() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    for fam in CREDIT_EVENT_FAMILIES:
        words = fam.replace("_", " ")
        specs += _windowed(
            fam,
            (12, 24),
            "credit_events",
            "credit_events",
            f"{words.capitalize()} events in the last {{n}} months (kinds mapped in params).",
            f"{{value:.0f}} {words} events in the last {{n}} months",
        )
    return [
        *specs,
        _spec(
            "months_since_credit_event",
            "credit_events",
            "credit_events",
            "Months since the latest watchlist, restructuring, covenant breach or default event.",
            "Last credit event {value:.0f} months ago",
        ),
        _spec(
            "ever_defaulted",
            "credit_events",
            "credit_events|facilities+facility_balances",
            "1 if the client had a default event or 90+ days past due on or before the as-of date.",
            "Defaulted before (flag {value:.0f})",
        ),
    ]


FEATURES: dict[str, FeatureSpec] = {
    s.name: s
    for s in (*_relationship(), *_loans(), *_contribution(), *_interactions(), *_credit_events())
}
CATEGORICAL: tuple[str, ...] = tuple(n for n, s in FEATURES.items() if s.kind == "categorical")
NUMERIC: tuple[str, ...] = tuple(n for n, s in FEATURES.items() if s.kind == "numeric")


def is_available(spec: FeatureSpec, present: Mapping[str, frozenset[str]]) -> bool:
    """True when one of the spec's alternatives is fully present.

    ``present`` maps each present table to its columns that hold at least one value.
    """
    for alternative in spec.alternatives:
        if all(_present(part, present) for part in alternative):
            return True
    return False


def _present(part: str, present: Mapping[str, frozenset[str]]) -> bool:
    table, _, column = part.partition(".")
    return table in present and (not column or column in present[table])


_GUIDE = (
    "## How the table is built",
    "",
    "- **As-of dates** (`features.as_of` in params.yaml, `predict.features.snapshots`): "
    "month ends, "
    "either listed or every `step_months` counted back from the latest month end in the data "
    "(`end: auto`) to the first with `min_history_months` of history (`start: auto`). The "
    "scoring as-of (`scoring: auto` = latest month end) is always included.",
    "- **Point in time**: a feature at t reads only rows dated on or before t; balances at "
    "month ends on or before t; a facility closed after t is open at t; a client onboarded "
    "after t has no row. Contract terms (limit, rate, maturity) and client attributes are "
    "taken as recorded (the contract keeps no history of their changes). "
    "`tests/unit/test_point_in_time.py` proves that features from the full history equal "
    "features from the history cut at t, and that rows after t change nothing at t.",
    "- **Compared with the book** (`rate_spread_open`, `rate_spread_all`): the only features "
    "that read other clients' rows. A facility's rate is compared with the median rate of "
    "the book's facilities of the same product originated in the same month (at least 3 "
    "rated): rates carry that month's base rate, so the spread keeps the premium priced for "
    "the client's risk then. A month's median reads only facilities of that month, so it is "
    "point in time; it is the whole input's in every pass of clients and on every Dask "
    "partition (`predict.distributed.steps.BOOK_TABLES`), so it does not depend on how the run is "
    "split. Scored alone, a small book gets a noisier reference than the training book.",
    "- **Every as-of date at once** (`predict.features.sql`, `predict.features.windows`): "
    "DuckDB aggregates each event table once per client and *bucket* (the months between "
    "consecutive window boundaries: every as-of month and every window start); a window of "
    "any as-of date is then a run of whole buckets, and numpy reduces every snapshot's run "
    "at once (one `reduceat` per aggregate); a last DuckDB statement evaluates the features. "
    "The same input rows, in the same order, and params give bit-identical features whatever "
    "the number of passes or workers; another row order or another list of as-of dates can "
    "change a money sum in its last bit (the order of float additions). "
    "Bank codes (revenue sources, interaction and credit event kinds) are mapped to "
    "the families above by params (`revenue_sources`, `interaction_kinds`, "
    "`credit_event_kinds`), never by a list in the code.",
    "- **Labels** (`predict.features.labels`, beside the features as `label_churn`, "
    "`label_default`, "
    "`label_contribution`) follow the data contract over (t, t+H], H = `horizon_months`; "
    "a snapshot with t+H after the data end is censored (labels NaN); a target whose "
    "tables are absent is NaN and the run says so.",
    "- **Split** (`predict.models.split`): out of time and purged: test = the last uncensored "
    "as-of, validation = the latest as-ofs with t+H <= test, training = as-ofs with "
    "t+H <= the first validation as-of; a by-client holdout when the history is too short.",
    "",
)


def render_markdown() -> str:
    """``docs/features.md``: the catalogue as tables, one per family."""
    lines = [
        "# Feature catalogue",
        "",
        "Generated from `src/predict/features/catalogue.py` by "
        "`python -m predict.features.catalogue > "
        "docs/features.md`; do not edit by hand (a test checks it is up to date).",
        "",
        f"{len(FEATURES)} features, one row per client and as-of date t. Every feature uses "
        "only rows dated on or before t (balances: month ends on or before t). Windows are "
        "calendar months ending with the as-of month end. Sums and counts over an empty "
        'window are 0; maxima, means, "last" values and "months since" are missing when there '
        "is nothing to measure. A feature whose source is absent is left out of the run "
        "(`a+b` = both needed, `a|b` = either).",
        "",
        *_GUIDE,
    ]
    for family in FAMILIES:
        lines += [f"## {family.replace('_', ' ').capitalize()}", ""]
        lines += [
            "| feature | kind | needs | description | reason template |",
            "|---|---|---|---|---|",
        ]
        for spec in FEATURES.values():
            if spec.family == family:
                needs = spec.requires.replace("|", " or ")
                lines.append(
                    f"| `{spec.name}` | {spec.kind} | {needs} | {spec.description} | "
                    f"{spec.reason} |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
