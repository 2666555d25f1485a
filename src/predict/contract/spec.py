"""The data contract: the input tables the pipeline accepts, in code.

This module is the single source of truth for table names, columns, their kinds,
keys and foreign keys (see docs/data_dictionary.md, generated from it), and for the
targets the models predict (:data:`TARGETS`), the scores column of each output
(:data:`OUTPUT_COLUMN`). Categorical values are free strings: nothing here lists a bank's
codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["string", "date", "float", "int"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    required: bool
    description: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ForeignKey:
    column: str
    table: str
    ref_column: str


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    date_column: str | None = None  # the column that dates each row (point-in-time)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}")


CLIENTS = Table(
    name="clients",
    required=True,
    description="One row per client (prospects included).",
    key=("client_id",),
    date_column="onboarding_date",
    columns=(
        Column("client_id", "string", True, "Unique client key."),
        Column("onboarding_date", "date", True, "Start of the relationship."),
        Column("segment", "string", False, "Client segment, e.g. sme, mid_corporate."),
        Column("industry", "string", False, "Sector code."),
        Column("region", "string", False, "Region."),
        Column("branch_id", "string", False, "Owning branch."),
        Column("rm_id", "string", False, "Relationship manager."),
        Column("annual_turnover", "float", False, "Client's annual turnover.", min=0.0),
    ),
)

FACILITIES = Table(
    name="facilities",
    required=False,
    description="One row per loan or credit line.",
    key=("facility_id",),
    foreign_keys=(ForeignKey("client_id", "clients", "client_id"),),
    date_column="origination_date",
    columns=(
        Column("facility_id", "string", True, "Unique facility key."),
        Column("client_id", "string", True, "Owning client; must exist in clients."),
        Column("product", "string", True, "e.g. term_loan, revolving_credit, guarantee."),
        Column("limit_amount", "float", True, "Committed amount.", min=0.0),
        Column("interest_rate", "float", False, "Annual rate as a fraction (0.055)."),
        Column("origination_date", "date", True, "Origination date."),
        Column("maturity_date", "date", False, "Maturity; on or after origination_date."),
        Column("closed_date", "date", False, "Closure date; empty while open."),
    ),
)

FACILITY_BALANCES = Table(
    name="facility_balances",
    required=False,
    description="One row per facility per month end.",
    key=("facility_id", "month_end"),
    foreign_keys=(ForeignKey("facility_id", "facilities", "facility_id"),),
    date_column="month_end",
    columns=(
        Column("facility_id", "string", True, "Facility; must exist in facilities."),
        Column("month_end", "date", True, "Last day of a month."),
        Column("outstanding", "float", True, "Drawn balance.", min=0.0),
        Column("days_past_due", "int", True, "Arrears in days at month end.", min=0.0),
        Column(
            "available",
            "float",
            False,
            "Committed amount the client can still draw at the month end (0 for an "
            "amortising loan); empty or absent: the product rule score.relationship.undrawn "
            "decides.",
            min=0.0,
        ),
    ),
)

REVENUE = Table(
    name="revenue",
    required=False,
    description="Income the bank earns from the client (needed for the contribution target).",
    foreign_keys=(ForeignKey("client_id", "clients", "client_id"),),
    date_column="date",
    columns=(
        Column("client_id", "string", True, "Client; must exist in clients."),
        Column("date", "date", True, "Booking date."),
        Column("amount", "float", True, "Amount; negative for refunds and reversals."),
        Column("source", "string", False, "e.g. interest, fee, fx, cash_management, trade."),
    ),
)

INTERACTIONS = Table(
    name="interactions",
    required=False,
    description="Every touch between bank and client.",
    foreign_keys=(ForeignKey("client_id", "clients", "client_id"),),
    date_column="date",
    columns=(
        Column("client_id", "string", True, "Client; must exist in clients."),
        Column("date", "date", True, "Date of the interaction."),
        Column(
            "kind", "string", True, "e.g. rm_meeting, call, service_request, complaint, survey."
        ),
        Column("channel", "string", False, "e.g. branch, phone, portal."),
        Column("csat", "int", False, "Satisfaction survey answer (CSAT), 1..5.", min=1, max=5),
        Column("nps", "int", False, "Likelihood to recommend (NPS), 0..10.", min=0, max=10),
    ),
)

CREDIT_EVENTS = Table(
    name="credit_events",
    required=False,
    description="Dated credit events.",
    foreign_keys=(ForeignKey("client_id", "clients", "client_id"),),
    date_column="date",
    columns=(
        Column("client_id", "string", True, "Client; must exist in clients."),
        Column("facility_id", "string", False, "Facility, when the event concerns one."),
        Column("date", "date", True, "Date of the event."),
        Column("kind", "string", True, "default, write_off, restructuring, covenant_breach, ..."),
    ),
)

FACILITY_TERMS = Table(
    name="facility_terms",
    required=False,
    description=(
        "The history of a facility's terms, one row per change (limit cut or increase, "
        "repricing, maturity extension), ideally with a first row at origination holding "
        "the original terms. Features at t use the terms in force at t (see the rules "
        "below); absent: the terms in facilities as recorded (the latest), a known "
        "look-ahead risk."
    ),
    key=("facility_id", "effective_date"),
    foreign_keys=(ForeignKey("facility_id", "facilities", "facility_id"),),
    date_column="effective_date",
    columns=(
        Column("facility_id", "string", True, "Facility; must exist in facilities."),
        Column("effective_date", "date", True, "The terms of this row hold from this date."),
        Column("limit_amount", "float", False, "Committed amount from this date.", min=0.0),
        Column("interest_rate", "float", False, "Annual rate as a fraction, from this date."),
        Column(
            "maturity_date",
            "date",
            False,
            "Maturity from this date (may be before it: a facility past maturity, still open).",
        ),
    ),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        CLIENTS,
        FACILITIES,
        FACILITY_BALANCES,
        REVENUE,
        INTERACTIONS,
        CREDIT_EVENTS,
        FACILITY_TERMS,
    )
}
# The columns of facilities that facility_terms dates (the same names in both tables).
TERM_COLUMNS: tuple[str, ...] = ("limit_amount", "interest_rate", "maturity_date")

TARGETS: tuple[str, ...] = ("churn", "default", "contribution")
# The scores column of each target's model output (scores.parquet, drift, the report).
OUTPUT_COLUMN: dict[str, str] = dict(
    zip(
        TARGETS,
        ("churn_probability", "default_probability", "expected_contribution"),
        strict=True,
    )
)
DEFAULT_EVENT_KINDS: tuple[str, ...] = ("default", "write_off")
DEFAULT_DPD_THRESHOLD = 90
# Who each model is trained, evaluated and applied on, in words (labels, metrics, model card,
# report); the rules: predict.features.labels.apply_populations and predict.scoring.scope.
POPULATIONS: dict[str, str] = {
    "churn": (
        "clients active at t (an open facility, or revenue in the inactivity window), not in "
        "default at t, with no default in (t, t+H] (an exit through default is not churn)"
    ),
    "default": (
        "clients with exposure at t (an open facility or a drawn balance) who are not in "
        "default at t (a default trigger in force or in probation, or a write-off)"
    ),
    "contribution": "every client onboarded on or before t",
}
