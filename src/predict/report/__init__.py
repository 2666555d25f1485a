"""The review report for risk teams (stage ``report``): a static, self-contained HTML site.

May import: the core, :mod:`predict.contract`, :mod:`predict.features` (the catalogue),
:mod:`predict.models` and :mod:`predict.scoring` (their constants); it reads their outputs
as files, never runs them.

Public API::

    from predict.report import ReportConfig, build_report, load_inputs, site_dir

    inputs = load_inputs("data/scores", "models", "metrics", "data/validated")
    result = build_report(inputs, site_dir("reports"), ReportConfig(), clients=["C000042"])
    result.index  # reports/review/index.html

KPI functions live in :mod:`predict.report.kpis` and the SVG charts in
:mod:`predict.report.charts`; notebooks use both directly.
"""

from predict.report.card_sections import CardPolicy, ModelCardConfig
from predict.report.inputs import ModelInfo, ReportInputError, ReportInputs, load_inputs
from predict.report.kpis import KpiConfig
from predict.report.site import (
    REVIEW_DIR,
    ReportConfig,
    ReportResult,
    build_report,
    load_card_policy,
    load_report_config,
    site_dir,
)

__all__ = [
    "REVIEW_DIR",
    "CardPolicy",
    "KpiConfig",
    "ModelCardConfig",
    "ModelInfo",
    "ReportConfig",
    "ReportInputError",
    "ReportInputs",
    "ReportResult",
    "build_report",
    "load_card_policy",
    "load_inputs",
    "load_report_config",
    "site_dir",
]
