"""Which models the data can support: a model is not applied to tables that cannot feed it.

A model's features come from contract tables (their ``requires`` in the feature catalogue).
A table is *unusable* when it is absent from the input, or present with no row (an empty
file, or every row quarantined by validation). A feature is *unavailable* when none of its
catalogue alternatives is fully present in the usable tables, or when the data does not
give its column at all (a feature outside the catalogue).

The rule (fail closed): the **unavailable gain share** of a model is the share of its total
split gain (LightGBM ``importance_type="gain"``) that comes from unavailable features. A model
whose share is above ``score.max_unavailable_gain`` is not applied (a model whose offset's
feature is unavailable counts as 100%: its offset carries the model): scored, it would give
every client nearly the same value (with only ``clients``, every client got the same churn
probability). With ``score.unsupported: stop`` (the default) the run stops with an error
naming the tables and the models that need them; with ``missing`` those targets are left
missing, with the reason in their ``<target>_reasons`` column, ``score_summary.json``
(``unsupported``) and the report. A model at or under the share is scored, its unavailable
features as missing (``score.missing_features: nan``) and listed in the summary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from predict.features.catalogue import FEATURES, is_available
from predict.models.store import ModelBundle
from predict.scoring.config import ScoreConfig
from predict.scoring.result import ScoringReport

log = logging.getLogger(__name__)


class UnsupportedModelError(ValueError):
    """The input tables cannot support one or more models (and partial scoring is off)."""


@dataclass(frozen=True)
class Support:
    """One model's support by the data: unavailable features, their gain share, the tables."""

    target: str
    unavailable: tuple[str, ...]
    gain_share: float
    tables: tuple[str, ...]  # unusable tables its unavailable features need

    def reason(self, limit: float) -> str:
        """Why the model is not applied, in one line (for scores, summary and report)."""
        return (
            f"{self.gain_share:.0%} of the {self.target} model's gain comes from features the "
            f"data cannot give (limit {limit:.0%}): tables {', '.join(self.tables) or 'none'} "
            f"absent or empty; features {', '.join(self.unavailable[:8])}"
            f"{' ...' if len(self.unavailable) > 8 else ''}"
        )


def unusable_tables(tables: Mapping[str, pd.DataFrame], known: tuple[str, ...]) -> dict[str, str]:
    """Each table of ``known`` that is absent or has no row -> "absent" or "empty"."""
    out: dict[str, str] = {}
    for name in known:
        frame = tables.get(name)
        if frame is None:
            out[name] = "absent"
        elif frame.empty:
            out[name] = "empty"
    return out


def _present(tables: Mapping[str, pd.DataFrame]) -> dict[str, frozenset[str]]:
    """Usable tables with the columns that hold at least one value."""
    return {
        name: frozenset(c for c in frame.columns if frame[c].notna().any())
        for name, frame in tables.items()
        if not frame.empty
    }


def gain_share(bundle: ModelBundle, names: tuple[str, ...]) -> float:
    """Share of the model's total split gain from the features ``names`` (0 when no gain)."""
    gains = np.asarray(bundle.booster.feature_importance(importance_type="gain"), "float64")
    total = float(gains.sum())
    if total <= 0:
        return 0.0
    wanted = set(names)
    own = [g for n, g in zip(bundle.booster.feature_name(), gains, strict=True) if n in wanted]
    return float(sum(own)) / total


def model_support(
    bundle: ModelBundle, tables: Mapping[str, pd.DataFrame], columns: frozenset[str] | None
) -> Support:
    """Unavailable features of ``bundle`` given ``tables`` (and, when known, the feature
    ``columns`` the data gives), their gain share and the unusable tables they need."""
    present = _present(tables)
    unavailable, needed = [], set()
    for name in bundle.features.names:
        spec = FEATURES.get(name)
        if spec is not None and not is_available(spec, present):
            unavailable.append(name)
            needed |= {t for t in spec.tables if t not in present}
        elif spec is None and columns is not None and name not in columns:
            unavailable.append(name)
    names = tuple(unavailable)
    share = gain_share(bundle, names)
    if bundle.offset is not None and bundle.offset.feature in names:
        share = 1.0  # the offset (recent revenue carried forward) cannot be computed
    return Support(bundle.target, names, share, tuple(sorted(needed)))


def unsupported_models(
    bundles: Mapping[str, ModelBundle],
    tables: Mapping[str, pd.DataFrame],
    limit: float,
    columns: frozenset[str] | None = None,
) -> dict[str, Support]:
    """The models whose unavailable gain share is above ``limit``, by target."""
    out = {}
    for target, bundle in bundles.items():
        support = model_support(bundle, tables, columns)
        if support.gain_share > limit:
            out[target] = support
        elif support.unavailable:
            log.warning(
                "%s model: %.1f%% of its gain from features the data cannot give (%s); "
                "under the limit %.0f%%, scored with them missing",
                target,
                100 * support.gain_share,
                ", ".join(support.unavailable),
                100 * limit,
            )
    return out


def refuse_message(unsupported: Mapping[str, Support], limit: float) -> str:
    """The error of ``score.unsupported: stop``: tables, models and what to do."""
    tables = sorted({t for s in unsupported.values() for t in s.tables})
    lines = [
        f"the input cannot support the {', '.join(unsupported)} model(s): table(s) "
        f"{', '.join(tables) or '(none)'} absent, empty or fully quarantined"
    ]
    lines += [f"  {s.reason(limit)}" for s in unsupported.values()]
    lines.append(
        "  provide those tables, or set score.unsupported: missing to score the other "
        "targets and leave these missing"
    )
    return "\n".join(lines)


def apply_support(
    bundles: Mapping[str, ModelBundle],
    tables: Mapping[str, pd.DataFrame],
    config: ScoreConfig,
    report: ScoringReport,
    columns: frozenset[str] | None = None,
) -> dict[str, ModelBundle]:
    """The bundles the data supports; the others are recorded in ``report`` (skipped, with
    the reason, and ``unsupported``) under ``score.unsupported: missing``.

    ``stop`` raises :class:`UnsupportedModelError` when any model is unsupported; either
    rule raises when no model is left to apply.
    """
    from predict.scoring.scope import note_lacking

    limit = config.max_unavailable_gain
    note_lacking(bundles, tables, report)  # default-status and stage tables the input lacks
    unsupported = unsupported_models(bundles, tables, limit, columns)
    if unsupported and (config.unsupported == "stop" or len(unsupported) == len(bundles)):
        raise UnsupportedModelError(refuse_message(unsupported, limit))
    for target, s in unsupported.items():
        log.warning("%s: not scored (score.unsupported: missing): %s", target, s.reason(limit))
        report.skipped_targets[target] = s.reason(limit)
        report.unsupported[target] = {
            "gain_share": round(s.gain_share, 6),
            "tables": list(s.tables),
            "features": list(s.unavailable),
        }
    return {t: b for t, b in bundles.items() if t not in unsupported}
