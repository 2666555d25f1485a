"""The final refit: the model ``predict score`` uses, refitted on the labelled history after the
out-of-time evaluation (which stays the documented performance). See docs/models.md
"Final refit".

The evaluation fit (:func:`predict.models.training.train_model`) learns on the train
period, stops early and calibrates on the valid period and is judged on the test period.
For a target listed in ``train.final_refit.enabled`` the train stage then fits a second
booster with the same settings on **train + valid** (every labelled row of both; censored
rows have no label and are never fitted) with a **fixed number of trees**, and calibrates it
on the **test period**: the most recent labelled rows, held out of that fit so the
calibrator sees out-of-sample scores, as the evaluation fit's calibrator does on valid.

The number of trees (``train.final_refit.rounds``) is the evaluation fit's best iteration
``b`` (found by early stopping on valid) scaled by a rule over the labelled rows of the
evaluation fit (``n_eval``) and of the refit (``n_refit``):

- ``same``: ``b``;
- ``sqrt_rows``: ``round(b * sqrt(n_refit / n_eval))``;
- ``rows``: ``round(b * n_refit / n_eval)``.

More rows support more trees, but the added rows are mostly the same clients at later
as-of dates, so they add less information than their count says: the full row ratio is the
aggressive end. ``sqrt_rows`` (the default) did best overall in the backtest
(``benchmarks/refit_backtest.py``). Left out of params, no target is refitted.

This module holds only the rules and the facts it records; the fit itself goes through the
same bundle-building code as the evaluation fit (:func:`predict.models.training.final_model`),
so references and anything else added to a bundle land in both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from predict.contract.spec import TARGETS

ROUND_RULES = ("same", "sqrt_rows", "rows")
FIT_SETS = ("train", "valid")  # the refit's fitting rows
CALIBRATION_SET = "test"  # its calibration rows (held out of the fit)


@dataclass(frozen=True)
class RefitConfig:
    """``train.final_refit``: the targets refitted after evaluation and the rounds rule."""

    enabled: tuple[str, ...] = ()  # targets whose scoring model is the refit; () = none
    rounds: str = "sqrt_rows"  # same | sqrt_rows | rows (see the module)

    def __post_init__(self) -> None:
        unknown = [t for t in self.enabled if t not in TARGETS]
        if unknown:
            raise ValueError(
                f"train.final_refit.enabled: {unknown} not among the targets {list(TARGETS)} "
                "(a list of targets, [] for none)"
            )
        if self.rounds not in ROUND_RULES:
            raise ValueError(
                f"train.final_refit.rounds: {self.rounds!r} is not one of {list(ROUND_RULES)}"
            )


def refit_rounds(best_iteration: int, eval_rows: int, refit_rows: int, rule: str) -> int:
    """Trees of the refit: the evaluation fit's ``best_iteration`` scaled by ``rule`` over the
    labelled rows of the two fits (``eval_rows``, ``refit_rows``); at least 1."""
    if best_iteration < 1 or eval_rows < 1 or refit_rows < 1:
        raise ValueError(
            f"refit rounds need a best iteration and rows >= 1, got {best_iteration}, "
            f"{eval_rows}, {refit_rows}"
        )
    ratio = refit_rows / eval_rows
    if rule == "same":
        scale = 1.0
    elif rule == "sqrt_rows":
        scale = math.sqrt(ratio)
    elif rule == "rows":
        scale = ratio
    else:
        raise ValueError(f"unknown rounds rule {rule!r}; expected one of {list(ROUND_RULES)}")
    return max(1, round(best_iteration * scale))


def refit_sets(sets: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fitting rows: train and valid stacked, calibration rows: test) of a split."""
    missing = [s for s in (*FIT_SETS, CALIBRATION_SET) if s not in sets]
    if missing:
        raise KeyError(f"the final refit needs the split's sets {missing}")
    fit = pd.concat([sets[s] for s in FIT_SETS], ignore_index=True)
    return fit, sets[CALIBRATION_SET]


def labelled_count(frame: pd.DataFrame, label: str) -> int:
    """Rows of ``frame`` with a defined ``label`` (what a fit for that target uses)."""
    if label not in frame.columns:
        raise KeyError(f"no label column {label!r}")
    return int(frame[label].notna().sum())


def fit_facts(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What defines one fit, from its bundle metadata: its windows and trees."""
    return {
        "train_window": metadata["train_window"],
        "calibration_window": metadata["valid_window"],
        "trees": int(metadata["best_iteration"]),
    }


def fits_block(
    evaluation: Mapping[str, Any], final: Mapping[str, Any], config: RefitConfig
) -> dict[str, Any]:
    """Both fits' facts (metadata of the evaluation fit and of the scoring model) for the
    metrics detail and the scoring model's metadata: ``scoring`` says which fit scores."""
    refitted = final.get("fit") == "refit"
    block: dict[str, Any] = {
        "scoring": "refit" if refitted else "evaluation",
        "evaluation": {
            **fit_facts(evaluation),
            "early_stopping": "valid period",
            "note": "the documented performance (test period)",
        },
    }
    if refitted:
        eval_rows = int(evaluation["train_window"]["rows"])
        refit_rows = int(final["train_window"]["rows"])
        block["refit"] = {
            **fit_facts(final),
            "fit_sets": list(FIT_SETS),
            "calibration_set": CALIBRATION_SET,
            "rounds_rule": config.rounds,
            "row_ratio": refit_rows / eval_rows,
            "note": "fixed trees, no early stopping; calibrated on the test period, held out "
            "of the fit; no out-of-sample metric of its own (the backtest measures it)",
        }
    return block
