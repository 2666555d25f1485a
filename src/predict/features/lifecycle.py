"""Lifecycle stage of a relationship at an as-of date t: the rules, in SQL and in Python.

"Activity" is an open facility or a revenue booking with a non-zero amount. At t, with
``inactivity_months`` (I, params ``features``) and this module's ``new_months`` (N) and
``dormant_months`` (D < I), the first rule that holds gives the stage:

0. in_default: in default at t (feature ``in_default``: a default trigger in force or in
   its probation, or a write-off; :class:`predict.features.labels.DefaultDefinition`).
   When the status is unknown (neither credit_events nor facilities+facility_balances:
   NULL in SQL, None in Python) this rule does not hold and the others decide: without
   those tables the stage is never in_default;
1. potential: no facility originated and no revenue booked on or before t;
2. churned: was active before, but not active now (no open facility at t and no revenue
   in the I months up to t) - the same "active" as the churn target (an exit through
   default is ``in_default``, not churned, until it cures);
3. dormant: still active by that definition, but no open facility and no revenue in the
   last D months;
4. new: the first facility or revenue falls in the last N months;
5. active: everything else.

Months are calendar months ending with the as-of month end ("last 3 months" at 2024-06-30
= April to June 2024).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from predict.features.snapshots import month_index

STAGES: tuple[str, ...] = ("potential", "new", "active", "dormant", "churned", "in_default")


@dataclass(frozen=True)
class LifecycleConfig:
    """The ``features.lifecycle`` params."""

    new_months: int = 12  # first facility or revenue within this many months: "new"
    dormant_months: int = 3  # no open facility and no revenue in this many months: "dormant"

    def __post_init__(self) -> None:
        if self.new_months < 1 or self.dormant_months < 1:
            raise ValueError(
                "features.lifecycle: new_months and dormant_months must be >= 1, got "
                f"{self.new_months} and {self.dormant_months}"
            )

    def check(self, inactivity_months: int) -> None:
        """Dormant must be a shorter silence than inactivity (else no client is dormant)."""
        if self.dormant_months >= inactivity_months:
            raise ValueError(
                f"features.lifecycle.dormant_months ({self.dormant_months}) must be smaller "
                f"than features.inactivity_months ({inactivity_months})"
            )


def stage_sql(
    in_default: str,
    first_activity: str,
    as_of_month: str,
    open_now: str,
    revenue_in_inactivity: str,
    revenue_in_dormant: str,
    config: LifecycleConfig,
) -> str:
    """A SQL CASE giving the stage from SQL expressions for the inputs.

    ``in_default``: a SQL boolean (in default at t; NULL when unknown: not in_default);
    ``first_activity``: date of the first
    facility or revenue on or before t (NULL if none);
    ``as_of_month``: month index of t (year * 12 + month); the other three are booleans.
    """
    first_month = f"(year({first_activity}) * 12 + month({first_activity}))"
    return (
        f"CASE WHEN {in_default} THEN 'in_default' "
        f"WHEN {first_activity} IS NULL THEN 'potential' "
        f"WHEN NOT ({open_now} OR {revenue_in_inactivity}) THEN 'churned' "
        f"WHEN NOT ({open_now} OR {revenue_in_dormant}) THEN 'dormant' "
        f"WHEN {first_month} > {as_of_month} - {int(config.new_months)} THEN 'new' "
        "ELSE 'active' END"
    )


def classify(
    in_default: bool | None,
    first_activity: dt.date | None,
    as_of: dt.date,
    open_now: bool,
    revenue_in_inactivity: bool,
    revenue_in_dormant: bool,
    config: LifecycleConfig,
) -> str:
    """The same rules in Python, for one client (tests and notebooks); ``in_default`` None
    (unknown) is not in_default, as NULL in SQL."""
    if in_default is True:
        return "in_default"
    if first_activity is None:
        return "potential"
    if not (open_now or revenue_in_inactivity):
        return "churned"
    if not (open_now or revenue_in_dormant):
        return "dormant"
    if month_index(first_activity) > month_index(as_of) - config.new_months:
        return "new"
    return "active"
