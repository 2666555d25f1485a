"""The report defines "active" exactly as the churn label does."""

from __future__ import annotations

from pathlib import Path

from predict.report import load_report_config


def test_report_takes_inactivity_window_from_the_features_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  inactivity_months: 3\nreport:\n  list_size: 7\n")
    config = load_report_config(params)
    assert config.kpis.inactivity_months == 3
    assert config.list_size == 7


def test_report_keeps_its_default_without_a_features_section(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("report:\n  list_size: 7\n")
    assert load_report_config(params).kpis.inactivity_months == 6
