"""As-of dates: month arithmetic, where the data starts and ends, the snapshot calendar."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from predict.features.snapshots import (
    SnapshotConfig,
    add_months,
    as_of_dates,
    data_end,
    data_start,
    is_censored,
    is_month_end,
    label_end,
    lagging_tables,
    latest_month_end,
    month_index,
    parse_date_setting,
    report_table_ends,
    require_month_ends,
    resolve_data_end,
    scoring_as_of,
    table_ends,
    uncensored,
)
from tests.support.tables import frame, tiny_tables

D = dt.date


def test_add_months_lands_on_month_ends_across_leap_years() -> None:
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2023, 3, 31), -1) == D(2023, 2, 28)
    assert add_months(D(2024, 2, 29), 12) == D(2025, 2, 28)
    assert add_months(D(2024, 12, 31), -12) == D(2023, 12, 31)
    assert add_months(D(2024, 6, 15), 0) == D(2024, 6, 30)
    assert month_index(D(2024, 1, 31)) - month_index(D(2023, 12, 1)) == 1


def test_month_end_checks_name_the_bad_date() -> None:
    assert is_month_end(D(2024, 2, 29)) and not is_month_end(D(2023, 2, 27))
    with pytest.raises(ValueError, match="2024-06-15 is not a month end"):
        require_month_ends([D(2024, 5, 31), D(2024, 6, 15)])


def test_data_span_of_the_tiny_book() -> None:
    tables = tiny_tables()
    assert data_end(tables) == D(2022, 12, 31)  # the last balance and fee; not c4's onboarding
    assert latest_month_end(tables) == D(2022, 12, 31)
    assert data_start(tables) == D(2020, 2, 29)  # first balance month end
    del tables["facility_balances"], tables["revenue"], tables["interactions"]
    del tables["credit_events"]
    assert data_start(tables) == D(2020, 2, 1)  # falls back to facilities


def test_a_late_prospect_does_not_move_the_data_end() -> None:
    tables = tiny_tables()  # c4 onboarded 2023-03-01, c3 2023-01-10: attributes, not events
    assert table_ends(tables)["clients"] == D(2023, 3, 1)
    assert data_end(tables) == resolve_data_end(tables, "auto") == D(2022, 12, 31)
    # so a snapshot whose label window runs past the last event stays censored
    assert is_censored(D(2022, 6, 30), 12, data_end(tables))


def test_without_event_tables_the_data_end_falls_back_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tables = {"clients": tiny_tables()["clients"], "facilities": tiny_tables()["facilities"]}
    assert data_end(tables) == D(2022, 6, 30)  # f2's closure; f3's maturity in 2026 is no data
    assert "no event table" in caplog.text and "latest date of facilities" in caplog.text
    assert data_end({"clients": tiny_tables()["clients"]}) == D(2023, 3, 1)
    assert latest_month_end(tables) == D(2022, 6, 30)


def test_credit_events_after_the_balances_do_not_move_the_as_of_end_or_scoring_date() -> None:
    tables = tiny_tables()
    late = frame("credit_events", [("c2", "f3", "2023-01-31", "watchlist")])
    tables["credit_events"] = pd.concat([tables["credit_events"], late], ignore_index=True)
    assert data_end(tables) == D(2023, 1, 31)  # an event table: it ends the data
    assert latest_month_end(tables) == D(2022, 12, 31)  # no balance or revenue in January
    config = SnapshotConfig(step_months=3, min_history_months=12)
    assert scoring_as_of(tables, config) == D(2022, 12, 31)
    assert as_of_dates(tables, config)[-1] == D(2022, 12, 31)


def test_revenue_on_any_day_covers_its_month_once_the_data_reaches_the_month_end() -> None:
    tables = tiny_tables()
    revenue = tables["revenue"]
    tables["revenue"] = revenue[revenue["date"] != pd.Timestamp("2022-12-31")]  # last: 12-15
    assert latest_month_end(tables) == D(2022, 12, 31)  # balances run to 2022-12-31
    balances = tables["facility_balances"]
    tables["facility_balances"] = balances[balances["month_end"] < pd.Timestamp("2022-12-31")]
    assert data_end(tables) == D(2022, 12, 15)  # now December is only half there
    assert latest_month_end(tables) == D(2022, 11, 30)


def test_a_month_end_nothing_covers_is_a_clear_error() -> None:
    tables = tiny_tables()
    tables["revenue"] = frame("revenue", [("c1", "2022-12-03", 5.0), ("c1", "2022-12-20", 5.0)])
    for name in ("facility_balances", "interactions", "credit_events"):
        tables[name] = tables[name].iloc[0:0]
    with pytest.raises(ValueError, match="no month end is covered by revenue") as caught:
        latest_month_end(tables)
    assert "revenue runs 2022-12-03 to 2022-12-20" in str(caught.value)


def test_an_event_table_that_lags_the_data_end_is_named(caplog: pytest.LogCaptureFixture) -> None:
    tables = tiny_tables()
    end = data_end(tables)
    # interactions end 2022-02-10 (10 months before December), credit events 2022-10-31 (2);
    # revenue and balances end in December: within one month
    assert lagging_tables(tables, end) == {
        "interactions": D(2022, 2, 10),
        "credit_events": D(2022, 10, 31),
    }
    assert lagging_tables(tables, D(2022, 11, 30)) == {"interactions": D(2022, 2, 10)}
    ends = report_table_ends(tables, end)
    assert ends["facility_balances"] == "2022-12-31" and ends["clients"] == "2023-03-01"
    assert "table interactions ends 2022-02-10" in caplog.text
    assert "table revenue ends" not in caplog.text


def test_auto_calendar_counts_back_from_the_latest_month_end() -> None:
    dates = as_of_dates(tiny_tables(), SnapshotConfig(step_months=3, min_history_months=12))
    assert dates[-1] == D(2022, 12, 31)
    assert dates[0] == D(2021, 3, 31)  # first >= 2021-01-31 (12 months of data)
    assert all(month_index(b) - month_index(a) == 3 for a, b in itertools.pairwise(dates))


def test_explicit_dates_and_scoring_as_of_are_used_and_checked() -> None:
    config = SnapshotConfig(dates=(D(2021, 12, 31), D(2022, 6, 30)), scoring="2022-12-31")
    assert as_of_dates(tiny_tables(), config) == [D(2021, 12, 31), D(2022, 6, 30), D(2022, 12, 31)]
    assert scoring_as_of(tiny_tables(), config) == D(2022, 12, 31)
    with pytest.raises(ValueError, match="2022-06-15"):
        as_of_dates(tiny_tables(), SnapshotConfig(dates=(D(2022, 6, 15),)))


def test_start_and_end_dates_from_params() -> None:
    config = SnapshotConfig(start=D(2021, 6, 30), end="2022-06-30", step_months=6)
    assert as_of_dates(tiny_tables(), config) == [
        D(2021, 6, 30),
        D(2021, 12, 31),
        D(2022, 6, 30),
        D(2022, 12, 31),  # the scoring as-of is always in
    ]


def test_calendar_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="no month end between"):
        as_of_dates(tiny_tables(), SnapshotConfig(start=D(2022, 1, 31), end=D(2021, 1, 31)))


def test_censoring_uses_the_end_of_the_label_window() -> None:
    end = D(2023, 3, 1)
    assert label_end(D(2022, 2, 28), 12) == D(2023, 2, 28)
    assert not is_censored(D(2022, 2, 28), 12, end)
    assert is_censored(D(2022, 3, 31), 12, end)
    assert uncensored([D(2021, 12, 31), D(2022, 2, 28), D(2022, 3, 31)], 12, end) == [
        D(2021, 12, 31),
        D(2022, 2, 28),
    ]


def test_date_settings_accept_auto_dates_and_iso_text() -> None:
    assert parse_date_setting("auto", "x") is None
    assert parse_date_setting(None, "x") is None
    assert parse_date_setting("2024-01-31", "x") == D(2024, 1, 31)
    assert parse_date_setting(dt.datetime(2024, 1, 31, 10), "x") == D(2024, 1, 31)
    with pytest.raises(ValueError, match=r"features\.data_end"):
        parse_date_setting("soon", "features.data_end")
    assert resolve_data_end(tiny_tables(), "2022-12-31") == D(2022, 12, 31)
    assert resolve_data_end(tiny_tables(), "auto") == D(2022, 12, 31)


def test_bad_snapshot_params_are_refused() -> None:
    with pytest.raises(ValueError, match="step_months"):
        SnapshotConfig(step_months=0)


def test_dates_given_as_text_or_as_datetimes_give_the_same_span() -> None:
    """A datetime column is read as it is (validated tables), a text one parsed: the same
    first and last dates either way."""
    tables = tiny_tables()
    as_text = {
        name: t.assign(
            **{
                c: t[c].dt.strftime("%Y-%m-%d").astype("str")
                for c in t.columns
                if pd.api.types.is_datetime64_any_dtype(t[c])
            }
        )
        for name, t in tables.items()
    }
    assert any(
        pd.api.types.is_datetime64_any_dtype(t[c]) for t in tables.values() for c in t.columns
    )
    assert table_ends(as_text) == table_ends(tables)
    assert table_ends(tables)["clients"] == D(2023, 3, 1)
    assert data_start(as_text) == data_start(tables) == D(2020, 2, 29)
    assert data_end(as_text) == data_end(tables) == D(2022, 12, 31)
