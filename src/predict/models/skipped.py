"""Targets the data cannot support: the skipped-model record the train stage writes instead.

A target is skipped, not crashed on, when its training data cannot make a model
(:func:`untrainable`): no labelled row in train, valid or test (the label is undefined for
this data, e.g. default in a book with no loans), or, for churn and default, a single class
(nobody churns), or fewer than ``train.min_class_rows`` examples of a class in train. The
train stage then writes (so ``dvc repro`` goes on to score and report):

- ``models/<target>/skipped.json``: ``{"target", "skipped": true, "reason", "rows"}``, alone in
  the folder (a model folder holds either a bundle or this record, never both);
- ``metrics/<target>.json`` ``{"skipped": true}`` and ``metrics/detail/<target>.json`` the
  record itself;
- ``plots/<target>/{roc,calibration,lift}.csv`` with their header and no row.

Scoring reads the record and leaves the target missing with the reason; the report lists it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict import io
from predict.models.evaluation import PLOT_COLUMNS

log = logging.getLogger(__name__)

SKIPPED_FILE = "skipped.json"


@dataclass(frozen=True)
class LabelCounts:
    """A set's defined labels, counted (the train set on a Dask cluster,
    :func:`predict.models.dask_train.label_counts`): ``rows`` labels, and for a binary
    target the rows per label value (sorted by value); what :func:`untrainable` reads."""

    rows: int
    values: Mapping[float, int]

    def __len__(self) -> int:
        return self.rows


def _counted(y: np.ndarray | LabelCounts) -> LabelCounts:
    if isinstance(y, LabelCounts):
        return y
    values, counts = np.unique(y, return_counts=True)
    return LabelCounts(len(y), {float(v): int(c) for v, c in zip(values, counts, strict=True)})


def untrainable(
    labels: Mapping[str, np.ndarray | LabelCounts], task: str, min_class_rows: int
) -> str | None:
    """Why the labelled rows per set (``train``, ``valid``, ``test``) cannot make a model of
    ``task``, or None. ``labels`` holds each set's defined labels (no NaN), or their counts."""
    empty = [name for name, y in labels.items() if len(y) == 0]
    if empty:
        return (
            f"no labelled rows in {', '.join(empty)}: the data cannot define this target "
            "(e.g. no table it is defined from, or no snapshot with a full horizon)"
        )
    if task != "binary":
        return None
    counted = {name: _counted(y) for name, y in labels.items()}
    single = [
        f"{n} (all {int(next(iter(c.values)))})" for n, c in counted.items() if len(c.values) < 2
    ]
    if single:
        return f"one class only in {', '.join(single)}: nothing to tell apart"
    train = counted["train"].values
    small = min(train.get(1.0, 0), train.get(0.0, 0))
    if small < min_class_rows:
        return (
            f"only {small} training rows of the rarer class (train.min_class_rows: "
            f"{min_class_rows})"
        )
    return None


def write_skipped(
    folder: str | os.PathLike[str], target: str, reason: str, rows: Mapping[str, int]
) -> dict[str, Any]:
    """Replace ``folder`` (``models/<target>/``) by the skipped record alone; return it."""
    record = {"target": target, "skipped": True, "reason": reason, "rows": dict(rows)}
    with io.atomic_dir(folder) as tmp:
        io.write_json(record, tmp / SKIPPED_FILE)
    log.warning("%s: model skipped: %s (record in %s)", target, reason, Path(folder))
    return record


def read_skipped(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The skipped record of a model folder, or None when it has none."""
    path = Path(folder) / SKIPPED_FILE
    if not path.is_file():
        return None
    record = io.read_json(path)
    if not isinstance(record, dict) or record.get("skipped") is not True:
        raise ValueError(f"{path}: not a skipped-model record (expected 'skipped': true)")
    return record


def empty_plots() -> dict[str, pd.DataFrame]:
    """The plot tables with their columns and no row (a skipped target's plot files)."""
    return {name: pd.DataFrame(columns=list(columns)) for name, columns in PLOT_COLUMNS.items()}
