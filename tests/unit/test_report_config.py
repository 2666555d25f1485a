"""The report defines "active" exactly as the churn label does."""

from __future__ import annotations

from pathlib import Path

import pytest

from predict.config import ConfigError
from predict.report import load_report_config


def test_report_takes_inactivity_window_from_the_features_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  inactivity_months: 3\nreport:\n  list_size: 7\n")
    config = load_report_config(params)
    assert config.kpis.inactivity_months == 3
    assert config.list_size == 7


def test_report_takes_the_default_trigger_from_the_features_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "features:\n  default:\n    event_kinds: [default, write_off, Distressed_Sale]\n"
        "    write_off_kinds: [write_off]\n    dpd_threshold: 60\nreport: {}\n"
    )
    kpis = load_report_config(params).kpis
    assert kpis.dpd_threshold == 60
    assert kpis.default_event_kinds == ("default", "write_off", "Distressed_Sale")
    # the retention's default trigger is the labels': not settable in the report section
    params.write_text("report:\n  kpis:\n    dpd_threshold: 30\n")
    with pytest.raises(ConfigError, match=r"report.kpis.dpd_threshold is not a report param"):
        load_report_config(params)


def test_report_keeps_its_default_without_a_features_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("report:\n  list_size: 7\n")
    kpis = load_report_config(params).kpis
    assert (kpis.inactivity_months, kpis.dpd_threshold) == (6, 90)
    assert kpis.default_event_kinds == ("default", "write_off")


def test_model_card_stability_lists_the_models_own_score_and_features_only() -> None:
    import pandas as pd

    from predict.report.model_card import stability_rows

    drift = pd.DataFrame(
        {
            "variable": ["expected_contribution", "churn_probability", "revenue_12m", "tenure"],
            "psi": [0.3, 0.2, 0.1, 0.05],
            "level": ["alert", "warning", "warning", "ok"],
        }
    )
    rows = stability_rows(drift, ["revenue_12m"], "contribution")
    assert [r["variable"] for r in rows] == ["expected_contribution", "revenue_12m"]
