"""Bring-your-own-data books and a DVC project around them (``dvc repro`` in ``tmp_path``).

- :func:`retail_csv`: a small purchase history in the UCI Online Retail layout (no loans), for
  ``predict import-online-retail``: churn and contribution can be defined, default cannot.
- :func:`no_churn_book`: a generated lending book where every facility stays open, so nobody
  churns (one class).
- :func:`dvc_project`: the pipeline's stages from validate to report (no generator) over a
  folder of contract tables, with params for a small book; :func:`dvc` runs DVC in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[2]

SMALL_PARAMS: dict[str, dict[str, Any]] = {
    "train": {
        "num_threads": 1,
        "booster": {"num_boost_round": 60, "early_stopping_rounds": 10, "min_data_in_leaf": 20},
        "tracking": {"enabled": False},
    },
    "report": {"max_client_pages": 5, "list_size": 10},
}


def retail_csv(path: Path, n_customers: int = 240, months: int = 30, seed: int = 3) -> Path:
    """Invoice lines of ``n_customers`` over ``months`` months ending 2025-12: some stop
    buying for good (churn), amounts vary by customer (contribution); a few cancellations."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2025-12-01") - pd.DateOffset(months=months - 1)
    for c in range(n_customers):
        first = int(rng.integers(0, months // 2))
        stop = int(rng.integers(first + 3, months + 12))  # after the end: never stops
        rate, size = rng.uniform(0.3, 0.9), rng.lognormal(3, 0.8)
        for m in range(first, min(stop, months)):
            if rng.random() < rate:
                day = start + pd.DateOffset(months=m) + pd.Timedelta(days=int(rng.integers(0, 27)))
                qty = float(rng.integers(1, 12)) * (-1 if rng.random() < 0.03 else 1)
                invoice = f"{'C' if qty < 0 else ''}{500000 + len(rows)}"
                rows.append((invoice, qty, day.strftime("%Y-%m-%d %H:%M:%S"), round(size, 2),
                             f"{12000 + c}.0", "United Kingdom"))  # fmt: skip
    columns = ["InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(1, "StockCode", "85123A")
    frame.insert(2, "Description", "ITEM")
    frame.to_csv(path, index=False)
    return path


def no_churn_book(folder: Path, n_clients: int = 300, months: int = 36) -> Path:
    """A generated book whose facilities never close: every active client stays active."""
    from predict.synthetic import GenerateConfig, generate_portfolio

    tables = generate_portfolio(
        GenerateConfig(n_clients=n_clients, months=months, truth_paths=0, seed=11)
    ).tables
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if name == "facilities":
            frame = frame.assign(closed_date=pd.NaT)
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        both = isinstance(value, Mapping) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def dvc_project(
    work: Path,
    raw: Path,
    params: Mapping[str, Any],
    *,
    stages: tuple[str, ...] | None = None,
    git: bool = False,
) -> Path:
    """A DVC project in ``work``: code, params (the repo's, then SMALL_PARAMS, then
    ``params``) with ``data.raw_dir`` = a copy of ``raw``, and every stage but generate
    (or only ``stages``). ``git``: a git repository (DVC with SCM, for ``dvc exp``), nothing
    committed yet."""
    shutil.copytree(raw, work / "data" / "raw")
    shutil.copytree(ROOT / "pipelines", work / "pipelines")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "src" / "predict", work / "src" / "predict", ignore=ignore)
    merged = _merge(yaml.safe_load((ROOT / "params.yaml").read_text()), SMALL_PARAMS)
    merged = _merge(merged, {"data": {"raw_dir": "data/raw"}, **params})
    (work / "params.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    every = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    every.pop("generate")
    kept = {k: v for k, v in every.items() if stages is None or k in stages}
    (work / "dvc.yaml").write_text(yaml.safe_dump({"stages": kept}, sort_keys=False))
    if git:
        git_cmd(work, "init", "-q", "-b", "main")
        git_cmd(work, "config", "user.name", "predict tests")  # for DVC's experiment commits
        git_cmd(work, "config", "user.email", "tests@predict.invalid")
        dvc(work, "init", "-q", check=True)
    else:
        dvc(work, "init", "--no-scm", "-q", check=True)
    return work


def git_cmd(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git <args>`` in ``work`` with a fixed identity (tests need no global git config)."""
    identity = ["-c", "user.name=predict tests", "-c", "user.email=tests@predict.invalid"]
    return subprocess.run(["git", *identity, *args], cwd=work, capture_output=True, text=True,
                          check=True)  # fmt: skip


def dvc(work: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m dvc <args>`` in ``work``, with this interpreter's folder on PATH."""
    env = {
        **os.environ,
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(work.parent / "dvc_site"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=work, env=env,
                          capture_output=True, text=True, check=check)  # fmt: skip
