"""Out-of-time evaluation: metrics and plot data, as pure functions of labels and scores.

Binary targets (churn, default): AUC, PR-AUC (average precision), Gini, KS, Brier, ECE
and lift/capture by decile. Contribution: RMSE, MAE, Spearman, top-decile capture, the
Gini of captured revenue (:func:`revenue_gini`) and, given the model's variance power, the
mean Tweedie deviance (:func:`tweedie_deviance`).
Deciles rank rows by score, highest first (decile 1); ties keep the input order, so
results are deterministic. ECE uses equal-frequency bins (every bin holds about the same
number of rows), which stays informative when the base rate is low.

Plot tables share column names across targets so one ``dvc.yaml`` plot definition serves
all three: ``roc`` (fpr, tpr), ``calibration`` (predicted, observed), ``lift`` (decile,
lift, capture). For contribution the ROC is that of "any positive contribution" ranked by
the predicted amount, and calibration compares the mean predicted and actual amounts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

log = logging.getLogger(__name__)

TRUTH_COLUMNS = {
    "churn": "p_churn",
    "default": "p_default",
    "contribution": "expected_contribution",
}
# Direction of each metric computed here that has one (n, base_rate, bias, ... have none).
LOWER_IS_BETTER = frozenset({"brier", "ece", "rmse", "mae", "tweedie_deviance"})
HIGHER_IS_BETTER = frozenset(
    {
        "auc",
        "pr_auc",
        "gini",
        "ks",
        "top_decile_lift",
        "top_decile_capture",
        "spearman",
        "revenue_gini",
    }
)
# The metrics a model can be compared on, by task: computed by binary_metrics /
# regression_metrics and with a direction.
COMPARABLE_METRICS = {
    "binary": frozenset(
        {"auc", "pr_auc", "gini", "ks", "brier", "ece", "top_decile_lift", "top_decile_capture"}
    ),
    "regression": frozenset({"rmse", "mae", "spearman", "top_decile_capture", "revenue_gini"}),
}
# The columns of each plot table, the same for every target (a skipped target's plot files
# are these headers with no row).
PLOT_COLUMNS = {
    "roc": ("fpr", "tpr"),
    "calibration": ("bin", "n", "predicted", "observed"),
    "lift": ("decile", "n", "predicted", "observed", "lift", "capture", "cumulative_capture"),
}
# per segment only the headline metrics, so `dvc metrics show` stays readable
SEGMENT_METRICS = {
    "binary": ("n", "positives", "base_rate", "auc", "brier", "ece"),
    "regression": ("n", "mean_actual", "rmse", "spearman", "bias"),
}


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of the evaluation (``train.evaluation`` in params.yaml)."""

    n_bins: int = 10  # deciles for lift and ECE / calibration bins
    roc_points: int = 200  # at most this many points in roc.csv
    segment_column: str = "segment"  # metrics by segment when this column exists
    min_segment_rows: int = 100  # smaller segments are reported with their size only
    truth_min_coverage: float = 0.95  # share of test rows the truth must cover to be used
    # Paired bootstrap of the AUC gap to the truth (test rows resampled, positives and
    # negatives apart): how much of the gap is sampling noise. 0 = no interval.
    gap_bootstrap: int = 500
    gap_bootstrap_seed: int = 0
    max_event_rate_ratio: float = 3.0  # test vs training event rate apart more: flagged


def _arrays(y: Any, score: Any) -> tuple[np.ndarray, np.ndarray]:
    yy = np.asarray(y, dtype="float64")
    ss = np.asarray(score, dtype="float64")
    if yy.shape != ss.shape or yy.ndim != 1:
        raise ValueError(f"labels {yy.shape} and scores {ss.shape} must be 1-d and alike")
    if not (np.isfinite(yy).all() and np.isfinite(ss).all()):
        raise ValueError("labels and scores must be finite: drop rows with a NaN label first")
    return yy, ss


def _bins(score: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Row indices in ``n_bins`` equal-size groups, highest score first (rows of one score
    that straddle a boundary are split by row order: read outcomes through
    :func:`tie_mean`, which makes every binned figure independent of it)."""
    order = np.argsort(-score, kind="stable")
    return [b for b in np.array_split(order, min(n_bins, len(order))) if len(b)]


def tie_mean(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Each row's outcome replaced by the mean outcome of the rows with the same score.

    Equal-frequency bins must cut through a group of tied scores (an isotonic calibration
    gives a few dozen distinct probabilities: 4,696 of 10,989 test rows on one value), and
    which of the tied rows fall on each side was the rows' order: the observed rate of a
    bin, the ECE, the top-decile capture and lift moved with it (ECE 0.0006-0.0024 over
    shuffles of the same rows). With each tied row carrying its group's mean outcome, a bin
    holds its share of the group's outcomes pro rata: the expected figure over every order
    of the tied rows, the same for any order."""
    _, group = np.unique(score, return_inverse=True)
    sums = np.bincount(group, weights=y)
    counts = np.bincount(group)
    return (sums / counts)[group]


def _two_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def expected_calibration_error(y: Any, p: Any, n_bins: int = 10) -> float:
    """Row-weighted mean |mean predicted - observed rate| over equal-frequency bins (tied
    predictions shared pro rata between bins: :func:`tie_mean`)."""
    yy, pp = _arrays(y, p)
    yy = tie_mean(yy, pp)
    return float(
        sum(len(b) * abs(pp[b].mean() - yy[b].mean()) for b in _bins(pp, n_bins)) / len(yy)
    )


def ks_statistic(y: Any, score: Any) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score CDFs of the two classes."""
    yy, ss = _arrays(y, score)
    if not _two_classes(yy):
        return math.nan
    fpr, tpr, _ = roc_curve(yy, ss)
    return float(np.max(tpr - fpr))


def lift_table(y: Any, score: Any, n_bins: int = 10) -> pd.DataFrame:
    """Per decile (1 = highest score): rows, mean score, mean outcome, lift, capture (tied
    scores shared pro rata between deciles: :func:`tie_mean`)."""
    yy, ss = _arrays(y, score)
    total, mean = yy.sum(), yy.mean()
    yy = tie_mean(yy, ss)  # the same total and mean
    rows = []
    for i, b in enumerate(_bins(ss, n_bins), start=1):
        rows.append(
            {
                "decile": i,
                "n": len(b),
                "predicted": float(ss[b].mean()),
                "observed": float(yy[b].mean()),
                "lift": float(yy[b].mean() / mean) if mean > 0 else math.nan,
                "capture": float(yy[b].sum() / total) if total > 0 else math.nan,
            }
        )
    table = pd.DataFrame(rows)
    table["cumulative_capture"] = table["capture"].cumsum()
    return table


def calibration_table(y: Any, p: Any, n_bins: int = 10) -> pd.DataFrame:
    """Equal-frequency bins of the prediction, lowest first: mean predicted vs observed (tied
    predictions shared pro rata between bins: :func:`tie_mean`)."""
    yy, pp = _arrays(y, p)
    yy = tie_mean(yy, pp)
    rows = [
        {"bin": i, "n": len(b), "predicted": float(pp[b].mean()), "observed": float(yy[b].mean())}
        for i, b in enumerate(reversed(_bins(pp, n_bins)), start=1)
    ]
    return pd.DataFrame(rows)


def roc_table(y: Any, score: Any, max_points: int = 200) -> pd.DataFrame:
    """ROC curve points (fpr, tpr), thinned to at most ``max_points`` (ends kept)."""
    yy, ss = _arrays(y, score)
    if not _two_classes(yy):
        return pd.DataFrame({"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]})
    fpr, tpr, _ = roc_curve(yy, ss)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def binary_metrics(y: Any, p: Any, n_bins: int = 10) -> dict[str, float]:
    """Discrimination (AUC, PR-AUC, Gini, KS), calibration (Brier, ECE) and top-decile lift."""
    yy, pp = _arrays(y, p)
    out: dict[str, float] = {"n": float(len(yy)), "positives": float(yy.sum())}
    out["base_rate"] = float(yy.mean())
    out["mean_predicted"] = float(pp.mean())
    both = _two_classes(yy)
    out["auc"] = float(roc_auc_score(yy, pp)) if both else math.nan
    out["pr_auc"] = float(average_precision_score(yy, pp)) if both else math.nan
    out["gini"] = 2.0 * out["auc"] - 1.0
    out["ks"] = ks_statistic(yy, pp)
    out["brier"] = float(np.mean((pp - yy) ** 2))
    out["ece"] = expected_calibration_error(yy, pp, n_bins)
    top = lift_table(yy, pp, n_bins).iloc[0]
    out["top_decile_lift"] = float(top["lift"])
    out["top_decile_capture"] = float(top["capture"])
    return out


def spearman(y: Any, score: Any) -> float:
    yy, ss = _arrays(y, score)
    if len(yy) < 2 or np.all(yy == yy[0]) or np.all(ss == ss[0]):
        return math.nan
    return float(spearmanr(yy, ss).statistic)


def revenue_gini(y: Any, score: Any) -> float:
    """Gini of captured revenue: ``2 * A - 1``, ``A`` the area under the Lorenz curve.

    Rows are ranked by ``score``, highest first; the curve is the share of the total
    actual revenue (``y``) held by the top share of rows, from (0, 0) to (1, 1). Rows with
    equal scores form one step (a straight segment: the average over their orders), so
    the result does not depend on the input order. 0 = no better than a random order,
    the Gini of ``y`` ranked by itself is the best possible; a negative value ranks worse
    than random. Undefined (NaN) when the total revenue is not positive.
    """
    yy, ss = _arrays(y, score)
    total = yy.sum()
    if len(yy) == 0 or total <= 0:
        return math.nan
    order = np.argsort(-ss, kind="stable")
    ranked_s, ranked_y = ss[order], yy[order]
    last_of_group = np.append(ranked_s[1:] != ranked_s[:-1], True)
    x = np.concatenate([[0.0], np.flatnonzero(last_of_group) + 1.0]) / len(yy)
    captured = np.concatenate([[0.0], np.cumsum(ranked_y)[last_of_group]]) / total
    area = float(np.sum(np.diff(x) * (captured[1:] + captured[:-1]) / 2.0))
    return 2.0 * area - 1.0


def tweedie_deviance(y: Any, mu: Any, power: float) -> float:
    """Mean Tweedie deviance of predictions ``mu`` at variance power ``power`` in (1, 2):

    ``2 * mean(y^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p))``.

    The loss a Tweedie model minimises, so it weighs errors on large amounts less than
    RMSE does. Defined only for ``y >= 0`` and ``mu > 0``: NaN when a label is negative or
    a prediction is zero or negative (a carry-forward baseline of 0, an ``l2`` model).
    """
    yy, mm = _arrays(y, mu)
    if not 1.0 < power < 2.0:
        raise ValueError(f"tweedie variance power {power} is not in (1, 2)")
    if len(yy) == 0 or (yy < 0).any() or (mm <= 0).any():
        return math.nan
    one, two = 1.0 - power, 2.0 - power
    dev = yy**two / (one * two) - yy * mm**one / one + mm**two / two
    return float(2.0 * np.mean(dev))


def regression_metrics(
    y: Any, pred: Any, n_bins: int = 10, tweedie_power: float | None = None
) -> dict[str, float]:
    """Error (RMSE, MAE, bias), ranking (Spearman), top-decile revenue capture, revenue
    Gini and, with ``tweedie_power``, the mean Tweedie deviance at that power."""
    yy, pp = _arrays(y, pred)
    out: dict[str, float] = {"n": float(len(yy)), "mean_actual": float(yy.mean())}
    out["mean_predicted"] = float(pp.mean())
    out["bias"] = out["mean_predicted"] - out["mean_actual"]
    out["rmse"] = float(np.sqrt(np.mean((pp - yy) ** 2)))
    out["mae"] = float(np.mean(np.abs(pp - yy)))
    out["spearman"] = spearman(yy, pp)
    out["top_decile_capture"] = float(lift_table(yy, pp, n_bins).iloc[0]["capture"])
    out["revenue_gini"] = revenue_gini(yy, pp)
    if tweedie_power is not None:
        out["tweedie_deviance"] = tweedie_deviance(yy, pp, tweedie_power)
    return out


def target_metrics(
    task: str, y: Any, pred: Any, n_bins: int = 10, tweedie_power: float | None = None
) -> dict[str, float]:
    """:func:`binary_metrics` or :func:`regression_metrics` by task (``tweedie_power``:
    the contribution model's variance power, for its deviance; ignored for binary)."""
    if task == "binary":
        return binary_metrics(y, pred, n_bins)
    return regression_metrics(y, pred, n_bins, tweedie_power)


def plot_tables(task: str, y: Any, pred: Any, config: EvaluationConfig) -> dict[str, pd.DataFrame]:
    """The three plot tables (``roc``, ``calibration``, ``lift``) for ``plots/<target>/``."""
    yy, pp = _arrays(y, pred)
    event = yy if task == "binary" else (yy > 0).astype("float64")
    return {
        "roc": roc_table(event, pp, config.roc_points),
        "calibration": calibration_table(yy, pp, config.n_bins),
        "lift": lift_table(yy, pp, config.n_bins),
    }


def uplift(model: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """``model - baseline`` for every shared metric (negative is better for errors)."""
    skip = {"n", "positives", "base_rate", "mean_actual"}
    return {
        k: float(model[k]) - float(baseline[k]) for k in model if k in baseline and k not in skip
    }


def metrics_by_segment(
    segments: Any, y: Any, pred: Any, task: str, config: EvaluationConfig
) -> dict[str, dict[str, float]]:
    """Headline metrics per segment; segments below ``min_segment_rows`` get only ``n``."""
    seg = pd.Series(np.asarray(segments, dtype=object)).fillna("(missing)").astype(str)
    yy, pp = _arrays(y, pred)
    out: dict[str, dict[str, float]] = {}
    for name in sorted(seg.unique()):
        mask = (seg == name).to_numpy()
        if mask.sum() < config.min_segment_rows:
            out[name] = {"n": float(mask.sum())}
        else:
            full = target_metrics(task, yy[mask], pp[mask], config.n_bins)
            out[name] = {k: full[k] for k in SEGMENT_METRICS[task]}
    return out


def _join_truth(frame: pd.DataFrame, truth: pd.DataFrame, column: str) -> pd.Series:
    """The truth's ``column`` aligned on ``frame``'s rows by (client_id, as_of)."""
    keys = ["client_id", "as_of"]
    right = truth[[*keys, column]].copy()
    if right.duplicated(keys).any():
        raise ValueError("truth: duplicate (client_id, as_of) rows; expected one per snapshot")
    left = frame[keys].copy()
    for side in (left, right):
        side["client_id"] = side["client_id"].astype("str")
        side["as_of"] = pd.to_datetime(side["as_of"]).astype("datetime64[s]")
    return left.merge(right, on=keys, how="left", validate="many_to_one")[column]


def truth_comparison(
    frame: pd.DataFrame,
    y: Any,
    pred: Any,
    truth: pd.DataFrame,
    target: str,
    config: EvaluationConfig,
) -> dict[str, Any]:
    """The generator's truth scored like the model, on the same test rows, and the gap."""
    column = TRUTH_COLUMNS[target]
    if column not in truth.columns:
        return {"available": False, "reason": f"truth has no column {column!r}"}
    true = _join_truth(frame, truth, column).to_numpy(dtype="float64")
    yy, pp = _arrays(y, pred)
    rows = np.isfinite(true)
    coverage = float(rows.mean()) if len(rows) else 0.0
    if coverage < config.truth_min_coverage:
        reason = f"truth covers {coverage:.1%} of test rows (< {config.truth_min_coverage:.0%})"
        return {"available": False, "reason": reason, "coverage": coverage}
    task = "regression" if target == "contribution" else "binary"
    model = target_metrics(task, yy[rows], pp[rows], config.n_bins)
    best = target_metrics(task, yy[rows], true[rows], config.n_bins)
    binary_keys, amount_keys = (
        ("auc", "pr_auc", "brier"),
        ("rmse", "mae", "spearman", "revenue_gini"),
    )
    keys = binary_keys if task == "binary" else amount_keys
    out: dict[str, Any] = {"available": True, "coverage": coverage, "n": float(rows.sum())}
    for k in keys:
        out[f"truth_{k}"], out[f"model_{k}"] = best[k], model[k]
        out[f"gap_{k}"] = best[k] - model[k]
    if task == "binary" and config.gap_bootstrap > 0:
        out.update(gap_interval(yy[rows], pp[rows], true[rows], config))
    out["mae_vs_truth"] = float(np.mean(np.abs(pp[rows] - true[rows])))
    flat = np.std(pp[rows]) == 0 or np.std(true[rows]) == 0
    out["corr_with_truth"] = math.nan if flat else float(np.corrcoef(pp[rows], true[rows])[0, 1])
    return out


def gap_interval(
    y: np.ndarray, model: np.ndarray, truth: np.ndarray, config: EvaluationConfig
) -> dict[str, float]:
    """95% interval and standard error of AUC(truth) - AUC(model) over the same rows.

    Paired, stratified bootstrap: each draw resamples the positives and the negatives
    (``config.gap_bootstrap`` draws, seeded), scoring model and truth on the same rows, so
    the interval is the sampling noise of the test set, not of either AUC alone.
    """
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if len(pos) < 2 or len(neg) < 2:
        return {}
    rng = np.random.default_rng(config.gap_bootstrap_seed)
    gaps = np.empty(config.gap_bootstrap)
    for k in range(config.gap_bootstrap):
        rows = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        gaps[k] = roc_auc_score(y[rows], truth[rows]) - roc_auc_score(y[rows], model[rows])
    low, high = np.percentile(gaps, [2.5, 97.5])
    return {
        "gap_auc_low": float(low),
        "gap_auc_high": float(high),
        "gap_auc_se": float(gaps.std(ddof=1)),
        "gap_bootstrap": float(config.gap_bootstrap),
    }


def json_ready(obj: Any) -> Any:
    """Nested metrics with NaN/inf as ``None`` and numpy scalars as Python numbers."""
    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
