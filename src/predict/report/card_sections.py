"""The sections of the model card a validator reads: population and sizes, performance with
intervals and by segment, limitations per model, the rules that turn scores into actions,
governance, the exposure method and the monitoring plan.

Every figure comes from the run's own files (``metrics/detail/<target>.json``,
``metrics/detail/split.json``, the scores, the explanations) or from the params the scoring
used (``score.relationship``, ``score.drift``) and the card's own params
(``report.model_card``). What is not there is said ("not recorded", "not evaluable: ..."),
never guessed. Tables have at most :data:`MAX_COLUMNS` columns (they must fit a printed
page) and numbers go through :mod:`predict.report.formatting` (no scientific notation).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from predict.report.formatting import FORMATS, MISSING, is_missing
from predict.scoring.drift import DriftConfig
from predict.scoring.early_warning import EarlyWarningConfig
from predict.scoring.relationship import ActionRule, RelationshipConfig

MAX_COLUMNS = 8  # widest card table: wider ones do not fit a printed A4 page at 7pt
NOT_RECORDED = "not recorded"
NO_RATIONALE = "no rationale recorded"
Z95 = 1.959963984540054  # standard normal quantile of 0.975: two-sided 95% interval


@dataclass(frozen=True)
class ModelCardConfig:
    """``report.model_card`` in params.yaml: the governance fields of the card (null: the
    card says "not recorded"; a ``next_review`` before the as-of date reads "overdue")."""

    owner: str | None = None  # the model owner (person or function)
    approver: str | None = None  # who approved the model for use
    approved_on: dt.date | None = None
    validation_status: str | None = None  # e.g. "validated 2026-03 by model validation"
    next_review: dt.date | None = None
    override_process: str | None = None  # how a reviewer overrides an action, and records it

    def __post_init__(self) -> None:
        for f in ("owner", "approver", "validation_status", "override_process"):
            value = getattr(self, f)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"report.model_card.{f}: non-empty text or null, got {value!r}")
        if self.approved_on and self.next_review and self.next_review < self.approved_on:
            raise ValueError(
                f"report.model_card: next_review {self.next_review} is before approved_on "
                f"{self.approved_on}"
            )


@dataclass(frozen=True)
class CardPolicy:
    """The scoring settings the card documents (``score.relationship``, ``score.drift`` of
    the params file ``source``); None: the report was given no such section."""

    relationship: RelationshipConfig | None = None
    drift: DriftConfig | None = None
    source: str = ""


# ---------------------------------------------------------------- tables and numbers


def text_cell(value: Any) -> dict[str, Any]:
    return {"text": MISSING if is_missing(value) else str(value), "numeric": False}


def num_cell(value: Any, fmt: str = "metric") -> dict[str, Any]:
    """A number formatted by :data:`predict.report.formatting.FORMATS` (missing: a dash)."""
    if is_missing(value) or isinstance(value, bool):
        return {"text": MISSING, "numeric": True}
    return {"text": FORMATS[fmt](float(value)), "numeric": True}


def card_table(
    table_id: str, columns: Sequence[str], rows: Iterable[Sequence[dict[str, Any]]]
) -> dict[str, Any]:
    """A card table ``{id, columns, rows}``; more than :data:`MAX_COLUMNS` columns or a row of
    another width is an error (the card must print on a page)."""
    if len(columns) > MAX_COLUMNS:
        raise ValueError(
            f"model card table {table_id!r} has {len(columns)} columns (at most {MAX_COLUMNS})"
        )
    body = [list(r) for r in rows]
    for row in body:
        if len(row) != len(columns):
            raise ValueError(f"model card table {table_id!r}: a row of {len(row)} cells")
    return {"id": table_id, "columns": list(columns), "rows": body}


def interval_text(low: float | None, high: float | None, fmt: str = "metric") -> str:
    if low is None or high is None:
        return MISSING
    return f"{FORMATS[fmt](low)} to {FORMATS[fmt](high)}"


# ---------------------------------------------------------------- intervals


def hanley_mcneil(auc: float, positives: int, negatives: int) -> tuple[float, float, float] | None:
    """(low, high, standard error) of the 95% interval of an AUC (Hanley and McNeil, 1982).

    ``SE = sqrt((A(1-A) + (n1-1)(Q1-A^2) + (n2-1)(Q2-A^2)) / (n1 n2))`` with
    ``Q1 = A/(2-A)``, ``Q2 = 2A^2/(1+A)``, n1 events and n2 non-events; the interval
    ``A +/- 1.96 SE`` is clipped to [0, 1]. None without an AUC or without both classes.
    """
    if auc is None or not math.isfinite(auc) or positives < 1 or negatives < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se), se


def auc_interval(block: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """:func:`hanley_mcneil` of a metrics block's ``auc`` with its ``positives`` events among
    ``n`` rows; None when one of them is missing."""
    auc, n, pos = block.get("auc"), block.get("n"), block.get("positives")
    if auc is None or n is None or pos is None:
        return None
    return hanley_mcneil(float(auc), int(pos), int(n) - int(pos))


# ---------------------------------------------------------------- population


def _split_sets(metrics: Mapping[str, Any]) -> Mapping[str, Any]:
    sets = metrics.get("split", {}).get("sets", {})
    return sets if isinstance(sets, Mapping) else {}


def as_of_text(dates: Sequence[str]) -> str:
    if not dates:
        return NOT_RECORDED
    if len(dates) == 1:
        return str(dates[0])
    return f"{dates[0]} to {dates[-1]} ({len(dates)} dates)"


def set_events(metrics: Mapping[str, Any], target: str, name: str) -> tuple[float | None, Any]:
    """(events, event rate) of set ``name`` for a binary target: the test block's
    ``positives`` for the test set, else labelled rows x positive rate of
    ``metrics/detail/split.json`` (the split's own count of the same labelled rows)."""
    detail = metrics.get(target, {})
    test = detail.get("test", {}) if isinstance(detail.get("test"), Mapping) else {}
    if name == "test" and test.get("positives") is not None and test.get("n"):
        return float(test["positives"]), float(test["positives"]) / float(test["n"])
    entry = _split_sets(metrics).get(name, {}).get(target, {})
    labelled, rate = entry.get("labelled"), entry.get("positive_rate")
    if labelled is None or rate is None:
        return None, None
    return float(round(labelled * rate)), float(rate)


def population_tables(metrics: Mapping[str, Any], target: str, task: str) -> list[dict[str, Any]]:
    """Sizes per set (as-of dates, rows, clients, events and event rate, or the mean actual
    amount for contribution) and the rows left out of the population per set."""
    block = metrics.get(target, {}).get("population", {})
    block = block if isinstance(block, Mapping) else {}
    sets = _split_sets(metrics)
    names = [n for n in ("train", "valid", "test") if n in block or n in sets]
    size_rows, out_rows = [], []
    for name in names:
        entry = block.get(name, {}) if isinstance(block.get(name), Mapping) else {}
        dates = sets.get(name, {}).get("as_of", []) if isinstance(sets.get(name), Mapping) else []
        row = [text_cell(name), text_cell(as_of_text(dates))]
        row += [num_cell(entry.get("rows"), "int"), num_cell(entry.get("clients"), "int")]
        if task == "binary":
            events, rate = set_events(metrics, target, name)
            row += [num_cell(events, "int"), num_cell(rate, "rate")]
        else:
            mean = sets.get(name, {}).get(target, {}).get("mean") if name in sets else None
            row += [num_cell(mean, "money")]
        size_rows.append(row)
        out_rows.append(
            [
                text_cell(name),
                num_cell(entry.get("rows_unlabelled"), "int"),
                num_cell(entry.get("rows_in_default"), "int"),
                num_cell(entry.get("rows_without_exposure"), "int"),
            ]
        )
    base = ["set", "as-of dates", "rows", "clients"]
    extra = ["events", "event rate"] if task == "binary" else ["mean actual amount"]
    tables = [card_table(f"sizes-{target}", base + extra, size_rows)]
    if out_rows:
        outside = ["set", "rows outside or censored", "of which in default", "without exposure"]
        tables.append(card_table(f"outside-{target}", outside, out_rows))
    return tables


# ---------------------------------------------------------------- performance

METRIC_LABELS = {
    "auc": "AUC",
    "gini": "Gini (2 AUC - 1)",
    "ks": "KS",
    "pr_auc": "PR-AUC",
    "brier": "Brier score",
    "ece": "ECE (calibration error)",
    "top_decile_lift": "top-decile lift",
    "top_decile_capture": "top-decile capture",
    "base_rate": "event rate",
    "mean_predicted": "mean predicted",
    "rmse": "RMSE",
    "mae": "MAE",
    "spearman": "Spearman rank correlation",
    "revenue_gini": "revenue Gini",
    "tweedie_deviance": "Tweedie deviance",
    "bias": "bias (mean predicted - actual)",
    "mean_actual": "mean actual",
}
PERFORMANCE_METRICS = {
    "binary": (
        "auc",
        "gini",
        "ks",
        "pr_auc",
        "brier",
        "ece",
        "top_decile_lift",
        "top_decile_capture",
        "base_rate",
        "mean_predicted",
    ),
    "regression": (
        "rmse",
        "mae",
        "spearman",
        "revenue_gini",
        "tweedie_deviance",
        "top_decile_capture",
        "bias",
        "mean_actual",
        "mean_predicted",
    ),
}
PERFORMANCE_COLUMNS = (
    "metric",
    "model (test period)",
    "95% interval",
    "interval method",
    "baseline",
    "model - baseline",
    "truth (generator)",
)
NO_INTERVAL = "none in the metrics"


def _block(detail: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = detail.get(name)
    if not isinstance(value, Mapping) or value.get("available") is False or "skipped" in value:
        return {}
    return value


def metric_interval(name: str, test: Mapping[str, Any]) -> tuple[float | None, float | None, str]:
    """(low, high, method) of the 95% interval of test metric ``name``: Hanley-McNeil for the
    AUC (and the Gini through it), a ``<name>_low`` / ``<name>_high`` pair of the metrics
    (a bootstrap), else none."""
    if name in ("auc", "gini"):
        hm = auc_interval(test)
        if hm is None:
            return None, None, "not computable (no AUC or one class only)"
        low, high, _ = hm
        if name == "gini":
            low, high = 2 * low - 1, 2 * high - 1
        return low, high, "Hanley-McNeil"
    lower, upper = test.get(f"{name}_low"), test.get(f"{name}_high")
    if lower is not None and upper is not None:
        return float(lower), float(upper), "bootstrap (metrics detail)"
    return None, None, NO_INTERVAL


def _truth_cell(truth: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The truth's figure; when the truth covers only part of the test rows, with the model's
    on those same rows (the model column is on every test row, the gap on the covered ones)."""
    value, model = truth.get(f"truth_{name}"), truth.get(f"model_{name}")
    coverage = truth.get("coverage", 1.0)
    if is_missing(value) or is_missing(model) or is_missing(coverage) or coverage >= 1:
        return num_cell(value)
    share = f"{float(coverage):.0%}"
    text = f"{num_cell(value)['text']} (model {num_cell(model)['text']} on the {share} it covers)"
    return {"text": text, "numeric": True}


def performance_table(detail: Mapping[str, Any], target: str, task: str) -> dict[str, Any]:
    """One row per headline metric: the model on the test period with its 95% interval, the
    baseline, the uplift and the generator's truth (when the run has one); and the gap of the
    AUC to the truth with its paired-bootstrap interval (``gap_auc_low`` / ``gap_auc_high``)."""
    test, base = _block(detail, "test"), _block(detail, "baseline")
    truth, uplift = _block(detail, "truth"), _block(detail, "uplift")
    rows = []
    for name in PERFORMANCE_METRICS[task]:
        if name not in test:
            continue
        low, high, method = metric_interval(name, test)
        rows.append(
            [
                text_cell(METRIC_LABELS.get(name, name)),
                num_cell(test.get(name)),
                text_cell(interval_text(low, high)),
                text_cell(method),
                num_cell(base.get(name)),
                num_cell(uplift.get(name)),
                _truth_cell(truth, name),
            ]
        )
    if "gap_auc" in truth:
        low, high = truth.get("gap_auc_low"), truth.get("gap_auc_high")
        method = "paired bootstrap" if low is not None else NO_INTERVAL
        rows.append(
            [
                text_cell("AUC gap to the truth"),
                num_cell(truth.get("gap_auc")),
                text_cell(interval_text(low, high)),
                text_cell(method),
                text_cell(None),
                text_cell(None),
                text_cell(None),
            ]
        )
    return card_table(f"performance-{target}", PERFORMANCE_COLUMNS, rows)


# ---------------------------------------------------------------- segments


@dataclass(frozen=True)
class SegmentStatus:
    segment: str
    rows: float | None
    reason: str | None  # None: evaluable; else why not ("no event", ...)
    ead_share: float | None


def segment_reason(entry: Mapping[str, Any], task: str) -> str | None:
    """Why a segment's metrics cannot be read (None when they can): too few rows for the
    evaluation (only ``n`` recorded), no event or no non-event (binary), no figure."""
    n = entry.get("n")
    if task == "binary":
        if "positives" not in entry:
            return f"too few rows ({FORMATS['int'](n)} test rows)" if n is not None else "no rows"
        pos = float(entry["positives"])
        if pos == 0:
            return "no event"
        if n is not None and pos >= float(n):
            return "no non-event"
        return None if entry.get("auc") is not None else "no AUC"
    if "rmse" not in entry:
        return f"too few rows ({FORMATS['int'](n)} test rows)" if n is not None else "no rows"
    return None


def ead_shares(scores: pd.DataFrame | None, column: str = "segment") -> dict[str, float]:
    """Share of the book's EAD (sum of ``ead`` over every scored client at the as-of date)
    held by each value of ``column``; empty when the scores carry no exposure."""
    if scores is None or "ead" not in scores or column not in scores:
        return {}
    ead = pd.to_numeric(scores["ead"], errors="coerce").fillna(0.0)
    total = float(ead.sum())
    if total <= 0:
        return {}
    keys = scores[column].astype("str").fillna("(missing)")
    return {str(k): float(v) / total for k, v in ead.groupby(keys.to_numpy()).sum().items()}


def segment_table(
    detail: Mapping[str, Any], target: str, task: str, shares: Mapping[str, float]
) -> tuple[dict[str, Any] | None, list[SegmentStatus]]:
    """The model's metrics per segment on the test period (``by_segment.model``) with each
    segment's share of the book's EAD; a segment that cannot be evaluated reads
    "not evaluable: <why>". Also the status of every segment (for the limitations)."""
    block = detail.get("by_segment", {})
    model = block.get("model", {}) if isinstance(block, Mapping) else {}
    if not isinstance(model, Mapping) or not model:
        return None, []
    statuses, rows = [], []
    for name, entry in model.items():
        entry = entry if isinstance(entry, Mapping) else {}
        reason = segment_reason(entry, task)
        share = shares.get(str(name)) if shares else None
        statuses.append(SegmentStatus(str(name), entry.get("n"), reason, share))
        status = "evaluated" if reason is None else f"not evaluable: {reason}"
        if task == "binary":
            hm = auc_interval(entry) if reason is None else None
            cells = [
                num_cell(entry.get("positives"), "int"),
                num_cell(entry.get("auc") if reason is None else None),
                text_cell(interval_text(hm[0], hm[1]) if hm else None),
            ]
        else:
            cells = [
                num_cell(entry.get("rmse")),
                num_cell(entry.get("spearman")),
                num_cell(entry.get("bias")),
            ]
        rows.append(
            [
                text_cell(name),
                num_cell(entry.get("n"), "int"),
                *cells,
                num_cell(share, "pct") if shares else text_cell(NOT_RECORDED),
                text_cell(status),
            ]
        )
    middle = (
        ["events", "AUC", "AUC 95% interval (Hanley-McNeil)"]
        if task == "binary"
        else ["RMSE", "Spearman", "bias"]
    )
    columns = ["segment", "test rows", *middle, "share of book EAD", "status"]
    return card_table(f"segments-{target}", columns, rows), statuses


# ---------------------------------------------------------------- limitations

COMMON_LIMITATIONS = (
    "Trained on the bank's history as given in the contract tables; clients or products "
    "unlike those seen in training (new segments, new products) are outside its experience.",
    "Explanations (SHAP) describe the model, not causes in the world: a feature that lowers "
    "a score is not a lever that will lower the client's risk.",
)
TARGET_LIMITATIONS = {
    "churn": (
        "The probability is calibrated on the latest labelled period the fit held out (the "
        "validation period for the evaluation fit, the test period for the final refit: see "
        "the fits); calibration drifts when the portfolio, competition or rates change: "
        "watch the stability (PSI) table.",
        "Churn is inferred from the data (no open facility and no revenue in the inactivity "
        "window): a client who moves its business elsewhere but keeps a dormant line is not "
        "counted as gone.",
    ),
    "default": (
        "The probability is calibrated on the latest labelled period the fit held out (the "
        "validation period for the evaluation fit, the test period for the final refit); "
        "calibration drifts with the credit cycle: a calibration period from a benign year "
        "understates losses in a downturn.",
        "It is a point-in-time PD over the label horizon (features.horizon_months; graded "
        "and put into capital as its one-year equivalent) for early warning and portfolio "
        "expected loss, "
        "not a through-the-cycle or regulatory (IRB) PD; capital and RAROC built on it are "
        "estimates for comparing relationships.",
        "No collateral data in the contract: loss given default is set by product in params, "
        "so expected loss does not see a client's security.",
    ),
    "contribution": (
        "An expected amount, not a probability: its level is set by the training "
        "calibration of amounts (train.contribution.calibration) and its error is read from "
        "the RMSE and bias, not from calibration of probabilities.",
        "Revenue is what the bank books as given in the revenue table; costs, funding and "
        "losses are not part of it (they enter the relationship value separately).",
    ),
}
PRICING_FEATURES = (
    "rate_spread_open",
    "rate_spread_all",
    "avg_interest_rate",
    "interest_margin_12m",
    "effective_rate_3m",
)


def pricing_paragraph(
    feature_names: Sequence[str], importance: pd.DataFrame | None = None
) -> str | None:
    """For the default model: what using the bank's own pricing as a predictor means, when
    the model has pricing features (rate spreads, rates, margins); None otherwise.
    ``importance``: mean |SHAP| per feature (``feature``, ``mean_abs_shap``) of this scoring."""
    used = [f for f in PRICING_FEATURES if f in set(feature_names)]
    if not used:
        return None
    share = ""
    if importance is not None and not importance.empty:
        total = float(importance["mean_abs_shap"].sum())
        mine = float(importance.loc[importance["feature"].isin(used), "mean_abs_shap"].sum())
        if total > 0:
            ranks = importance["feature"].tolist()
            top = [f"{f} (rank {ranks.index(f) + 1})" for f in used if f in ranks]
            share = (
                f" In this scoring they carry {FORMATS['pct'](mine / total)} of the model's "
                f"mean |SHAP|{': ' + ', '.join(top) if top else ''}."
            )
    return (
        f"Pricing as a predictor: the model uses the bank's own pricing ({', '.join(used)})."
        f"{share} A rate spread records the risk premium the bank priced at origination, "
        "i.e. its own earlier credit judgement: the model partly re-learns that judgement, "
        "so it is not independent evidence of risk and must not be used to set prices "
        "(circular). A change of pricing policy, competitive or relationship discounts, or "
        "a new product moves the scores without any change in the client's risk; such a "
        "change shows in the stability table for these features. A validator should compare "
        "the model without them (train.exclude_features) before relying on it."
    )


def limitations(
    target: str,
    flags: Sequence[str],
    segments: Sequence[SegmentStatus],
    pricing: str | None = None,
) -> list[str]:
    """This model's limitations: the run's flags (model flags, split fallback, facility-terms
    look-ahead), segments that cannot be evaluated, the target's own, the pricing paragraph
    (default model), then those of every model."""
    out = list(flags)
    for s in segments:
        if s.reason is None:
            continue
        size = f"{FORMATS['int'](s.rows)} test rows" if s.rows is not None else "no test rows"
        ead = f", {FORMATS['pct'](s.ead_share)} of the book's EAD" if s.ead_share else ""
        out.append(
            f"Segment {s.segment} ({size}{ead}): not evaluable: {s.reason} in the test "
            "period, so the model's performance there is not measured."
        )
    out += TARGET_LIMITATIONS.get(target, ())
    if pricing:
        out.append(pricing)
    return out + list(COMMON_LIMITATIONS)


# ---------------------------------------------------------------- rules and thresholds


def rules_table(relationship: RelationshipConfig | None) -> dict[str, Any] | None:
    """The ordered action rules (first match wins), each with its rationale, and the default
    action; None when the report was given no ``score.relationship``."""
    if relationship is None:
        return None
    rows = [_rule_row(i, r) for i, r in enumerate(relationship.rules, start=1)]
    rows.append(
        [
            text_cell(len(rows) + 1),
            text_cell(relationship.default_action),
            text_cell("no rule above holds (default_action)"),
            text_cell(NO_RATIONALE),
        ]
    )
    return card_table("action-rules", ("order", "action", "when", "rationale"), rows)


def _rule_row(order: int, rule: ActionRule) -> list[dict[str, Any]]:
    return [
        text_cell(order),
        text_cell(rule.action),
        text_cell(rule.describe()),
        text_cell(rule.rationale or NO_RATIONALE),
    ]


def early_warning_table(ew: EarlyWarningConfig | None) -> dict[str, Any] | None:
    """Every early-warning threshold with its value and rationale."""
    if ew is None:
        return None
    rows = []
    for f in fields(ew):
        if f.name == "rationale":
            continue
        value = getattr(ew, f.name)
        shown = ", ".join(map(str, value)) if isinstance(value, tuple) else str(value)
        rows.append(
            [text_cell(f.name), text_cell(shown), text_cell(ew.rationale.get(f.name, NO_RATIONALE))]
        )
    return card_table("early-warning-thresholds", ("threshold", "value", "rationale"), rows)


def exposure_table(relationship: RelationshipConfig | None) -> dict[str, Any] | None:
    """CCF, LGD and undrawn rule per product, and the defaults for products not listed."""
    if relationship is None:
        return None
    products = sorted(set(relationship.ccf) | set(relationship.lgd) | set(relationship.undrawn))
    rows = [
        [
            text_cell(p),
            num_cell(relationship.ccf.get(p, relationship.default_ccf), "pct"),
            num_cell(relationship.lgd.get(p, relationship.default_lgd), "pct"),
            text_cell(relationship.undrawn.get(p, relationship.default_undrawn)),
        ]
        for p in products
    ]
    rows.append(
        [
            text_cell("(products not listed)"),
            num_cell(relationship.default_ccf, "pct"),
            num_cell(relationship.default_lgd, "pct"),
            text_cell(relationship.default_undrawn),
        ]
    )
    return card_table("exposure-method", ("product", "CCF", "LGD", "undrawn rule"), rows)


EXPOSURE_METHOD = (
    "EAD = drawn + CCF(product) x undrawn over the facilities open at the as-of date; drawn "
    "is the latest month-end outstanding; undrawn is facility_balances.available where the "
    "bank gives it, else the product's rule (headroom = limit - drawn; none = 0 for "
    "amortising loans). LGD is set by product (no collateral in the contract), a client's "
    "LGD the EAD-weighted mean over its open facilities; EL = PD x LGD x EAD over the "
    "horizon. CCF and LGD are parameters (score.relationship), not estimated from the "
    "bank's recoveries: placeholders near the Basel foundation values until the bank sets "
    "its own."
)


# ---------------------------------------------------------------- governance, monitoring

GOVERNANCE_LABELS = (
    ("owner", "Model owner"),
    ("approver", "Approved by"),
    ("approved_on", "Approved on"),
    ("validation_status", "Validation status"),
    ("next_review", "Next review"),
    ("override_process", "Override process"),
)


def governance_rows(config: ModelCardConfig, as_of: dt.date) -> list[tuple[str, str, str]]:
    """(field, value, status) per governance field: "not recorded" when null, "overdue" when
    the next review date is before the as-of date of the scores."""
    rows = []
    for key, label in GOVERNANCE_LABELS:
        value = getattr(config, key)
        if value is None:
            rows.append((label, NOT_RECORDED, "missing"))
        elif key == "next_review" and value < as_of:
            rows.append((label, f"{value.isoformat()}: overdue (before {as_of})", "overdue"))
        else:
            text = value.isoformat() if isinstance(value, dt.date) else str(value)
            rows.append((label, text, "ok"))
    return rows


def monitoring_items(policy: CardPolicy) -> list[str]:
    """The triggers that call for a look at the models, in words, from the settings."""
    items = []
    if policy.drift is not None:
        d = policy.drift
        items.append(
            "Stability: PSI of each model input (against the training rows) and score "
            "(against the out-of-sample test-period predictions) at every scoring, with the "
            "bins frozen in the model folder at training (train.drift_reference); at "
            f"{d.warn:g} a "
            f"warning, at {d.alert:g} an alert (score.drift), shown at the top of the "
            "portfolio page and in each card's stability table. An alert on a score or a "
            "top driver calls for a review of the model before its next use."
        )
    else:
        items.append(f"Stability (PSI) thresholds: {NOT_RECORDED} (no score.drift given).")
    items.append(
        "Performance: at every training the model is compared with its baseline on the "
        "test period, and the test event rate with the training one "
        "(train.evaluation.max_event_rate_ratio); either failing raises a flag on this card "
        "and in the report's notes. A challenger replaces the champion only if its paired "
        "bootstrap gain excludes zero and its calibration is no worse (predict promote)."
    )
    if policy.relationship is not None:
        ew = policy.relationship.early_warning
        items.append(
            f"Clients: the early-warning list (PD rise >= {ew.default_rise:g}, PD crossing "
            f"{ew.default_threshold:g}, churn rise >= {ew.churn_rise:g}, churn crossing "
            f"{ew.churn_threshold:g}, downgrade >= {ew.downgrade_notches} notches, new "
            f"arrears >= {ew.dpd_days} days, credit events, complaints, detractors, revenue "
            "drops); each threshold with its rationale under From scores to actions."
        )
    return items


def policy_source_note(policy: CardPolicy) -> str:
    if policy.relationship is None:
        return (
            "The action rules, early-warning thresholds and exposure method are "
            f"{NOT_RECORDED}: the report was given no score section (params --params)."
        )
    where = f" of {policy.source}" if policy.source else ""
    return (
        f"From score.relationship{where}, the settings the scoring applies: keep the report "
        "and the scoring on the same params file."
    )
