"""The rate reference of ``rate_spread_open`` / ``rate_spread_all``: the median interest rate
of the facilities of a product originated in a month, point in time.

A facility is *known* at t when it was originated on or before t **and** its client was
onboarded on or before t (a client onboarded after t has no row at t, nor have its
facilities, even those dated before t). The reference of (product, origination month) at
t is the median rate at origination (:func:`rate_at_origination`: from ``facility_terms``
when it dates the rate, so a later repricing moves nothing) of the rated facilities of that
product originated in that month and known at t, kept when at least
:data:`MIN_RATE_PEERS` of them are.

Two ways to supply it to the feature SQL (the view ``rate_ref_t``: as-of month, product,
origination month, reference rate; :func:`predict.features.sql.rate_spread_ctes`):

- the features stage (training): :func:`point_in_time` from the book itself, as of every
  as-of date;
- scoring: :func:`frozen_table`, the reference frozen at training
  (:func:`freeze`, stored in each model folder) for every as-of date, never from the
  scoring input. A client's spread then depends only on its own facilities.

A facility's spread at t is its rate in force at t over the reference of the month that
rate was set: its origination month, or the month of the ``facility_terms`` row that
repriced it (a repricing is compared with the new business of its own month, so the base
rate's move since origination is not read as risk). A facility whose (product, month) has
no reference takes the latest earlier origination month of that product that has one (an
ASOF join in the SQL, the same rule at training and at scoring); without any, it has no
spread (the features stay missing when no facility of the client has one). The reference
is never taken from the input at scoring.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from predict.features.snapshots import month_index

logger = logging.getLogger(__name__)

MIN_RATE_PEERS = 3  # rated facilities of a product and origination month for a reference
COLUMNS = ("midx", "product", "omidx", "ref_rate")
FORMAT = "predict.rate_reference/1"
REFERENCE_FILE = "rate_reference.json"  # beside features.parquet and in data/split/


class RateReferenceError(ValueError):
    """A rate reference file or mapping is malformed."""


def empty_table() -> pd.DataFrame:
    """A ``rate_ref_t`` without rows (typed)."""
    return pd.DataFrame(
        {
            "midx": pd.Series([], dtype="int64"),
            "product": pd.Series([], dtype="str"),
            "omidx": pd.Series([], dtype="int64"),
            "ref_rate": pd.Series([], dtype="float64"),
        }
    )


def known_facilities(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rated facilities with their product, origination month index, rate and the date
    from which they are known (the later of origination and the client's onboarding)."""
    if "clients" not in tables or "facilities" not in tables:
        return pd.DataFrame(columns=["product", "omidx", "rate", "known"])
    if "interest_rate" not in tables["facilities"].columns:
        return pd.DataFrame(columns=["product", "omidx", "rate", "known"])
    fac = tables["facilities"][["client_id", "product", "origination_date", "interest_rate"]]
    fac = fac.assign(interest_rate=rate_at_origination(tables))
    fac = fac.loc[fac["interest_rate"].notna()]
    clients = tables["clients"][["client_id", "onboarding_date"]]
    rows = fac.merge(clients, on="client_id", how="inner", validate="many_to_one")
    opened = pd.to_datetime(rows["origination_date"]).dt.normalize()
    onboarded = pd.to_datetime(rows["onboarding_date"]).dt.normalize()
    return pd.DataFrame(
        {
            "product": rows["product"].astype("str").to_numpy(),
            "omidx": (opened.dt.year * 12 + opened.dt.month).to_numpy("int64"),
            "rate": rows["interest_rate"].to_numpy("float64"),
            "known": np.maximum(opened.to_numpy(), onboarded.to_numpy()),
        }
    )


def rate_at_origination(tables: Mapping[str, pd.DataFrame]) -> pd.Series:
    """Each facility's rate in force at its origination (aligned with ``facilities``).

    With ``facility_terms``: the latest non-empty ``interest_rate`` of a terms row dated on
    or before the origination date; a facility without one keeps the rate recorded in
    ``facilities`` (as the features' ``fac_at`` does). A repricing after origination does
    not move the reference of the facility's month. Without the table: as recorded.
    """
    fac = tables["facilities"]
    recorded = fac["interest_rate"].astype("float64")
    terms = tables.get("facility_terms")
    if terms is None or terms.empty or "interest_rate" not in terms.columns:
        return recorded
    rated = terms.loc[terms["interest_rate"].notna(), ["facility_id", "effective_date"]].assign(
        rate=terms["interest_rate"].astype("float64"),
        day=pd.to_datetime(terms["effective_date"]).dt.normalize(),
    )
    opened = pd.DataFrame(
        {
            "facility_id": fac["facility_id"].to_numpy(),
            "day": pd.to_datetime(fac["origination_date"]).dt.normalize().to_numpy(),
            "row": np.arange(len(fac)),
        }
    )
    at_open = pd.merge_asof(
        opened.sort_values("day"),
        rated[["facility_id", "day", "rate"]].sort_values("day"),
        on="day",
        by="facility_id",
        direction="backward",
    ).set_index("row")["rate"]
    rate = at_open.reindex(np.arange(len(fac))).to_numpy()
    return pd.Series(np.where(np.isnan(rate), recorded.to_numpy(), rate), index=fac.index)


def _medians(known: pd.DataFrame, at: dt.date) -> pd.DataFrame:
    """(product, omidx, ref_rate, facilities) of the facilities known at ``at``."""
    rows = known.loc[known["known"] <= pd.Timestamp(at)]
    grouped = rows.groupby(["product", "omidx"], sort=True)["rate"]
    out = grouped.agg(ref_rate="median", facilities="count").reset_index()
    return out.loc[out["facilities"] >= MIN_RATE_PEERS].reset_index(drop=True)


def point_in_time(
    tables: Mapping[str, pd.DataFrame], as_of_dates: Sequence[dt.date]
) -> pd.DataFrame:
    """``rate_ref_t`` for every as-of date, each from the facilities known at it."""
    return point_in_time_known(known_facilities(tables), as_of_dates)


def point_in_time_known(known: pd.DataFrame, as_of_dates: Sequence[dt.date]) -> pd.DataFrame:
    """:func:`point_in_time` from the rated facilities (:func:`known_facilities`), e.g. as
    stored with a partitioned dataset."""
    parts = []
    for day in sorted(set(as_of_dates)):
        m = _medians(known, day)
        parts.append(m.assign(midx=month_index(day))[list(COLUMNS)])
    return _typed(pd.concat(parts, ignore_index=True)) if parts else empty_table()


def freeze(tables: Mapping[str, pd.DataFrame], known_at: dt.date) -> dict[str, Any]:
    """The reference as known at ``known_at`` (JSON-able): stored in each model folder."""
    return freeze_known(known_facilities(tables), known_at)


def freeze_known(known: pd.DataFrame, known_at: dt.date) -> dict[str, Any]:
    """:func:`freeze` from the rated facilities (:func:`known_facilities`)."""
    m = _medians(known, known_at)
    return {
        "format": FORMAT,
        "known_at": known_at.isoformat(),
        "min_peers": MIN_RATE_PEERS,
        "rows": [
            {"product": p, "month": _month(int(o)), "ref_rate": float(r), "facilities": int(n)}
            for p, o, r, n in zip(
                m["product"], m["omidx"], m["ref_rate"], m["facilities"], strict=True
            )
        ],
    }


def frozen_table(reference: Mapping[str, Any], as_of_dates: Sequence[dt.date]) -> pd.DataFrame:
    """``rate_ref_t`` from a frozen reference (:func:`freeze`), the same for every date."""
    check(reference)
    rows = pd.DataFrame(reference["rows"], columns=["product", "month", "ref_rate", "facilities"])
    omidx = [_month_index(str(m)) for m in rows["month"]]
    base = pd.DataFrame(
        {"product": rows["product"].astype("str"), "omidx": omidx, "ref_rate": rows["ref_rate"]}
    )
    parts = [base.assign(midx=month_index(day))[list(COLUMNS)] for day in sorted(set(as_of_dates))]
    return _typed(pd.concat(parts, ignore_index=True)) if parts else empty_table()


def check(reference: Any) -> None:
    """Raise :class:`RateReferenceError` unless ``reference`` is a frozen rate reference."""
    if not isinstance(reference, Mapping) or reference.get("format") != FORMAT:
        raise RateReferenceError(f"not a rate reference (format {FORMAT!r} expected)")
    rows = reference.get("rows")
    if not isinstance(rows, list) or any(
        not isinstance(r, Mapping) or {"product", "month", "ref_rate"} - set(r) for r in rows
    ):
        raise RateReferenceError("rate reference rows need product, month and ref_rate")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(
        {"midx": "int64", "product": "str", "omidx": "int64", "ref_rate": "float64"}
    ).reset_index(drop=True)


def _month(index: int) -> str:
    year, month = divmod(index - 1, 12)
    return f"{year:04d}-{month + 1:02d}"


def _month_index(text: str) -> int:
    try:
        year, month = (int(p) for p in text.split("-"))
    except ValueError as exc:
        raise RateReferenceError(f"rate reference month {text!r} is not YYYY-MM") from exc
    return year * 12 + month
