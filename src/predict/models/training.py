"""Training: one LightGBM model per target on the out-of-time split, calibrated, evaluated.

- churn, default: ``binary`` objective, early stopping on the validation log-loss. Class
  imbalance: no reweighting by default (``imbalance: none``): reweighting does not help a
  tree ensemble rank better, and it biases the probabilities, which calibration would then
  have to undo; the calibrator fitted on the validation period makes the probabilities
  honest. ``imbalance: balanced`` sets ``scale_pos_weight = negatives / positives`` (the
  calibrator then maps the inflated scores back).
- contribution: zero-inflated, right-skewed and sometimes negative revenue. ``tweedie``
  (log link) on the target clipped at 0 predicts the expected amount directly and handles
  the mass at zero; the clipped negatives are logged. ``l2`` (plain squared error on the raw
  amount) and ``huber_slog`` (Huber on ``sign(y) log1p(|y|)``, a median-like prediction,
  biased low for the mean) are there to compare. With ``train.contribution.offset`` the
  tweedie booster starts from recent revenue carried forward (``init_score`` = the offset,
  :mod:`predict.models.offset`) and learns the log-ratio on top of it.
- Rows whose label for the target is NaN (undefined or censored) are not training rows for
  it; the counts are logged and reported.
- Categorical features stay native (``category`` at one boundary: ``FeatureSpec.matrix``).
- Deterministic: ``deterministic``, ``force_row_wise``, ``num_threads`` and ``seed`` come from
  params; rows are sorted by (as_of, client_id) before training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from predict.models.dask_train import TrainSource

from predict import io
from predict.contract.spec import POPULATIONS
from predict.features.catalogue import stage_sources, status_sources
from predict.models import tracking
from predict.models.baselines import BaselineConfig, make_baseline
from predict.models.bins import DriftReferenceConfig
from predict.models.calibration import IdentityCalibrator, make_calibrator, resolve_calibration
from predict.models.evaluation import (
    EvaluationConfig,
    json_ready,
    metrics_by_segment,
    plot_tables,
    target_metrics,
    truth_comparison,
    uplift,
)
from predict.models.flags import model_flags
from predict.models.metrics_files import detail_path, rounded, write_metrics
from predict.models.offset import Offset, OffsetConfig
from predict.models.potential import PotentialConfig, PotentialUnavailable, potential_reference
from predict.models.references import (
    contribution_quantiles,
    drift_reference,
    training_references,
)
from predict.models.refit import RefitConfig, fits_block, labelled_count, refit_rounds, refit_sets
from predict.models.skipped import LabelCounts, empty_plots, untrainable, write_skipped
from predict.models.store import FeatureSpec, ModelBundle, load_bundle, save_bundle
from predict.models.tracking import PromotionData, TrackingConfig

log = logging.getLogger(__name__)

TASKS = {"churn": "binary", "default": "binary", "contribution": "regression"}
ID_COLUMNS = ("client_id", "as_of")
LABEL_PREFIX = "label_"
SPLITS = ("train", "valid", "test")
_OBJECTIVES = {
    "tweedie": ("tweedie", "clip0"),
    "l2": ("regression", "none"),
    "huber_slog": ("huber", "slog"),
}


@dataclass(frozen=True)
class BoosterConfig:
    """LightGBM settings (``train.booster``)."""

    learning_rate: float = 0.03
    num_leaves: int = 15
    min_data_in_leaf: int = 200
    feature_fraction: float = 0.7
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 5.0
    cat_smooth: float = 10.0
    max_bin: int = 255
    num_boost_round: int = 2000
    early_stopping_rounds: int = 100
    early_stopping_metric: str = (
        "auc"  # churn/default: auc | binary_logloss (contribution: its loss)
    )


@dataclass(frozen=True)
class ContributionConfig:
    """How the contribution model is fitted (``train.contribution``)."""

    objective: str = "tweedie"  # tweedie | l2 | huber_slog
    tweedie_variance_power: float = 1.2
    huber_alpha: float = 1.0  # on the signed-log scale
    calibration: str = "scale"  # scale | linear | identity (fitted on the validation period)
    offset: OffsetConfig | None = None  # recent revenue carried forward (tweedie); None: none
    # train.booster settings this model fits with instead (e.g. {learning_rate: 0.05}); any
    # key of train.booster, the others as there: see booster_config
    booster: dict[str, float | int | str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of params.yaml."""

    seed: int = 42
    num_threads: int = 2
    calibration: str = "isotonic"  # churn/default: isotonic | platt | auto
    imbalance: str = "none"  # none | balanced
    exclude_features: tuple[str, ...] = ()
    min_class_rows: int = 10  # churn/default: fewer training rows of a class -> skipped
    monotone: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> {feature: ±1}
    booster: BoosterConfig = field(default_factory=BoosterConfig)
    contribution: ContributionConfig = field(default_factory=ContributionConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    drift_reference: DriftReferenceConfig = field(default_factory=DriftReferenceConfig)
    potential: PotentialConfig = field(default_factory=PotentialConfig)  # contribution only
    final_refit: RefitConfig = field(default_factory=RefitConfig)
    # where the train stage runs (docs/scaling.md): null = this machine; local = a
    # LocalCluster for the run; a Dask scheduler address: the boosters fitted with
    # lightgbm.dask and the train split read by the workers. `predict train --scheduler`
    # overrides it. A setting of the run, not of the model: not in the bundle's config.
    distributed: str | None = None

    def __post_init__(self) -> None:
        if self.distributed is not None and (
            not isinstance(self.distributed, str) or not self.distributed.strip()
        ):
            raise ValueError(
                "train.distributed must be null, 'local' or a Dask scheduler address, got "
                f"{self.distributed!r}"
            )
        # train.contribution.booster checked when the params are read (a typo stops the
        # stage before any data is read, not after the split is loaded)
        booster_config("contribution", self)


def booster_config(target: str, config: TrainConfig) -> BoosterConfig:
    """The LightGBM settings ``target`` fits with: ``train.booster``, and for contribution
    its own ``train.contribution.booster`` keys over them (an unknown key is an error)."""
    if target != "contribution" or not config.contribution.booster:
        return config.booster
    known = {f.name for f in dataclasses.fields(BoosterConfig)}
    unknown = sorted(set(config.contribution.booster) - known)
    if unknown:
        raise ValueError(
            f"train.contribution.booster: {unknown} not settings of train.booster "
            f"(expected some of {sorted(known)})"
        )
    for key, value in config.contribution.booster.items():
        default = getattr(config.booster, key)
        kinds: tuple[type, ...] = (int, float) if isinstance(default, float) else (type(default),)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(
                f"train.contribution.booster.{key}: {value!r} is not a {type(default).__name__} "
                f"(train.booster.{key} is {default!r})"
            )
    return dataclasses.replace(config.booster, **config.contribution.booster)  # type: ignore[arg-type]


def task_of(target: str) -> str:
    if target not in TASKS:
        raise ValueError(f"unknown target {target!r}; expected one of {sorted(TASKS)}")
    return TASKS[target]


def labelled_rows(frame: pd.DataFrame, target: str, period: str) -> pd.DataFrame:
    """Rows with a label for ``target``, sorted by (as_of, client_id); logs the others."""
    column = LABEL_PREFIX + target
    if column not in frame.columns:
        raise KeyError(f"{period} split: no label column {column!r} for target {target!r}")
    keep = frame[column].notna()
    if (~keep).any():
        log.info(
            "%s: %d of %d rows have no %s (undefined or censored): not used for %s",
            period,
            int((~keep).sum()),
            len(frame),
            column,
            target,
        )
    rows = frame.loc[keep]
    return rows.sort_values(list(ID_COLUMNS), kind="stable").reset_index(drop=True)


def feature_columns(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> tuple[str, ...]:
    """Every column but the keys, the labels and ``exclude``, in the frame's order."""
    skip = set(ID_COLUMNS) | set(exclude)
    return tuple(c for c in frame.columns if c not in skip and not c.startswith(LABEL_PREFIX))


def monotone_constraints(target: str, spec: FeatureSpec, config: TrainConfig) -> list[int] | None:
    """LightGBM's constraint vector from ``train.monotone[target]`` (by feature name)."""
    wanted = config.monotone.get(target, {})
    for name, sign in wanted.items():
        if sign not in (-1, 0, 1):
            raise ValueError(f"train.monotone.{target}.{name}: {sign} is not -1, 0 or 1")
        if name in spec.categories:
            raise ValueError(f"train.monotone.{target}.{name}: a categorical feature has no order")
        if name not in spec.names:
            log.warning("monotone constraint on %r for %s ignored: not a feature", name, target)
    return [int(wanted.get(n, 0)) for n in spec.names] if wanted else None


def lgb_params(
    target: str, spec: FeatureSpec, y: np.ndarray, config: TrainConfig
) -> dict[str, Any]:
    """Booster parameters for ``target``: objective, seeds, determinism, constraints."""
    b = booster_config(target, config)
    params: dict[str, Any] = {
        "learning_rate": b.learning_rate,
        "num_leaves": b.num_leaves,
        "min_data_in_leaf": b.min_data_in_leaf,
        "feature_fraction": b.feature_fraction,
        "bagging_fraction": b.bagging_fraction,
        "bagging_freq": b.bagging_freq,
        "lambda_l2": b.lambda_l2,
        "cat_smooth": b.cat_smooth,
        "max_bin": b.max_bin,
        "seed": config.seed,
        "num_threads": config.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    if task_of(target) == "binary":
        metrics = ["auc", "binary_logloss"]
        if config.booster.early_stopping_metric == "binary_logloss":
            metrics.reverse()
        elif config.booster.early_stopping_metric != "auc":
            raise ValueError(
                f"train.booster.early_stopping_metric: {config.booster.early_stopping_metric!r} "
                "is not auc or binary_logloss"
            )
        params.update(objective="binary", metric=metrics)
        if config.imbalance == "balanced":
            params["scale_pos_weight"] = float((y == 0).sum() / max((y == 1).sum(), 1))
        elif config.imbalance != "none":
            raise ValueError(f"train.imbalance: {config.imbalance!r} is not none or balanced")
    else:
        objective = _OBJECTIVES[config.contribution.objective][0]
        params.update(objective=objective, metric=[objective])
        params.update(
            tweedie_variance_power=config.contribution.tweedie_variance_power,
            alpha=config.contribution.huber_alpha,
        )
    constraints = monotone_constraints(target, spec, config)
    if constraints:
        params["monotone_constraints"] = constraints
    return params


def label_transform(target: str, config: TrainConfig) -> str:
    """The name of the transform of ``target``'s label the booster fits (``none``, ``clip0``,
    ``slog``; :func:`fit_labels`)."""
    if task_of(target) == "binary":
        return "none"
    if config.contribution.objective not in _OBJECTIVES:
        raise ValueError(
            f"train.contribution.objective: {config.contribution.objective!r} "
            f"is not one of {sorted(_OBJECTIVES)}"
        )
    return _OBJECTIVES[config.contribution.objective][1]


def transform_labels(y: np.ndarray, transform: str) -> np.ndarray:
    """``y`` under ``transform`` (:func:`label_transform`), row by row."""
    if transform == "clip0":
        return np.clip(y, 0.0, None)
    if transform == "slog":
        return np.sign(y) * np.log1p(np.abs(y))
    return y


def fit_labels(y: np.ndarray, target: str, config: TrainConfig) -> tuple[np.ndarray, str]:
    """The label the booster fits and the transform's name (``none``, ``clip0``, ``slog``)."""
    if task_of(target) == "binary":
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"label_{target}: {int(bad.sum())} values are not 0/1")
        return y, "none"
    transform = label_transform(target, config)
    if transform == "clip0":
        neg = y < 0
        _log_clipped(int(neg.sum()), float(y[neg].sum()))
    return transform_labels(y, transform), transform


def _log_clipped(count: int, total: float) -> None:
    log.info(
        "contribution: %d negative labels (sum %.0f) clipped at 0 for the tweedie fit",
        count,
        total,
    )


def _window(frame: pd.DataFrame) -> dict[str, Any]:
    as_of = pd.to_datetime(frame["as_of"])
    return {"from": str(as_of.min().date()), "to": str(as_of.max().date()), "rows": len(frame)}


def _fit_booster(
    train: tuple[pd.DataFrame, np.ndarray],
    valid: tuple[pd.DataFrame, np.ndarray],
    params: dict[str, Any],
    config: BoosterConfig,
    offset: Offset | None = None,
    rounds: int | None = None,
) -> lgb.Booster:
    """Early-stopped booster; with ``offset``, each row's offset is its ``init_score``
    (the booster's raw score is then the part on top of it); with ``rounds`` (the final
    refit) exactly that many trees, no early stopping."""
    init = (offset.values(train[0]), offset.values(valid[0])) if offset else (None, None)
    dtrain = lgb.Dataset(train[0], train[1], init_score=init[0], free_raw_data=False)
    if rounds is not None:  # the final refit: exactly ``rounds`` trees, no early stopping
        return lgb.train(params, dtrain, num_boost_round=rounds)
    dvalid = lgb.Dataset(
        valid[0], valid[1], init_score=init[1], reference=dtrain, free_raw_data=False
    )
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=config.num_boost_round,
        valid_sets=[dvalid],
        valid_names=["valid"],
        callbacks=[
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False),
            lgb.log_evaluation(0),
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    log.info(
        "best iteration %d of %d; valid %s",
        best,
        booster.current_iteration(),
        {k: round(v, 5) for k, v in booster.best_score.get("valid", {}).items()},
    )
    # keep only the trees up to the best iteration: what is saved is what is scored
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def feature_ranges(spec: FeatureSpec, frames: Sequence[pd.DataFrame]) -> dict[str, list[float]]:
    """[min, max] of each numeric feature over the finite values of ``frames`` (the rows a
    model is fitted and calibrated on), frozen in its metadata: scoring reports calendar
    features outside it (:func:`predict.scoring.align.calendar_out_of_range`). A feature
    with no finite value has no range."""
    ranges: dict[str, list[float]] = {}
    matrices = [spec.matrix(f) for f in frames]
    for name in spec.names:
        if name in spec.categories:
            continue
        values = np.concatenate([m[name].to_numpy("float64") for m in matrices])
        values = values[np.isfinite(values)]
        if len(values):
            ranges[name] = [float(values.min()), float(values.max())]
    return ranges


def model_offset(target: str, spec: FeatureSpec, config: TrainConfig) -> Offset | None:
    """The contribution model's offset (``train.contribution.offset``), checked against the
    objective and the features; None for churn and default or without one."""
    setting = config.contribution.offset
    if task_of(target) != "regression" or setting is None:
        return None
    if config.contribution.objective != "tweedie":
        raise ValueError(
            f"train.contribution.offset needs the tweedie objective (log link), not "
            f"{config.contribution.objective!r}: set offset: null or objective: tweedie"
        )
    offset = Offset.from_config(setting)
    if offset.feature not in spec.names or offset.feature in spec.categories:
        why = (
            "is in train.exclude_features"
            if offset.feature in config.exclude_features
            else "is not a numeric column of the split (data/split)"
        )
        raise ValueError(
            f"train.contribution.offset.feature {offset.feature!r} {why}: the offset needs it "
            "as a model feature (rebuild the features with the revenue table, or set "
            "train.contribution.offset: null)"
        )
    return offset


def train_model(
    train: pd.DataFrame | dd.DataFrame,
    valid: pd.DataFrame,
    target: str,
    config: TrainConfig,
    client: Client | None = None,
    *,
    rounds: int | None = None,
) -> ModelBundle:
    """Fit the booster on ``train`` (early stopping on ``valid``), the calibrator on ``valid``.

    ``client``: the booster is fitted on its Dask cluster (``lightgbm.dask``, early stopping
    on the whole validation period: :mod:`predict.models.dask_fit`). With ``rounds`` (the
    final refit, :mod:`predict.models.refit`): exactly that many trees, no early stopping
    (on the cluster too when ``client`` is given); ``valid`` is then only the calibration
    set (metadata ``fit: refit``). ``train`` as a Dask collection (with ``client``: the
    train split read by the workers, :mod:`predict.models.dask_train`): the spec, the
    windows and ranges come from reductions on the workers, equal to those of the same rows
    as one frame, and the booster's partitions are built there.
    """
    if not isinstance(train, pd.DataFrame):
        if client is None:
            raise ValueError("a train set held as a Dask collection needs the Dask client")
        return _train_model_dask(train, valid, target, config, client, rounds)
    task_of(target)  # an unknown target: refused first
    tr, va = labelled_rows(train, target, "train"), labelled_rows(valid, target, "valid")
    if tr.empty or va.empty:
        raise ValueError(f"{target}: no labelled rows in train ({len(tr)}) or valid ({len(va)})")
    spec = FeatureSpec.from_frame(tr, feature_columns(train, config.exclude_features))
    offset = model_offset(target, spec, config)
    y_tr, transform = fit_labels(tr[LABEL_PREFIX + target].to_numpy("float64"), target, config)
    y_va, _ = fit_labels(va[LABEL_PREFIX + target].to_numpy("float64"), target, config)
    params = lgb_params(target, spec, y_tr, config)
    if client is None:
        booster = _fit_booster(
            (spec.matrix(tr), y_tr), (spec.matrix(va), y_va), params,
            booster_config(target, config), offset, rounds,
        )  # fmt: skip
    else:
        from predict.models.dask_fit import fit_booster_dask

        b = booster_config(target, config)
        init = None if offset is None else (offset.values(tr), offset.values(va))
        booster = fit_booster_dask(
            (spec.matrix(tr), y_tr), (spec.matrix(va), y_va), params,
            b.num_boost_round if rounds is None else rounds,
            b.early_stopping_rounds if rounds is None else None, client, init,
        )  # fmt: skip
    facts = _TrainFacts(
        window=_window(tr),
        ranges=feature_ranges(spec, (tr, va)),
        status_known=bool("in_default" in tr and tr["in_default"].notna().any()),
        columns=train.columns,
    )
    return _bundle(
        target, booster, spec, params, transform, facts, va, config, offset, client, rounds
    )


@dataclass(frozen=True)
class _TrainFacts:
    """What a bundle's metadata says of its training rows (however they were held)."""

    window: dict[str, Any]  # train_window
    ranges: dict[str, list[float]]  # feature_ranges over train + valid
    status_known: bool  # default_status_known
    columns: Iterable[str]  # the train split's columns


def _bundle(
    target: str,
    booster: lgb.Booster,
    spec: FeatureSpec,
    params: dict[str, Any],
    transform: str,
    facts: _TrainFacts,
    va: pd.DataFrame,
    config: TrainConfig,
    offset: Offset | None,
    client: Client | None,
    rounds: int | None,
) -> ModelBundle:
    """The bundle of a fitted ``booster``: its metadata, and its calibrator fitted on ``va``
    (the labelled valid rows)."""
    task = task_of(target)
    columns = list(facts.columns)
    metadata: dict[str, Any] = {
        "fit": "evaluation" if rounds is None else "refit",
        "target": target,
        "task": task,
        "objective": params["objective"],
        "target_transform": transform,
        "label": LABEL_PREFIX + target,
        "train_window": facts.window,
        "valid_window": _window(va),
        "best_iteration": booster.current_iteration(),
        "params": params,
        # the calibrator fitted (train.calibration auto resolved on the calibration rows)
        "calibration": (
            resolve_calibration(config.calibration, va[LABEL_PREFIX + target].to_numpy("float64"))
            if task == "binary"
            else config.contribution.calibration
        ),
        "feature_ranges": facts.ranges,
        # whether the training rows knew who was in default at t (credit_events or balances
        # given): scoring a client whose status is unknown is then refused (scoring/scope.py)
        "default_status_known": facts.status_known,
        # the inputs of that status the training book had: scoring without one of them
        # knows only the defaults the others show (scoring/scope.py)
        "default_status_from": status_sources(columns),
        # and of the life-cycle stage (facilities, revenue): without one the stage is unknown
        "lifecycle_stage_from": stage_sources(columns),
    }
    if offset is not None:
        metadata["offset"] = offset.to_dict()
    if client is not None:
        metadata["fitted_on"] = (
            "lightgbm.dask (early stopping on the whole validation period)"
            if rounds is None
            else "lightgbm.dask"
        )
    raw = ModelBundle(target, booster, IdentityCalibrator(), spec, metadata)
    calibrator = make_calibrator(metadata["calibration"], task)
    calibrator.fit(raw.predict_uncalibrated(va), va[LABEL_PREFIX + target].to_numpy("float64"))
    return ModelBundle(target, booster, calibrator, spec, metadata)


def _train_model_dask(
    train: dd.DataFrame,
    valid: pd.DataFrame,
    target: str,
    config: TrainConfig,
    client: Client,
    rounds: int | None,
) -> ModelBundle:
    """:func:`train_model` of a train set held by the workers (see there): the same spec,
    labels, parameters, windows, ranges and status, from reductions; the booster fitted on
    the workers' partitions (:func:`predict.models.dask_train.booster_inputs`)."""
    from predict.models import dask_train
    from predict.models.dask_fit import fit_booster_dask

    task, label = task_of(target), LABEL_PREFIX + target
    va = labelled_rows(valid, target, "valid")
    names = feature_columns(train._meta, config.exclude_features)
    spec, facts = dask_train.labelled_facts(train, label, names, task == "binary", client)
    if facts.rows == 0 or va.empty:
        raise ValueError(f"{target}: no labelled rows in train ({facts.rows}) or valid ({len(va)})")
    offset = model_offset(target, spec, config)
    if task == "binary":
        bad = sum(n for v, n in facts.label_counts.items() if v not in (0.0, 1.0))
        if bad:
            raise ValueError(f"{label}: {bad} values are not 0/1")
    transform = label_transform(target, config)
    if transform == "clip0":
        _log_clipped(*facts.negatives)
    y_va, _ = fit_labels(va[label].to_numpy("float64"), target, config)
    # lgb_params reads the train labels only for their 0/1 counts (imbalance: balanced): set
    # from the counts, the same division as there (its place in the dict kept)
    params = lgb_params(target, spec, y_va, config)
    if "scale_pos_weight" in params:
        n0, n1 = facts.label_counts.get(0.0, 0), facts.label_counts.get(1.0, 0)
        params["scale_pos_weight"] = float(n0 / max(n1, 1))
    x, y, init = dask_train.booster_inputs(
        dask_train.labelled(train, label), facts.parts, spec, label, transform, offset
    )
    b = booster_config(target, config)
    booster = fit_booster_dask(
        (x, y), (spec.matrix(va), y_va), params,
        b.num_boost_round if rounds is None else rounds,
        b.early_stopping_rounds if rounds is None else None, client,
        None if init is None or offset is None else (init, offset.values(va)),
    )  # fmt: skip
    ranges = dict(facts.ranges)
    for name, (low, high) in feature_ranges(spec, (va,)).items():
        known = ranges.get(name)
        ranges[name] = (low, high) if known is None else (min(known[0], low), max(known[1], high))
    ordered = {n: [float(ranges[n][0]), float(ranges[n][1])] for n in spec.names if n in ranges}
    train_facts = _TrainFacts(facts.window(), ordered, facts.status_known, train.columns)
    return _bundle(
        target, booster, spec, params, transform, train_facts, va, config, offset, client, rounds
    )


def _refit_sets_dask(
    sets: Mapping[str, pd.DataFrame | dd.DataFrame], label: str, client: Client
) -> tuple[dd.DataFrame, pd.DataFrame, int]:
    """:func:`predict.models.refit.refit_sets` of a split whose train set is a Dask
    collection: train and valid stacked as one collection (valid its last partition), the
    test set, and the stacked set's labelled rows (:func:`labelled_count`, summed)."""
    import dask.dataframe as dd

    from predict.models.dask_train import as_read, label_counts
    from predict.models.refit import CALIBRATION_SET, FIT_SETS

    missing = [s for s in (*FIT_SETS, CALIBRATION_SET) if s not in sets]
    if missing:
        raise KeyError(f"the final refit needs the split's sets {missing}")
    train, valid, test = (sets[s] for s in (*FIT_SETS, CALIBRATION_SET))
    assert isinstance(valid, pd.DataFrame) and isinstance(test, pd.DataFrame)
    assert not isinstance(train, pd.DataFrame)
    if label not in train.columns:
        raise KeyError(f"no label column {label!r}")
    with as_read():  # valid's dtypes as they are (as the train partitions')
        fit = dd.concat([train, dd.from_pandas(valid, npartitions=1, sort=False)])
    rows = label_counts(train, label, False, client)[0] + labelled_count(valid, label)
    return fit, test, rows


def final_model(
    evaluated: ModelBundle,
    sets: Mapping[str, pd.DataFrame | dd.DataFrame],
    config: TrainConfig,
    client: Client | None = None,
) -> ModelBundle:
    """The model ``predict score`` uses: ``evaluated`` (the evaluation fit) itself, or, for a
    target in ``train.final_refit.enabled``, its refit on train + valid with the rounds rule's
    fixed trees, calibrated on test (:mod:`predict.models.refit`). Both fits' facts go to the
    returned bundle's metadata (``fits``). ``client``: the refit is fitted on its Dask
    cluster, as the evaluation fit was."""
    target, rule = evaluated.target, config.final_refit.rounds
    final = evaluated
    if target in config.final_refit.enabled:
        fit: pd.DataFrame | dd.DataFrame
        if isinstance(sets["train"], pd.DataFrame):
            fit, calibration = refit_sets(cast("Mapping[str, pd.DataFrame]", sets))
            refit_rows = labelled_count(fit, LABEL_PREFIX + target)
        else:  # the train split on the workers: train + valid stacked there
            if client is None:
                raise ValueError("a train set held as a Dask collection needs the Dask client")
            fit, calibration, refit_rows = _refit_sets_dask(sets, LABEL_PREFIX + target, client)
        rounds = refit_rounds(
            int(evaluated.metadata["best_iteration"]),
            int(evaluated.metadata["train_window"]["rows"]),
            refit_rows,
            rule,
        )
        log.info("%s: final refit on train + valid, %d trees (rule %s)", target, rounds, rule)
        final = train_model(fit, calibration, target, config, client, rounds=rounds)
    fits = fits_block(evaluated.metadata, final.metadata, config.final_refit)
    return dataclasses.replace(final, metadata={**final.metadata, "fits": fits})


@dataclass(frozen=True)
class TrainingResult:
    """What one training run produced (the bundle carries data hash and metrics)."""

    bundle: ModelBundle
    metrics: dict[str, Any]
    plots: dict[str, pd.DataFrame]
    input_example: pd.DataFrame
    bundle_dir: Path
    data_hash: str


def _baseline_block(
    bundle: ModelBundle,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    config: TrainConfig,
) -> tuple[dict[str, Any], np.ndarray | None]:
    baseline = make_baseline(bundle.task, bundle.features, config.baseline, test.columns)
    if baseline is None:
        return {"skipped": f"no column {config.baseline.revenue_feature!r}"}, None
    label = LABEL_PREFIX + bundle.target
    baseline.fit(train, train[label].to_numpy("float64"), valid, valid[label].to_numpy("float64"))
    pred = baseline.predict(test)
    return _baseline_figures(baseline.name, bundle.task, test[label], pred, config), pred


def _baseline_figures(
    name: str, task: str, y: pd.Series, pred: np.ndarray, config: TrainConfig
) -> dict[str, Any]:
    """The baseline's block of the metrics: its name and its figures on the test rows."""
    metrics = target_metrics(task, y.to_numpy("float64"), pred, config.evaluation.n_bins)
    return {"name": name, **metrics}


def _segment_block(
    test: pd.DataFrame,
    y: np.ndarray,
    preds: dict[str, np.ndarray | None],
    task: str,
    config: EvaluationConfig,
) -> dict[str, Any]:
    if config.segment_column not in test.columns:
        return {}
    segments = test[config.segment_column].to_numpy(dtype=object)
    return {
        name: metrics_by_segment(segments, y, p, task, config)
        for name, p in preds.items()
        if p is not None
    }


def population_block(target: str, sets: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    """The model's population (:data:`predict.contract.spec.POPULATIONS`) and its size per
    set: labelled rows and clients, and the rows outside it (unlabelled: out of the
    population or censored), of which in default at t and, for default, without exposure."""
    out: dict[str, Any] = {"definition": POPULATIONS[target]}
    for name, frame in sets.items():
        labelled = frame[LABEL_PREFIX + target].notna()
        entry = {
            "rows": int(labelled.sum()),
            "clients": int(frame.loc[labelled, "client_id"].nunique()),
            "rows_unlabelled": int((~labelled).sum()),
        }
        if target != "contribution" and "in_default" in frame:
            entry["rows_in_default"] = int(frame["in_default"].eq(1).sum())
        if target == "default" and "has_exposure" in frame:
            entry["rows_without_exposure"] = int(frame["has_exposure"].eq(0).sum())
        out[name] = entry
    return out


def evaluate_model(
    bundle: ModelBundle,
    train: pd.DataFrame | dd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    config: TrainConfig,
    truth: pd.DataFrame | None = None,
    client: Client | None = None,
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Metrics (model, baseline, uplift, truth, by segment) and plot tables on ``test``.

    ``train`` as a Dask collection (the train split on the workers of ``client``): the
    baseline is fitted in a task on a worker, the population counts and the training event
    rate are reductions (:mod:`predict.models.dask_train`): the same figures."""
    target, cfg = bundle.target, config.evaluation
    rows = labelled_rows(test, target, "test")
    y = rows[LABEL_PREFIX + target].to_numpy("float64")
    pred = bundle.predict(rows)
    power = bundle.metadata.get("params", {}).get("tweedie_variance_power")  # contribution
    model = target_metrics(bundle.task, y, pred, cfg.n_bins, power)
    if bundle.task == "binary":
        raw = target_metrics("binary", y, bundle.predict_uncalibrated(rows), cfg.n_bins)
        model.update(ece_uncalibrated=raw["ece"], brier_uncalibrated=raw["brier"])
    if isinstance(train, pd.DataFrame):
        base, base_pred = _baseline_block(
            bundle,
            labelled_rows(train, target, "train"),
            labelled_rows(valid, target, "valid"),
            rows,
            config,
        )
        population = population_block(target, {"train": train, "valid": valid, "test": test})
    else:
        if client is None:
            raise ValueError("a train set held as a Dask collection needs the Dask client")
        from predict.models.dask_train import population_entry

        base, base_pred = _baseline_block_dask(bundle, train, valid, rows, config, client)
        others = population_block(target, {"valid": valid, "test": test})
        population = {
            "definition": others.pop("definition"),
            "train": population_entry(train, target, LABEL_PREFIX + target, client),
            **others,
        }
    metrics: dict[str, Any] = {
        "target": target,
        "rows": {"test": len(rows), "test_unlabelled": len(test) - len(rows)},
        "population": population,
        "test": model,
        "baseline": base,
        "uplift": uplift(model, base) if base_pred is not None else {},
        "truth": truth_comparison(rows, y, pred, truth, target, cfg)
        if truth is not None
        else {"available": False, "reason": "no truth file (not synthetic data)"},
        "by_segment": _segment_block(
            rows, y, {"model": pred, "baseline": base_pred}, bundle.task, cfg
        ),
    }
    rates = None
    if bundle.task == "binary" and isinstance(train, pd.DataFrame):
        train_y = labelled_rows(train, target, "train")[LABEL_PREFIX + target]
        rates = (float(train_y.mean()), float(y.mean()))
    elif bundle.task == "binary" and not isinstance(train, pd.DataFrame):
        from predict.models.dask_train import label_mean

        assert client is not None
        rates = (label_mean(train, LABEL_PREFIX + target, client), float(y.mean()))
    metrics.update(model_flags(bundle.task, metrics, rates, cfg.max_event_rate_ratio, target))
    return json_ready(metrics), plot_tables(bundle.task, y, pred, cfg)


def _baseline_block_dask(
    bundle: ModelBundle,
    train: dd.DataFrame,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    config: TrainConfig,
    client: Client,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """:func:`_baseline_block` of a train set on the workers: the carry-forward baseline
    fits nothing (it checks its column, in the schema); the scorecard is fitted and
    predicts ``test`` in one task on a worker, on the labelled train rows gathered there in
    file order (:func:`predict.models.dask_train.baseline_predictions`): the same fit."""
    from predict.models.dask_train import baseline_predictions

    baseline = make_baseline(bundle.task, bundle.features, config.baseline, test.columns)
    if baseline is None:
        return {"skipped": f"no column {config.baseline.revenue_feature!r}"}, None
    label = LABEL_PREFIX + bundle.target
    va = labelled_rows(valid, bundle.target, "valid")
    if bundle.task == "binary":
        pred = baseline_predictions(
            train, baseline, bundle.features, bundle.target, va, test, client
        )
    else:  # nothing learnt from the rows: fitted on the schema (the column check)
        empty = train._meta
        baseline.fit(empty, empty[label].to_numpy("float64"), va, va[label].to_numpy("float64"))
        pred = baseline.predict(test)
    return _baseline_figures(baseline.name, bundle.task, test[label], pred, config), pred


def _model_settings(config: TrainConfig) -> dict[str, Any]:
    """``config`` as the bundle's metadata keeps it: every setting but where it ran
    (``distributed``: the same model settings give the same bundle on either path)."""
    settings = dataclasses.asdict(config)
    settings.pop("distributed")
    return settings


def split_fingerprint(paths: Iterable[str | os.PathLike[str]]) -> str:
    """SHA-256 (first 16 hex digits) over the names and bytes of the input files."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def read_split(
    split_dir: str | os.PathLike[str], sets: Sequence[str] = SPLITS
) -> dict[str, pd.DataFrame]:
    """The split's sets (all three; ``sets``: those only) as frames. The folder must hold
    all three files either way."""
    folder = Path(split_dir)
    missing = [s for s in SPLITS if not (folder / f"{s}.parquet").exists()]
    if missing:
        raise FileNotFoundError(f"split folder {folder} lacks {[f'{s}.parquet' for s in missing]}")
    return {s: pd.read_parquet(folder / f"{s}.parquet") for s in sets}


def _training_data(
    split: Mapping[str, Any],
    meta: Mapping[str, Any],
    split_dir: str | os.PathLike[str],
    data_hash: str,
    source: TrainSource | None,
) -> pd.DataFrame | tracking.DatasetDescriptor:
    """What MLflow logs as the run's training input: the fitted rows (train, or train +
    valid for a refit) as a frame on one machine; on the cluster a descriptor (the files,
    their fingerprint, rows and schema), the rows never gathered here."""
    if source is None:
        return refit_sets(split)[0] if meta["fit"] == "refit" else split["train"]
    files = [source.path]
    rows = source.rows
    if meta["fit"] == "refit":
        files.append(Path(split_dir) / "valid.parquet")
        rows += len(split["valid"])
    return tracking.DatasetDescriptor(
        files=tuple(files), digest=data_hash, rows=rows, columns=source.frame._meta
    )


def read_truth(truth_dir: str | os.PathLike[str] | None) -> pd.DataFrame | None:
    """``truth.parquet`` of the synthetic generator when the folder has one, else ``None``."""
    path = Path(truth_dir) / "truth.parquet" if truth_dir else None
    if path is None or not path.exists():
        log.info("no generator truth at %s: truth comparison skipped", path)
        return None
    return pd.read_parquet(path)


@dataclass(frozen=True)
class SkippedTraining:
    """A target the training data cannot support: the record written instead of a model."""

    target: str
    reason: str
    bundle_dir: Path


def _set_labels(split: dict[str, pd.DataFrame], target: str) -> dict[str, np.ndarray | LabelCounts]:
    """Each set's defined labels for ``target`` (empty when the column is absent)."""
    column = LABEL_PREFIX + target
    return {
        name: frame[column].dropna().to_numpy("float64")
        if column in frame.columns
        else np.array([], dtype="float64")
        for name, frame in split.items()
    }


def skip_target(
    target: str,
    reason: str,
    labels: Mapping[str, np.ndarray | LabelCounts],
    *,
    models_dir: str | os.PathLike[str],
    metrics_dir: str | os.PathLike[str],
    plots_dir: str | os.PathLike[str],
) -> SkippedTraining:
    """Write the skipped record, metrics saying skipped and empty plot tables."""
    rows = {name: len(y) for name, y in labels.items()}
    record = write_skipped(Path(models_dir) / target, target, reason, rows)
    io.write_json({"skipped": True}, Path(metrics_dir) / f"{target}.json")
    io.write_json(record, detail_path(metrics_dir, target))
    for name, table in empty_plots().items():
        io.write_csv(table, Path(plots_dir) / target / f"{name}.csv")
    return SkippedTraining(target, reason, Path(models_dir) / target)


def run_training(
    split_dir: str | os.PathLike[str],
    target: str,
    config: TrainConfig,
    *,
    models_dir: str | os.PathLike[str],
    metrics_dir: str | os.PathLike[str],
    plots_dir: str | os.PathLike[str],
    truth_dir: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    client: Client | None = None,
    label_settings: Mapping[str, int] | None = None,
) -> TrainingResult | SkippedTraining:
    """The train stage for one target: fit, evaluate, save bundle, metrics and plot CSVs.

    ``label_settings``: the settings the split's labels were built with
    (``features.horizon_months`` and ``inactivity_months``), kept in the bundle's metadata
    (``labels``): scoring refuses other settings
    (:func:`predict.scoring.align.check_label_settings`).

    A target the split cannot support (:func:`predict.models.skipped.untrainable`) is
    skipped: its record, metrics and empty plots are written and nothing is tracked.

    Metrics: the headline ``<metrics_dir>/<target>.json`` and the full
    ``<metrics_dir>/detail/<target>.json`` (:mod:`predict.models.metrics_files`).

    With a ``tracking_uri`` (and ``train.tracking.enabled``) the run is logged to MLflow
    and the model registered as challenger. ``client``: the booster is fitted on Dask,
    and the train split is read by its workers, a row group per task, never whole here
    (:mod:`predict.models.dask_train`; valid and test, one as-of date each, are read here):
    everything computed from it is a reduction on the workers, equal to the single
    machine's figures (the booster's trees are not: docs/scaling.md).
    """
    source = None
    split: dict[str, Any]
    labels: dict[str, np.ndarray | LabelCounts]
    if client is None:
        split = read_split(split_dir)
        labels = _set_labels(split, target)
    else:
        from predict.models.dask_train import label_counts, read_train

        split = read_split(split_dir, sets=("valid", "test"))
        source = read_train(Path(split_dir) / "train.parquet")
        split = {"train": source.frame, **split}
        labels = _set_labels({s: split[s] for s in ("valid", "test")}, target)
        column = LABEL_PREFIX + target
        rows, values = (
            label_counts(source.frame, column, task_of(target) == "binary", client)
            if column in source.columns
            else (0, {})
        )
        labels = {"train": LabelCounts(rows, values), **labels}
    reason = untrainable(labels, task_of(target), config.min_class_rows)
    if reason is not None:
        dirs = {"models_dir": models_dir, "metrics_dir": metrics_dir, "plots_dir": plots_dir}
        return skip_target(target, reason, labels, **dirs)
    data_hash = split_fingerprint(Path(split_dir) / f"{s}.parquet" for s in SPLITS)
    bundle = train_model(split["train"], split["valid"], target, config, client)
    metrics, plots = evaluate_model(
        bundle, split["train"], split["valid"], split["test"], config, read_truth(truth_dir),
        client,
    )  # fmt: skip
    metrics["rows"].update(
        train=bundle.metadata["train_window"]["rows"], valid=bundle.metadata["valid_window"]["rows"]
    )
    bundle = final_model(bundle, split, config, client)  # scoring model: evaluation fit or refit
    metrics["fits"] = bundle.metadata["fits"]
    metrics = rounded(metrics)  # 10 significant digits: the same bytes on any CPU
    meta = {
        **bundle.metadata,
        "fits": metrics["fits"],  # as the metrics file says it (10 significant digits)
        "data_hash": data_hash,
        "metrics": metrics["test"],
        "config": json_ready(_model_settings(config)),
    }
    if label_settings is not None:
        meta["labels"] = {k: int(v) for k, v in label_settings.items()}
    frozen = training_references(split_dir)  # rate reference etc. (models/references.py)
    if source is None:
        frozen["drift"] = drift_reference(
            bundle, split["train"], split["test"], config.drift_reference
        )  # feature bins on train, score bins on test (out of sample)
    else:  # the same rows of train (all, or the same seeded sample), gathered from the workers
        from predict.models.dask_train import drift_sample

        assert client is not None
        names = bundle.features.names
        sample = drift_sample(source, names, config.drift_reference, client)
        frozen["drift"] = drift_reference(
            bundle, sample, split["test"], config.drift_reference, train_rows=source.rows
        )
    if target == "contribution":
        predicted = bundle.predict(split["test"])  # the scoring model's, out of the fit
        frozen["contribution_quantiles"] = contribution_quantiles(split["test"], predicted)
        # potential value and growth threshold (models/potential.py)
        try:
            if source is None:
                frozen["potential"] = potential_reference(
                    split, predicted, config.baseline.revenue_scale, config.potential
                )
            else:  # the train rows the conversions need, gathered from the workers
                from predict.models.dask_train import potential_rows

                assert client is not None
                others = {s: split[s] for s in ("valid", "test")}
                gathered, months = potential_rows(source, others, client)
                frozen["potential"] = potential_reference(
                    {"train": gathered, **others}, predicted, config.baseline.revenue_scale,
                    config.potential, as_of_months=months,
                )  # fmt: skip
        except PotentialUnavailable as exc:  # kept, with its reason, for scoring to report
            log.warning("%s: trained without it (potential values will be missing)", exc)
            frozen["potential_unavailable"] = str(exc)
    bundle = dataclasses.replace(bundle, metadata=meta, references=frozen)
    bundle_dir = save_bundle(bundle, Path(models_dir) / target)
    bundle = load_bundle(bundle_dir)  # what is on disk is what is tracked and scored
    write_metrics(metrics, bundle.task, metrics_dir, target)
    for name, table in plots.items():
        io.write_csv(table, Path(plots_dir) / target / f"{name}.csv")
    example = split["test"].head(5)[list(bundle.features.names)]
    if tracking_uri and config.tracking.enabled:
        tracking.log_training(
            tracking_uri,
            config.tracking,
            bundle,
            metrics=metrics,
            data_hash=data_hash,
            bundle_dir=bundle_dir,
            input_example=example,
            plots_dir=Path(plots_dir) / target,
            training_data=_training_data(split, meta, split_dir, data_hash, source),
        )
    return TrainingResult(bundle, metrics, plots, example, bundle_dir, data_hash)


def promotion_data(
    split_dir: str | os.PathLike[str], target: str, config: EvaluationConfig
) -> PromotionData:
    """The split's test rows labelled for ``target``, on which promotion re-scores both models."""
    rows = labelled_rows(pd.read_parquet(Path(split_dir) / "test.parquet"), target, "test")
    data_hash = split_fingerprint(Path(split_dir) / f"{s}.parquet" for s in SPLITS)
    y = rows[LABEL_PREFIX + target].to_numpy("float64")
    return PromotionData(rows, y, config.n_bins, data_hash)
