"""The feature catalogue: every feature's name, meaning, source and plain-words reason.

The catalogue itself is data, ``catalogue.yaml`` beside this module (package data), read once
and checked strictly by :func:`parse_catalogue` (unknown or missing keys, a name given twice,
an unknown family, table or column, a reason that does not render: a :class:`CatalogueError`
naming the feature). :data:`FEATURES` maps a feature name to its :class:`FeatureSpec`, in the
file's order. The review report and the reason codes render :attr:`FeatureSpec.reason` with
the client's value, e.g. ``FEATURES["max_dpd_12m"].render(95.0)`` -> "Days past due reached
95 in the last 12 months". ``docs/features.md`` is generated from the catalogue
(``python -m predict.features.catalogue``).

``requires`` says which input is needed: ``"facilities+facility_balances|credit_events"``
means (facilities and facility_balances) or credit_events; ``table.column`` names an
optional column that must hold values. A feature whose inputs are absent is left out.

Conventions: sums and counts over an empty window are 0 for a client present at the as-of
date; maxima, means, "last" values and "months since" are missing (NaN) when there is
nothing to measure. Windows are calendar months ending with the as-of month end:
"last 3 months" at 2024-06-30 is 2024-04-01..2024-06-30. A window that begins before the
data's first month (``features.data_start``) is missing, not a sum of the months the data
covers (:func:`predict.features.build.mask_short_windows`; a trend needs twice its window).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import yaml

from predict.contract.spec import TABLES

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
    calendar: bool = False  # counts calendar time to or from a date (range checked at scoring)

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


class CatalogueError(ValueError):
    """``catalogue.yaml`` is malformed; the message names the feature (or family) at fault."""


_REQUIRED_KEYS = ("name", "requires", "description", "reason")
_KEYS = (*_REQUIRED_KEYS, "kind", "calendar")  # kind: numeric, calendar: false when left out
_KINDS: tuple[Kind, ...] = ("numeric", "categorical")
_SAMPLE_VALUES: dict[Kind, object] = {"numeric": 1234.5, "categorical": "sme"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (it keeps the last)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        names = [v.value for k, v in node.value if k.value == "name" and isinstance(v.value, str)]
        where = f"feature {names[0]!r}" if names else f"line {node.start_mark.line + 1}"
        raise CatalogueError(f"catalogue.yaml: {where}: key(s) given twice: {', '.join(twice)}")
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_catalogue(text: str) -> dict[str, FeatureSpec]:
    """The specs of ``catalogue.yaml``'s text by name, in file order; checked strictly."""
    try:
        document = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise CatalogueError(f"catalogue.yaml is not valid YAML: {error}") from error
    if not isinstance(document, dict) or list(document) != list(FAMILIES):
        found = ", ".join(map(str, document)) if isinstance(document, dict) else "no mapping"
        raise CatalogueError(
            f"catalogue.yaml: the families must be {', '.join(FAMILIES)} in this order, "
            f"each a list of features; found {found}"
        )
    specs: dict[str, FeatureSpec] = {}
    for family in FAMILIES:
        entries = document[family]
        if not isinstance(entries, list) or not entries:
            raise CatalogueError(f"catalogue.yaml: family {family!r}: expected a list of features")
        for index, entry in enumerate(entries, start=1):
            spec = _feature(family, index, entry)
            if spec.name in specs:
                raise CatalogueError(f"catalogue.yaml: feature {spec.name!r} is listed twice")
            specs[spec.name] = spec
    return specs


def _feature(family: Family, index: int, entry: object) -> FeatureSpec:
    """One entry as a spec, or a :class:`CatalogueError` naming it."""
    where = f"catalogue.yaml: {family} entry {index}"
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: expected a mapping with keys {', '.join(_KEYS)}")
    if isinstance(entry.get("name"), str):
        where = f"catalogue.yaml: feature {entry['name']!r}"
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = [k for k in _REQUIRED_KEYS if k not in entry]
    if missing:
        raise CatalogueError(f"{where}: missing key(s) {', '.join(missing)}")
    fields = {"kind": "numeric", **entry}
    calendar = fields.pop("calendar", False)
    not_text = [k for k, v in fields.items() if not isinstance(v, str) or not v.strip()]
    if not_text:
        raise CatalogueError(f"{where}: {', '.join(not_text)} must be non-empty text")
    if not _NAME.fullmatch(fields["name"]):
        raise CatalogueError(f"{where}: a name is lower-case letters, digits and _")
    if fields["kind"] not in _KINDS:
        raise CatalogueError(f"{where}: kind {fields['kind']!r} is not one of {', '.join(_KINDS)}")
    spec = FeatureSpec(**fields, family=family, calendar=calendar)
    _check_requires(spec)
    _check_reason(spec)
    if not isinstance(calendar, bool) or (calendar and spec.kind != "numeric"):
        raise CatalogueError(f"{where}: calendar must be true or false (true: numeric only)")
    return spec


def _check_requires(spec: FeatureSpec) -> None:
    """Every table and column named in ``requires`` is one of the data contract's."""
    for alternative in spec.alternatives:
        for part in alternative:
            table, dot, column = part.partition(".")
            where = f"catalogue.yaml: feature {spec.name!r}: requires {part!r}"
            if table not in TABLES:
                raise CatalogueError(f"{where}: no table {table!r} in the data contract")
            if dot and column not in TABLES[table].column_names:
                raise CatalogueError(f"{where}: table {table!r} has no column {column!r}")


def _check_reason(spec: FeatureSpec) -> None:
    """The reason's placeholders are all ``{value...}`` and render a value of the spec's kind."""
    where = f"catalogue.yaml: feature {spec.name!r}: reason {spec.reason!r}"
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(spec.reason) if f is not None]
    except ValueError as error:
        raise CatalogueError(f"{where}: {error}") from error
    if not fields or any(f != "value" for f in fields):
        raise CatalogueError(f"{where}: its placeholders must all be {{value}} (with a format)")
    try:
        spec.reason.format(value=_SAMPLE_VALUES[spec.kind])
    except (ValueError, TypeError) as error:
        raise CatalogueError(f"{where}: cannot render a {spec.kind} value ({error})") from error


def load_catalogue() -> dict[str, FeatureSpec]:
    """The specs of the package's ``catalogue.yaml`` (package data beside this module)."""
    text = resources.files("predict.features").joinpath("catalogue.yaml").read_text("utf-8")
    return parse_catalogue(text)


FEATURES: dict[str, FeatureSpec] = load_catalogue()
CATEGORICAL: tuple[str, ...] = tuple(n for n, s in FEATURES.items() if s.kind == "categorical")
NUMERIC: tuple[str, ...] = tuple(n for n, s in FEATURES.items() if s.kind == "numeric")
CALENDAR: tuple[str, ...] = tuple(n for n, s in FEATURES.items() if s.calendar)


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
    "either listed or every `step_months` counted back from the latest month end the data "
    "covers (`end: auto`) to the first with `min_history_months` of history (`start: auto`). The "
    "scoring as-of (`scoring: auto` = the same month end) is always included. That month end is "
    "the earliest of those the balances and the revenue each reach (a table reaches the month "
    "end of its last row once the data end is on or after it): credit events or interactions "
    "running past the balances do not move it; when no month end is covered by both, the stage "
    "stops naming the tables' spans.",
    "- **Calendar features** (kind `numeric, calendar`; `calendar: true` in catalogue.yaml): "
    "they count months between the as-of date and a date (tenure, months since the latest "
    "event, months to maturity), so they move with the calendar alone and a model has seen "
    "only the range its training dates allow (short histories: a narrow one). Training freezes "
    "each numeric feature's [min, max] over its train and validation rows in the model's "
    "`metadata.json` (`feature_ranges`, covered by the folder digest); scoring counts, per "
    "model, the clients whose calendar feature lies outside it (`calendar_out_of_range` in "
    "`score_summary.json`, a warning, a line in the report notes). Scores are not changed: "
    "the trees treat a value beyond the range as the nearest edge.",
    "- **Data end** (`features.data_end: auto`): the latest row of the *event tables* "
    "(facility_balances, revenue, interactions, credit_events); onboarding, origination and "
    "closure dates are attributes, not events, so a late prospect does not un-censor a "
    "snapshot (without any event table: the facilities', else the clients' latest date, with a "
    "warning). Each table's last date is logged and written to `snapshots.json` "
    "(`table_ends`); an event table whose last row is more than one calendar month before the "
    "data end's month is warned about and listed (`lagging_tables`): its missing months read "
    "as no activity, so bring it up to date or set `features.data_end`.",
    "- **Point in time**: a feature at t reads only rows dated on or before t; balances at "
    "month ends on or before t; a facility closed after t is open at t; a client onboarded "
    "after t has no row. A facility's terms (limit, rate, maturity) are those in force at t "
    "when the optional `facility_terms` table dates them (per term, the latest row on or "
    "before t that gives it, else the value recorded in `facilities`; the limits 3 and 6 "
    "months back are those in force then); without it they are taken as recorded, the "
    "latest values, a known look-ahead the model card states. Client attributes are taken "
    "as recorded. `tests/unit/test_point_in_time.py` and `tests/unit/test_facility_terms.py` "
    "prove that features from the full history equal "
    "features from the history cut at t, and that rows after t change nothing at t.",
    "- **Compared with the book** (`rate_spread_open`, `rate_spread_all`): a facility's "
    "rate minus the *rate reference* of its product and origination month: the median "
    "rate of the rated facilities of that product originated in that month (at least 3), "
    "each at its rate in force at origination (`facility_terms`, so a later repricing moves "
    "nothing), "
    "that are known at t: originated on or before t, and whose client was onboarded on or"
    " before t (a client onboarded after t has no row at t, nor do its facilities dated "
    "before t). Rates carry that month's base rate, so the spread keeps the premium "
    "priced for the client's risk then. A month without a reference takes the latest "
    "earlier origination month of the same product that has one; a product without any "
    "gives no spread (the features stay missing when no facility of the client has one). "
    "The reference is the view `rate_ref_t` (`predict.features.rates`): the `features` "
    "stage builds it point in time from the whole book for every as-of date (the same in "
    "every pass and Dask partition) and writes it, as known at the last as-of date, to "
    "`data/features/rate_reference.json`; `split` copies it beside the sets and `train` "
    "freezes it in each model folder (`references.json`). Scoring reads the frozen "
    "reference from the model folders, never from its input: a client's spreads, and so "
    "its scores, do not depend on who else is scored "
    "(`tests/unit/test_frozen_references.py`). At a scoring date after the training data,"
    " facilities originated after the reference's `known_at` month take the latest frozen"
    " month of their product.",
    "- **Every as-of date at once** (`predict.features.sql`, `predict.features.windows`): "
    "DuckDB aggregates each event table once per client and month (the *buckets*); a "
    "window of any as-of date is then a run of whole months, and numpy reduces every "
    "snapshot's run at once (one `reduceat` per aggregate); a last DuckDB statement "
    "evaluates the features. The same input rows, in the same order, and params give "
    "bit-identical features whatever the number of passes or workers and whichever other "
    "as-of dates are built with them (a window adds the same monthly subtotals in the same "
    "order: the scoring date alone equals its row in the features stage); another row order "
    "can change a money sum in its last bit (the order of float additions; validation puts "
    "the tables in a canonical order). "
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
        "Generated from `src/predict/features/catalogue.yaml` (read by `catalogue.py`) by "
        "`python -m predict.features.catalogue > "
        "docs/features.md`; do not edit by hand (a test checks it is up to date).",
        "",
        f"{len(FEATURES)} features, one row per client and as-of date t. Every feature uses "
        "only rows dated on or before t (balances: month ends on or before t). Windows are "
        "calendar months ending with the as-of month end. Sums and counts over an empty "
        'window are 0; maxima, means, "last" values and "months since" are missing when there '
        "is nothing to measure. A window that begins before the data's first month "
        "(`features.data_start`, auto: the first event row) is missing at that date, not a "
        "sum of the months the data covers (a trend needs twice its window, a change over W "
        "months W + 1). A feature whose source is absent is left out of the run "
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
                kind = f"{spec.kind}, calendar" if spec.calendar else spec.kind
                lines.append(
                    f"| `{spec.name}` | {kind} | {needs} | {spec.description} | {spec.reason} |"
                )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")


STATUS_SOURCES = ("credit_events", "facility_balances")  # the default triggers' tables
STAGE_SOURCES = ("facilities", "revenue")  # the life-cycle stage's activity tables


def source_tables(columns: Iterable[str], sources: Iterable[str] = STATUS_SOURCES) -> list[str]:
    """The tables of ``sources`` a book had, told by the feature ``columns`` built from it (a
    split's columns, a model's features): the features stage writes every catalogue feature
    the tables give, so a table was there when a feature that cannot be computed without it
    (each of its ``requires`` alternatives names it) is a column."""
    needing = [
        [{part.split(".")[0] for part in alt} for alt in FEATURES[c].alternatives]
        for c in columns
        if c in FEATURES
    ]
    return [t for t in sources if any(all(t in alt for alt in alts) for alts in needing)]


def status_sources(columns: Iterable[str]) -> list[str]:
    """The default status's tables (:data:`STATUS_SOURCES`) a book had (:func:`source_tables`)."""
    return source_tables(columns, STATUS_SOURCES)


def stage_sources(columns: Iterable[str]) -> list[str]:
    """The life-cycle stage's tables (:data:`STAGE_SOURCES`) a book had."""
    return source_tables(columns, STAGE_SOURCES)
