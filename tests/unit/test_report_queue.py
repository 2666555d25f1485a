"""The review queue (predict.report.queue): membership, priority and ranking, hand-computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.report.queue import (
    attach_triggers,
    build_queue,
    build_queues,
    el_rise,
    has_something_to_act_on,
    newly_defaulted,
)


def _book() -> pd.DataFrame:
    """Six clients: two in default (one new), two on watch, one churned watch, one retain."""
    return pd.DataFrame(
        {
            "client_id": pd.Series(["A", "B", "C", "D", "E", "F"], dtype="str"),
            "action": pd.Series(
                ["workout", "workout", "watch", "watch", "watch", "retain"], dtype="str"
            ),
            "in_default": [True, True, False, False, False, False],
            "default_probability": [1.0, 1.0, 0.10, 0.06, 0.30, 0.01],
            "previous_default_probability": [0.02, 1.0, 0.04, np.nan, 0.10, 0.01],
            "lgd": [0.5, 0.4, 0.5, 0.25, 0.5, 0.5],
            "ead": [1_000.0, 10_000.0, 2_000.0, 4_000.0, 0.0, 500.0],
            "expected_loss": [500.0, 4_000.0, 100.0, 60.0, 0.0, 2.5],
            "run_rate_revenue": [10.0, 0.0, 50.0, 20.0, np.nan, 300.0],
            "contribution_at_risk": [np.nan, np.nan, 5.0, 2.0, np.nan, 90.0],
            "expected_contribution": [1.0, 0.0, 40.0, 15.0, 0.0, 200.0],
        }
    )


def test_el_rise_is_lgd_times_ead_times_the_pd_change_or_the_whole_el_without_a_previous() -> None:
    rise = el_rise(_book())
    # A: 0.5 * 1000 * (1 - 0.02) = 490; B: no change; C: 0.5 * 2000 * 0.06 = 60;
    # D: no previous PD -> the whole EL 0.25 * 4000 * 0.06 = 60; E: no exposure -> 0
    assert rise.tolist()[:5] == pytest.approx([490.0, 0.0, 60.0, 60.0, 0.0])


def test_newly_defaulted_needs_a_known_previous_pd_below_one() -> None:
    assert newly_defaulted(_book()).tolist() == [True, False, False, False, False, False]


def test_clients_without_exposure_and_revenue_are_left_out_and_counted() -> None:
    book = _book()
    assert has_something_to_act_on(book).tolist() == [True, True, True, True, False, True]
    watch = build_queue(book, "watch")
    assert watch.rows["client_id"].tolist() == ["C", "D"]  # E: nothing to act on
    assert watch.excluded == 1 and watch.total == 2


def test_default_section_puts_the_new_default_first_then_expected_loss() -> None:
    queue = build_queue(_book(), "default")
    # B has the larger expected loss (4,000 vs 500) but A newly defaulted
    assert queue.rows["client_id"].tolist() == ["A", "B"]
    assert queue.rows["new_default"].tolist() == [True, False]
    assert queue.rows["priority"].tolist() == pytest.approx([490.0, 0.0])


def test_watch_ties_are_broken_by_expected_loss_then_id() -> None:
    queue = build_queue(_book(), "watch")
    # C and D both rise by 60; C's expected loss (100) is larger than D's (60)
    assert queue.rows["priority"].tolist() == pytest.approx([60.0, 60.0])
    assert queue.rows["client_id"].tolist() == ["C", "D"]


def test_retain_is_ranked_by_value_at_risk_and_grow_by_contribution() -> None:
    book = pd.concat([_book(), _book().iloc[[5]].assign(client_id="G", contribution_at_risk=95.0)])
    retain = build_queue(book.reset_index(drop=True), "retain")
    assert retain.rows["client_id"].tolist() == ["G", "F"]
    assert [q.key for q in build_queues(_book())] == ["default", "watch", "retain", "grow"]
    assert build_queues(_book())[3].total == 0


def test_triggers_come_from_the_early_warning_rows() -> None:
    ew = pd.DataFrame({"client_id": ["C"], "triggers": ["pd_ratio"], "details": ["PD x2.5"]})
    out = attach_triggers(build_queue(_book(), "watch").rows, ew)
    assert out["triggers"].tolist()[0] == "pd_ratio"
    assert pd.isna(out["triggers"].tolist()[1])
    assert attach_triggers(_book(), None)["triggers"].isna().all()
