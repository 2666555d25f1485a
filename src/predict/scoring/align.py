"""Each model and the features it is fed: load the bundles, then align the data with them.

A feature a model needs but the data cannot give becomes an all-missing column (or an
error, by rule); a category unseen in training is counted and scored as missing; the
booster's input is the aligned frame cast to the training dtypes. What was found goes into
the run's :class:`~predict.scoring.result.ScoringReport`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from predict.contract.spec import OUTPUT_COLUMN, TARGETS
from predict.models.skipped import read_skipped
from predict.models.store import FeatureMismatchError, ModelBundle, load_bundle
from predict.scoring.result import ScoringReport

log = logging.getLogger(__name__)


def load_models(
    models_dir: str | os.PathLike[str],
) -> tuple[dict[str, ModelBundle], dict[str, str]]:
    """The bundles under ``models_dir/<target>/``; a target whose folder is absent, or holds
    the train stage's skipped record (:mod:`predict.models.skipped`), is skipped.

    Returns (bundles by target, skipped target -> why). A folder that exists but does not
    load (unsafe or broken files) raises: it is never silently skipped.
    """
    root = Path(models_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"models folder {root} does not exist (train the models first)")
    bundles: dict[str, ModelBundle] = {}
    skipped: dict[str, str] = {}
    for target in TARGETS:
        folder = root / target
        if not folder.exists():
            skipped[target] = f"no model folder {folder}"
            log.warning("%s: not scored (no model folder %s)", target, folder)
            continue
        record = read_skipped(folder)
        if record is not None:
            skipped[target] = f"not trained: {record.get('reason', 'no reason given')}"
            log.warning("%s: not scored (%s)", target, skipped[target])
            continue
        bundles[target] = load_bundle(folder)
    if not bundles:
        raise FileNotFoundError(
            f"no model in {root}: expected folders {list(TARGETS)}"
            + "".join(f"; {t}: {why}" for t, why in skipped.items())
        )
    return bundles, skipped


LABEL_SETTINGS = ("horizon_months", "inactivity_months")


def check_label_settings(
    bundles: Mapping[str, ModelBundle], horizon_months: int, inactivity_months: int
) -> None:
    """Refuse to score with a horizon H or inactivity I (``features.horizon_months``,
    ``features.inactivity_months``) other than the models' labels were built with (metadata
    ``labels``, written at training). A PD over 12 months graded or put into capital as a
    PD over 6 (one-year PD 1 - (1 - PD)^2), an expected contribution over H annualised with
    another H, or the churners' share (H - I) / 2H of another I would be wrong numbers with
    nothing to show it. A model folder from before the key was written is scored with the
    params, with a warning."""
    given = {"horizon_months": horizon_months, "inactivity_months": inactivity_months}
    for target, bundle in sorted(bundles.items()):
        labels = bundle.metadata.get("labels")
        if labels is None:
            log.warning(
                "%s model: its folder does not record the label horizon it was trained for "
                "(trained before it was written): scored with features.horizon_months %d and "
                "inactivity_months %d from params; retrain to have it checked",
                target, horizon_months, inactivity_months,
            )  # fmt: skip
            continue
        differ = [k for k in LABEL_SETTINGS if k in labels and int(labels[k]) != given[k]]
        if differ:
            said = ", ".join(f"features.{k} {labels[k]} (params: {given[k]})" for k in differ)
            raise ValueError(
                f"the {target} model was trained for {said}: its probabilities and expected "
                "contribution are over that horizon. Score with the params the models were "
                "trained with, or retrain them with these"
            )


def add_missing_features(
    frame: pd.DataFrame, bundles: Mapping[str, ModelBundle], rule: str, report: ScoringReport
) -> pd.DataFrame:
    """Add, as all-missing columns, the model features the data does not give (rule ``nan``).

    With rule ``error`` raise :class:`FeatureMismatchError` naming them instead. LightGBM
    handles a missing value as it learnt to; the reasons never cite it.
    """
    added: dict[str, pd.Series] = {}
    for target, bundle in bundles.items():
        missing = [n for n in bundle.features.names if n not in frame.columns]
        if not missing:
            continue
        report.missing_features[target] = missing
        if rule == "error":
            raise FeatureMismatchError(
                f"{target} model needs feature(s) {missing} that the data does not give "
                "(a table or column absent?); set score.missing_features: nan to score anyway"
            )
        log.warning(
            "%s model: %d feature(s) absent from the data, scored as missing: %s",
            target,
            len(missing),
            ", ".join(missing),
        )
        for name in missing:
            dtype = "str" if name in bundle.features.categories else "float64"
            added.setdefault(name, pd.Series(np.nan, index=frame.index, dtype=dtype))
    return frame.assign(**added) if added else frame


# target -> categorical feature -> {value unseen in training: clients}
UnseenCounts = dict[str, dict[str, dict[str, int]]]
UNSEEN_SHOWN = 20  # values per feature kept in the report (the most frequent)


def unseen_categories(
    frame: pd.DataFrame, bundles: Mapping[str, ModelBundle], report: ScoringReport
) -> None:
    """Count, per model and categorical feature, values the model did not see in training.

    They are scored as missing. (A model trained on part of the clients, e.g. churn on active
    ones, has not seen the stages of the others: that shows here too.)
    """
    report_unseen(count_unseen(frame, bundles), bundles, report)


def count_unseen(frame: pd.DataFrame, bundles: Mapping[str, ModelBundle]) -> UnseenCounts:
    """Every value unseen in training and its clients, per model and categorical feature
    (counts of parts of a book add up: :func:`add_unseen`)."""
    out: UnseenCounts = {}
    for target, bundle in bundles.items():
        for name, cats in bundle.features.categories.items():
            values = frame[name].astype("str")
            unseen = values.notna() & ~values.isin(cats)
            if unseen.any():
                found = values[unseen].value_counts()
                out.setdefault(target, {})[name] = {str(k): int(v) for k, v in found.items()}
    return out


def add_unseen(a: UnseenCounts, b: UnseenCounts) -> UnseenCounts:
    """The unseen counts of two parts of a book together."""
    out = {t: {n: dict(c) for n, c in per.items()} for t, per in a.items()}
    for target, per in b.items():
        for name, counts in per.items():
            into = out.setdefault(target, {}).setdefault(name, {})
            for value, n in counts.items():
                into[value] = into.get(value, 0) + n
    return out


def report_unseen(
    counts: UnseenCounts, bundles: Mapping[str, ModelBundle], report: ScoringReport
) -> None:
    """The :data:`UNSEEN_SHOWN` most frequent unseen values of each model's categorical
    features into ``report`` (ties by value: the same whatever the row order), warned about."""
    for target, bundle in bundles.items():
        for name in bundle.features.categories:
            per = counts.get(target, {}).get(name)
            if not per:
                continue
            top = sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:UNSEEN_SHOWN]
            found = dict(top)
            report.unseen_categories.setdefault(target, {})[name] = found
            log.warning(
                "%s model, feature %r: categories unseen in training, scored as missing: %s",
                target,
                name,
                found,
            )


def known_categories(frame: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """``frame`` with categories the model did not see in training set to missing."""
    cleaned = {}
    for name, cats in bundle.features.categories.items():
        col = frame[name].astype("str")
        cleaned[name] = col.where(col.isin(cats))
    return frame.assign(**cleaned) if cleaned else frame


def model_input(frame: pd.DataFrame, bundle: ModelBundle) -> pd.DataFrame:
    """The booster's input for ``frame``: unseen categories set missing, then cast."""
    return bundle.matrix(known_categories(frame, bundle))


def scored_masks(
    features: pd.DataFrame, scores: pd.DataFrame, bundles: Mapping[str, ModelBundle]
) -> dict[str, np.ndarray]:
    """Target -> mask over ``features``' rows of the clients whose score that model gave
    (its output column not missing in ``scores``): the population it was applied to."""
    ids = features["client_id"].astype("string")
    masks: dict[str, np.ndarray] = {}
    for target in bundles:
        column = OUTPUT_COLUMN[target]
        if column in scores.columns:
            given = scores.loc[scores[column].notna(), "client_id"].astype("string")
            masks[target] = ids.isin(given).to_numpy(dtype=bool)
    return masks


def calendar_out_of_range(
    frame: pd.DataFrame,
    bundles: Mapping[str, ModelBundle],
    report: ScoringReport,
    scored: Mapping[str, Any] | None = None,
) -> None:
    """Count, per model and calendar feature (:data:`predict.features.catalogue.CALENDAR`),
    the clients whose value lies outside the [min, max] frozen at training (metadata
    ``feature_ranges``): ``below`` and ``above`` (missing values are neither), with the range.
    ``scored``: target -> boolean mask over ``frame``'s rows of the clients that model gave a
    score (its population); None counts every row.

    Reported and warned about, never changed: the trees score a value beyond the range as
    the nearest edge. A model folder without ``feature_ranges`` (trained before they were
    frozen) is not checked.
    """
    from predict.features.catalogue import CALENDAR

    for target, bundle in bundles.items():
        ranges = bundle.metadata.get("feature_ranges") or {}
        for name in (n for n in CALENDAR if n in ranges and n in frame.columns):
            low, high = (float(v) for v in ranges[name])
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy("float64")
            if scored is not None and target in scored:
                values = values[np.asarray(scored[target], dtype=bool)]
            below, above = int((values < low).sum()), int((values > high).sum())
            if below or above:
                found = {"below": below, "above": above, "min": low, "max": high}
                report.calendar_out_of_range.setdefault(target, {})[name] = found
                log.warning(
                    "%s model, calendar feature %r outside its training range [%g, %g]: "
                    "%d client(s) below, %d above (scored as the nearest edge)",
                    target, name, low, high, below, above,
                )  # fmt: skip
