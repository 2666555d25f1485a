"""Calibrators: map a model's raw score to a calibrated probability (or amount).

Fitted on a period the booster did not learn from: the validation period for the
evaluation fit (never the test period it is judged on), the test period for the final refit
(:mod:`predict.models.refit`, whose trees learned on train + valid); saved as plain JSON beside
the model (``calibrator.json``), never pickled. Each calibrator follows scikit-learn's
estimator rules: ``__init__`` stores settings only, ``fit`` returns ``self``, learned
attributes end in ``_``.

- ``isotonic`` (default for churn/default): a non-decreasing step function, linearly
  interpolated between its knots and flat outside them. Non-parametric, so it fixes any
  monotone distortion; being non-decreasing it keeps a monotone model monotone. A lowest
  block with no event, or a highest with no non-event, reads its Jeffreys estimate
  (:func:`isotonic_knots`): no client reads 0 or 1 from a handful of rows.
- ``platt``: ``p = sigmoid(a * logit(s) + b)``, two parameters; smoother, for small
  validation sets.
- ``scale`` (default for contribution): ``y = b * s`` with ``b = sum(y) / sum(s)`` over the
  validation rows, ``b > 0``. It matches the validation total and keeps the score's sign:
  a non-negative model output (Tweedie, log link) stays non-negative, which an intercept
  cannot promise (``linear`` fitted ``a = -14,500`` on the synthetic book and gave
  negative amounts to 46% of clients). See docs/models.md "Calibration".
- ``linear``: ``y = a + b * s`` by least squares, for amounts; can cross zero.
- ``identity``: no change.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Self

import numpy as np
from sklearn.isotonic import IsotonicRegression

CALIBRATOR_KINDS = ("isotonic", "platt", "linear", "scale", "identity")
_EPS = 1e-12


class CalibrationError(ValueError):
    """A calibrator cannot be fitted or rebuilt from its JSON."""


class Calibrator(Protocol):
    """What a model bundle needs from a calibrator."""

    kind: ClassVar[str]

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self: ...

    def transform(self, scores: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


def _check_fit_input(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype="float64")
    y = np.asarray(labels, dtype="float64")
    if s.shape != y.shape or s.ndim != 1:
        raise CalibrationError(f"scores {s.shape} and labels {y.shape} must be 1-d and alike")
    if len(s) == 0:
        raise CalibrationError("cannot fit a calibrator on zero rows")
    if not (np.isfinite(s).all() and np.isfinite(y).all()):
        raise CalibrationError("scores and labels must be finite (drop NaN labels first)")
    return s, y


def _not_fitted(obj: object, attr: str) -> None:
    if not hasattr(obj, attr):
        raise CalibrationError(f"{type(obj).__name__} is not fitted; call fit() first")


def isotonic_knots(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots ``(x, y)`` of the isotonic regression (pool adjacent violators) of the 0/1
    labels ``y`` on the scores ``s``, its extreme blocks read at the Jeffreys estimate.

    A block of the plain fit with no event reads 0, one with no non-event 1: a claim of
    certainty that a finite sample cannot support (on the synthetic book's churn
    validation period, 252 of the 2025-12-31 clients read 99.99% and 51 read 0.01%, the
    calibrator's floor, each from a block of a few dozen rows). Only the lowest block can
    have no event and only the highest no non-event (the fit is non-decreasing); the lowest
    then reads ``0.5 / (n + 1)`` and the highest ``(n + 0.5) / (n + 1)`` for a block of
    ``n`` rows (the mean of the Jeffreys Beta(1/2, 1/2) posterior), bounded by its
    neighbour's rate so that the fit stays non-decreasing. Every other block is its
    observed share of events, as in the plain fit."""
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(s, y)
    x_ = np.asarray(iso.X_thresholds_, dtype="float64")
    y_ = np.asarray(iso.y_thresholds_, dtype="float64").copy()
    levels = np.unique(y_)
    fitted = iso.predict(s)
    if levels[0] == 0.0:
        n = int((fitted == 0.0).sum())
        rate = 0.5 / (n + 1)
        y_[y_ == 0.0] = min(rate, levels[1]) if len(levels) > 1 else rate
    if levels[-1] == 1.0:
        n = int((fitted == 1.0).sum())
        rate = (n + 0.5) / (n + 1)
        y_[y_ == 1.0] = max(rate, levels[-2]) if len(levels) > 1 else rate
    return x_, y_


class IsotonicCalibrator:
    """Isotonic regression of the label on the score, a block of one outcome only read at
    its Jeffreys estimate (:func:`isotonic_knots`), clipped to ``[floor, 1 - floor]``."""

    kind: ClassVar[str] = "isotonic"

    def __init__(self, floor: float = 1e-4) -> None:
        self.floor = floor

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self:
        s, y = _check_fit_input(scores, labels)
        x_, y_ = isotonic_knots(s, y)
        self.x_ = x_
        self.y_ = np.clip(y_, self.floor, 1.0 - self.floor)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        _not_fitted(self, "x_")
        return np.interp(np.asarray(scores, dtype="float64"), self.x_, self.y_)

    def to_dict(self) -> dict[str, Any]:
        _not_fitted(self, "x_")
        return {
            "kind": self.kind,
            "floor": self.floor,
            "x": self.x_.tolist(),
            "y": self.y_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IsotonicCalibrator:
        cal = cls(floor=float(data["floor"]))
        cal.x_ = np.asarray(data["x"], dtype="float64")
        cal.y_ = np.asarray(data["y"], dtype="float64")
        if cal.x_.shape != cal.y_.shape or cal.x_.size == 0 or np.any(np.diff(cal.x_) < 0):
            raise CalibrationError("isotonic calibrator: x and y must be non-empty, alike, sorted")
        return cal


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype="float64"), _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit  # no overflow for large |z|

    return np.asarray(expit(z), dtype="float64")


class _TwoParameter:
    """A calibrator with two learned numbers ``a_`` and ``b_`` (its whole JSON form)."""

    kind: ClassVar[str]
    a_: float
    b_: float

    def to_dict(self) -> dict[str, Any]:
        _not_fitted(self, "a_")
        return {"kind": self.kind, "a": self.a_, "b": self.b_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        cal = cls()
        cal.a_, cal.b_ = float(data["a"]), float(data["b"])
        if not (np.isfinite(cal.a_) and np.isfinite(cal.b_)):
            raise CalibrationError(f"{cls.kind} calibrator: a and b must be finite numbers")
        return cal


class PlattCalibrator(_TwoParameter):
    """Logistic regression of the label on ``logit(score)`` (Newton's method) with Platt's
    (1999) targets: ``(N+ + 1) / (N+ + 2)`` for an event and ``1 / (N- + 2)`` for a
    non-event instead of 1 and 0. On a few hundred rows that a score separates perfectly the
    plain fit has no finite solution (its slope grows without bound); the targets keep it
    finite and the probabilities off 0 and 1 by about one row's worth."""

    kind: ClassVar[str] = "platt"

    def __init__(self, max_iter: int = 100, tol: float = 1e-10) -> None:
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self:
        s, y = _check_fit_input(scores, labels)
        events = float((y == 1).sum())
        target = np.where(y == 1, (events + 1) / (events + 2), 1.0 / (len(y) - events + 2))
        design = np.column_stack([_logit(s), np.ones_like(s)])
        beta = np.array([1.0, 0.0])
        for _ in range(self.max_iter):
            p = _sigmoid(design @ beta)
            grad = design.T @ (target - p)
            hess = (design * (p * (1.0 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            beta = beta + step
            if np.max(np.abs(step)) < self.tol:
                break
        self.a_, self.b_ = float(beta[0]), float(beta[1])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        _not_fitted(self, "a_")
        return _sigmoid(self.a_ * _logit(scores) + self.b_)


class LinearCalibrator(_TwoParameter):
    """Least-squares ``y = a + b * score`` (for amounts: corrects level and scale)."""

    kind: ClassVar[str] = "linear"

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self:
        s, y = _check_fit_input(scores, labels)
        design = np.column_stack([np.ones_like(s), s])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        self.a_, self.b_ = float(coef[0]), float(coef[1])
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        _not_fitted(self, "a_")
        return self.a_ + self.b_ * np.asarray(scores, dtype="float64")


class ScaleCalibrator:
    """``y = b * score`` with ``b = sum(labels) / sum(scores)``: the validation total is
    matched and the sign of every score is kept (for amounts).

    Negative labels (fee reversals) count in ``sum(labels)``, so the level is the net
    amount, but no output turns negative where the score is not: a client whose expected
    net revenue is below zero still gets ``b * score >= 0`` from a non-negative model.
    Fails closed when the factor is not a positive finite number (validation scores that
    sum to zero or less, or a validation total of zero or less).
    """

    kind: ClassVar[str] = "scale"
    b_: float

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self:
        s, y = _check_fit_input(scores, labels)
        total_s, total_y = float(s.sum()), float(y.sum())
        if not (total_s > 0.0 and total_y > 0.0):
            raise CalibrationError(
                f"scale calibrator: validation scores sum to {total_s:.6g} and labels to "
                f"{total_y:.6g}; both must be positive for a sign-keeping scale factor"
            )
        self.b_ = _positive_factor(total_y / total_s)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        _not_fitted(self, "b_")
        return self.b_ * np.asarray(scores, dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        _not_fitted(self, "b_")
        return {"kind": self.kind, "b": self.b_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScaleCalibrator:
        cal = cls()
        cal.b_ = _positive_factor(float(data["b"]))
        return cal


def _positive_factor(b: float) -> float:
    if not (np.isfinite(b) and b > 0.0):
        raise CalibrationError(f"scale calibrator: factor b = {b!r} must be a positive number")
    return b


class IdentityCalibrator:
    """No calibration: the score is returned as it is."""

    kind: ClassVar[str] = "identity"

    def fit(self, scores: np.ndarray, labels: np.ndarray) -> Self:
        _check_fit_input(scores, labels)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores, dtype="float64")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentityCalibrator:
        return cls()


_CLASSES: dict[str, Any] = {
    "isotonic": IsotonicCalibrator,
    "platt": PlattCalibrator,
    "linear": LinearCalibrator,
    "scale": ScaleCalibrator,
    "identity": IdentityCalibrator,
}


# What each task's calibrator may be: probabilities (binary) or amounts (regression). An
# isotonic fit clipped to [1e-4, 1 - 1e-4] would squash amounts; a scale factor could
# push probabilities above 1.
KINDS_BY_TASK = {
    "binary": ("isotonic", "platt", "identity"),
    "regression": ("scale", "linear", "identity"),
}
AUTO = "auto"
# ``auto`` for churn and default: isotonic on at least this many calibration rows with at
# least this many of each class, else platt. Isotonic regression is a step function with a
# step per run of rows; on a few hundred rows its steps are a handful of clients each, and
# it overfits (Niculescu-Mizil and Caruana, 2005, saw it beaten by Platt scaling below about
# a thousand calibration rows): the retail book's 312 rows gave 40 distinct probabilities
# and 348 clients at the floor.
ISOTONIC_MIN_ROWS = 1000
ISOTONIC_MIN_CLASS_ROWS = 50


def resolve_calibration(kind: str, labels: np.ndarray) -> str:
    """The calibrator a binary model gets for ``kind``: itself, or for ``auto`` isotonic when
    the calibration rows (``labels``, 0/1) number at least :data:`ISOTONIC_MIN_ROWS` with at
    least :data:`ISOTONIC_MIN_CLASS_ROWS` of each class, else platt."""
    if kind != AUTO:
        return kind
    y = np.asarray(labels, dtype="float64")
    events = int((y == 1).sum())
    enough = len(y) >= ISOTONIC_MIN_ROWS and min(events, len(y) - events) >= ISOTONIC_MIN_CLASS_ROWS
    return "isotonic" if enough else "platt"


def make_calibrator(kind: str, task: str | None = None) -> Calibrator:
    """A new, unfitted calibrator of ``kind`` (one of ``CALIBRATOR_KINDS``; with ``task``,
    one of ``KINDS_BY_TASK[task]``)."""
    if kind not in _CLASSES:
        raise CalibrationError(f"unknown calibrator {kind!r}; expected one of {CALIBRATOR_KINDS}")
    if task is not None and kind not in KINDS_BY_TASK[task]:
        raise CalibrationError(
            f"calibrator {kind!r} does not fit a {task} model; expected one of "
            f"{KINDS_BY_TASK[task]}"
        )
    cal: Calibrator = _CLASSES[kind]()
    return cal


def calibrator_from_dict(data: Any) -> Calibrator:
    """Rebuild a fitted calibrator from its JSON form (``to_dict``); refuses unknown kinds."""
    if not isinstance(data, dict) or data.get("kind") not in _CLASSES:
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise CalibrationError(f"unknown calibrator {kind!r}; expected one of {CALIBRATOR_KINDS}")
    try:
        cal: Calibrator = _CLASSES[data["kind"]].from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CalibrationError(f"malformed {data['kind']} calibrator: {exc}") from exc
    return cal
