"""UCI Online Retail (dataset 352) as contract tables ``clients`` and ``revenue``.

Source columns: InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice,
CustomerID, Country; one row per invoice line. Mapping:

- ``clients``: one row per CustomerID; client_id = CustomerID as text without ".0",
  onboarding_date = date of the customer's first invoice line, region = Country of that
  line, segment and the other optional columns empty.
- ``revenue``: one row per invoice line, in file order; date = invoice date, amount =
  Quantity x UnitPrice (cancellations carry negative quantities, so negative amounts),
  source = "cancellation" for invoices starting with "C", else "sale".

Nothing is dropped: a line with no CustomerID keeps an empty client_id (validation
quarantines it and counts it), a zero price gives amount 0, an unreadable number or date
leaves that value empty.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from predict.contract.tables import write_tables

logger = logging.getLogger(__name__)

SOURCE_COLUMNS = ("InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country")


def read_online_retail(src: str | os.PathLike[str]) -> pd.DataFrame:
    """The source columns the mapping needs, as text (CSV, optionally gzip-compressed)."""
    try:
        table = pcsv.read_csv(
            src,
            convert_options=pcsv.ConvertOptions(
                include_columns=list(SOURCE_COLUMNS),
                column_types=dict.fromkeys(SOURCE_COLUMNS, pa.string()),
                strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, KeyError, OSError) as exc:  # KeyError: a source column is missing
        raise ValueError(f"{src}: not a readable Online Retail export ({exc})") from exc
    return table.to_pandas()


def to_contract_tables(lines: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``clients`` and ``revenue`` from Online Retail lines (see the module docstring)."""
    client_id = _per_value(lines["CustomerID"], _client_ids)
    stamp = _per_value(lines["InvoiceDate"], _stamps)
    amount = _per_value(lines["Quantity"], _numbers) * _per_value(lines["UnitPrice"], _numbers)
    cancelled = lines["InvoiceNo"].str.strip().str.upper().str.startswith("C").fillna(False)
    revenue = pd.DataFrame(
        {
            "client_id": client_id,
            "date": stamp.dt.floor("D").astype("datetime64[s]"),
            "amount": amount.round(6),  # 6 x 2.55 -> 15.3, not 15.299999999999999
            "source": np.where(cancelled, "cancellation", "sale"),
        }
    ).astype({"client_id": "str", "source": "str"})
    return {"clients": _clients(client_id, stamp, lines["Country"]), "revenue": revenue}


def _per_value(values: pd.Series, convert: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``convert`` applied once per distinct value (the source repeats its values a lot)."""
    codes, uniques = pd.factorize(values)
    converted = convert(pd.Series(uniques)).reset_index(drop=True)
    return pd.Series(converted.reindex(codes).to_numpy(), index=values.index)


def _client_ids(values: pd.Series) -> pd.Series:
    ids = values.astype("str").str.strip().str.replace(r"\.0+$", "", regex=True)
    return ids.where(ids != "")


def _stamps(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="ISO8601", errors="coerce")


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _clients(client_id: pd.Series, stamp: pd.Series, country: pd.Series) -> pd.DataFrame:
    """One row per client: first invoice line (by time, then file order) gives date and region."""
    lines = pd.DataFrame({"client_id": client_id, "stamp": stamp, "region": country})
    lines = lines.dropna(subset=["client_id"])  # lines without a client stay in revenue
    first = lines.sort_values(["stamp"], kind="stable").groupby("client_id", sort=True).head(1)
    first = first.sort_values("client_id", kind="stable")
    return pd.DataFrame(
        {
            "client_id": first["client_id"].astype("str"),
            "onboarding_date": first["stamp"].dt.floor("D").astype("datetime64[s]"),
            "segment": pd.Series(None, index=first.index, dtype="str"),
            "region": first["region"].astype("str"),
        }
    ).reset_index(drop=True)


def import_online_retail(
    src: str | os.PathLike[str], out_dir: str | os.PathLike[str], fmt: str = "parquet"
) -> dict[str, Path]:
    """Read the Online Retail CSV at ``src`` and write contract tables into ``out_dir``."""
    lines = read_online_retail(src)
    tables = to_contract_tables(lines)
    logger.info(
        "online retail: %d lines -> %d clients, %d revenue rows (%d without a client)",
        len(lines),
        len(tables["clients"]),
        len(tables["revenue"]),
        int(tables["revenue"]["client_id"].isna().sum()),
    )
    return write_tables(tables, out_dir, fmt)
