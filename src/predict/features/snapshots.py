"""As-of dates: the snapshot calendar of features and labels, and the data's time span.

Every as-of date is a month end. Features at an as-of date t use the rows dated on or before
t; labels look at the window (t, t+H] with H = ``horizon_months``. A snapshot is *censored*
when t+H falls after the last date covered by the data (:func:`data_end`): its labels are
not known yet and it is no training example, but it is still scored.

The calendar comes from params (``features.as_of``): an explicit list of month ends, or
every ``step_months`` month ends counted back from ``end`` down to ``start``. ``auto``
values are resolved from the data, so a bank's own tables need no dates edited:
``end: auto`` is the latest month end in the data, ``start: auto`` the first month end with
``min_history_months`` of history before it, ``scoring: auto`` the latest month end.
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
# Tables whose rows are events in time (they define where the data starts).
EVENT_TABLES = ("facility_balances", "revenue", "interactions", "credit_events")
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
                found.append(pd.to_datetime(frame[column]))
    return found


def _to_date(value: object) -> dt.date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


def data_end(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The last day covered by the data: the latest dated row of any table."""
    values = _dated_values(tables, _DATED_COLUMNS)
    if not values:
        raise ValueError("no dated rows in any table: cannot tell where the data ends")
    return max(_to_date(v.max()) for v in values)


def data_start(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The first day of event history (balances, revenue, interactions, credit events).

    Falls back to facilities, then clients, when no event table is present.
    """
    for names in (EVENT_TABLES, ("facilities",), ("clients",)):
        values = _dated_values(tables, names)
        if values:
            return min(_to_date(v.min()) for v in values)
    raise ValueError("no dated rows in any table: cannot tell where the data starts")


def latest_month_end(tables: Mapping[str, pd.DataFrame]) -> dt.date:
    """The latest month end on or before :func:`data_end` (a month the data fully covers)."""
    end = data_end(tables)
    return end if is_month_end(end) else add_months(end, -1)


def resolve_data_end(tables: Mapping[str, pd.DataFrame], setting: dt.date | str | None) -> dt.date:
    """``features.data_end``: a date from params, or (auto) :func:`data_end` of the tables."""
    return parse_date_setting(setting, "features.data_end") or data_end(tables)


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
                f"features.as_of: no month end between start {first} and end {end}; "
                "the data may be shorter than min_history_months"
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
