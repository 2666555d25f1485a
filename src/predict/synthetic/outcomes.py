"""The contract's three targets, computed from the tables: what really happened after t.

A reference implementation used to check the truth (and by the generator's tests); it
follows docs/data_dictionary.md word for word:

* default: a credit event of a default kind, or a facility at >= 90 days past due at a
  month end, in (t, t+H]; NaN for a client already in default at t (either, on or before t:
  the generator's clients never cure) or with no exposure at t (no open facility and no
  drawn balance at t), the default model's population;
* churn: active at t and not active at t+H; active at d = a facility open at d
  (origination <= d and (closed is null or closed > d)) or revenue dated in
  (d - inactivity months, d]; NaN if not active at t, if in default at t, or if a default
  falls in (t, t+H] (an exit through default is not churn: the contract's voluntary exit);
* contribution: the sum of revenue.amount in (t, t+H] (0 with no revenue);
* default_within: 1 if a default (as above) falls in (t, t+H], whatever the population
  (what blanks churn; the truth cannot know it at t).

Clients onboarded after t have no row; windows ending after ``data_end`` are NaN.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from predict.contract.spec import DEFAULT_DPD_THRESHOLD, DEFAULT_EVENT_KINDS
from predict.synthetic.config import OutcomeWindow

QUERY = """
WITH dates AS (SELECT CAST(as_of AS DATE) AS as_of FROM as_of_frame),
base AS (
    SELECT c.client_id, d.as_of, CAST(d.as_of + to_months({h}) AS DATE) AS t_end
    FROM clients c JOIN dates d ON CAST(c.onboarding_date AS DATE) <= d.as_of
),
bad AS (
    SELECT client_id, CAST(date AS DATE) AS d FROM credit_events WHERE kind IN ({kinds})
    UNION ALL
    SELECT f.client_id, CAST(b.month_end AS DATE)
    FROM facility_balances b JOIN facilities f USING (facility_id)
    WHERE b.days_past_due >= {dpd}
),
points AS (
    SELECT client_id, as_of, as_of AS d FROM base
    UNION SELECT client_id, as_of, t_end AS d FROM base
),
open_at AS (
    SELECT DISTINCT p.client_id, p.d FROM points p JOIN facilities f
      ON f.client_id = p.client_id AND CAST(f.origination_date AS DATE) <= p.d
     AND (f.closed_date IS NULL OR CAST(f.closed_date AS DATE) > p.d)
),
paid_at AS (
    SELECT DISTINCT p.client_id, p.d FROM points p JOIN revenue r
      ON r.client_id = p.client_id AND CAST(r.date AS DATE) <= p.d
     AND CAST(r.date AS DATE) > CAST(p.d - to_months({inact}) AS DATE)
),
active AS (SELECT client_id, d FROM open_at UNION SELECT client_id, d FROM paid_at),
drawn_at AS (
    SELECT DISTINCT b.client_id, b.as_of FROM base b
    JOIN facilities f ON f.client_id = b.client_id
    JOIN facility_balances fb ON fb.facility_id = f.facility_id
     AND CAST(fb.month_end AS DATE) = b.as_of AND fb.outstanding > 0
),
defaults AS (
    SELECT b.client_id, b.as_of,
           bool_or(x.d <= b.as_of) AS before, bool_or(x.d > b.as_of AND x.d <= b.t_end) AS within
    FROM base b JOIN bad x ON x.client_id = b.client_id GROUP BY ALL
),
money AS (
    SELECT b.client_id, b.as_of, sum(r.amount) AS amount
    FROM base b JOIN revenue r ON r.client_id = b.client_id
     AND CAST(r.date AS DATE) > b.as_of AND CAST(r.date AS DATE) <= b.t_end
    GROUP BY ALL
)
SELECT b.client_id, b.as_of, b.t_end,
       a0.client_id IS NOT NULL AS active_start, a1.client_id IS NOT NULL AS active_end,
       e0.client_id IS NOT NULL OR db.client_id IS NOT NULL AS exposed,
       coalesce(x.before, false) AS in_default, coalesce(x.within, false) AS default_within,
       coalesce(mo.amount, 0.0) AS contribution
FROM base b
LEFT JOIN active a0 ON a0.client_id = b.client_id AND a0.d = b.as_of
LEFT JOIN active a1 ON a1.client_id = b.client_id AND a1.d = b.t_end
LEFT JOIN open_at e0 ON e0.client_id = b.client_id AND e0.d = b.as_of
LEFT JOIN drawn_at db ON db.client_id = b.client_id AND db.as_of = b.as_of
LEFT JOIN defaults x ON x.client_id = b.client_id AND x.as_of = b.as_of
LEFT JOIN money mo ON mo.client_id = b.client_id AND mo.as_of = b.as_of
ORDER BY b.as_of, b.client_id
"""


def realised_outcomes(
    tables: Mapping[str, pd.DataFrame],
    as_of: Sequence[dt.date | pd.Timestamp],
    window: OutcomeWindow,
    data_end: dt.date | None = None,
) -> pd.DataFrame:
    """``client_id, as_of, churn, default, contribution, default_within`` (float; NaN =
    undefined/censored)."""
    con = duckdb.connect()
    for name in ("clients", "facilities", "facility_balances", "revenue", "credit_events"):
        con.register(name, tables[name])
    con.register("as_of_frame", pd.DataFrame({"as_of": pd.to_datetime(list(as_of))}))
    kinds = ", ".join(f"'{k}'" for k in DEFAULT_EVENT_KINDS)
    sql = QUERY.format(
        h=window.horizon_months,
        inact=window.inactivity_months,
        kinds=kinds,
        dpd=DEFAULT_DPD_THRESHOLD,
    )
    df = con.sql(sql).df()
    con.close()
    out = pd.DataFrame(
        {"client_id": df["client_id"].astype("str"), "as_of": df["as_of"].astype("datetime64[s]")}
    )
    voluntary = df["active_start"] & ~df["in_default"] & ~df["default_within"]
    out["churn"] = np.where(voluntary, (~df["active_end"]).astype(float), np.nan)
    performing = df["exposed"] & ~df["in_default"]
    out["default"] = np.where(performing, df["default_within"].astype(float), np.nan)
    out["contribution"] = df["contribution"].astype(float)
    out["default_within"] = df["default_within"].astype(float)
    if data_end is not None:
        censored = pd.to_datetime(df["t_end"]).to_numpy() > np.datetime64(data_end)
        out.loc[censored, ["churn", "default", "contribution", "default_within"]] = np.nan
    return out
