"""A tiny, valid folder of contract tables that tests break one value at a time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from predict.contract.spec import TABLES
from predict.contract.tables import FORMATS

AS_OF = dt.date(2024, 6, 30)


def contract_frames() -> dict[str, pd.DataFrame]:
    """Every contract table as text (as a CSV would hold it), all rows valid at AS_OF."""
    rows: dict[str, list[dict[str, str | None]]] = {
        "clients": [
            {
                "client_id": "C1",
                "onboarding_date": "2020-01-15",
                "segment": "sme",
                "region": "north",
                "branch_id": "B1",
                "annual_turnover": "1500000",
            },
            {
                "client_id": "C2",
                "onboarding_date": "2021-03-01",
                "segment": "mid_corporate",
                "region": "south",
                "branch_id": "B2",
                "annual_turnover": None,
            },
            {
                "client_id": "C3",
                "onboarding_date": "2022-07-31",
                "segment": None,
                "region": None,
                "branch_id": "B1",
                "annual_turnover": "0",
            },
        ],
        "facilities": [
            {
                "facility_id": "F1",
                "client_id": "C1",
                "product": "term_loan",
                "limit_amount": "100000",
                "interest_rate": "0.055",
                "origination_date": "2023-01-10",
                "maturity_date": "2028-01-10",
                "closed_date": None,
            },
            {
                "facility_id": "F2",
                "client_id": "C2",
                "product": "revolving_credit",
                "limit_amount": "50000.5",
                "interest_rate": None,
                "origination_date": "2023-06-01",
                "maturity_date": None,
                "closed_date": "2024-05-31",
            },
        ],
        "facility_balances": [
            # F1's first balance predates its origination: banks backfill, this is fine.
            {
                "facility_id": "F1",
                "month_end": "2022-12-31",
                "outstanding": "0",
                "days_past_due": "0",
            },
            {
                "facility_id": "F1",
                "month_end": "2024-02-29",
                "outstanding": "90000.25",
                "days_past_due": "0",
            },
            {
                "facility_id": "F2",
                "month_end": "2024-01-31",
                "outstanding": "1000",
                "days_past_due": "35",
            },
        ],
        "revenue": [
            {"client_id": "C1", "date": "2024-01-15", "amount": "120.5", "source": "interest"},
            {"client_id": "C2", "date": "2024-02-01", "amount": "-15", "source": "fee"},
            {"client_id": "C3", "date": "2024-06-30", "amount": "7", "source": None},
        ],
        "interactions": [
            {
                "client_id": "C1",
                "date": "2024-03-05",
                "kind": "survey",
                "channel": "portal",
                "csat": "5",
                "nps": "0",
            },
            {
                "client_id": "C2",
                "date": "2024-04-01",
                "kind": "call",
                "channel": None,
                "csat": None,
                "nps": "10",
            },
        ],
        "credit_events": [
            {"client_id": "C2", "facility_id": "F2", "date": "2024-03-01", "kind": "watchlist"},
            {
                "client_id": "C1",
                "facility_id": None,
                "date": "2024-05-02",
                "kind": "covenant_breach",
            },
        ],
        "facility_terms": [  # F1: the original terms, then a limit cut; F2: a repricing
            {
                "facility_id": "F1",
                "effective_date": "2023-01-10",
                "limit_amount": "100000",
                "interest_rate": "0.055",
                "maturity_date": "2028-01-10",
            },
            {
                "facility_id": "F1",
                "effective_date": "2024-03-01",
                "limit_amount": "80000",
                "interest_rate": None,
                "maturity_date": None,
            },
            {
                "facility_id": "F2",
                "effective_date": "2023-12-01",
                "limit_amount": None,
                "interest_rate": "0.07",
                "maturity_date": None,
            },
        ],
    }
    return {
        name: pd.DataFrame(table_rows, columns=list(TABLES[name].column_names)).astype("str")
        for name, table_rows in rows.items()
    }


def write_folder(
    root: Path, frames: dict[str, pd.DataFrame] | None = None, fmt: str = "csv"
) -> Path:
    """Write ``frames`` (default: all valid tables) as ``root/<table><suffix>``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in (contract_frames() if frames is None else frames).items():
        path = root / f"{name}{FORMATS[fmt]}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    return root


def with_parents(frames: dict[str, pd.DataFrame], name: str) -> dict[str, pd.DataFrame]:
    """``frames`` limited to table ``name`` and the tables its foreign keys lead to."""
    keep = {name}
    todo = [name]
    while todo:
        for fk in TABLES[todo.pop()].foreign_keys:
            if fk.table not in keep:
                keep.add(fk.table)
                todo.append(fk.table)
    return {n: f for n, f in frames.items() if n in keep}
