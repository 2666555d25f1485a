"""Scratch experiment (issue #4): what closes the AUC gap between the models and the truth.

Candidate features are computed here, point in time, from the validated contract tables
(dense client x month panels in numpy: row c, column m = month index from the data start;
a value at as-of month a reads columns <= a only), joined onto the split's rows, and the
project's own training (``predict.models.training.train_model`` with params.yaml's ``train``
section) is run with and without each family. Reported per variant and target: the
validation AUC at the best iteration, the test AUC, the truth's AUC on the same rows and
the gap with a paired bootstrap interval over the test rows, and the model's expected AUC
under the truth (``expected``: :func:`expected_auc`, the AUC in expectation over the test
year's outcomes drawn from the truth, far less noisy than the realised AUC).

    .venv/bin/python scripts/experiments/truth_gap.py --targets default churn \
        --seeds 1,2,3 --variants base all all-price +price,mat base-rate_spread_open

Variants: ``base`` (the split's features), ``all`` (plus every candidate), ``all-FAM``
(all but a candidate family), ``+FAM,name`` (base plus families or candidates),
``base-a,b`` (base without some features). ``--fractions 0.25,0.5,1`` gives a learning
curve (train and valid on nested shares of the clients, every test row); ``--traits``
adds the generator's latent traits (an upper bound only); ``--no-candidates`` skips the
panels (e.g. for a bigger generated book: ``--split``, ``--truth`` point at it).
Results of the runs: docs/models.md, "Against the truth".

Not part of the pipeline; nothing here is imported by ``predict``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from predict.config import load_section
from predict.contract.spec import TABLES
from predict.models.training import LABEL_PREFIX, TrainConfig, labelled_rows, train_model

log = logging.getLogger("truth_gap")
ROOT = Path(__file__).resolve().parents[2]
KEYS = ["client_id", "as_of"]


# ------------------------------------------------------------------ panels (client x month)


@dataclasses.dataclass
class Panels:
    clients: pd.DataFrame  # one row per client, in client_id order (index = panel row)
    m0: int  # month index (year * 12 + month) of panel column 0
    months: int
    p: dict[str, np.ndarray]  # name -> (clients, months)
    facilities: pd.DataFrame  # with cid, omidx (origination month), cmidx (closed month)


def midx(dates: pd.Series) -> np.ndarray:
    d = pd.to_datetime(dates)
    return (d.dt.year * 12 + d.dt.month).to_numpy()


def _dense(
    cid: np.ndarray, col: np.ndarray, values: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    out = np.zeros(shape)
    np.add.at(out, (cid, col), values)
    return out


def build_panels(folder: Path) -> Panels:
    t = {n: pd.read_parquet(folder / f"{n}.parquet") for n in TABLES}  # every contract table
    clients = t["clients"].sort_values("client_id").reset_index(drop=True)
    cid_of = pd.Series(np.arange(len(clients)), index=clients["client_id"])
    m0 = int(midx(t["facility_balances"]["month_end"]).min())
    m1 = int(midx(t["facility_balances"]["month_end"]).max())
    months = m1 - m0 + 1
    shape = (len(clients), months)
    p: dict[str, np.ndarray] = {}

    fac = t["facilities"].copy()
    fac["cid"] = cid_of.loc[fac["client_id"]].to_numpy()
    fac["omidx"] = midx(fac["origination_date"])
    fac["cmidx"] = np.where(
        fac["closed_date"].isna(),
        10**6,
        midx(fac["closed_date"].fillna(pd.Timestamp("2100-01-01"))),
    )
    fac["mmidx"] = np.where(
        fac["maturity_date"].isna(),
        10**6,
        midx(fac["maturity_date"].fillna(pd.Timestamp("2100-01-01"))),
    )
    bal = t["facility_balances"].merge(
        fac[["facility_id", "cid", "product", "limit_amount", "omidx"]], on="facility_id"
    )
    bal["col"] = midx(bal["month_end"]) - m0
    bal = bal[bal["col"] + m0 >= bal["omidx"]]
    c, col = bal["cid"].to_numpy(), bal["col"].to_numpy()
    p["nbal"] = _dense(c, col, np.ones(len(bal)), shape)
    p["drawn"] = _dense(c, col, bal["outstanding"].to_numpy(), shape)
    dpd = np.zeros(shape)
    np.maximum.at(dpd, (c, col), bal["days_past_due"].to_numpy().astype(float))
    p["dpd"] = dpd
    rev_mask = (bal["product"] == "revolving_credit").to_numpy()
    p["rev_out"] = _dense(
        c[rev_mask], col[rev_mask], bal["outstanding"].to_numpy()[rev_mask], shape
    )
    p["rev_lim"] = _dense(
        c[rev_mask], col[rev_mask], bal["limit_amount"].to_numpy()[rev_mask], shape
    )

    rev = t["revenue"]
    rc = cid_of.loc[rev["client_id"]].to_numpy()
    rcol = midx(rev["date"]) - m0
    ok = (rcol >= 0) & (rcol < months)
    src = rev["source"].astype(str).to_numpy()
    amt = rev["amount"].to_numpy()
    for name, mask in {
        "interest": src == "interest",
        "fee": src == "fee",
        "other": ~np.isin(src, ["interest", "fee"]),
        "total": np.ones(len(rev), bool),
    }.items():
        m = ok & mask
        p[f"rev_{name}"] = _dense(rc[m], rcol[m], amt[m], shape)
    for s in ("fx", "cash_management", "trade"):
        m = ok & (src == s) & (amt > 0)
        p[f"svc_{s}"] = (_dense(rc[m], rcol[m], np.ones(int(m.sum())), shape) > 0).astype(float)

    itx = t["interactions"]
    ic = cid_of.loc[itx["client_id"]].to_numpy()
    icol = midx(itx["date"]) - m0
    ok = (icol >= 0) & (icol < months)
    kind = itx["kind"].astype(str).to_numpy()
    csat = itx["csat"].astype("float64").to_numpy()
    nps = itx["nps"].astype("float64").to_numpy()
    for name, mask in {
        "complaints": kind == "complaint",
        "meetings": kind == "rm_meeting",
        "requests": kind == "service_request",
        "calls": kind == "call",
        "surveys": kind == "survey",
        "contacts": np.ones(len(itx), bool),
    }.items():
        m = ok & mask
        p[name] = _dense(ic[m], icol[m], np.ones(int(m.sum())), shape)
    z = np.where(np.isnan(csat), 0, (csat - 3.8) / 0.9)
    zn = np.where(np.isnan(nps), 0, (nps - 7.9) / 1.5)
    for name, v in {
        "csat_sum": np.nan_to_num(csat),
        "csat_n": ~np.isnan(csat),
        "nps_sum": np.nan_to_num(nps),
        "nps_n": ~np.isnan(nps),
        "z_sum": z + zn,
        "z_n": (~np.isnan(csat)).astype(float) + (~np.isnan(nps)),
        "answered": (kind == "survey") & (~np.isnan(csat) | ~np.isnan(nps)),
    }.items():
        p[name] = _dense(ic[ok], icol[ok], np.asarray(v, float)[ok], shape)

    ev = t["credit_events"]
    ec = cid_of.loc[ev["client_id"]].to_numpy()
    ecol = midx(ev["date"]) - m0
    ok = (ecol >= 0) & (ecol < months)
    ek = ev["kind"].astype(str).to_numpy()
    for k in ("watchlist", "covenant_breach", "restructuring", "default"):
        m = ok & (ek == k)
        p[f"ev_{k}"] = _dense(ec[m], ecol[m], np.ones(int(m.sum())), shape)
    return Panels(clients, m0, months, p, fac)


# ------------------------------------------------------------------ features at as-of months


def _cum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x, axis=1)


def _window(x: np.ndarray, a: int, w: int) -> np.ndarray:
    return x[:, max(0, a - w + 1) : a + 1].sum(axis=1)


def _ew(x: np.ndarray, decay: float) -> np.ndarray:
    """Exponentially weighted running sum: s[m] = decay * s[m-1] + x[m]."""
    out = np.zeros_like(x)
    run = np.zeros(x.shape[0])
    for m in range(x.shape[1]):
        run = decay * run + x[:, m]
        out[:, m] = run
    return out


def credit_history(P: Panels, a: int) -> dict[str, np.ndarray]:
    """Arrears entries, rolls, cures and early-warning events over the whole history."""
    has = P.p["nbal"] > 0
    arr = P.p["dpd"] > 0
    prev = np.concatenate([np.zeros((arr.shape[0], 1), bool), arr[:, :-1]], axis=1)
    entry = arr & ~prev & has
    bucket = np.minimum(np.ceil(P.p["dpd"] / 30.0), 4)
    pb = np.concatenate([np.zeros((arr.shape[0], 1)), bucket[:, :-1]], axis=1)
    roll = (bucket > pb) & (pb > 0)
    cure = ~arr & prev & has
    h = has[:, : a + 1].sum(axis=1)
    e_all = entry[:, : a + 1].sum(axis=1)
    out = {
        "bal_months_all": h.astype(float),
        "arrears_entries_all": e_all.astype(float),
        "arrears_entry_rate_all": np.where(h > 0, e_all / np.maximum(h, 1), np.nan),
        "arrears_entry_rate_shrunk": (e_all + 0.3) / (h + 20.0),
        "arrears_entries_24m": _window(entry.astype(float), a, 24),
        "arrears_months_all": arr[:, : a + 1].sum(axis=1).astype(float),
        "rolls_all": roll[:, : a + 1].sum(axis=1).astype(float),
        "cures_all": cure[:, : a + 1].sum(axis=1).astype(float),
        "max_dpd_all": np.where(h > 0, P.p["dpd"][:, : a + 1].max(axis=1), np.nan),
        "arrears_ew": _ew(entry.astype(float), 0.96)[:, a],
        "watchlist_all": P.p["ev_watchlist"][:, : a + 1].sum(axis=1),
        "covenant_all": P.p["ev_covenant_breach"][:, : a + 1].sum(axis=1),
        "restructuring_all": P.p["ev_restructuring"][:, : a + 1].sum(axis=1),
    }
    last_ev = np.where(
        (P.p["ev_watchlist"] + P.p["ev_covenant_breach"])[:, : a + 1] > 0,
        np.arange(a + 1)[None, :],
        -1,
    ).max(axis=1)
    out["months_since_watch_or_breach"] = np.where(last_ev >= 0, a - last_ev, np.nan)
    lim = P.p["rev_lim"][:, a]
    out["revolver_util"] = np.where(lim > 0, P.p["rev_out"][:, a] / np.maximum(lim, 1), np.nan)
    l12 = _window(P.p["rev_lim"], a, 12)
    out["revolver_util_12m"] = np.where(
        l12 > 0, _window(P.p["rev_out"], a, 12) / np.maximum(l12, 1), np.nan
    )
    lall = P.p["rev_lim"][:, : a + 1].sum(axis=1)
    out["revolver_util_all"] = np.where(
        lall > 0, P.p["rev_out"][:, : a + 1].sum(axis=1) / np.maximum(lall, 1), np.nan
    )
    return out


def satisfaction(P: Panels, a: int) -> dict[str, np.ndarray]:
    """Surveys over the whole history, decayed complaints, response rate (engagement)."""
    p = P.p
    n_all = p["z_n"][:, : a + 1].sum(axis=1)
    z_all = p["z_sum"][:, : a + 1].sum(axis=1)
    ewn, ews = _ew(p["z_n"], 0.88)[:, a], _ew(p["z_sum"], 0.88)[:, a]
    cs_n, cs = p["csat_n"][:, : a + 1].sum(axis=1), p["csat_sum"][:, : a + 1].sum(axis=1)
    np_n, nps = p["nps_n"][:, : a + 1].sum(axis=1), p["nps_sum"][:, : a + 1].sum(axis=1)
    surveys = p["surveys"][:, : a + 1].sum(axis=1)
    return {
        "sat_z_all": np.where(n_all > 0, z_all / np.maximum(n_all, 1), np.nan),
        "sat_z_shrunk": z_all / (n_all + 2.0),
        "sat_z_ew": np.where(ewn > 0.05, ews / np.maximum(ewn, 1e-9), np.nan),
        "sat_answers_all": n_all,
        "score01_all": np.where(
            n_all > 0,
            (
                (p["csat_sum"] - p["csat_n"])[:, : a + 1].sum(axis=1) / 4.0
                + p["nps_sum"][:, : a + 1].sum(axis=1) / 10.0
            )
            / np.maximum(n_all, 1),
            np.nan,
        ),
        "csat_mean_all": np.where(cs_n > 0, cs / np.maximum(cs_n, 1), np.nan),
        "nps_mean_all": np.where(np_n > 0, nps / np.maximum(np_n, 1), np.nan),
        "survey_response_all": np.where(
            surveys > 0, p["answered"][:, : a + 1].sum(axis=1) / np.maximum(surveys, 1), np.nan
        ),
        "surveys_all": surveys,
        "complaints_ew": _ew(p["complaints"], 0.85)[:, a],
        "complaints_sat_ew": _ew(p["complaints"], 0.88)[:, a],
        "complaints_all": p["complaints"][:, : a + 1].sum(axis=1),
        "meetings_12m": _window(p["meetings"], a, 12),
        "requests_all_rate": p["requests"][:, : a + 1].sum(axis=1)
        / np.maximum((p["contacts"][:, : a + 1] > 0).sum(axis=1), 1),
    }


def relationship(P: Panels, a: int) -> dict[str, np.ndarray]:
    """Services held now (other-revenue sources booked in the last 3 months), n_rel."""
    held = sum(
        (_window(P.p[f"svc_{s}"], a, 3) > 0).astype(float)
        for s in ("fx", "cash_management", "trade")
    )
    ever = sum(
        (P.p[f"svc_{s}"][:, : a + 1].sum(axis=1) > 0).astype(float)
        for s in ("fx", "cash_management", "trade")
    )
    f = P.facilities
    t_m = P.m0 + a
    open_ = f[(f["omidx"] <= t_m) & (f["cmidx"] > t_m)]
    n_open = np.bincount(open_["cid"], minlength=len(P.clients)).astype(float)
    return {"services_held_3m": held, "services_ever": ever, "n_relationships": held + n_open}


def maturity(P: Panels, a: int) -> dict[str, np.ndarray]:
    """When the open facilities mature: the relationship runs off unless renewed."""
    f = P.facilities
    t_m = P.m0 + a
    o = f[(f["omidx"] <= t_m) & (f["cmidx"] > t_m)]
    n = len(P.clients)
    due = (o["mmidx"] <= t_m + 12).to_numpy()
    lim = o["limit_amount"].to_numpy()
    cid = o["cid"].to_numpy()
    tot = np.bincount(cid, lim, minlength=n)
    due_lim = np.bincount(cid, lim * due, minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, cid, np.minimum(o["mmidx"].to_numpy(), t_m + 600).astype(float))
    return {
        "months_to_last_maturity": np.where(np.isfinite(last), last - t_m, np.nan),
        "share_maturing_12m": np.where(tot > 0, due_lim / np.maximum(tot, 1), np.nan),
        "n_maturing_12m": np.bincount(cid, due.astype(float), minlength=n),
        "n_not_maturing_12m": np.bincount(cid, (~due).astype(float), minlength=n),
    }


def pricing(P: Panels, as_of_months: Sequence[int]) -> pd.DataFrame:
    """Rates against peers: at origination (risk premium) and now (the pricing gap)."""
    f = P.facilities.merge(P.clients[["client_id", "segment", "rm_id"]], on="client_id", how="left")
    f = f[f["interest_rate"].notna()].copy()
    f["seg"] = f["segment"].fillna("?")
    med = f.groupby(["product", "seg", "omidx"])["interest_rate"].transform("median")
    cnt = f.groupby(["product", "seg", "omidx"])["interest_rate"].transform("size")
    f["resid"] = np.where(cnt >= 3, f["interest_rate"] - med, np.nan)
    med2 = f.groupby(["product", "omidx"])["interest_rate"].transform("median")
    cnt2 = f.groupby(["product", "omidx"])["interest_rate"].transform("size")
    f["resid_p"] = np.where(cnt2 >= 3, f["interest_rate"] - med2, np.nan)
    rows = []
    for t_m in as_of_months:
        g = f[f["omidx"] <= t_m]
        opn = g[g["cmidx"] > t_m]
        w = opn["limit_amount"] * opn["resid"].notna()
        by = pd.DataFrame({"cid": opn["cid"], "wr": (opn["resid"].fillna(0) * w), "w": w})
        agg = by.groupby("cid")[["wr", "w"]].sum()
        allg = g.groupby("cid")["resid"].mean()
        last = g.sort_values("omidx").groupby("cid")["resid"].last()
        allp = g.groupby("cid")["resid_p"].mean()
        wp = opn["limit_amount"] * opn["resid_p"].notna()
        byp = pd.DataFrame({"cid": opn["cid"], "wr": (opn["resid_p"].fillna(0) * wp), "w": wp})
        aggp = byp.groupby("cid")[["wr", "w"]].sum()
        # new-business reference now: median rate of the last 6 months' originations
        recent = f[(f["omidx"] <= t_m) & (f["omidx"] > t_m - 6)]
        ref = recent.groupby(["product", "seg"])["interest_rate"].median().rename("ref")
        o2 = opn.join(ref, on=["product", "seg"])
        o2 = o2[o2["ref"].notna()]
        gw = o2["limit_amount"]
        gap = ((o2["interest_rate"] - o2["ref"]) * gw).groupby(o2["cid"]).sum() / gw.groupby(
            o2["cid"]
        ).sum()
        d = pd.DataFrame({"cid": np.arange(len(P.clients))})
        d["midx"] = t_m
        d["rate_resid_open"] = (
            (agg["wr"] / agg["w"].replace(0, np.nan)).reindex(d["cid"]).to_numpy()
        )
        d["rate_resid_all"] = allg.reindex(d["cid"]).to_numpy()
        d["rate_resid_last"] = last.reindex(d["cid"]).to_numpy()
        d["rate_resid_prod_all"] = allp.reindex(d["cid"]).to_numpy()
        d["rate_resid_prod_open"] = (
            (aggp["wr"] / aggp["w"].replace(0, np.nan)).reindex(d["cid"]).to_numpy()
        )
        d["rate_gap_new_business"] = gap.reindex(d["cid"]).to_numpy()
        rows.append(d)
    return pd.concat(rows, ignore_index=True)


def effective_rate(P: Panels, a: int) -> dict[str, np.ndarray]:
    """Interest of the last 3 months over the drawn balances it was charged on (x 4)."""
    interest = _window(P.p["rev_interest"], a, 3)
    drawn = P.p["drawn"][:, max(0, a - 3) : a].sum(axis=1)
    eff = np.where(drawn > 0, 12.0 * interest / np.maximum(drawn, 1), np.nan)
    eff = np.where((eff > 0) & (eff < 0.3), eff, np.nan)
    return {"effective_rate_3m": eff}


def industry_stress(P: Panels, as_of_months: Sequence[int]) -> pd.DataFrame:
    """Share of the industry's borrowers in arrears / entering arrears / defaulting, at t."""
    ind = P.clients["industry"].fillna("?").to_numpy()
    codes, inv = np.unique(ind, return_inverse=True)
    has = P.p["nbal"] > 0
    arr = (P.p["dpd"] > 0) & has
    prev = np.concatenate([np.zeros((arr.shape[0], 1), bool), arr[:, :-1]], axis=1)
    entry = arr & ~prev
    dflt = P.p["ev_default"] > 0

    def share(x: np.ndarray, denom: np.ndarray) -> np.ndarray:
        num = np.zeros(len(codes))
        den = np.zeros(len(codes))
        np.add.at(num, inv, x)
        np.add.at(den, inv, denom)
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)

    rows = []
    for t_m in as_of_months:
        a = t_m - P.m0
        s = {
            "ind_arrears_share": share(arr[:, a], has[:, a]),
            "ind_arrears_share_3m": share(
                arr[:, a - 2 : a + 1].sum(1), has[:, a - 2 : a + 1].sum(1)
            ),
            "ind_entry_rate_6m": share(
                entry[:, a - 5 : a + 1].sum(1), has[:, a - 5 : a + 1].sum(1)
            ),
            "ind_default_rate_12m": share(
                dflt[:, a - 11 : a + 1].sum(1), has[:, a - 11 : a + 1].any(1)
            ),
            "ind_arrears_share_m6": share(arr[:, a - 6], has[:, a - 6]),
        }
        d = pd.DataFrame({"cid": np.arange(len(P.clients)), "midx": t_m})
        for k, v in s.items():
            d[k] = np.where(ind == "?", np.nan, v[inv])
        d["ind_arrears_change_6m"] = d["ind_arrears_share"] - d["ind_arrears_share_m6"]
        rows.append(d.drop(columns="ind_arrears_share_m6"))
    return pd.concat(rows, ignore_index=True)


FAMILIES: dict[str, Callable[[Panels, int], dict[str, np.ndarray]]] = {
    "credit": credit_history,
    "sat": satisfaction,
    "rel": relationship,
    "eff": effective_rate,
    "mat": maturity,
}


def candidate_features(P: Panels, as_of: Sequence[pd.Timestamp]) -> pd.DataFrame:
    months = sorted({int(d.year * 12 + d.month) for d in as_of})
    frames = []
    for t_m in months:
        a = t_m - P.m0
        d = pd.DataFrame({"cid": np.arange(len(P.clients)), "midx": t_m})
        for fam, fn in FAMILIES.items():
            for k, v in fn(P, a).items():
                d[f"{fam}__{k}"] = v
        frames.append(d)
    out = pd.concat(frames, ignore_index=True)
    pr = pricing(P, months).rename(columns=lambda c: c if c in ("cid", "midx") else f"price__{c}")
    st = industry_stress(P, months).rename(
        columns=lambda c: c if c in ("cid", "midx") else f"ind__{c}"
    )
    out = out.merge(pr, on=["cid", "midx"]).merge(st, on=["cid", "midx"])
    out["client_id"] = P.clients["client_id"].to_numpy()[out["cid"]]
    y, m = (out["midx"] - 1) // 12, (out["midx"] - 1) % 12 + 1
    out["as_of"] = (
        pd.to_datetime(pd.DataFrame({"year": y, "month": m, "day": 1})) + pd.offsets.MonthEnd(0)
    ).astype("datetime64[s]")
    # peer-relative effective rate (same segment, same date)
    seg = P.clients["segment"].fillna("?").to_numpy()[out["cid"]]
    eff = out["eff__effective_rate_3m"]
    out["eff__effective_rate_vs_segment"] = eff - eff.groupby([out["midx"], seg]).transform(
        "median"
    )
    return out.drop(columns=["cid", "midx"])


# ------------------------------------------------------------------ training and evaluation


def expected_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """The AUC ``score`` would have in expectation if each row's outcome were drawn from
    its true probability ``truth``: the sum over pairs (i, j), i != j, of
    truth_i (1 - truth_j) [score_i > score_j] (ties: half), over the sum of
    truth_i (1 - truth_j). Free of the draw of which clients defaulted in the test year
    (a few hundred events: the AUC's sampling error is about 0.01), so it compares
    feature sets by their agreement with the truth's ranking. It is not a forecast of the
    realised AUC (on the synthetic books the models' realised AUCs ran 0.01-0.05 above it:
    the labels are not draws from the 8-path truth alone), and the truth's own expected
    AUC is biased up by its Monte Carlo noise."""
    order = np.argsort(score, kind="stable")
    s, p = np.asarray(score, float)[order], np.asarray(truth, float)[order]
    q = 1.0 - p
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # runs of tied scores
    below = np.cumsum(q) - q  # weight of the rows ranked before
    first = np.repeat(below[starts], np.diff(np.r_[starts, len(s)]))
    tied = np.repeat(np.add.reduceat(q, starts), np.diff(np.r_[starts, len(s)]))
    lower = first + 0.5 * (tied - q)  # ties count half; a row is not its own pair
    return float((p * lower).sum() / (p.sum() * q.sum() - (p * q).sum()))


def auc_gap(
    y: np.ndarray, p: np.ndarray, truth: np.ndarray, n_boot: int, seed: int = 0
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    auc_m, auc_t = roc_auc_score(y, p), roc_auc_score(y, truth)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    gaps = []
    for _ in range(n_boot):  # stratified paired bootstrap
        i = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        gaps.append(roc_auc_score(y[i], truth[i]) - roc_auc_score(y[i], p[i]))
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    return {
        "model": auc_m,
        "truth": auc_t,
        "gap": auc_t - auc_m,
        "gap_lo": lo,
        "gap_hi": hi,
        "gap_se": float(np.std(gaps)),
        "expected": expected_auc(truth, p),
    }


def run_variant(
    split: dict[str, pd.DataFrame],
    target: str,
    columns: list[str],
    config: TrainConfig,
    truth: pd.DataFrame,
    n_boot: int,
) -> dict[str, float]:
    keep = [*KEYS, *columns, f"{LABEL_PREFIX}{target}"]
    t0 = time.time()
    bundle = train_model(split["train"][keep], split["valid"][keep], target, config)
    rows = labelled_rows(split["test"][keep], target, "test")
    pred = bundle.predict(rows)
    y = rows[f"{LABEL_PREFIX}{target}"].to_numpy("float64")
    tcol = {"churn": "p_churn", "default": "p_default"}[target]
    tr = rows[KEYS].merge(truth[[*KEYS, tcol]], on=KEYS, how="left")[tcol].to_numpy()
    ok = np.isfinite(tr)
    res = auc_gap(y[ok], pred[ok], tr[ok], n_boot)
    va = labelled_rows(split["valid"][keep], target, "valid")
    res["valid_auc"] = roc_auc_score(va[f"{LABEL_PREFIX}{target}"], bundle.predict_uncalibrated(va))
    res["trees"] = bundle.booster.current_iteration()
    res["secs"] = time.time() - t0
    res["n_features"] = len(columns)
    return res


def variant_columns(name: str, base: list[str], cand: list[str]) -> list[str]:
    """``base``; ``all``; ``+fam`` / ``+fam:feature`` (added); ``-all:fam`` (all but a family)."""
    if name == "base":
        return base
    if name == "all":
        return base + cand
    if name.startswith("all-"):
        drop = name[4:].split(",")
        return base + [c for c in cand if c.split("__")[0] not in drop and c not in drop]
    if name.startswith("base-"):
        drop = name[5:].split(",")
        return [c for c in base if c not in drop]
    adds = name.lstrip("+").split(",")
    return base + [c for c in cand if c in adds or c.split("__")[0] in adds]


def learning_curve(
    split: dict[str, pd.DataFrame],
    args: argparse.Namespace,
    base: list[str],
    cand: list[str],
    config: TrainConfig,
    truth: pd.DataFrame,
    seeds: list[int],
) -> None:
    """Train and validate on nested shares of the clients; test on every test row."""
    clients = np.sort(pd.concat([split["train"], split["valid"]])["client_id"].unique())
    order = np.random.default_rng(0).permutation(len(clients))
    rank = pd.Series(np.empty(len(clients)), index=clients)
    rank.iloc[order] = np.arange(len(clients)) / len(clients)
    for target in args.targets:
        for v in args.variants:
            cols = variant_columns(v, base, cand)
            for frac in [float(x) for x in args.fractions.split(",")]:
                part = dict(split)
                for s in ("train", "valid"):
                    r = split[s]["client_id"].map(rank)
                    part[s] = split[s][r.to_numpy() < frac]
                runs = [
                    run_variant(
                        part, target, cols, dataclasses.replace(config, seed=sd), truth, args.boot
                    )
                    for sd in seeds
                ]
                m = {k: float(np.mean([x[k] for x in runs])) for k in runs[0]}
                print(
                    f"{target:8s} fraction={frac:.3f} train_rows={len(part['train'])} "
                    f"test={m['model']:.4f} truth={m['truth']:.4f} gap={m['gap']:.4f} "
                    f"[{m['gap_lo']:.4f}, {m['gap_hi']:.4f}] seeds: "
                    + " ".join(f"{x['model']:.4f}" for x in runs)
                    + f" {v}",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", default=str(ROOT / "data/split"))
    ap.add_argument("--validated", default=str(ROOT / "data/validated"))
    ap.add_argument("--truth", default=str(ROOT / "data/synthetic_truth"))
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--targets", nargs="+", default=["default", "churn"])
    ap.add_argument("--variants", nargs="+", default=["base", "all"])
    ap.add_argument("--boot", type=int, default=500)
    ap.add_argument("--cache", default="/tmp/truth_gap")
    ap.add_argument("--booster", default="", help="k=v,... overrides of train.booster")
    ap.add_argument("--seeds", default="", help="train.seed values to average over, e.g. 1,2,3")
    ap.add_argument(
        "--fractions",
        default="",
        help="learning curve: train/valid on these shares of the clients (nested, seeded)",
    )
    ap.add_argument("--no-candidates", action="store_true", help="only the split's features")
    ap.add_argument("--traits", action="store_true", help="add the latent traits (upper bound)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = load_section(args.params, "train", TrainConfig)
    config = dataclasses.replace(
        config, tracking=dataclasses.replace(config.tracking, enabled=False)
    )
    if args.booster:
        kv = dict(x.split("=") for x in args.booster.split(","))
        b = config.booster
        typed = {k: type(getattr(b, k))(v) for k, v in kv.items()}
        config = dataclasses.replace(config, booster=dataclasses.replace(b, **typed))
    split = {
        s: pd.read_parquet(Path(args.split) / f"{s}.parquet") for s in ("train", "valid", "test")
    }
    cache = Path(args.cache) / (
        Path(args.split).resolve().as_posix().replace("/", "_") + ".parquet"
    )
    if args.no_candidates:
        cand = pd.concat([f[KEYS] for f in split.values()], ignore_index=True)
    elif cache.exists():
        cand = pd.read_parquet(cache)
    else:
        t0 = time.time()
        P = build_panels(Path(args.validated))
        dates = pd.concat([s["as_of"] for s in split.values()]).unique()
        cand = candidate_features(P, [pd.Timestamp(d) for d in dates])
        cache.parent.mkdir(parents=True, exist_ok=True)
        cand.to_parquet(cache)
        print(f"candidates built in {time.time() - t0:.0f}s")
    cand_cols = [c for c in cand.columns if c not in KEYS]
    if args.traits:
        tr = pd.read_parquet(Path(args.truth) / "traits.parquet")
        tcols = ["credit_quality", "satisfaction", "price_sensitivity", "engagement", "price_gap"]
        tr = tr[["client_id", *tcols]].rename(columns={c: f"trait__{c}" for c in tcols})
        cand = cand.merge(tr, on="client_id", how="left")
        cand_cols += [f"trait__{c}" for c in tcols]
    for s in split:
        split[s] = split[s].merge(cand, on=KEYS, how="left", validate="1:1")
    base = [
        c
        for c in split["train"].columns
        if c not in KEYS and not c.startswith(LABEL_PREFIX) and c not in cand_cols
    ]
    truth = pd.read_parquet(Path(args.truth) / "truth.parquet")
    truth["as_of"] = pd.to_datetime(truth["as_of"]).astype("datetime64[s]")
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [config.seed]
    if args.fractions:
        learning_curve(split, args, base, cand_cols, config, truth, seeds)
        return
    for target in args.targets:
        for v in args.variants:
            cols = variant_columns(v, base, cand_cols)
            runs = [
                run_variant(
                    split, target, cols, dataclasses.replace(config, seed=sd), truth, args.boot
                )
                for sd in seeds
            ]
            r = {k: float(np.mean([x[k] for x in runs])) for k in runs[0]}
            if len(runs) > 1:
                print(f"   seeds {seeds}: test " + " ".join(f"{x['model']:.4f}" for x in runs))
            print(
                f"{target:8s} nf={r['n_features']:3.0f} trees={r['trees']:4.0f} "
                f"valid={r['valid_auc']:.4f} test={r['model']:.4f} truth={r['truth']:.4f} "
                f"gap={r['gap']:.4f} [{r['gap_lo']:.4f}, {r['gap_hi']:.4f}] "
                f"expected={r['expected']:.4f} ({r['secs']:.0f}s) {v}",
                flush=True,
            )


if __name__ == "__main__":
    main()
