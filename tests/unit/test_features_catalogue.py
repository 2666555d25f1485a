"""The feature catalogue: complete specs, plain-words reasons, docs/features.md in sync, and
catalogue.yaml read strictly (a broken file is refused with the feature named)."""

from __future__ import annotations

import fnmatch
import math
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import yaml

from predict.contract.spec import TABLES
from predict.features.catalogue import (
    CATEGORICAL,
    CREDIT_EVENT_FAMILIES,
    FAMILIES,
    FEATURES,
    NUMERIC,
    REVENUE_FAMILIES,
    CatalogueError,
    FeatureSpec,
    is_available,
    parse_catalogue,
    render_markdown,
)
from predict.features.sql import WINDOWS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "features.md"
TEXT = resources.files("predict.features").joinpath("catalogue.yaml").read_text("utf-8")


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
    assert len(FEATURES) == 75
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


def test_the_file_parses_to_the_catalogue_and_ships_as_package_data() -> None:
    assert parse_catalogue(TEXT) == FEATURES
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["predict"]
    assert any(fnmatch.fnmatch("features/catalogue.yaml", p) for p in patterns)


def test_the_families_named_in_the_file_are_the_known_ones() -> None:
    document = yaml.safe_load(TEXT)
    assert list(document) == list(FAMILIES)
    # the families the bank's codes map into (params) each have their windowed features
    windowed = [f"revenue_{f}_{n}m" for f in REVENUE_FAMILIES for n in (3, 6, 12)]
    windowed += [f"{f}_{n}m" for f in CREDIT_EVENT_FAMILIES for n in (12, 24)]
    windowed += [f"months_in_arrears_{n}m" for n in WINDOWS]
    assert set(windowed) <= set(FEATURES)


@pytest.mark.parametrize("spec", FEATURES.values(), ids=list(FEATURES))
def test_each_reason_template_renders_a_sample_value(spec: FeatureSpec) -> None:
    value = "promoter" if spec.kind == "categorical" else -0.125
    rendered = spec.reason.format(value=value)  # str.format itself, not render()'s fallback
    assert rendered != spec.reason and "{" not in rendered and "}" not in rendered


REQ, REASON = "requires: clients\n", 'reason: "Client for {value:.0f} months"\n'
# an edit of tenure_months' entry (the first match) -> what the refusal says besides its name
BROKEN = {
    "unknown key": (REQ, REQ + "    unit: months\n", "unknown key(s) unit"),
    "missing key": ("    " + REASON, "", "missing key(s) reason"),
    "key given twice": (REASON, REASON + "    " + REASON, "given twice: reason"),
    "name given twice": ("name: segment\n", "name: tenure_months\n", "listed twice"),
    "unknown table": (REQ, "requires: facilities|customers\n", "no table 'customers'"),
    "unknown column": (REQ, "requires: clients.onboarded\n", "no column 'onboarded'"),
    "not text": (REQ, "requires: 12\n", "requires must be non-empty text"),
    "unknown kind": (REQ, REQ + "    kind: ordinal\n", "kind 'ordinal'"),
    "other placeholder": ("{value:.0f} months", "{months:.0f} months", "must all be {value}"),
    "unbalanced brace": ("{value:.0f} months", "{value:.0f months", "'Client for {value:.0f"),
    "another kind's format": (REQ, REQ + "    kind: categorical\n", "render a categorical"),
}


@pytest.mark.parametrize("old,new,expected", BROKEN.values(), ids=list(BROKEN))
def test_a_broken_catalogue_is_refused_naming_the_feature(
    old: str, new: str, expected: str
) -> None:
    assert old in TEXT
    with pytest.raises(CatalogueError) as refused:
        parse_catalogue(TEXT.replace(old, new, 1))
    assert "feature 'tenure_months'" in str(refused.value) and expected in str(refused.value)


KNOWN = "the families must be relationship, loans, contribution, interactions, credit_events"


@pytest.mark.parametrize(
    "old,new,expected",
    [
        ("credit_events:\n", "credit_risk:\n", KNOWN),
        ("loans:\n", "", KNOWN),
        ("relationship:", "interactions:", "given twice: interactions"),
        ("relationship:\n", "relationship: []\n", "not valid YAML"),
    ],
    ids=["unknown family", "missing family", "family given twice", "not YAML"],
)
def test_a_file_without_the_known_families_is_refused(old: str, new: str, expected: str) -> None:
    with pytest.raises(CatalogueError) as refused:
        parse_catalogue(TEXT.replace(old, new, 1))
    assert expected in str(refused.value)
