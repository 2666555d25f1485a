"""The model card a validator reads (#18 item 6): intervals, segments that cannot be
evaluated, limitations per model, rules with their rationale, governance, table widths."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from predict.config import ConfigError, from_dict, load_section
from predict.report import (
    ModelCardConfig,
    ReportConfig,
    build_report,
    load_card_policy,
    load_inputs,
    site_dir,
)
from predict.report import card_sections as cards
from predict.report.model_card import all_figures
from predict.scoring.early_warning import EarlyWarningConfig
from predict.scoring.relationship import ActionRule, RelationshipConfig
from tests.support.report_inputs import (
    PortfolioPaths,
    detail_metrics,
    split_detail,
    write_portfolio,
)

REPO = Path(__file__).resolve().parents[2]
GOVERNANCE = ModelCardConfig(
    owner="Head of credit risk analytics",
    approver="Model risk committee",
    approved_on=dt.date(2023, 6, 30),
    next_review=dt.date(2024, 6, 30),  # before the fixture's as-of date 2024-12-31
    override_process=None,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PortfolioPaths:
    return write_portfolio(tmp_path_factory.mktemp("card"))


@pytest.fixture(scope="module")
def card(run: PortfolioPaths) -> str:
    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables, run.plots)
    config = ReportConfig(max_client_pages=1, queue_size=1, model_card=GOVERNANCE)
    policy = load_card_policy(REPO / "params.yaml")
    result = build_report(inputs, site_dir(run.root / "reports"), config, policy=policy)
    return (result.site / "model_card.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    """The visible text of a page, tags dropped and entities decoded."""
    body = re.sub(r"<(script|style)\b.*?</\1>", "", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


# ------------------------------------------------------------------ Hanley-McNeil


def test_hanley_mcneil_matches_the_hand_computed_interval() -> None:
    """A = 0.8, 20 events, 180 non-events: Q1 = 0.8/1.2 = 0.666667, Q2 = 1.28/1.8 = 0.711111;
    var = (0.16 + 19 x 0.026667 + 179 x 0.071111) / 3600 = 13.395556 / 3600 = 0.0037210;
    SE = 0.0610000; 95%: 0.8 -/+ 1.959964 x 0.0610000 = 0.680442 to 0.919558."""
    low, high, se = cards.hanley_mcneil(0.8, 20, 180)
    assert se == pytest.approx(0.0610000, abs=1e-6)
    assert low == pytest.approx(0.680442, abs=1e-6)
    assert high == pytest.approx(0.919558, abs=1e-6)


def test_hanley_mcneil_clips_to_one_and_needs_both_classes() -> None:
    """A = 0.75 with 4 events and 4 non-events: var = (0.1875 + 3 x 0.0375 + 3 x 0.080357)
    / 16 = 0.033817, SE = 0.183894; 0.75 + 1.96 SE = 1.1104 is clipped to 1."""
    low, high, se = cards.hanley_mcneil(0.75, 4, 4)
    assert se == pytest.approx(0.183894, abs=1e-6)
    assert low == pytest.approx(0.75 - 1.959964 * 0.183894, abs=1e-5)
    assert high == 1.0
    assert cards.hanley_mcneil(0.8, 0, 100) is None  # no event: no interval
    assert cards.hanley_mcneil(float("nan"), 10, 100) is None


def test_performance_rows_carry_the_interval_and_its_method() -> None:
    table = cards.performance_table(detail_metrics("default"), "default", "binary")
    rows = {r[0]["text"]: [c["text"] for c in r[1:]] for r in table["rows"]}
    low, high, _ = cards.hanley_mcneil(0.81, 20, 180)
    assert rows["AUC"][:3] == ["0.8100", f"{low:.4f} to {high:.4f}", "Hanley-McNeil"]
    gini = rows["Gini (2 AUC - 1)"]  # the AUC's interval mapped through 2A - 1
    assert gini[1] == f"{2 * low - 1:.4f} to {2 * high - 1:.4f}"
    assert rows["Brier score"][2] == cards.NO_INTERVAL  # nothing invented
    assert rows["AUC gap to the truth"][1:3] == ["0.01000 to 0.05000", "paired bootstrap"]
    boot = {**detail_metrics("contribution")}
    boot["test"] = {**boot["test"], "rmse_low": 48000.0, "rmse_high": 55000.5}
    table = cards.performance_table(boot, "contribution", "regression")
    rmse = next(r for r in table["rows"] if r[0]["text"] == "RMSE")
    assert [c["text"] for c in rmse[2:4]] == ["48,000 to 55,000", "bootstrap (metrics detail)"]


def test_a_partial_truth_is_shown_beside_the_model_on_the_same_rows() -> None:
    # truth on 96% of the test rows: the model column (0.81, every row) and the truth (0.84)
    # are not comparable; the truth cell carries the model's AUC on the rows it covers, the
    # figures the gap (0.84 - 0.80 = 0.04) is made of
    detail = detail_metrics("default")
    detail["truth"] = {**detail["truth"], "coverage": 0.96, "model_auc": 0.80, "gap_auc": 0.04}
    table = cards.performance_table(detail, "default", "binary")
    rows = {r[0]["text"]: [c["text"] for c in r[1:]] for r in table["rows"]}
    assert rows["AUC"][0] == "0.8100"
    assert rows["AUC"][-1] == "0.8400 (model 0.8000 on the 96% it covers)"
    full = cards.performance_table(detail_metrics("default"), "default", "binary")
    assert {r[0]["text"]: r[-1]["text"] for r in full["rows"]}["AUC"] == "0.8400"


# ------------------------------------------------------------------ population, segments


def test_population_sizes_count_events_per_set() -> None:
    metrics = {"default": detail_metrics("default"), "split": split_detail()}
    sizes, outside = cards.population_tables(metrics, "default", "binary")
    rows = {r[0]["text"]: [c["text"] for c in r[1:]] for r in sizes["rows"]}
    # train: 900 labelled x 5% (split.json) = 45 events; test: the evaluation's 20 of 200
    assert rows["train"] == ["2021-12-31 to 2022-06-30 (2 dates)", "900", "300", "45", "5.00%"]
    assert rows["test"] == ["2023-12-31", "200", "200", "20", "10.00%"]
    assert sizes["columns"][-2:] == ["events", "event rate"]
    assert [c["text"] for c in outside["rows"][0]] == ["train", "41", "12", "–"]


def test_ead_share_per_segment_is_the_segments_part_of_the_books_ead() -> None:
    scores = pd.DataFrame(
        {"segment": ["sme", "sme", "large", None], "ead": [10.0, 30.0, 60.0, float("nan")]}
    )
    assert cards.ead_shares(scores) == pytest.approx({"sme": 0.4, "large": 0.6, "(missing)": 0.0})
    assert cards.ead_shares(scores.drop(columns="ead")) == {}
    assert cards.ead_shares(scores.assign(ead=0.0)) == {}  # no exposure: no shares


def test_a_segment_without_an_event_is_not_evaluable_and_a_limitation() -> None:
    detail = detail_metrics("default")
    shares = {"large_corporate": 0.49, "sme": 0.2, "mid_corporate": 0.31}
    table, statuses = cards.segment_table(detail, "default", "binary", shares)
    assert table is not None
    row = next(r for r in table["rows"] if r[0]["text"] == "large_corporate")
    assert [c["text"] for c in row] == [
        "large_corporate", "30", "0", "–", "–", "49.0%", "not evaluable: no event",
    ]  # fmt: skip
    notes = cards.limitations("default", [], statuses)
    assert any("large_corporate" in n and "49.0%" in n and "no event" in n for n in notes)
    assert not any("Segment sme" in n for n in notes)  # evaluable ones are not limitations


def test_segment_reasons_name_what_is_missing() -> None:
    assert cards.segment_reason({"n": 40.0}, "binary") == "too few rows (40 test rows)"
    assert cards.segment_reason({"n": 50.0, "positives": 50.0}, "binary") == "no non-event"
    assert cards.segment_reason({"n": 50.0, "positives": 5.0, "auc": 0.7}, "binary") is None
    assert cards.segment_reason({"n": 40.0}, "regression") == "too few rows (40 test rows)"


def test_card_shows_segments_not_evaluable_in_each_models_limitations(card: str) -> None:
    text = _text(card)
    for target in ("churn", "default", "contribution"):
        block = card[card.index(f'id="limitations-{target}"') :]
        block = _text(block[: block.index("</ul>")])
        assert "Segment large_corporate" in block and "not evaluable" in block, target
    assert "not evaluable: no event" in text
    assert "not evaluable: too few rows (40 test rows)" in text  # contribution


def test_limitations_differ_per_model_and_pricing_is_discussed_for_default() -> None:
    churn = cards.limitations("churn", [], [])
    contribution = cards.limitations("contribution", [], [])
    assert not any("calibrated" in n and "probability" in n for n in contribution[:2])
    assert any("probability is calibrated" in n for n in churn)
    importance = pd.DataFrame(
        {"feature": ["max_dpd_12m", "rate_spread_open", "utilisation"],
         "mean_abs_shap": [0.5, 0.3, 0.2]}
    )  # fmt: skip
    text = cards.pricing_paragraph(["utilisation", "rate_spread_open"], importance)
    assert text is not None and "rate_spread_open" in text
    assert "30.0% of the model's mean |SHAP|" in text and "rank 2" in text
    assert cards.pricing_paragraph(["utilisation"], importance) is None
    assert text in cards.limitations("default", [], [], text)


# ------------------------------------------------------------------ rules, governance


def test_every_rule_and_threshold_shows_its_rationale(card: str) -> None:
    policy = load_card_policy(REPO / "params.yaml")
    assert policy.relationship is not None
    text = _text(card)
    for rule in policy.relationship.rules:
        assert rule.rationale, f"params.yaml: rule {rule.action} has no rationale"
        assert " ".join(rule.rationale.split()) in text, rule.action
    for name, why in policy.relationship.early_warning.rationale.items():
        assert " ".join(why.split()) in text, name
    assert "no rationale recorded" in text  # the default action has none


def test_a_rule_without_rationale_reads_no_rationale_recorded() -> None:
    rules = (ActionRule("watch", (), rationale="PD policy"), ActionRule("grow"))
    table = cards.rules_table(RelationshipConfig(rules=rules, default_action="keep"))
    assert table is not None
    rationale = [r[3]["text"] for r in table["rows"]]  # the default action "keep" last
    assert rationale == ["PD policy", cards.NO_RATIONALE, cards.NO_RATIONALE]
    assert cards.rules_table(None) is None


def test_rationale_is_validated_as_optional_text() -> None:
    rule = {"action": "watch", "when": [], "rationale": 5}
    with pytest.raises(ConfigError, match="expected str"):
        from_dict(RelationshipConfig, {"rules": [rule]})
    with pytest.raises(ConfigError, match="rationale is empty"):
        from_dict(RelationshipConfig, {"rules": [{**rule, "rationale": "  "}]})
    assert from_dict(RelationshipConfig, {"rules": [{"action": "grow"}]}).rules[0].rationale is None
    with pytest.raises(ConfigError, match="unknown threshold"):
        from_dict(EarlyWarningConfig, {"rationale": {"default_ris": "typo"}})


def test_governance_reads_not_recorded_and_overdue() -> None:
    as_of = dt.date(2024, 12, 31)
    rows = {label: (value, status) for label, value, status in
            cards.governance_rows(GOVERNANCE, as_of)}  # fmt: skip
    assert rows["Model owner"] == ("Head of credit risk analytics", "ok")
    assert rows["Validation status"] == ("not recorded", "missing")
    assert rows["Override process"] == ("not recorded", "missing")
    assert rows["Next review"] == ("2024-06-30: overdue (before 2024-12-31)", "overdue")
    later = dataclasses.replace(GOVERNANCE, next_review=dt.date(2025, 6, 30))
    assert dict((r[0], r[2]) for r in cards.governance_rows(later, as_of))["Next review"] == "ok"
    blank = cards.governance_rows(ModelCardConfig(), as_of)
    assert {value for _, value, _ in blank} == {"not recorded"}


def test_governance_on_the_card(card: str) -> None:
    text = _text(card)
    assert "Model owner Head of credit risk analytics" in text
    assert "Next review 2024-06-30: overdue (before 2024-12-31)" in text
    assert 'class="alert"><th scope="row">Next review' in card
    assert "Override process not recorded" in text


def test_model_card_params_are_validated(tmp_path: Path) -> None:
    config = load_section(REPO / "params.yaml", "report", ReportConfig)
    assert config.model_card == ModelCardConfig()  # the project ships the fields empty
    bad = {"model_card": {"approved_on": "2025-06-30", "next_review": "2025-01-31"}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"report": bad}), encoding="utf-8")
    with pytest.raises(ConfigError, match="next_review 2025-01-31 is before approved_on"):
        load_section(path, "report", ReportConfig)
    path.write_text(yaml.safe_dump({"report": {"model_card": {"owner": ""}}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="owner"):
        load_section(path, "report", ReportConfig)


def test_without_a_score_section_the_rules_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"report": {}}), encoding="utf-8")
    policy = load_card_policy(path)
    assert policy.relationship is None and policy.drift is None
    assert "not recorded" in cards.policy_source_note(policy)
    assert cards.early_warning_table(None) is None and cards.exposure_table(None) is None


def test_exposure_method_lists_every_product_and_the_default() -> None:
    config = RelationshipConfig(
        ccf={"term_loan": 0.75}, lgd={"term_loan": 0.4, "guarantee": 0.45},
        undrawn={"term_loan": "none"}, default_ccf=0.5, default_lgd=0.45,
    )  # fmt: skip
    table = cards.exposure_table(config)
    assert table is not None
    rows = [[c["text"] for c in r] for r in table["rows"]]
    assert rows == [
        ["guarantee", "50.0%", "45.0%", "headroom"],  # CCF from default_ccf
        ["term_loan", "75.0%", "40.0%", "none"],
        ["(products not listed)", "50.0%", "45.0%", "headroom"],
    ]


# ------------------------------------------------------------------ widths and numbers


class _Widths(HTMLParser):
    """Cells per row of every table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.widths: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.widths.append(0)
        elif tag in ("td", "th") and self.widths:
            self.widths[-1] += 1


def test_no_table_on_the_card_is_wider_than_eight_columns(card: str) -> None:
    parser = _Widths()
    parser.feed(card)
    assert len(parser.widths) > 50 and max(parser.widths) <= cards.MAX_COLUMNS
    with pytest.raises(ValueError, match="9 columns"):
        cards.card_table("wide", [str(i) for i in range(9)], [])


def test_card_numbers_are_in_fixed_notation(card: str) -> None:
    text = _text(card)
    assert not re.search(r"\d[eE][+-]?\d", text)
    assert "0.04750699476008565" not in text
    figures = dict(all_figures({"test": {"n": 12250.0, "ece": 0.04750699476008565}}))
    assert figures == {"test.n": "12,250", "test.ece": "0.04751"}


def test_monitoring_states_the_drift_thresholds_and_where_the_bins_come_from() -> None:
    policy = load_card_policy(REPO / "params.yaml")
    assert policy.drift is not None
    text = " ".join(cards.monitoring_items(policy))
    assert f"at {policy.drift.warn:g} a warning" in text and f"{policy.drift.alert:g}" in text
    assert "frozen in the model folder at training" in text
