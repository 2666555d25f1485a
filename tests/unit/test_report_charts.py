"""Inline SVG charts: valid XML, escaped labels, waterfall arithmetic."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from predict.report import charts
from predict.report.explanations import (
    BASE_FEATURES,
    client_waterfall,
    numeric_values,
    shap_importance,
)
from predict.report.formatting import cell, client_page_name
from predict.report.site import history_charts
from predict.scoring.explain import BASE_FEATURE

SVG = "{http://www.w3.org/2000/svg}"
REPORT_TEMPLATES = Path(charts.__file__).parent / "templates"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def test_bar_chart_escapes_labels_and_is_valid_svg() -> None:
    svg = charts.bar_chart(["<script>alert(1)</script>", "b & c"], [3, -1], title="t <x>")
    assert "<script>" not in svg
    root = _parse(svg)  # would raise on unescaped markup
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "<script>alert(1)</script>" in texts and "b & c" in texts
    assert len(list(root.iter(f"{SVG}rect"))) == 2


def test_every_chart_renders_valid_svg_even_when_empty() -> None:
    made = [
        charts.column_chart(["a", "b"], [1, 2], title="c"),
        charts.line_chart(["2024-01", "2024-02"], {"s": [1.0, float("nan")]}, title="l"),
        charts.line_chart([], {}, title="empty"),
        charts.waterfall([("f = 1", 0.5), ("g = x", -0.2)], base=-1.0, title="w"),
        charts.dot_plot(["f"], [[0.1, -0.2]], [[0.0, 1.0]], title="d"),
        charts.scatter([1, 2, 3], [0.1, 0.2, 0.3], title="s", x_label="f"),
        charts.scatter([0.1, 0.5], [0.2, 0.4], title="cal", x_label="p", diagonal=True),
        charts.strip_chart(["a", "b", "a"], [0.1, 0.2, 0.3], title="st"),
        charts.bar_chart([], [], title="nothing"),
    ]
    for svg in made:
        assert _parse(svg).tag == f"{SVG}svg"


def test_waterfall_steps_add_up_from_base_to_output() -> None:
    svg = charts.waterfall([("a", 0.5), ("b", -0.25)], base=-1.0, title="w")
    assert "model output -0.750" in svg
    assert "average (base) -1.000" in svg
    shown = charts.waterfall([("a", 0.5)], base=-1.0, title="w", shown_as="42.1% (calibrated)")
    assert "raw -0.500 → 42.1% (calibrated)" in shown  # both scales on the client page


def test_nice_ticks_cover_the_range() -> None:
    ticks = charts.nice_ticks(0.03, 0.97, 5)
    assert ticks[0] <= 0.03 and ticks[-1] >= 0.97
    assert ticks == sorted(ticks)
    assert charts.tick_label(0.5, [0.0, 0.5, 1.0]) == "0.5"


def test_client_waterfall_keeps_the_largest_and_sums_the_rest() -> None:
    expl = pd.DataFrame(
        {
            "client_id": ["c1"] * 4 + ["c2"],
            "target": ["churn"] * 5,
            "feature": ["a", "b", "c", "d", "a"],
            "value": ["1", "x", "3.14159", "4", "9"],
            "shap": [0.1, -0.5, 0.3, 0.05, 9.0],
        }
    )
    steps, base = client_waterfall(expl, "c1", "churn", max_steps=2)
    assert steps == [("b = x", -0.5), ("c = 3.142", 0.3), ("other 2 features", pytest.approx(0.15))]
    assert base == 0.0


def test_waterfall_starts_at_the_base_row_scoring_writes() -> None:
    expl = pd.DataFrame(
        {
            "client_id": ["c1"] * 3,
            "target": ["default"] * 3,
            "feature": [BASE_FEATURE, "a", "b"],
            "value": [None, "1", "2"],
            "shap": [-2.0, 0.5, 0.25],
        }
    )
    steps, base = client_waterfall(expl, "c1", "default")
    assert base == -2.0 and [s[0] for s in steps] == ["a = 1", "b = 2"]
    assert BASE_FEATURE in BASE_FEATURES
    assert "(base)" not in set(shap_importance(expl, "default")["feature"])


def test_shap_importance_counts_absent_features_as_zero() -> None:
    expl = pd.DataFrame(
        {
            "client_id": ["c1", "c1", "c2"],
            "target": ["default"] * 3,
            "feature": ["a", "b", "a"],
            "value": ["1", "2", "3"],
            "shap": [1.0, -4.0, -1.0],
        }
    )
    out = shap_importance(expl, "default")
    assert out.set_index("feature")["mean_abs_shap"].to_dict() == {"b": 2.0, "a": 1.0}


def test_numeric_values_tell_numbers_from_categories() -> None:
    num = numeric_values(pd.Series(["1.5", "nan", "2"]))
    assert num is not None and num.tolist()[0] == 1.5
    with_nulls = numeric_values(pd.Series(["0", None, None, "7"], dtype="str"))  # as scoring writes
    assert with_nulls is not None and with_nulls.tolist()[-1] == 7.0
    assert numeric_values(pd.Series(["sme", "large"])) is None


def test_cell_formats_and_sorts_missing_last() -> None:
    assert cell(0.1234, "prob") == {"text": "12.3%", "sort": "0.1234", "href": None}
    assert cell(float("nan"), "money")["sort"] == ""
    assert cell(0.021, "change")["text"] == "+2.1 pp"


def test_client_page_names_are_safe_and_distinct() -> None:
    assert client_page_name("C0001") == "C0001.html"
    evil = client_page_name('<script>alert("x")</script>')
    assert "<" not in evil and "/" not in evil and evil.endswith(".html")
    assert client_page_name("a/b") != client_page_name("a_b")
    assert client_page_name("..") != ".html"


def test_contrast_ratio_matches_a_hand_computed_pair() -> None:
    # #777777: channel 119/255 = 0.46667 -> ((0.46667 + 0.055) / 1.055) ** 2.4 = 0.18447,
    # so L = 0.18447 on every channel; against white (L = 1): 1.05 / 0.23447 = 4.478
    assert charts.relative_luminance("#777") == pytest.approx(0.18447, abs=1e-5)
    assert charts.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.478, abs=1e-3)
    assert charts.contrast_ratio("#ffffff", "#777777") == charts.contrast_ratio("#777", "#fff")
    assert charts.contrast_ratio("#000", "#fff") == pytest.approx(21.0)
    # the orange legend the review found failing AA
    assert charts.contrast_ratio("#d9822b", "#ffffff") == pytest.approx(2.93, abs=0.005)
    with pytest.raises(ValueError, match="#12"):
        charts.relative_luminance("#12")


def test_every_series_colour_reads_as_text_on_the_chart_and_bars_as_graphics() -> None:
    for colour in charts.PALETTE:  # legends are text in the series colour: AA text, 4.5:1
        assert charts.contrast_ratio(colour, charts.CHART_BACKGROUND) >= 4.5, colour
    for colour in (charts.POSITIVE, charts.NEGATIVE):  # waterfall bars: AA graphics, 3:1
        assert charts.contrast_ratio(colour, charts.CHART_BACKGROUND) >= 3.0, colour


def _css_rules(css: str) -> list[tuple[str, str]]:
    return [(sel.strip(), body) for sel, body in re.findall(r"([^{};]+)\{([^{}]*)\}", css)]


def test_every_text_colour_of_the_stylesheet_passes_aa_on_every_light_background() -> None:
    page = (REPORT_TEMPLATES / "base.html.j2").read_text(encoding="utf-8")
    css = page[page.index("<style>") : page.index("</style>")]
    screen, printed = css.split("@media print", 1)  # printed: black on white paper
    hexes = r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b"
    backgrounds = {
        c for _, body in _css_rules(screen) for c in re.findall(rf"background:\s*({hexes})", body)
    }
    light = sorted(c for c in backgrounds if charts.relative_luminance(c) > 0.5)
    assert {"#fafafa", "#eef2f7", "#fbd9d9"} <= set(light)  # page, table head, alert
    checked = 0
    for part, rules in (("screen", _css_rules(screen)), ("print", _css_rules(printed))):
        for selector, body in rules:
            for colour in re.findall(rf"(?<![-\w])color:\s*({hexes})", body):
                on = ["#1f3b5a"] if selector.startswith("header") else light
                for background in on if part == "screen" else ["#ffffff"]:
                    ratio = charts.contrast_ratio(colour, background)
                    assert ratio >= 4.5, f"{part} {selector}: {colour} on {background} {ratio:.2f}"
                checked += 1
    assert checked >= 10


def test_integer_ticks_never_fall_between_whole_numbers() -> None:
    assert charts.nice_ticks(0, 1, 4) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert charts.nice_ticks(0, 0, 4, integer=True) == [0.0, 1.0]  # no arrears at all
    assert charts.nice_ticks(0, 3, 4, integer=True) == [0.0, 1.0, 2.0, 3.0]
    assert charts.nice_ticks(0, 95, 4, integer=True) == [0.0, 25.0, 50.0, 75.0, 100.0]


def _tick_labels(svg: str) -> list[ET.Element]:
    return [t for t in _parse(svg).iter(f"{SVG}text") if t.get("font-size") == "9"]


def test_money_axis_has_room_for_its_longest_tick_label() -> None:
    svg = charts.line_chart(["2024-01", "2024-02"], {"drawn": [150e6, 20e6]}, title="Drawn")
    ticks = [t for t in _tick_labels(svg) if t.get("text-anchor") == "end"]
    assert "150,000,000" in [t.text for t in ticks]
    for t in ticks:  # right-aligned at x: the label's width must fit left of it
        assert float(t.get("x", "0")) >= charts.TICK_CHAR_PX * len(t.text or ""), t.text


def test_client_history_puts_csat_and_nps_on_their_own_scales_and_days_on_whole_ticks() -> None:
    history = pd.DataFrame(
        {
            "outstanding": [1.5e8, 1.2e8, 1.0e8],
            "max_days_past_due": [0.0, 0.0, 0.0],
            "csat": [4.0, float("nan"), 5.0],
            "nps": [9.0, 3.0, float("nan")],
        },
        index=pd.period_range("2024-10", periods=3, freq="M"),
    )
    made = {_parse(c).findtext(f"{SVG}title"): c for c in history_charts(history, "EUR")}
    assert set(made) == {
        "Drawn balance (EUR)",
        "Arrears (worst days past due)",
        "CSAT (1-5), monthly mean",
        "NPS answer (0-10), monthly mean",
    }
    days = [t.text for t in _tick_labels(made["Arrears (worst days past due)"])]
    assert "0" in days and "1" in days and not any("." in (d or "") for d in days)
    csat = {t.text for t in _tick_labels(made["CSAT (1-5), monthly mean"])}
    assert {"1", "5"} <= csat and "10" not in csat
    assert "10" in {t.text for t in _tick_labels(made["NPS answer (0-10), monthly mean"])}
