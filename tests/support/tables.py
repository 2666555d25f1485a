"""Contract tables for the feature, label and split tests: a tiny hand-made book whose
values are worked out by hand in the tests, a random book of contract shape, and the
history "as known at t" used by the point-in-time proofs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd

from predict.contract.spec import TABLES, TERM_COLUMNS
from predict.contract.tables import KIND_DTYPES
from predict.features.snapshots import add_months, month_end

Row = Sequence[object]


def frame(table: str, rows: Sequence[Row]) -> pd.DataFrame:
    """A typed contract table from rows given in contract column order (trailing optional
    columns a row leaves out are missing)."""
    spec = TABLES[table]
    data = {
        c.name: [r[i] if i < len(r) or c.required else None for r in rows]
        for i, c in enumerate(spec.columns)
    }
    return pd.DataFrame(
        {
            c.name: pd.Series(
                pd.to_datetime(pd.Series(data[c.name])) if c.kind == "date" else data[c.name],
                dtype=KIND_DTYPES[c.kind],
            )
            for c in spec.columns
        }
    )


def contract_tables(*rows: Sequence[Row]) -> dict[str, pd.DataFrame]:
    """Contract tables from their rows, the tables given in contract order (``TABLES``);
    the tables after the last one given are absent."""
    if len(rows) > len(TABLES):
        raise ValueError(f"{len(rows)} tables given, the contract has {len(TABLES)}")
    return {name: frame(name, table_rows) for name, table_rows in zip(TABLES, rows, strict=False)}


def _months(first: str, last: str) -> list[str]:
    day, end, out = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        out.append(day.isoformat())
        day = add_months(day, 1)
    return out


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Four clients, three facilities; dates chosen so the tests can count by hand.

    c1: onboarded 2020-01-15, term loan f1 (open) and revolver f2 (closed 2022-06-30), monthly
        interest 500 on the 15th from 2020-03 to 2022-12 and a fee of 100 every quarter end
        month; a covenant breach 2021-08-01; meetings, a complaint and surveys.
    c2: onboarded 2021-06-01, term loan f3 going into arrears in 2022 (cure in 2022-06,
        90 dpd at 2022-10-31), default event 2022-10-31; interest 800 a month until 2022-09.
    c3: onboarded 2023-01-10, a prospect: no facility, no revenue.
    c4: onboarded 2023-03-01, after every other row: the data end.
    """
    clients = frame(
        "clients",
        [
            ("c1", "2020-01-15", "sme", "A", "north", "b1", "rm1", 1_000_000.0),
            ("c2", "2021-06-01", "mid_corporate", "B", "south", "b2", "rm2", 4_000_000.0),
            ("c3", "2023-01-10", "sme", None, "north", "b1", "rm1", None),
            ("c4", "2023-03-01", "sme", "A", "east", "b3", "rm3", 500_000.0),
        ],
    )
    facilities = frame(
        "facilities",
        [
            ("f1", "c1", "term_loan", 100_000.0, 0.05, "2020-02-01", "2025-02-01", None),
            (
                "f2",
                "c1",
                "revolving_credit",
                50_000.0,
                0.07,
                "2021-03-15",
                "2022-03-15",
                "2022-06-30",
            ),
            ("f3", "c2", "term_loan", 200_000.0, 0.04, "2021-07-01", "2026-07-01", None),
        ],
    )
    f3_dpd = {"2022-04-30": 30, "2022-05-31": 60, "2022-08-31": 30, "2022-09-30": 60}
    f3_dpd |= {"2022-10-31": 90, "2022-11-30": 120, "2022-12-31": 150}
    balances = (
        [("f1", m, 80_000.0, 0) for m in _months("2020-02-29", "2022-12-31")]
        + [("f2", m, 25_000.0, 0) for m in _months("2021-03-31", "2022-06-30")]
        + [("f3", m, 150_000.0, f3_dpd.get(m, 0)) for m in _months("2021-07-31", "2022-12-31")]
    )
    revenue = [("c1", f"{m[:8]}15", 500.0, "interest") for m in _months("2020-03-31", "2022-12-31")]
    revenue += [("c1", m, 100.0, "Fee") for m in _months("2020-03-31", "2022-12-31")[::3]]
    revenue += [
        ("c2", f"{m[:8]}20", 800.0, "interest") for m in _months("2021-08-31", "2022-09-30")
    ]
    interactions = [
        ("c1", "2021-05-10", "rm_meeting", "branch", None, None),
        ("c1", "2021-06-01", "survey", "portal", 4, None),
        ("c1", "2021-11-03", "complaint", "phone", None, None),
        ("c1", "2022-01-15", "survey", "portal", 2, 5),
        ("c1", "2022-02-01", "survey", "portal", None, None),
        ("c1", "2022-02-10", "service_request", "portal", None, None),
        ("c2", "2022-01-01", "call", "phone", None, None),
    ]
    events = [
        ("c1", "f1", "2021-08-01", "covenant_breach"),
        ("c2", "f3", "2022-04-15", "watchlist"),
        ("c2", "f3", "2022-10-31", "default"),
    ]
    return {
        "clients": clients,
        "facilities": facilities,
        "facility_balances": frame("facility_balances", balances),
        "revenue": frame("revenue", revenue),
        "interactions": frame("interactions", interactions),
        "credit_events": frame("credit_events", events),
    }


def random_tables(
    seed: int, n_clients: int = 40, start: str = "2019-01-01", months: int = 48
) -> dict[str, pd.DataFrame]:
    """A random book of contract shape: every table, every optional column, messy dates.

    Rows fall on arbitrary days (revenue refunds, several events on one day, facilities
    opened mid-month and closed later, arrears that come and go) so that the point-in-time
    tests see the hard cases.
    """
    rng = np.random.default_rng(seed)
    first = dt.date.fromisoformat(start)
    last = add_months(first, months - 1)
    span = (last - first).days

    def day(lo: int = 0) -> dt.date:
        return first + dt.timedelta(days=int(rng.integers(lo, span + 1)))

    clients, facilities, balances, revenue, interactions, events = [], [], [], [], [], []
    for i in range(n_clients):
        cid = f"c{i:03d}"
        onboard = first - dt.timedelta(days=int(rng.integers(0, 400))) if i % 3 else day()
        clients.append(
            (
                cid,
                onboard.isoformat(),
                ["sme", "mid", None][int(rng.integers(0, 3))],
                rng.choice(["A", "B"]),
                rng.choice(["n", "s"]),
                "b1",
                "rm1",
                float(rng.choice([0.0, 1e6, 5e6])),
            )
        )
        for j in range(int(rng.integers(0, 4))):
            fid = f"{cid}f{j}"
            opened = day()
            closed = opened + dt.timedelta(days=int(rng.integers(20, 900)))
            maturity = opened + dt.timedelta(days=int(rng.integers(200, 2000)))
            facilities.append(
                (
                    fid,
                    cid,
                    rng.choice(["term_loan", "revolver"]),
                    float(rng.integers(0, 5)) * 1e5,
                    float(rng.choice([0.03, 0.06])) if rng.random() < 0.9 else None,
                    opened.isoformat(),
                    maturity.isoformat(),
                    closed.isoformat() if rng.random() < 0.6 and closed <= last else None,
                )
            )
            close_day = dt.date.fromisoformat(facilities[-1][7]) if facilities[-1][7] else last
            m = month_end(opened)
            while m <= min(month_end(close_day), last):
                dpd = int(rng.choice([0, 0, 0, 15, 45, 95]))
                balances.append((fid, m.isoformat(), float(rng.integers(0, 4)) * 3e4, dpd))
                m = add_months(m, 1)
        for _ in range(int(rng.integers(0, 30))):
            revenue.append(
                (
                    cid,
                    day().isoformat(),
                    float(rng.normal(300, 400)),
                    ["interest", "FEE", "fx", None][int(rng.integers(0, 4))],
                )
            )
        for _ in range(int(rng.integers(0, 12))):
            kind = rng.choice(["rm_meeting", "call", "complaint", "survey", "service_request"])
            csat = int(rng.integers(1, 6)) if kind == "survey" and rng.random() < 0.6 else None
            nps = int(rng.integers(0, 11)) if kind == "survey" and rng.random() < 0.5 else None
            interactions.append((cid, day().isoformat(), kind, "portal", csat, nps))
        for _ in range(int(rng.integers(0, 3))):
            kind = rng.choice(
                ["watchlist", "restructuring", "covenant_breach", "default", "write_off", "other"]
            )
            events.append((cid, None, day().isoformat(), kind))
    return contract_tables(clients, facilities, balances, revenue, interactions, events)


def history_at(tables: dict[str, pd.DataFrame], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """The tables as the bank knew them at ``as_of``: every row dated on or before it.

    Facilities originated on or before ``as_of`` are kept; a closure after ``as_of`` was not
    known then, so ``closed_date`` > as_of becomes null. Their terms (limit, rate, maturity)
    are those in force at ``as_of`` when ``facility_terms`` dates them (:func:`terms_at`),
    and the term changes after ``as_of`` are not known. Balances: month ends on or before
    ``as_of``.
    """
    t = pd.Timestamp(as_of)
    out: dict[str, pd.DataFrame] = {}
    for name, df in tables.items():
        column = TABLES[name].date_column
        assert column is not None
        kept = df[df[column] <= t].copy()
        if name == "facilities":
            kept["closed_date"] = kept["closed_date"].where(kept["closed_date"] <= t)
        out[name] = kept.reset_index(drop=True)
    if "facilities" in out and "facility_terms" in out:
        out["facilities"] = terms_at(out["facilities"], out["facility_terms"])
    return out


def terms_at(facilities: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """``facilities`` with each term replaced by the latest value ``terms`` gives it (rows
    sorted by date; an empty value changes nothing): what the bank recorded at the last
    date of ``terms``. Written in pandas, apart from the SQL it checks."""
    out = facilities.set_index("facility_id")
    for _, row in terms.sort_values("effective_date").iterrows():
        for column in TERM_COLUMNS:
            if pd.notna(row[column]) and row["facility_id"] in out.index:
                out.loc[row["facility_id"], column] = row[column]
    return out.reset_index()[facilities.columns]
