"""Warnings about a trained model, from its own test-period metrics (``flags`` in the detail).

- ``below_baseline``: the model loses to its baseline on the test period (churn, default:
  lower AUC than the logistic-regression scorecard; contribution: higher RMSE than carrying
  the last 12 months' revenue forward). A model that cannot beat a simple baseline should
  not be used in its place.
- ``event_rate_shift`` (churn, default): the test event rate differs from the training event
  rate by more than a factor ``train.evaluation.max_event_rate_ratio`` (default 3) either way,
  or one of them is 0: the test period measures a different event (e.g. a short horizon
  where training saw "90+ DPD next month" and test something else), so the test metrics say
  little about the model.

Each flag is logged as a warning, listed in ``metrics/detail/<target>.json`` (``flags``: the
sentences; ``flag_codes``: code -> true/false), in the headline as ``flag_<code>`` (1 or 0),
on the model card and in the report's "Read with care" notes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FLAG_CODES = ("below_baseline", "event_rate_shift")


def below_baseline(task: str, model: Mapping[str, Any], baseline: Mapping[str, Any]) -> str | None:
    """The sentence when the model loses to its baseline on the test period, else None."""
    metric, worse = ("auc", np.less) if task == "binary" else ("rmse", np.greater)
    mine, theirs = model.get(metric), baseline.get(metric)
    if mine is None or theirs is None or not worse(float(mine), float(theirs)):
        return None
    return (
        f"below its baseline on the test period: {metric.upper()} {float(mine):.4g} vs "
        f"{baseline.get('name', 'baseline')} {float(theirs):.4g}"
    )


def event_rate_shift(train_rate: float, test_rate: float, max_ratio: float) -> str | None:
    """The sentence when the test and training event rates differ by more than ``max_ratio``
    times either way (or one is 0 and the other not), else None."""
    low, high = sorted((float(train_rate), float(test_rate)))
    if high == 0 or (low > 0 and high / low <= max_ratio):
        return None
    return (
        f"test event rate {test_rate:.4g} vs training {train_rate:.4g} (more than "
        f"{max_ratio:g} times apart): the test period may measure a different event"
    )


def model_flags(
    task: str,
    metrics: Mapping[str, Any],
    rates: tuple[float, float] | None,
    max_ratio: float,
    target: str,
) -> dict[str, Any]:
    """``{"flags": [sentences], "flag_codes": {code: bool}}`` for one model's detail metrics;
    ``rates`` = (training, test) event rates of a binary target."""
    found = {
        "below_baseline": below_baseline(
            task, metrics.get("test", {}), metrics.get("baseline", {})
        ),
        "event_rate_shift": event_rate_shift(*rates, max_ratio) if rates else None,
    }
    for sentence in filter(None, found.values()):
        log.warning("%s model: %s", target, sentence)
    return {
        "flags": [s for s in found.values() if s],
        "flag_codes": {code: found[code] is not None for code in FLAG_CODES},
    }
