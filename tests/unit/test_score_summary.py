"""The console summary of a scoring run (``predict score``'s last lines)."""

from __future__ import annotations

import pandas as pd

from predict.scoring.result import ScoringReport, ScoringResult, summary_lines


def test_the_actions_line_counts_the_actions_whatever_else_was_noticed() -> None:
    # an unseen category noticed (its counts listed) must not replace the action counts
    report = ScoringReport(clients=3, as_of="2025-12-31", models={"churn": "v1"})
    report.unseen_categories = {"churn": {"segment": {"new_code": 2}}}
    result = ScoringResult(
        None, pd.DataFrame(), pd.DataFrame(), report,
        counts={"action": {"maintain": 2, "watch": 1}},
    )  # fmt: skip
    lines = summary_lines(result)
    assert "  actions: maintain 2, watch 1" in lines
    assert any("categories of segment unseen in training" in line for line in lines)
