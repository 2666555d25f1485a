"""The generator's products: the seven contract tables, and beside them the known truth."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from predict.io import atomic_dir, write_json, write_text
from predict.synthetic import world
from predict.synthetic.calendar import EPOCH
from predict.synthetic.config import GenerateConfig, OutcomeWindow
from predict.synthetic.ledger import (
    SCHEMAS,
    STREAMED,
    MemorySink,
    ParquetSink,
    Sink,
    dates,
    id_strings,
    labels,
    write_table,
)
from predict.synthetic.simulate import History, simulate

logger = logging.getLogger(__name__)

TABLE_NAMES = (
    "clients",
    "facilities",
    "facility_balances",
    "revenue",
    "interactions",
    "credit_events",
    "facility_terms",
)


@dataclass
class SyntheticPortfolio:
    """Contract tables (validated dtypes), truth, latent traits and the macro path."""

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    traits: pd.DataFrame
    macro: pd.DataFrame
    summary: dict[str, Any]


def generate_portfolio(
    config: GenerateConfig, window: OutcomeWindow | None = None
) -> SyntheticPortfolio:
    """Simulate a book in memory (small and medium sizes; use :func:`write_portfolio` for big)."""
    window = window or OutcomeWindow()
    sinks = {t: MemorySink(SCHEMAS[t]) for t in STREAMED}
    history = simulate(config, window, dict[str, Sink](sinks))
    history.ledger.finish()
    arrow = {t: s.table() for t, s in sinks.items()}
    arrow["clients"] = clients_table(history)
    arrow["facilities"] = history.ledger.facilities()
    tables = {t: to_frame(arrow[t]) for t in TABLE_NAMES}
    return SyntheticPortfolio(
        tables=tables,
        truth=to_frame(truth_table(history)),
        traits=to_frame(traits_table(history)),
        macro=to_frame(macro_table(history)),
        summary=summary(history, {t: a.num_rows for t, a in arrow.items()}),
    )


def write_portfolio(
    config: GenerateConfig,
    out_dir: str | os.PathLike[str],
    truth_dir: str | os.PathLike[str],
    window: OutcomeWindow | None = None,
) -> dict[str, Any]:
    """Simulate a book streaming the monthly tables to Parquet; both folders appear whole."""
    window = window or OutcomeWindow()
    t0 = time.perf_counter()
    with atomic_dir(out_dir) as out, atomic_dir(truth_dir) as tdir:
        sinks = {t: ParquetSink(out / f"{t}.parquet", SCHEMAS[t]) for t in STREAMED}
        history = simulate(config, window, dict[str, Sink](sinks))
        history.ledger.finish()
        rows = {t: s.rows_written for t, s in sinks.items()}
        small = {"clients": clients_table(history), "facilities": history.ledger.facilities()}
        for name, table in small.items():
            write_table(table, out / f"{name}.parquet")
            rows[name] = table.num_rows
        write_table(truth_table(history), tdir / "truth.parquet")
        write_table(traits_table(history), tdir / "traits.parquet")
        write_table(macro_table(history), tdir / "macro.parquet")
        info = summary(history, rows)
        write_json(info, tdir / "summary.json")  # no timings: same params, same bytes
        write_text(TRUTH_README.format(**info), tdir / "README.txt")
    timings = {
        "seconds_history": round(history.timings["history_s"], 2),
        "seconds_truth": round(history.timings["truth_s"], 2),
        "seconds_total": round(time.perf_counter() - t0, 2),
    }
    logger.info("wrote %s and %s: %s (%s)", out_dir, truth_dir, rows, timings)
    return {**info, **timings}


def clients_table(history: History) -> pa.Table:
    """The clients table as the bank would report it: some optional values missing."""
    book, cfg = history.book, history.config
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(5)[4])
    n, rate = book.n, cfg.missing_rate

    def hide(codes: np.ndarray, share: float) -> np.ndarray:
        return np.where(rng.random(n) < share, -1, codes)

    reported = np.round(book.turnover * np.exp(rng.normal(0.0, 0.1, n)), -3)
    building = (book.seg == world.PF) & (rng.random(n) < 0.3)  # SPVs still under construction
    reported = np.where(building, 0.0, reported)
    no_turnover = rng.random(n) < 1.5 * rate
    width = max(7, len(str(n)))
    arrays = [
        id_strings("C", book.cid, width),
        dates(history.ctx.grid.start(book.onboard_m) + book.onboard_day.astype(np.int64) - 1),
        labels(hide(book.seg, rate / 2), world.SEGMENTS),
        labels(hide(book.ind, rate), world.INDUSTRIES),
        labels(hide(book.region, rate / 4), world.REGIONS),
        id_strings("BR", hide(book.branch, rate / 4), 2),
        id_strings("RM", hide(book.rm, rate / 2), 4),
        pa.array(reported, mask=no_turnover),
    ]
    return pa.Table.from_arrays(arrays, schema=SCHEMAS["clients"])


def truth_table(history: History) -> pa.Table:
    t = history.truth
    schema = pa.schema(
        [("client_id", pa.string()), ("as_of", pa.date32())]
        + [(c, pa.float64()) for c in ("p_churn", "p_default", "expected_contribution")]
    )
    if t.empty:
        return schema.empty_table()
    width = max(7, len(str(history.book.n)))
    arrays = [
        id_strings("C", t["cid"].to_numpy(), width),
        dates(history.ctx.grid.end(t["m"].to_numpy())),
        *(
            pa.array(t[c].to_numpy(dtype=float))
            for c in ("p_churn", "p_default", "expected_contribution")
        ),
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def traits_table(history: History) -> pa.Table:
    """Every client's latent traits and what happened to it (never in the contract tables)."""
    b, grid = history.book, history.ctx.grid
    width = max(7, len(str(b.n)))

    def month_end(m: np.ndarray, happened: np.ndarray) -> pa.Array:
        days = grid.end(np.where(happened, m, 0))
        return pa.array(days.astype(np.int32), mask=~happened, type=pa.date32())

    return pa.table(
        {
            "client_id": id_strings("C", b.cid, width),
            "segment": labels(b.seg, world.SEGMENTS),
            "industry": labels(b.ind, world.INDUSTRIES),
            "prospect": b.prospect,
            "onboarded_before_start": b.onboard_m < 0,
            "interactions_recorded": b.crm,
            "annual_turnover": b.turnover,
            "credit_quality": b.q_mean,
            "satisfaction": b.sat_mean,
            "price_sensitivity": b.price_sens,
            "engagement": b.engagement,
            "price_gap": b.price_gap,
            "contact_intensity": b.contact,
            "service_quality": b.service_q,
            "has_covenants": b.covenants,
            "credit_quality_at_end": b.q_mean + b.x,
            "satisfaction_at_end": b.sat,
            "default_month": month_end(b.default_m, b.defaulted),
            "attrition_month": month_end(b.churn_m, b.churned),
        }
    )


def macro_table(history: History) -> pa.Table:
    """The realised economy month by month, including the months after the data end."""
    macro, grid = history.ctx.macro, history.ctx.grid
    m = np.arange(macro.stress.shape[0])
    cols: dict[str, Any] = {
        "month_end": dates(grid.end(m)),
        "base_rate": macro.base(m),
        "cycle": macro.cycle,
    }
    for i, name in enumerate(world.INDUSTRIES):
        cols[f"stress_{name}"] = macro.stress[:, i]
    return pa.table(cols)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with the validated dtypes: dates datetime64[s], nullable ints Int64."""
    df = table.to_pandas(date_as_object=False)
    for f in table.schema:
        if pa.types.is_date32(f.type):
            df[f.name] = df[f.name].astype("datetime64[s]")
        elif pa.types.is_integer(f.type) and f.name in ("csat", "nps"):
            df[f.name] = df[f.name].astype("Int64")
    return df


def summary(history: History, rows: dict[str, int]) -> dict[str, Any]:
    cfg, grid = history.config, history.ctx.grid
    b = history.book
    return {
        "seed": cfg.seed,
        "clients": cfg.n_clients,
        "months": cfg.months,
        "start": str((EPOCH + np.timedelta64(int(grid.start(0)), "D")).astype(object)),
        "end": str(cfg.end_date),
        "rows": rows,
        "horizon_months": history.window.horizon_months,
        "inactivity_months": history.window.inactivity_months,
        "truth_paths": cfg.truth_paths,
        "truth_as_of": [
            str(grid.month_end_date(int(m))) for m in np.unique(history.truth.get("m", []))
        ],
        "defaults": int(b.defaulted.sum()),
        "attritions": int(b.churned.sum()),
    }


TRUTH_README = """Known truth of the synthetic portfolio
(seed {seed}, {clients} clients, {start} to {end}).

truth.parquet   client_id, as_of, p_churn, p_default, expected_contribution: the true
                probabilities / expectation over the {horizon_months} months after as_of, given
                the full state at as_of and the realised macro path ({truth_paths} simulated
                futures per client). NaN p_churn: not active at as_of; NaN p_default: already
                in default at as_of. Definitions: docs/synthetic.md.
traits.parquet  one row per client: latent traits and realised default / attrition months.
macro.parquet   the base rate, the cycle and the credit stress of each industry per month.
Never feed these files to a model: they are the answers.
"""


def write_byod_readme(
    out_dir: str | os.PathLike[str], truth_dir: str | os.PathLike[str], raw_dir: str
) -> None:
    """Bring-your-own-data: leave both outputs empty but for a note saying why."""
    note = (
        f"Nothing generated: params data.raw_dir is {raw_dir!r}, not 'data/synthetic'.\n"
        "The pipeline reads your own tables; the synthetic generator is switched off.\n"
    )
    for folder in (out_dir, truth_dir):
        with atomic_dir(folder) as tmp:
            (Path(tmp) / "README.txt").write_text(note, encoding="utf-8")
