"""Out-of-time train / valid / test split of the feature table, purged of label overlap.

Time split (the default whenever the history is long enough):

- test: one as-of date, ``test_as_of`` (auto = the last uncensored as-of date, i.e. the
  latest t with t + H inside the data). The test labels cover (test, test + H].
- valid: the latest ``valid_as_ofs`` as-of dates whose label window ends no later than the
  test as-of (t + H <= test as-of), so no validation label sees the test period.
- train: every as-of date whose label window ends no later than the first validation as-of
  (t + H <= first valid as-of), at most the latest ``train_as_ofs`` of them.

With monthly history ending 2025-12-31, H = 12 and quarterly as-of dates from 2020-12-31,
this gives test 2024-12-31, valid 2023-09-30 and 2023-12-31, train 2020-12-31..2022-09-30.
The as-of dates in between are purged: their label windows overlap the next set's.

By-client holdout (``method: client``, or ``auto`` when the time split would leave fewer
than ``min_train_as_ofs`` training as-of dates, e.g. a short history with one uncensored
snapshot): every uncensored row, clients drawn at random (seeded) into the three sets, all
rows of a client in one set. It is not out of time: a fallback of ``auto`` is stated in
``split.json`` (``fallback: true`` and the note, detail and headline), on the model card and
in the report's "Read with care" notes.

Only rows with at least one defined label are kept (censored snapshots have none).

The sets are written in Parquet row groups of at most ``row_group_rows`` rows (1,048,576 by
default, pyarrow's own: the files are those written before), so a Dask cluster's workers
can read the train set a row group per task (:mod:`predict.models.dask_train`); the rows,
their order and values do not depend on it (the file's bytes, hence the split's
fingerprint, do).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.contract.spec import TARGETS
from predict.features.rates import REFERENCE_FILE
from predict.features.snapshots import AUTO, label_end, parse_date_setting
from predict.io import read_json, write_json, write_parquet
from predict.models.metrics_files import write_split_metrics

logger = logging.getLogger(__name__)

SETS: tuple[str, ...] = ("train", "valid", "test")
METHODS = ("auto", "time", "client")
# default rows per row group of data/split/*.parquet: pyarrow's own default (1024 * 1024),
# so the files (and the split's fingerprint, the models' data_hash and versions) are
# byte for byte those written before the setting existed; a cluster training a train set
# of fewer rows gets more partitions with a smaller value (65,536: docs/scaling.md)
ROW_GROUP_ROWS = 1_048_576


@dataclass(frozen=True)
class ClientHoldout:
    """Fractions of clients in valid and test for the by-client holdout; the rest train."""

    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 20251231

    def __post_init__(self) -> None:
        if not (self.valid_fraction > 0 and self.test_fraction > 0) or (
            self.valid_fraction + self.test_fraction >= 1
        ):
            raise ValueError("split.holdout: fractions must be > 0 and sum to less than 1")


@dataclass(frozen=True)
class SplitConfig:
    """The ``split`` params section."""

    method: str = AUTO  # time | client | auto (time when the history allows it)
    test_as_of: dt.date | str = AUTO  # auto = the last uncensored as-of date
    valid_as_ofs: int = 2  # validation as-of dates: the latest with t + H <= test as-of
    train_as_ofs: int | None = None  # keep only the latest N purged training as-ofs; null: all
    min_train_as_ofs: int = 2  # fewer: auto falls back to the by-client holdout
    holdout: ClientHoldout = field(default_factory=ClientHoldout)
    # rows per Parquet row group of the written sets: a Dask cluster's workers read the
    # train set a row group per task (predict train --scheduler, docs/scaling.md); the
    # rows, their order and values are the same whatever it is
    row_group_rows: int = ROW_GROUP_ROWS

    def __post_init__(self) -> None:
        rg = self.row_group_rows
        if isinstance(rg, bool) or not isinstance(rg, int) or rg < 1:
            raise ValueError(f"split.row_group_rows must be an integer >= 1, got {rg!r}")
        if self.method not in METHODS:
            raise ValueError(f"split.method must be one of {METHODS}, got {self.method!r}")
        if self.valid_as_ofs < 1 or self.min_train_as_ofs < 1:
            raise ValueError("split.valid_as_ofs and split.min_train_as_ofs must be >= 1")
        if self.train_as_ofs is not None and self.train_as_ofs < 1:
            raise ValueError("split.train_as_ofs must be >= 1 or null")


@dataclass(frozen=True)
class SplitPlan:
    """Which as-of dates go where (empty for the by-client holdout)."""

    method: str  # "time" or "client"
    horizon_months: int
    train: tuple[dt.date, ...] = ()
    valid: tuple[dt.date, ...] = ()
    test: tuple[dt.date, ...] = ()
    note: str = ""
    fallback: bool = False  # method auto fell back to the by-client holdout


def plan_time_split(
    labelled: Sequence[dt.date], horizon_months: int, config: SplitConfig
) -> SplitPlan:
    """The purged out-of-time plan over the uncensored as-of dates ``labelled``."""
    dates = sorted(set(labelled))
    if not dates:
        raise ValueError(
            "no uncensored as-of date: nothing to split (is the history shorter than the horizon?)"
        )
    test = parse_date_setting(config.test_as_of, "split.test_as_of") or dates[-1]
    if test not in dates:
        raise ValueError(f"split.test_as_of {test} is not an uncensored as-of date: {dates}")
    valid = [d for d in dates if label_end(d, horizon_months) <= test][-config.valid_as_ofs :]
    train = [d for d in dates if valid and label_end(d, horizon_months) <= valid[0]]
    if config.train_as_ofs is not None:
        train = train[-config.train_as_ofs :]
    return SplitPlan("time", horizon_months, tuple(train), tuple(valid), (test,))


def check_purged(plan: SplitPlan) -> None:
    """Raise ValueError when a set's label window reaches past the next set's first as-of."""
    pairs = (("train", plan.train, plan.valid), ("valid", plan.valid, plan.test))
    for name, earlier, later in pairs:
        if earlier and later and label_end(max(earlier), plan.horizon_months) > min(later):
            raise ValueError(
                f"{name} as-of {max(earlier)} has labels up to "
                f"{label_end(max(earlier), plan.horizon_months)}, after the next set starts "
                f"({min(later)})"
            )


def choose_plan(labelled: Sequence[dt.date], horizon_months: int, config: SplitConfig) -> SplitPlan:
    """The time plan when it is viable (or asked for), else the by-client holdout."""
    if config.method == "client":
        return SplitPlan("client", horizon_months, note="by-client holdout (params)")
    plan = plan_time_split(labelled, horizon_months, config)
    if len(plan.train) >= config.min_train_as_ofs and plan.valid:
        check_purged(plan)
        return plan
    why = (
        f"the time split leaves {len(plan.train)} training and {len(plan.valid)} validation "
        f"as-of dates (need >= {config.min_train_as_ofs} and >= 1) with H = {horizon_months}"
    )
    if config.method == "time":
        raise ValueError(f"split.method time: {why}; use more history or method auto/client")
    logger.warning("%s: falling back to a by-client holdout (NOT out of time)", why)
    return SplitPlan("client", horizon_months, note=f"by-client holdout: {why}", fallback=True)


def labelled_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with at least one defined label."""
    labels = [f"label_{t}" for t in TARGETS if f"label_{t}" in frame.columns]
    if not labels:
        raise ValueError("the feature table has no label columns (label_churn, ...)")
    return frame[frame[labels].notna().any(axis=1)]


def apply_plan(
    frame: pd.DataFrame, plan: SplitPlan, holdout: ClientHoldout
) -> dict[str, pd.DataFrame]:
    """The train / valid / test frames of ``frame`` (labelled rows only) under ``plan``."""
    rows = labelled_rows(frame)
    if plan.method == "time":
        return {
            name: rows[rows["as_of"].isin(pd.to_datetime(list(dates)))].reset_index(drop=True)
            for name, dates in zip(SETS, (plan.train, plan.valid, plan.test), strict=True)
        }
    clients = np.sort(rows["client_id"].astype("str").unique())
    order = np.random.default_rng(holdout.seed).permutation(len(clients))
    n_test = round(len(clients) * holdout.test_fraction)
    n_valid = round(len(clients) * holdout.valid_fraction)
    assigned = np.empty(len(clients), dtype=object)
    assigned[order[:n_test]] = "test"
    assigned[order[n_test : n_test + n_valid]] = "valid"
    assigned[order[n_test + n_valid :]] = "train"
    which = rows["client_id"].map(dict(zip(clients, assigned, strict=True)))
    return {name: rows[which == name].reset_index(drop=True) for name in SETS}


def describe(parts: Mapping[str, pd.DataFrame], plan: SplitPlan) -> dict[str, Any]:
    """Sizes per set: rows, clients, as-of dates, labelled rows and positive rate per target."""
    sets: dict[str, Any] = {}
    for name, part in parts.items():
        entry: dict[str, Any] = {
            "rows": len(part),
            "clients": int(part["client_id"].nunique()),
            "as_of": sorted({pd.Timestamp(d).date().isoformat() for d in part["as_of"]}),
        }
        for target in TARGETS:
            values = part.get(f"label_{target}", pd.Series(dtype="float64")).dropna()
            stat = "mean" if target == "contribution" else "positive_rate"
            entry[target] = {
                "labelled": len(values),
                stat: float(values.mean()) if len(values) else None,
            }
        sets[name] = entry
    return {
        "method": plan.method,
        "fallback": plan.fallback,
        "horizon_months": plan.horizon_months,
        "note": plan.note or "out of time, purged: t + H <= next set's first as-of",
        "sets": sets,
    }


def split_table(
    frame: pd.DataFrame,
    labelled_as_ofs: Sequence[dt.date],
    horizon_months: int,
    config: SplitConfig,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Split ``frame`` (features + labels); return the three frames and their report."""
    plan = choose_plan(labelled_as_ofs, horizon_months, config)
    parts = apply_plan(frame, plan, config.holdout)
    report = describe(parts, plan)
    for name in SETS:
        e = report["sets"][name]
        logger.info(
            "%s: %d rows, %d clients, as-of %s; churn %s, default %s, contribution mean %s",
            name,
            e["rows"],
            e["clients"],
            ", ".join(e["as_of"]) if plan.method == "time" else "all uncensored",
            _fmt(e["churn"].get("positive_rate")),
            _fmt(e["default"].get("positive_rate")),
            _fmt(e["contribution"].get("mean")),
        )
    for name in SETS:
        if parts[name].empty:
            raise ValueError(f"split: the {name} set is empty ({report['note']})")
    return parts, report


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def labelled_as_ofs(summary: Mapping[str, Any]) -> list[dt.date]:
    """The uncensored as-of dates listed in the features stage's ``snapshots.json``."""
    return [dt.date.fromisoformat(s["as_of"]) for s in summary["snapshots"] if not s["censored"]]


def run(
    features_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    metrics_path: str | os.PathLike[str],
    config: SplitConfig,
) -> dict[str, Any]:
    """The ``split`` stage: features.parquet (+ snapshots.json beside it) -> three sets,
    and the rate reference beside them (copied from the features folder)."""
    path = Path(features_path)
    summary = read_json(path.with_name("snapshots.json"))
    frame = pd.read_parquet(path)
    frame["as_of"] = pd.to_datetime(frame["as_of"]).astype("datetime64[s]")
    parts, report = split_table(
        frame, labelled_as_ofs(summary), int(summary["horizon_months"]), config
    )
    for name, part in parts.items():
        write_parquet(part, Path(out_dir) / f"{name}.parquet", row_group_rows=config.row_group_rows)
    reference = path.with_name(REFERENCE_FILE)  # the features stage's, for train to freeze
    if not reference.is_file():
        raise FileNotFoundError(f"{reference} missing: rerun the features stage")
    write_json(read_json(reference), Path(out_dir) / REFERENCE_FILE)
    report["facility_terms"] = bool(summary.get("facility_terms", False))  # for the model card
    report["facility_terms_coverage"] = summary.get("facility_terms_coverage")
    write_split_metrics(report, metrics_path)
    return report
