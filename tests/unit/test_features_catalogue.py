"""The feature catalogue: complete specs, plain-words reasons, and docs/features.md in sync."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from predict.contract.spec import TABLES
from predict.features.catalogue import (
    CATEGORICAL,
    FAMILIES,
    FEATURES,
    NUMERIC,
    FeatureSpec,
    is_available,
    render_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_docs_features_md_is_generated_from_the_catalogue() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_markdown(), (
        "docs/features.md is out of date: "
        "run `python -m predict.features.catalogue > docs/features.md`"
    )


@pytest.mark.parametrize("spec", FEATURES.values(), ids=list(FEATURES))
def test_each_spec_is_complete(spec: FeatureSpec) -> None:
    assert spec.family in FAMILIES and spec.kind in ("numeric", "categorical")
    assert spec.description.endswith(".") and "\n" not in spec.description
    assert "{value" in spec.reason and len(spec.reason) < 90
    for alternative in spec.alternatives:
        for part in alternative:
            table, _, column = part.partition(".")
            assert table in TABLES, part
            assert not column or column in TABLES[table].column_names, part
    rendered = spec.render("sme" if spec.kind == "categorical" else 12.345)
    assert "{" not in rendered and rendered


def test_catalogue_size_and_kinds() -> None:
    assert len(FEATURES) == 72
    assert set(CATEGORICAL) == {"lifecycle_stage", "segment", "industry", "region", "nps_status"}
    assert len(NUMERIC) + len(CATEGORICAL) == len(FEATURES)
    assert {s.family for s in FEATURES.values()} == set(FAMILIES)


def test_reasons_read_as_plain_words() -> None:
    assert FEATURES["max_dpd_12m"].render(95.0) == "Days past due reached 95 in the last 12 months"
    assert FEATURES["utilisation"].render(0.834) == "Credit lines 83% used"
    assert FEATURES["revenue_trend_3m"].render(-1200.0) == (
        "Revenue changed by -1,200 against the 3 months before"
    )
    assert FEATURES["nps_status"].render("detractor") == (
        "The client is a detractor (latest recommendation score)"
    )
    assert (
        FEATURES["csat_last"].render(math.nan)
        == "The latest CSAT answer (the highest if several on that day): not known"
    )
    assert FEATURES["tenure_months"].render("n/a") == "Client for n/a months"  # no crash


def test_requirements_with_alternatives() -> None:
    spec = FEATURES["ever_defaulted"]
    assert spec.alternatives == (("credit_events",), ("facilities", "facility_balances"))
    assert spec.tables == frozenset({"credit_events", "facilities", "facility_balances"})
    facilities = frozenset({"facility_id"})
    assert is_available(spec, {"credit_events": frozenset()})
    assert not is_available(spec, {"facilities": facilities})
    assert is_available(spec, {"facilities": facilities, "facility_balances": facilities})
    turnover = FEATURES["limit_to_turnover"]
    assert not is_available(turnover, {"facilities": facilities, "clients": frozenset()})
    assert is_available(
        turnover, {"facilities": facilities, "clients": frozenset({"annual_turnover"})}
    )
