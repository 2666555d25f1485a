"""As-of dates: the snapshot calendar of features and labels, and the data's time span.

Every as-of date is a month end. Features at an as-of date t use the rows dated on or before
t; labels look at the window (t, t+H] with H = ``horizon_months``. A snapshot is *censored*
when t+H falls after the last date covered by the data (:func:`data_end`): its labels are
not known yet and it is no training example, but it is still scored.

The calendar comes from params (``features.as_of``): an explicit list of month ends, or
every ``step_months`` month ends counted back from ``end`` down to ``start``. ``auto``
values are resolved from the data, so a bank's own tables need no dates edited:
``end: auto`` and ``scoring: auto`` are the latest month end the data covers
(:func:`latest_month_end`), ``start: auto`` the first month end with ``min_history_months``
of history before it.

Where the data ends (``features.data_end: auto``, :func:`data_end`) is read from the *event
tables* only (:data:`EVENT_TABLES`: balances, revenue, interactions, credit events): rows that
record something happening at a date. Onboarding, origination and closure dates are
attributes of a client or a facility: one prospect onboarded after the last balance would
otherwise move the data end and un-censor snapshots whose label window the events never
reached. Each event table's last date is logged and reported (:func:`table_ends`,
``snapshots.json``), with a warning naming a table that lags the data end by more than one
calendar month (:func:`lagging_tables`): its missing months read as no activity.

The automatic as-of end and scoring date are month ends the balances and revenue (the
tables the features read at every month end) actually reach: a credit event dated a month
after the last balances does not move them to a month without balances.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

logger = logging.getLogger(__name__)

AUTO = "auto"
# Tables whose rows are events in time (they define where the data starts and ends).
EVENT_TABLES = ("facility_balances", "revenue", "interactions", "credit_events")
# Tables every automatic as-of date and scoring date must be covered by (read at each month end).
COVERAGE_TABLES = ("facility_balances", "revenue")
LAG_MONTHS = 1  # an event table whose last month is more months before the data end's: warned
# Date columns that say "something happened on this day" (maturity is a contractual term
# that may lie in the future, so it does not count).
_DATED_COLUMNS: dict[str, tuple[str, ...]] = {
    "clients": ("onboarding_date",),
    "facilities": ("origination_date", "closed_date"),
    "facility_balances": ("month_end",),
    "revenue": ("date",),
    "interactions": ("date",),
    "credit_events": ("date",),
}


@dataclass(frozen=True)
class SnapshotConfig:
    """The ``features.as_of`` params: which month ends get a snapshot."""

    dates: tuple[dt.date, ...] = ()  # explicit as-of dates; when given, start/end/step unused
    start: dt.date | str = AUTO  # first as-of; auto = first month end with enough history
    end: dt.date | str = AUTO  # last as-of; auto = latest month end in the data
    step_months: int = 3
    min_history_months: int = 12  # months of data before the first auto as-of
    scoring: dt.date | str = AUTO  # scoring as-of; auto = latest month end in the data

    def __post_init__(self) -> None:
        if self.step_months < 1:
            raise ValueError(f"features.as_of.step_months must be >= 1, got {self.step_months}")
        if self.min_history_months < 1:
            raise ValueError(
                f"features.as_of.min_history_months must be >= 1, got {self.min_history_months}"
            )


def month_end(day: dt.date) -> dt.date:
    """The last day of the month of ``day``."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def is_month_end(day: dt.date) -> bool:
    return day == month_end(day)


def add_months(day: dt.date, months: int) -> dt.date:
    """The month end ``months`` months after (before, if negative) the month of ``day``."""
    index = day.year * 12 + day.month - 1 + months
    return month_end(dt.date(index // 12, index % 12 + 1, 1))


def month_index(day: dt.date) -> int:
    """Months since year 0: consecutive months differ by one (the SQL uses the same)."""
    return day.year * 12 + day.month


def parse_date_setting(value: dt.date | str | None, where: str) -> dt.date | None:
    """A params date that may be ``auto`` (or null): None for auto, else the date."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{where}: {value!r} is neither 'auto' nor an ISO date") from exc


def require_month_ends(dates: Iterable[dt.date], where: str = "as-of dates") -> None:
    """Raise ValueError naming the first date that is not a month end."""
    for day in dates:
        if not is_month_end(day):
            raise ValueError(
                f"{where}: {day.isoformat()} is not a month end (features are monthly; "
                f"use {month_end(day).isoformat()} or {add_months(day, -1).isoformat()})"
            )


def _dated_values(tables: Mapping[str, pd.DataFrame], names: Iterable[str]) -> list[pd.Series]:
    found = []
    for name in names:
        frame = tables.get(name)
        if frame is None:
            continue
        for column in _DATED_COLUMNS[name]:
            if column in frame.columns and frame[column].notna().any():
                values = frame[column]
                # a datetime column as it is (validated tables): to_datetime would look at it
                # value by value, most of the time of every data_end / table_ends call
                is_datetime = pd.api.types.is_datetime64_any_dtype(values)
                found.append(values if is_datetime else pd.to_datetime(values))
    return found


def _to_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def table_ends(tables: Mapping[str, pd.DataFrame]) -> dict[str, dt.date]:
    """The last dated row of each table that has one (dates of :data:`_DATED_COLUMNS`)."""
    ends: dict[str, dt.date] = {}
    for name in _DATED_COLUMNS:
        values = _dated_values(tables, [name])
        if values:
            ends[name] = max(_to_date(v.max()) for v in values)
    return ends


def data_end(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The last day covered by the data: the latest row of an event table (:data:`EVENT_TABLES`).

    Onboarding, origination and closure dates do not count, except (with a warning) when no
    event table has a dated row: then the facilities', else the clients' latest date.
    """
    ends = table_ends(tables)
    events = [ends[n] for n in EVENT_TABLES if n in ends]
    if events:
        return max(events)
    for name in ("facilities", "clients"):
        if name in ends:
            logger.warning(
                "no event table (%s) has a dated row: the data end is the latest date of "
                "%s (%s); set features.data_end to say where the data ends",
                ", ".join(EVENT_TABLES), name, ends[name],
            )  # fmt: skip
            return ends[name]
    raise ValueError("no dated rows in any table: cannot tell where the data ends")


def lagging_tables(tables: Mapping[str, pd.DataFrame], end: dt.date) -> dict[str, dt.date]:
    """The event tables whose last row lies more than :data:`LAG_MONTHS` calendar months
    before the month of ``end`` (e.g. data end 2024-06-30: a table ending in April or earlier)."""
    ends = table_ends(tables)
    return {
        name: ends[name]
        for name in EVENT_TABLES
        if name in ends and month_index(end) - month_index(ends[name]) > LAG_MONTHS
    }


def report_table_ends(tables: Mapping[str, pd.DataFrame], end: dt.date) -> dict[str, str]:
    """Log each table's last date and warn, naming it, about an event table that lags the
    data end ``end`` (:func:`lagging_tables`); the last dates as ISO text."""
    ends = table_ends(tables)
    for name, last in ends.items():
        logger.info("table %s: last date %s", name, last)
    for name, last in lagging_tables(tables, end).items():
        logger.warning(
            "table %s ends %s, more than %d month(s) before the data end %s: its months after "
            "%s read as no activity (set features.data_end, or bring the table up to date)",
            name, last, LAG_MONTHS, end, last,
        )  # fmt: skip
    return {name: last.isoformat() for name, last in ends.items()}


def data_start(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The first day of event history (balances, revenue, interactions, credit events).

    Falls back to facilities, then clients, when no event table is present.
    """
    for names in (EVENT_TABLES, ("facilities",), ("clients",)):
        values = _dated_values(tables, names)
        if values:
            return min(_to_date(v.min()) for v in values)
    raise ValueError("no dated rows in any table: cannot tell where the data starts")


def _month_end_reached(day: dt.date) -> dt.date:
    """The latest month end on or before ``day``."""
    return day if is_month_end(day) else add_months(day, -1)


def latest_month_end(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The latest month end the data covers: the earliest of the month ends that balances
    and revenue (:data:`COVERAGE_TABLES`, those present) each reach. A table reaches the
    month end of its last row when the data end (:func:`data_end`) is on or after it (a
    month with revenue on the 27th is covered once the data runs to its end), else the month
    end before. Without either table: the latest month end on or before the data end.

    Raises ValueError naming the tables when that month end lies before the first month of
    one of them (nothing is covered by all of them).
    """
    ends, end = table_ends(tables), data_end(tables)
    present = [n for n in COVERAGE_TABLES if n in ends]
    if not present:
        return _month_end_reached(end)
    day = min(_month_end_reached(min(month_end(ends[n]), end)) for n in present)
    starts = {n: min(_to_date(v.min()) for v in _dated_values(tables, [n])) for n in present}
    if any(day < month_end(first) for first in starts.values()):
        spans = "; ".join(f"{n} runs {starts[n]} to {ends[n]}" for n in present)
        raise ValueError(
            f"no month end is covered by {' and '.join(present)} ({spans}): a month end needs "
            "each of them to reach it; nothing to build features or score at"
        )
    return day


def resolve_data_end(tables: Mapping[str, pd.DataFrame], setting: dt.date | str | None) -> dt.date:
    """``features.data_end``: a date from params, or (auto) :func:`data_end` of the tables."""
    return parse_date_setting(setting, "features.data_end") or data_end(tables)


def resolve_data_start(
    tables: Mapping[str, pd.DataFrame], setting: dt.date | str | None
) -> dt.date:
    """``features.data_start``: a date from params, or (auto) :func:`data_start` of the
    tables (on a skeleton: the book's, since it keeps each date column's first value)."""
    return parse_date_setting(setting, "features.data_start") or data_start(tables)


def scoring_as_of(tables: Mapping[str, pd.DataFrame], config: SnapshotConfig) -> dt.date:
    """The scoring as-of: params ``features.as_of.scoring`` or the latest month end."""
    chosen = parse_date_setting(config.scoring, "features.as_of.scoring")
    day = chosen or latest_month_end(tables)
    require_month_ends([day], "features.as_of.scoring")
    return day


def as_of_dates(tables: Mapping[str, pd.DataFrame], config: SnapshotConfig) -> list[dt.date]:
    """All snapshot as-of dates (sorted, month ends), the scoring as-of included."""
    scoring = scoring_as_of(tables, config)
    if config.dates:
        dates = set(config.dates)
    else:
        end = parse_date_setting(config.end, "features.as_of.end") or latest_month_end(tables)
        first = parse_date_setting(config.start, "features.as_of.start") or add_months(
            data_start(tables), config.min_history_months - 1
        )
        require_month_ends([end], "features.as_of.end")
        dates = set()
        day = end
        while day >= first:
            dates.add(day)
            day = add_months(day, -config.step_months)
        if not dates:
            raise ValueError(
                f"features.as_of: no month end between start {first} and end {end} "
                f"(start: {config.start}, min_history_months {config.min_history_months} from "
                f"the data start {data_start(tables)}; end: {config.end}, the latest month end "
                "balances and revenue cover); the data may be shorter than min_history_months"
            )
    dates.add(scoring)
    ordered = sorted(dates)
    require_month_ends(ordered, "features.as_of.dates")
    return ordered


def label_end(as_of: dt.date, horizon_months: int) -> dt.date:
    """The end t+H of the label window (t, t+H]."""
    return add_months(as_of, horizon_months)


def is_censored(as_of: dt.date, horizon_months: int, end: dt.date) -> bool:
    """True when the label window (t, t+H] is not fully inside the data (t+H > data end)."""
    return label_end(as_of, horizon_months) > end


def uncensored(dates: Iterable[dt.date], horizon_months: int, end: dt.date) -> list[dt.date]:
    """The as-of dates whose label window lies inside the data."""
    return [d for d in dates if not is_censored(d, horizon_months, end)]
