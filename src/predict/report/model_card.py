"""The model card (in the spirit of SR 11-7 model documentation), built from the run's own files.

Everything shown comes from ``models/<target>/metadata.json`` and ``features.json``,
``metrics/detail/<target>.json``, the feature catalogue and the drift table of the same scoring,
so the card cannot disagree with the models it describes. The metadata layout is read
tolerantly: known keys are looked up anywhere in the nested JSON.
"""

from __future__ import annotations

import importlib
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from predict.contract.spec import DEFAULT_DPD_THRESHOLD, OUTPUT_COLUMN, POPULATIONS
from predict.report import card_sections as cards
from predict.report import charts
from predict.report.inputs import ModelInfo

logger = logging.getLogger(__name__)

PURPOSE = {
    "churn": "Probability that a client active and not in default at the as-of date is no longer "
    "active at the end of the horizon (no open facility and no revenue in the inactivity "
    "window), having left voluntarily: an exit through default is not churn. Used to "
    "prioritise retention work, not to make credit decisions.",
    "default": "Probability that a client with exposure and not in default at the as-of date "
    f"defaults within the horizon (a default or write-off event, or a facility at "
    f"{DEFAULT_DPD_THRESHOLD}+ days past due at a month end; params "
    "features.default.dpd_threshold). Clients "
    "in default (or in probation after a cure) and clients without exposure get no model "
    "score. Used for early warning and "
    "portfolio expected loss; it is not a regulatory (IRB) PD.",
    "contribution": "Expected revenue from the client over the horizon. Used with the churn "
    "probability to size the contribution at risk and with expected loss for relationship "
    "value.",
}
INTENDED_USE = (
    "Intended use: ranking and reviewing client relationships by risk teams and relationship "
    "managers, with a human decision on every action. Not for automated credit decisions or "
    "pricing. Capital and RAROC in the report are estimates from the model PD (Basel IRB "
    "formula) to compare the value of relationships, not regulatory capital reporting."
)
# The value and risk figures the report shows next to the scores; full rules and a
# hand-computed example in docs/scoring.md ("Exposure, loss and value", "Risk-adjusted value").
DEFINITIONS = (
    ("EAD", "exposure at default = drawn + CCF(product) x undrawn, over the client's open "
     "facilities; undrawn by the product's rule (headroom to the limit for revolving lines, "
     "none for amortising loans) when the bank does not give it"),
    ("EL", "expected loss = PD x LGD x EAD, LGD set by product in params"),
    ("Relationship value", "expected contribution - expected loss"),
    ("Capital", "Basel IRB capital of the EAD from the model PD made annual (an estimate, "
     "not regulatory reporting), each facility's maturity bounded to [1, 5] years: the sum of "
     "the facilities' capital; 0 without exposure or in default"),
    ("Economic profit", "expected contribution - expected loss - funding cost - cost to serve "
     "- hurdle rate x capital, over the horizon H; funding and cost to serve over the share of "
     "H the client is expected to stay (a churner holds its lines (H - I) / 2H: 1/4 for 12 and "
     "6 months of inactivity)"),
    ("RAROC", "(expected contribution - expected loss - funding cost - cost to serve) / "
     "capital, annualised; empty when capital is 0"),
    ("Rating grade", "the master-scale grade (score.grades) of the one-year PD, 1 - (1 - PD over "
     "H)^(12/H); the default grade in default; none without a PD"),
)  # fmt: skip
DEFINITIONS_SOURCE = "docs/scoring.md"
HASH_KEYS = ("data_hash", "dataset_hash", "training_data_hash", "data_version", "hash")
VERSION_KEYS = ("model_version", "version", "run_id", "mlflow_run_id")
WINDOW_WORDS = (
    "window",
    "train_start",
    "train_end",
    "test_start",
    "test_end",
    "valid_start",
    "valid_end",
    "period",
    "as_of",
)


def walk(data: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every leaf of nested dicts/lists as (key path, value)."""
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from walk(v, (*path, str(k)))
    elif isinstance(data, list) and data and all(isinstance(v, Mapping) for v in data):
        for i, v in enumerate(data):
            yield from walk(v, (*path, str(i)))
    else:
        yield path, data


def find_value(data: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """First value whose own key is one of ``keys`` (in the order of ``keys``), else None."""
    leaves = list(walk(data))
    for key in keys:
        for path, value in leaves:
            if path and path[-1] == key and value not in (None, ""):
                return value
    return None


def window_facts(metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) of every metadata entry that describes a date window (the ``fits``
    block has its own table, :func:`fit_rows`)."""
    out = []
    for path, value in walk(metadata):
        name = ".".join(path)
        if path[:1] == ("fits",):
            continue
        if any(w in name for w in WINDOW_WORDS) and not isinstance(value, (dict, list)):
            out.append((name, str(value)))
        elif any(w in name for w in WINDOW_WORDS) and isinstance(value, list) and len(value) <= 4:
            out.append((name, " to ".join(map(str, value))))
    return out


NOT_METRICS = frozenset(
    {"rows", "target", "population", "fits"}
)  # shown with the data, not as metrics


def all_figures(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every leaf of a model's metrics detail as (key path, value), numbers formatted in
    fixed notation (whole numbers as such, others to 4 significant digits), missing ones as
    a dash."""
    out = []
    for path, value in walk({k: v for k, v in metrics.items() if k not in NOT_METRICS}):
        if not path:
            continue
        if _is_number(value):
            whole = math.isfinite(value) and float(value).is_integer()
            out.append(
                (".".join(path), cards.num_cell(value, "int" if whole else "metric")["text"])
            )
        else:
            out.append((".".join(path), cards.text_cell(value)["text"]))
    return out


def data_facts(metrics: Mapping[str, Any], target: str) -> list[tuple[str, str]]:
    """Rows per set of this model and the split's method and as-of dates (metrics/split.json)."""
    facts = [(f"rows.{k}", str(v)) for k, v in metrics.get(target, {}).get("rows", {}).items()]
    split = metrics.get("split", {})
    for key in ("method", "horizon_months", "note"):
        if key in split:
            facts.append((f"split.{key}", str(split[key])))
    for name, info in split.get("sets", {}).items():
        dates = info.get("as_of", []) if isinstance(info, Mapping) else []
        if dates:
            span = f"{dates[0]} to {dates[-1]} ({len(dates)} as-of dates)"
            facts.append((f"split.{name}.as_of", span))
    return facts


FIT_COLUMNS = ("fit", "role", "fitted on", "rows", "calibrated on", "trees", "trees rule")


def _span(window: Any) -> str:
    if not isinstance(window, Mapping):
        return ""
    return f"{window.get('from', '?')} to {window.get('to', '?')}"


def fit_rows(metrics: Mapping[str, Any], target: str) -> list[list[Any]]:
    """The evaluation fit and, when there is one, the final refit (metrics detail ``fits``,
    :func:`predict.models.refit.fits_block`): one row each, with which one scores."""
    fits = metrics.get(target, {}).get("fits", {})
    if not isinstance(fits, Mapping):
        return []
    scoring = fits.get("scoring")
    roles = {
        "evaluation": "documented performance (test period)",
        "refit": "final refit on train + valid (no test metric of its own; see the backtest)",
    }
    rules = {"evaluation": "early stopping on the valid period"}
    rows = []
    for name in ("evaluation", "refit"):
        fit = fits.get(name)
        if not isinstance(fit, Mapping):
            continue
        train = fit.get("train_window", {})
        role = roles[name] + ("; scores the portfolio" if scoring == name else "")
        rule = rules.get(name, f"best iteration, {fit.get('rounds_rule', '?')} rule")
        rows.append(
            [
                name,
                role,
                _span(train),
                train.get("rows") if isinstance(train, Mapping) else None,
                _span(fit.get("calibration_window")),
                fit.get("trees"),
                rule,
            ]
        )
    return rows


def population_definition(metrics: Mapping[str, Any], target: str) -> str:
    """The model's population in words: the metrics' ``definition``, else the contract's
    :data:`POPULATIONS` of the target (its sizes per set: ``card_sections.population_tables``)."""
    block = metrics.get(target, {}).get("population", {})
    if not isinstance(block, Mapping):
        block = {}
    return str(block.get("definition", "") or POPULATIONS.get(target, ""))


def feature_rows(info: ModelInfo) -> list[dict[str, str]]:
    """Name, kind, description and source of each model feature (catalogue when available)."""
    names = _feature_names(info.features)
    catalogue = _catalogue()
    rows = []
    for name in names:
        spec = catalogue.get(name)
        rows.append(
            {
                "name": name,
                "kind": str(getattr(spec, "kind", "") or _feature_dtype(info.features, name)),
                "family": str(getattr(spec, "family", "") or ""),
                "source": str(getattr(spec, "requires", "") or ""),
                "description": str(getattr(spec, "description", "") or ""),
            }
        )
    return rows


def _feature_names(features: Mapping[str, Any] | list[Any]) -> list[str]:
    if isinstance(features, list):
        return [str(f if not isinstance(f, Mapping) else f.get("name")) for f in features]
    for key in ("names", "features", "feature_names", "columns"):
        value = features.get(key)
        if isinstance(value, list):
            return _feature_names(value)
        if isinstance(value, Mapping):
            return [str(k) for k in value]
    return []


def _feature_dtype(features: Mapping[str, Any] | list[Any], name: str) -> str:
    dtypes = features.get("dtypes") if isinstance(features, Mapping) else None
    return str(dtypes.get(name, "")) if isinstance(dtypes, Mapping) else ""


def _catalogue() -> Mapping[str, Any]:
    try:
        module = importlib.import_module("predict.features.catalogue")
    except ImportError:
        logger.info("feature catalogue not available; the card lists feature names only")
        return {}
    return dict(getattr(module, "FEATURES", {}))


def stability_rows(drift: pd.DataFrame | None, feature_names: list[str], target: str) -> list[dict]:
    """Drift rows about this model: its features and its own score."""
    if drift is None or drift.empty or "psi" not in drift:
        return []
    var = "variable" if "variable" in drift else "feature"
    own_score = OUTPUT_COLUMN.get(target, target)
    names = drift[var].astype("str")
    mine = drift[names.isin(feature_names) | (names == own_score)]
    mine = mine.sort_values("psi", ascending=False)
    return [
        {
            "variable": str(r[var]),
            "psi": float(r["psi"]),
            "psi_text": cards.num_cell(r["psi"], "psi")["text"],
            "level": str(r.get("level", "")),
        }
        for _, r in mine.iterrows()
    ]


def calibration_chart(plots: Mapping[str, pd.DataFrame], target: str) -> Any:
    """Predicted against observed per bin (``plots/<target>/calibration.csv``), or None."""
    table = plots.get("calibration")
    if table is None or not {"predicted", "observed"} <= set(table.columns):
        return None
    return charts.scatter(
        table["predicted"].tolist(),
        table["observed"].tolist(),
        title=f"{target}: calibration on the test period",
        x_label="mean predicted",
        y_label="mean observed",
        diagonal=True,
    )


def card_flags(metrics: Mapping[str, Any], target: str) -> list[str]:
    """Warnings for the top of a card: the model's own flags and the split's fallback."""
    flags = [str(f) for f in metrics.get(target, {}).get("flags", []) or []]
    split = metrics.get("split", {})
    if split.get("fallback"):
        flags.append(f"split fell back to a by-client holdout, NOT out of time: {split['note']}")
    return flags


TERMS_AS_RECORDED = (
    "facility terms as recorded: the training data had no facility_terms table, so a "
    "facility's limit, rate and maturity are the values at extraction time at every as-of "
    "date; a limit cut, repricing or maturity extension after t leaks into the features at t "
    "(a known look-ahead risk; see docs/data_dictionary.md, facility_terms)"
)


TERMS_PARTLY_DATED = (
    "facility terms partly dated: only {share:.1%} of facilities have a facility_terms row on "
    "or before their origination; before a facility's first row its limit, rate and maturity "
    "are the recorded (latest) values, so a change after t can leak into the features at t "
    "(a look-ahead risk; give each facility a first row at origination, "
    "docs/data_dictionary.md, facility_terms)"
)


def terms_flags(metrics: Mapping[str, Any]) -> list[str]:
    """The look-ahead flag when the features did not date facility terms (metrics/split.json
    ``facility_terms`` false or absent: not known to be dated, so the risk is stated)."""
    split = metrics.get("split", {})
    if split.get("facility_terms") is True:
        return []
    coverage = split.get("facility_terms_coverage")
    if isinstance(coverage, (int, float)):
        return [TERMS_PARTLY_DATED.format(share=coverage)]
    return [TERMS_AS_RECORDED]


def task_of(info: ModelInfo) -> str:
    task = info.metadata.get("task") if isinstance(info.metadata, Mapping) else None
    if task in ("binary", "regression"):
        return str(task)
    return "regression" if info.target == "contribution" else "binary"


def _importance(explanations: pd.DataFrame | None, target: str) -> pd.DataFrame | None:
    if explanations is None or explanations.empty:
        return None
    from predict.report.explanations import shap_importance

    return shap_importance(explanations, target)


def model_card(
    models: Mapping[str, ModelInfo],
    metrics: Mapping[str, Any],
    drift: pd.DataFrame | None,
    plots: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
    *,
    scores: pd.DataFrame | None = None,
    explanations: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """One dict per target, everything the model-card template shows: purpose, population and
    sizes per set, performance with 95% intervals and by segment (with each segment's share
    of the book's EAD from ``scores``), limitations of this model (``explanations``: the
    pricing features' share of mean |SHAP| for the default model), calibration, stability."""
    shares = cards.ead_shares(scores)
    out = []
    for target, info in models.items():
        task = task_of(info)
        detail = metrics.get(target, {})
        features = feature_rows(info)
        names = [f["name"] for f in features]
        population = population_definition(metrics, target)
        segments, statuses = cards.segment_table(detail, target, task, shares)
        pricing = (
            cards.pricing_paragraph(names, _importance(explanations, target))
            if target == "default"
            else None
        )
        flags = card_flags(metrics, target) + terms_flags(metrics)
        out.append(
            {
                "target": target,
                "task": task,
                "purpose": PURPOSE.get(target, ""),
                "version": find_value(info.metadata, VERSION_KEYS),
                "data_hash": find_value(info.metadata, HASH_KEYS),
                "windows": window_facts(info.metadata) + data_facts(metrics, target),
                "population": population,
                "population_tables": cards.population_tables(metrics, target, task),
                "fit_columns": FIT_COLUMNS,
                "fit_rows": fit_rows(metrics, target),
                "features": features,
                "performance": cards.performance_table(detail, target, task),
                "segments": segments,
                "figures": all_figures(detail),
                "calibration_chart": calibration_chart((plots or {}).get(target, {}), target),
                "calibration": [
                    (".".join(p), cards.num_cell(v)["text"] if _is_number(v) else str(v))
                    for p, v in walk(detail)
                    if any("calib" in part for part in p)
                ],
                "stability": stability_rows(drift, names, target),
                "metadata": [(".".join(p), str(v)) for p, v in walk(info.metadata)][:80],
                "flags": flags,
                "limitations": cards.limitations(target, flags, statuses, pricing),
            }
        )
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def card_page(
    config: cards.ModelCardConfig, policy: cards.CardPolicy, as_of: pd.Timestamp
) -> dict[str, Any]:
    """The parts of the card common to every model: governance, the rules and thresholds
    that turn scores into actions (with their rationale), the exposure method, monitoring
    triggers and the override process."""
    relationship = policy.relationship
    return {
        "governance": cards.governance_rows(config, as_of.date()),
        "override_process": config.override_process or cards.NOT_RECORDED,
        "policy_note": cards.policy_source_note(policy),
        "rules": cards.rules_table(relationship),
        "early_warning": cards.early_warning_table(
            relationship.early_warning if relationship else None
        ),
        "exposure": cards.exposure_table(relationship),
        "exposure_method": cards.EXPOSURE_METHOD,
        "monitoring": cards.monitoring_items(policy),
        "intended_use": INTENDED_USE,
    }
