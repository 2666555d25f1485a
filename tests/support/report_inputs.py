"""Small but realistic inputs for the report tests, in the documented on-disk formats.

``make_portfolio`` fabricates the contract tables (validated dtypes), the scoring outputs
(scores with previous-scoring columns, long SHAP explanations, drift, early warning) and
the model/metrics JSON; ``write_portfolio`` lays them out like a real run
(``data/validated``, ``data/scores``, ``models/<target>``, ``metrics``) under a folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict import io
from predict.contract.spec import POPULATIONS
from predict.models.metrics_files import write_metrics
from predict.models.store import manifest
from predict.scoring.early_warning import early_warning
from predict.scoring.explain import BASE_FEATURE
from predict.scoring.grades import GradesConfig, add_grades, migration_matrix
from predict.scoring.relationship import EarlyWarningConfig

AS_OF = pd.Timestamp("2024-12-31")
EVIL_ID = '<script>alert("owned")</script>'
SEGMENTS = ("sme", "mid_corporate", "large_corporate")
BRANCHES = ("B01", "B02", "B03")
FEATURES = {
    "utilisation": "numeric",
    "max_dpd_12m": "numeric",
    "revenue_12m": "numeric",
    "revenue_trend_3m": "numeric",
    "complaints_12m": "numeric",
    "csat_mean_12m": "numeric",
    "tenure_months": "numeric",
    "segment": "categorical",
}


@dataclass(frozen=True)
class PortfolioPaths:
    root: Path
    tables: Path
    scores: Path
    models: Path
    metrics: Path
    plots: Path


def _months(end: pd.Timestamp, n: int) -> pd.Index:
    return pd.date_range(end=end, periods=n, freq="ME").astype("datetime64[s]")


def make_tables(ids: list[str], rng: np.random.Generator, as_of: pd.Timestamp) -> dict[str, Any]:
    n = len(ids)
    clients = pd.DataFrame(
        {
            "client_id": pd.Series(ids, dtype="str"),
            "onboarding_date": pd.Series(pd.Timestamp("2018-01-15"), index=range(n)).astype(
                "datetime64[s]"
            ),
            "segment": pd.Series([SEGMENTS[i % 3] for i in range(n)], dtype="str"),
            "industry": pd.Series(["C25"] * n, dtype="str"),
            "region": pd.Series(["north"] * n, dtype="str"),
            "branch_id": pd.Series([BRANCHES[(i // 3) % 3] for i in range(n)], dtype="str"),
            "rm_id": pd.Series([f"RM{i % 4}" for i in range(n)], dtype="str"),
            "annual_turnover": rng.uniform(1e6, 5e7, n),
        }
    )
    # client i: facility closed 6 months ago for every 5th client (churned), else open.
    closed = [as_of - pd.DateOffset(months=6) if i % 5 == 4 else pd.NaT for i in range(n)]
    facilities = pd.DataFrame(
        {
            "facility_id": pd.Series([f"F{i:03d}" for i in range(n)], dtype="str"),
            "client_id": pd.Series(ids, dtype="str"),
            "product": pd.Series(
                ["term_loan", "revolving_credit"] * (n // 2) + ["term_loan"] * (n % 2), dtype="str"
            ),
            "limit_amount": rng.uniform(1e5, 2e6, n).round(0),
            "interest_rate": rng.uniform(0.03, 0.08, n),
            "origination_date": pd.Series(pd.Timestamp("2019-03-31"), index=range(n)).astype(
                "datetime64[s]"
            ),
            "maturity_date": pd.Series(pd.Timestamp("2029-03-31"), index=range(n)).astype(
                "datetime64[s]"
            ),
            "closed_date": pd.Series(closed).astype("datetime64[s]"),
        }
    )
    months = _months(as_of, 30)
    bal = facilities[["facility_id", "limit_amount"]].merge(
        pd.DataFrame({"month_end": months}), how="cross"
    )
    bal["outstanding"] = (bal["limit_amount"] * rng.uniform(0.2, 0.9, len(bal))).round(2)
    bal["days_past_due"] = pd.array(np.where(rng.random(len(bal)) < 0.05, 30, 0), dtype="Int64")
    bal = bal.drop(columns="limit_amount")
    revenue = pd.DataFrame(
        {"client_id": np.repeat(ids, len(months)), "date": np.tile(months.to_numpy(), n)}
    )
    revenue["client_id"] = revenue["client_id"].astype("str")
    revenue["amount"] = rng.gamma(2.0, 800.0, len(revenue)).round(2)
    revenue["source"] = pd.Series(["interest"] * len(revenue), dtype="str")
    # churned clients: no revenue in their last 8 months
    gone = revenue["client_id"].isin([ids[i] for i in range(n) if i % 5 == 4])
    revenue = revenue[~(gone & (revenue["date"] > as_of - pd.DateOffset(months=8)))]
    return {
        "clients": clients,
        "facilities": facilities,
        "facility_balances": bal,
        "revenue": revenue.reset_index(drop=True),
        "interactions": make_interactions(ids, rng, as_of),
    }


def make_interactions(ids: list[str], rng: np.random.Generator, as_of: pd.Timestamp) -> Any:
    rows = []
    for cid in ids:
        for k in range(6):
            date = as_of - pd.Timedelta(days=int(rng.integers(1, 700)))
            survey = k % 3 == 0
            rows.append(
                {
                    "client_id": cid,
                    "date": date.normalize(),
                    "kind": "survey" if survey else ("complaint" if k == 5 else "rm_meeting"),
                    "channel": "portal" if survey else "branch",
                    "csat": int(rng.integers(1, 6)) if survey else None,
                    "nps": int(rng.integers(0, 11)) if survey else None,
                }
            )
    frame = pd.DataFrame(rows)
    return frame.astype(
        {
            "client_id": "str",
            "date": "datetime64[s]",
            "kind": "str",
            "channel": "str",
            "csat": "Int64",
            "nps": "Int64",
        }
    )


def add_value_columns(scores: pd.DataFrame, rng: np.random.Generator) -> None:
    """Risk-adjusted value as the scoring step writes it (capital ~ 8% of EAD, 12 months)."""
    n = len(scores)
    scores["run_rate_revenue"] = scores["expected_contribution"] * rng.uniform(0.8, 1.3, n)
    scores["contribution_at_risk"] = scores["churn_probability"] * scores["run_rate_revenue"]
    scores["limit_total"] = (scores["ead"] * 1.25).round(0)
    scores["drawn"] = (scores["ead"] * 0.8).round(2)
    scores["undrawn"] = scores["limit_total"] - scores["drawn"]
    scores["utilisation"] = scores["drawn"] / scores["limit_total"]
    scores["funding_cost"] = 0.03 * 0.6 * scores["ead"]
    scores["cost_to_serve"] = 2000.0
    scores["capital"] = np.where(scores["in_default"], 0.0, 0.08 * scores["ead"])
    scores["capital_charge"] = 0.1 * scores["capital"]
    costs = scores[["expected_loss", "funding_cost", "cost_to_serve"]].sum(axis=1)
    net = scores["expected_contribution"] - costs
    scores["economic_profit"] = net - scores["capital_charge"]
    scores["raroc"] = net / scores["capital"].where(scores["capital"] > 0)


def make_scores(
    ids: list[str], tables: dict[str, Any], rng: np.random.Generator, as_of: pd.Timestamp
) -> pd.DataFrame:
    n = len(ids)
    clients = tables["clients"]
    churn = rng.beta(1.2, 5.0, n)
    default = rng.beta(0.6, 25.0, n)
    contribution = rng.gamma(2.0, 5000.0, n)
    ead = rng.uniform(5e4, 1.5e6, n)
    scores = pd.DataFrame(
        {
            "client_id": pd.Series(ids, dtype="str"),
            "as_of": pd.Series(as_of, index=range(n)).astype("datetime64[s]"),
            "segment": clients["segment"],
            "branch_id": clients["branch_id"],
            "lifecycle_stage": pd.Series(
                rng.choice(["new", "active", "active", "dormant"], n), dtype="str"
            ),
            "churn_probability": churn,
            "default_probability": default,
            "expected_contribution": contribution,
            "ead": ead,
            "lgd": 0.45,
            "expected_loss": default * 0.45 * ead,
        }
    )
    scores["in_default"] = np.arange(n) == n - 1  # the last client: newly in default
    scores.loc[scores["in_default"], "ead"] = 4e6  # the largest exposure of the book
    scores.loc[scores["in_default"], "default_probability"] = 1.0
    scores.loc[scores["in_default"], "lifecycle_stage"] = "in_default"
    scores["expected_loss"] = scores["default_probability"] * 0.45 * scores["ead"]
    why = pd.Series(np.where(scores["in_default"], "in default at the as-of date", None))
    scores["default_not_scored_reason"] = scores["churn_not_scored_reason"] = why.astype("str")
    scores.loc[scores["in_default"], "churn_probability"] = np.nan
    scores["relationship_value"] = scores["expected_contribution"] - scores["expected_loss"]
    add_value_columns(scores, rng)
    scores["action"] = pd.Series(
        np.select(
            [default >= 0.05, churn >= 0.3, (default < 0.01) & (churn < 0.1)],
            ["watch", "retain", "grow"],
            "maintain",
        ),
        dtype="str",
    )
    scores["action_rule"] = scores["action"] + ": rule of the fixture"
    dims = ("satisfaction", "loyalty", "retention", "contribution", "trust")
    for k, d in enumerate(dims):
        scores[f"{d}_score"] = ((np.arange(n) * 37 + k * 11) % 101).astype("float64")
        scores[f"{d}_reason"] = pd.Series(
            [f"{d} reason of client {i}" for i in range(n)], dtype="str"
        )
    scores["relationship_index"] = scores[[f"{d}_score" for d in dims]].mean(axis=1)
    scores["relationship_dimensions"] = 5
    for t in ("churn", "default", "contribution"):
        scores[f"{t}_model_version"] = f"{t[:3]}0123456789"
        scores[f"{t}_reasons"] = pd.Series(
            [
                f"revenue fell {i % 7 * 5}% over 6 months | {i % 3} complaints in 12 months | "
                "utilisation is high"
                for i in range(n)
            ],
            dtype="str",
        )
    scores["previous_as_of"] = pd.Series(as_of - pd.DateOffset(months=3), index=range(n)).astype(
        "datetime64[s]"
    )
    for col in ("churn_probability", "default_probability", "expected_contribution"):
        scores[f"previous_{col}"] = scores[col] * rng.uniform(0.6, 1.2, n)
    # the client in default was performing at the previous scoring: newly defaulted, workout
    scores.loc[scores["in_default"], "previous_default_probability"] = 0.02
    scores.loc[scores["in_default"], "action"] = "workout"
    scores["previous_lifecycle_stage"] = previous_stages(scores)
    scores["rm_id"] = clients["rm_id"]
    scores["churn_probability_change"] = (
        scores["churn_probability"] - scores["previous_churn_probability"]
    )
    scores["default_probability_change"] = (
        scores["default_probability"] - scores["previous_default_probability"]
    )
    scores["contribution_change"] = (
        scores["expected_contribution"] - scores["previous_expected_contribution"]
    )
    previous = scores[["client_id", "previous_default_probability"]].rename(
        columns={"previous_default_probability": "default_probability"}
    )
    return add_grades(scores, previous, GradesConfig())


def previous_stages(scores: pd.DataFrame) -> pd.Series:
    """The stage at the previous scoring: every 7th client (from the 4th) was new, the client
    in default was active, the second client was not scored (a prospect that appeared)."""
    before = scores["lifecycle_stage"].astype("object").copy()
    before[np.arange(len(scores)) % 7 == 3] = "new"
    before[scores["in_default"].to_numpy()] = "active"
    before.iloc[1] = np.nan
    return before.astype("str")


def make_explanations(scores: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    parts = []
    for target in ("churn", "default", "contribution"):
        scale = 800.0 if target == "contribution" else 0.4
        for feat, kind in FEATURES.items():
            n = len(scores)
            if kind == "numeric":
                x = rng.normal(0, 1, n)
                values = pd.Series(np.round(x * 10 + 50, 3)).astype("str")
                shap = x * scale * rng.uniform(0.2, 1.0) + rng.normal(0, scale * 0.05, n)
            else:
                values = scores["segment"].astype("str")
                effect = {s: i * scale / 3 - scale / 3 for i, s in enumerate(SEGMENTS)}
                shap = np.asarray(values.map(effect).astype("float64").fillna(0.0), "float64")
            parts.append(
                pd.DataFrame(
                    {
                        "client_id": scores["client_id"],
                        "as_of": scores["as_of"],
                        "target": target,
                        "feature": feat,
                        "value": values.to_numpy(),
                        "shap": shap,
                    }
                )
            )
        base = 2000.0 if target == "contribution" else -1.5
        parts.append(
            pd.DataFrame(
                {  # the base value row scoring writes per client and target
                    "client_id": scores["client_id"],
                    "as_of": scores["as_of"],
                    "target": target,
                    "feature": BASE_FEATURE,
                    "value": None,
                    "shap": base,
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    return out.astype(
        {"client_id": "str", "target": "str", "feature": "str", "value": "str", "shap": "float64"}
    )


def make_drift() -> pd.DataFrame:
    rows = [
        (f, "feature", psi)
        for f, psi in zip(FEATURES, (0.02, 0.31, 0.12, 0.05, 0.0, 0.08, 0.01, 0.04), strict=True)
    ]
    rows += [("churn_probability", "score", 0.06), ("default_probability", "score", 0.15)]
    frame = pd.DataFrame(rows, columns=["variable", "kind", "psi"])
    frame["level"] = np.select(
        [frame["psi"] >= 0.25, frame["psi"] >= 0.1], ["alert", "warning"], "ok"
    )
    frame["n_bins"] = 11
    frame["reference_rows"] = 5000
    frame["current_rows"] = 30
    frame["reference_missing_share"] = 0.0
    frame["current_missing_share"] = 0.01
    return frame.astype({"variable": "str", "kind": "str", "level": "str"})


def model_files(target: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(metadata.json, features.json, metrics/detail/<target>.json) of a fabricated model."""
    metadata = {
        "target": target,
        "task": "regression" if target == "contribution" else "binary",
        "model_version": f"{target[:3]}0123456789",
        "data_hash": "sha256:ab12cd34ef56",
        "training_window": {
            "train": ["2020-06-30", "2022-12-31"],
            "valid": ["2023-03-31", "2023-06-30"],
            "test": ["2023-09-30", "2023-12-31"],
        },
        "params": {"num_leaves": 31, "learning_rate": 0.05},
    }
    features = {
        "names": list(FEATURES),
        "dtypes": {f: "category" if k == "categorical" else "float64" for f, k in FEATURES.items()},
        "categories": {"segment": list(SEGMENTS)},
    }
    metrics = detail_metrics(target)
    return metadata, features, metrics


def detail_metrics(target: str) -> dict[str, Any]:
    """``metrics/detail/<target>.json`` in the layout the train stage writes (evaluation.py):
    test, baseline, uplift, truth, by segment, population, flags. The segment
    ``large_corporate`` has test rows but no event (binary targets)."""
    if target == "contribution":
        test = {"n": 200.0, "rmse": 51234.5, "mae": 20111.0, "spearman": 0.91, "bias": -120.0}
        test.update(mean_actual=40000.0, mean_predicted=39880.0, top_decile_capture=0.55)
        base = {"name": "carry_forward_revenue_12m", "rmse": 60321.0, "mae": 25000.0}
        seg = {s: {"n": 80.0, "mean_actual": 4e4, "rmse": 5e4, "spearman": 0.9, "bias": 1.0}
               for s in SEGMENTS[:2]}  # fmt: skip
        seg[SEGMENTS[2]] = {"n": 40.0}  # fewer rows than min_segment_rows
        truth: dict[str, Any] = {"available": True, "truth_rmse": 45000.0, "model_rmse": 51234.5}
    else:
        test = {"n": 200.0, "positives": 20.0, "base_rate": 0.1, "auc": 0.81, "gini": 0.62}
        test.update(ks=0.5, pr_auc=0.4, brier=0.07, ece=0.012, top_decile_lift=3.5)
        base = {"name": "logistic_regression", "auc": 0.74, "brier": 0.09}
        seg = {
            SEGMENTS[0]: {"n": 120.0, "positives": 15.0, "base_rate": 0.125, "auc": 0.8},
            SEGMENTS[1]: {"n": 50.0, "positives": 5.0, "base_rate": 0.1, "auc": 0.7},
            SEGMENTS[2]: {"n": 30.0, "positives": 0.0, "base_rate": 0.0, "auc": None},
        }
        truth = {"available": True, "truth_auc": 0.84, "truth_brier": 0.065, "gap_auc": 0.03}
        truth.update(gap_auc_low=0.01, gap_auc_high=0.05)
    population: dict[str, Any] = {
        "definition": POPULATIONS[target],
        "train": {"rows": 900, "clients": 300, "rows_unlabelled": 41, "rows_in_default": 12},
        "test": {"rows": 200, "clients": 200, "rows_unlabelled": 9, "rows_in_default": 3},
    }
    return {
        "target": target,
        "rows": {"test": 200, "test_unlabelled": 9},
        "population": population,
        "test": test,
        "baseline": base,
        "uplift": {k: test[k] - v for k, v in base.items() if k in test},
        "truth": truth,
        "calibration": {"ece": 0.012},
        "by_segment": {"model": seg},
        "flags": [],
        "flag_codes": {"below_baseline": False, "event_rate_shift": False},
    }


def split_detail() -> dict[str, Any]:
    """``metrics/detail/split.json`` of a time split (split.describe)."""
    dates = {"train": ["2021-12-31", "2022-06-30"], "valid": ["2023-06-30"], "test": ["2023-12-31"]}
    sets = {}
    for name, rows in (("train", 941), ("valid", 300), ("test", 209)):
        labelled = {"train": 900, "valid": 280, "test": 200}[name]
        sets[name] = {
            "rows": rows,
            "clients": 300,
            "as_of": dates[name],
            "churn": {"labelled": labelled, "positive_rate": 0.1},
            "default": {"labelled": labelled, "positive_rate": 0.05},
            "contribution": {"labelled": labelled, "mean": 40000.0},
        }
    return {"method": "time", "fallback": False, "horizon_months": 12, "sets": sets,
            "facility_terms": True}  # fmt: skip


def make_portfolio(
    n_clients: int = 30, seed: int = 0, evil: bool = False, as_of: pd.Timestamp = AS_OF
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ids = [f"C{i:04d}" for i in range(n_clients)]
    if evil:
        ids[0] = EVIL_ID
    tables = make_tables(ids, rng, as_of)
    if evil:
        tables["clients"].loc[1, "segment"] = "<b>bold</b>"
    scores = make_scores(ids, tables, rng, as_of)
    if evil:
        scores.loc[0, "action"] = "retain"
        scores.loc[0, "churn_probability"] = 0.9
        scores.loc[0, "churn_reasons"] = "<img src=x onerror=alert(1)> | plain reason"
    return {
        "tables": tables,
        "scores": scores,
        "explanations": make_explanations(scores, rng),
        "drift": make_drift(),
        "migration": migration_matrix(scores, GradesConfig()),  # as predict score writes it
        "early_warning": early_warning(
            scores, tables, EarlyWarningConfig(), "rescored previous month end", horizon_months=12
        ),
    }


def write_portfolio(root: Path, **kwargs: Any) -> PortfolioPaths:
    """Write a fabricated run under ``root`` in the documented layout."""
    data = make_portfolio(**kwargs)
    paths = PortfolioPaths(
        root,
        root / "data" / "validated",
        root / "data" / "scores",
        root / "models",
        root / "metrics",
        root / "plots",
    )
    for name, frame in data["tables"].items():
        io.write_parquet(frame, paths.tables / f"{name}.parquet")
    as_of = pd.Timestamp(data["scores"]["as_of"].iloc[0]).date().isoformat()
    stamp = {"predict.run_id": "fixture0run0id00", "predict.as_of": as_of}
    for name in ("scores", "explanations", "drift", "early_warning", "migration"):
        io.write_parquet(data[name], paths.scores / f"{name}.parquet", stamp)
    io.write_json(
        {"run_id": "fixture0run0id00", "as_of": as_of}, paths.scores / "score_summary.json"
    )
    io.write_json(split_detail(), paths.metrics / "detail" / "split.json")
    for target in ("churn", "default", "contribution"):
        metadata, features, metrics = model_files(target)
        contents = {  # a fabricated folder with its manifest (the booster is never loaded)
            "metadata.json": io.json_text(metadata),
            "features.json": io.json_text(features),
            "model.txt": "not read by the report\n",
            "calibrator.json": io.json_text({"kind": "identity"}),
            "references.json": io.json_text({}),
        }
        for name, text in contents.items():
            io.write_text(text, paths.models / target / name)
        sealed = manifest({n: t.encode("utf-8") for n, t in contents.items()})
        io.write_json(sealed, paths.models / target / "manifest.json")
        write_metrics(metrics, metadata["task"], paths.metrics, target)  # headline + detail
        predicted = np.linspace(0.02, 0.6, 10)
        calibration = pd.DataFrame(
            {"bin": range(10), "predicted": predicted, "observed": predicted * 0.9 + 0.01}
        )
        io.write_csv(calibration, paths.plots / target / "calibration.csv")
    return paths
