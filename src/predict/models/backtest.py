"""Backtest of the final refit (:mod:`predict.models.refit`): does refitting help on the next
period? Used by ``benchmarks/refit_backtest.py``; results in docs/models.md "Final refit".

The procedure is applied as if the data ended one horizon earlier: with ``judge`` an
uncensored as-of date (default: the latest), the as-of dates whose labels end by ``judge``
(``t + H <= judge``) are split by the project's own out-of-time plan
(:func:`predict.models.split.split_table`, ``split`` params; the plan's test date is then
the latest of them, one horizon before ``judge`` on a quarterly book with H = 12), every
variant below is fitted on that split, and all are judged on the labelled rows at ``judge``,
which none of them has seen (its labels run past the pretended end of the data):

- ``evaluation``: the evaluation fit (train; early stopping and calibration on valid): what
  scores when the refit is off;
- ``recalibrated``: the same trees, calibrator refitted on test (the part of a refit that
  only moves the level);
- ``refit_<rule>``: the final refit on train + valid with the rule's trees, calibrated on
  test (one per rule of :data:`predict.models.refit.ROUND_RULES`);
- ``refit_all_<rule>``: the same on every labelled as-of date whose labels end by the test
  date (train, the dates purged between train and valid, and valid), which ``data/split``
  does not hold; only when there are such purged dates.

Per target and variant: the trees, fitted rows and the judge metrics (binary: AUC, Brier,
ECE, mean predicted and observed; amounts: RMSE, MAE, Spearman, bias).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

import pandas as pd

from predict.features.snapshots import label_end
from predict.models.evaluation import target_metrics
from predict.models.refit import ROUND_RULES, labelled_count, refit_rounds, refit_sets
from predict.models.skipped import untrainable
from predict.models.split import SplitConfig, split_table
from predict.models.store import ModelBundle
from predict.models.training import LABEL_PREFIX, TASKS, TrainConfig, task_of, train_model

log = logging.getLogger(__name__)

BINARY_KEYS = ("auc", "brier", "ece", "mean_predicted", "base_rate")
AMOUNT_KEYS = ("rmse", "mae", "spearman", "bias", "mean_actual")


def _judge_metrics(bundle: ModelBundle, judged: pd.DataFrame, n_bins: int) -> dict[str, float]:
    y = judged[LABEL_PREFIX + bundle.target].to_numpy("float64")
    pred = bundle.predict(judged)
    out = target_metrics(bundle.task, y, pred, n_bins)
    if bundle.task == "binary":
        out["mean_predicted"] = float(pred.mean())
    keys = BINARY_KEYS if bundle.task == "binary" else AMOUNT_KEYS
    return {k: float(out[k]) for k in keys if k in out}


def _variants(
    sets: dict[str, pd.DataFrame],
    before_test: pd.DataFrame,
    target: str,
    config: TrainConfig,
    rules: Sequence[str],
    all_dates: bool,
) -> dict[str, ModelBundle]:
    """Every variant's model of ``target`` (see the module)."""
    evaluation = train_model(sets["train"], sets["valid"], target, config)
    best = int(evaluation.metadata["best_iteration"])
    eval_rows = int(evaluation.metadata["train_window"]["rows"])
    label = LABEL_PREFIX + target
    out = {
        "evaluation": evaluation,
        "recalibrated": train_model(sets["train"], sets["test"], target, config, rounds=best),
    }
    fit, calibration = refit_sets(sets)
    fits = {"refit": fit}
    if all_dates and before_test["as_of"].nunique() > fit["as_of"].nunique():  # purged dates
        fits["refit_all"] = before_test
    for prefix, rows in fits.items():
        for rule in rules:
            rounds = refit_rounds(best, eval_rows, labelled_count(rows, label), rule)
            out[f"{prefix}_{rule}"] = train_model(rows, calibration, target, config, rounds=rounds)
    return out


def refit_backtest(
    frame: pd.DataFrame,
    labelled_as_ofs: Sequence[dt.date],
    horizon_months: int,
    config: TrainConfig,
    split_config: SplitConfig,
    *,
    judge: dt.date | None = None,
    targets: Sequence[str] = tuple(TASKS),
    rules: Sequence[str] = ROUND_RULES,
    all_dates: bool = True,
) -> pd.DataFrame:
    """One row per (target, variant): trees, fitted rows, calibration rows and the metrics on
    the labelled rows at ``judge`` (see the module). ``frame`` is the features table (every
    as-of date, labels included); ``labelled_as_ofs`` its uncensored as-of dates;
    ``all_dates`` False leaves out the ``refit_all_<rule>`` variants."""
    dates = sorted(set(labelled_as_ofs))
    judge = judge or dates[-1]
    if judge not in dates:
        raise ValueError(f"judge as-of {judge} is not an uncensored as-of date: {dates}")
    earlier = [d for d in dates if label_end(d, horizon_months) <= judge]
    as_of = pd.to_datetime(frame["as_of"]).dt.date
    sets, report = split_table(
        frame[as_of.isin(earlier)],
        earlier,
        horizon_months,
        dataclasses.replace(split_config, method="time", test_as_of="auto"),
    )
    if report["method"] != "time":
        raise ValueError(f"the backtest needs an out-of-time split, got {report['note']}")
    test_as_of = min(pd.to_datetime(sets["test"]["as_of"]).dt.date)
    before_test = frame[as_of.map(lambda d: label_end(d, horizon_months) <= test_as_of)]
    rows = []
    for target in targets:
        label = LABEL_PREFIX + target
        judged = frame[(as_of == judge) & frame[label].notna()]
        labels = {n: s[label].dropna().to_numpy("float64") for n, s in sets.items()}
        labels["judge"] = judged[label].to_numpy("float64")
        reason = untrainable(labels, task_of(target), config.min_class_rows)
        if reason is not None:
            log.warning("backtest: %s skipped: %s", target, reason)
            continue
        for name, bundle in _variants(sets, before_test, target, config, rules, all_dates).items():
            meta = bundle.metadata
            rows.append(
                {
                    "judge_as_of": judge.isoformat(),
                    "target": target,
                    "variant": name,
                    "trees": int(bundle.booster.num_trees()),
                    "fit_rows": int(meta["train_window"]["rows"]),
                    "fit_from": meta["train_window"]["from"],
                    "fit_to": meta["train_window"]["to"],
                    "calibration": f"{meta['valid_window']['from']}..{meta['valid_window']['to']}",
                    "judge_rows": len(judged),
                    **_judge_metrics(bundle, judged, config.evaluation.n_bins),
                }
            )
    return pd.DataFrame(rows)
