"""The pieces that let a book be scored partition by partition (predict.scoring.clients):
counts that add up over the parts, and the parts' rows put back as the whole book's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.models.bins import Bins, bin_counts
from predict.scoring import drift as drift_mod
from predict.scoring.align import add_unseen, report_unseen
from predict.scoring.clients import combine_events, concat_rows
from predict.scoring.grades import GradesConfig, previous_grades
from predict.scoring.result import ScoringReport
from tests.support.scoring import train_bundle

NUMERIC = Bins("x", "numeric", (1.0, 2.0), (), (0.25, 0.25, 0.25, 0.25), 100)
CATEGORY = Bins("c", "categorical", (), ("a", "b"), (0.4, 0.3, 0.2, 0.1), 10)


def test_bin_counts_by_hand() -> None:
    # edges 1, 2: bins (-inf, 1], (1, 2], (2, inf), missing
    values = pd.Series([0.5, 1.0, 1.5, 2.5, np.nan, 7.0])
    assert bin_counts(NUMERIC, values).tolist() == [2, 1, 2, 1]
    # categories a, b, then (other) for any other value, then missing
    cats = pd.Series(["a", "z", None, "b", "a"], dtype="str")
    assert bin_counts(CATEGORY, cats).tolist() == [2, 1, 1, 1]


def test_drift_from_the_counts_of_parts_equals_the_drift_of_the_whole() -> None:
    rng = np.random.default_rng(3)
    whole = pd.DataFrame({"x": rng.normal(1.5, 1.0, 500)})
    whole.loc[rng.random(500) < 0.1, "x"] = np.nan
    whole["c"] = pd.Series(rng.choice(["a", "b", "q"], 500), dtype="str")
    config = drift_mod.DriftConfig()
    parts = [whole.iloc[:123], whole.iloc[123:400], whole.iloc[400:]]
    counts = [drift_mod.count_bins([NUMERIC, CATEGORY], p) for p in parts]
    summed = {n: sum(c[n] for c in counts) for n in ("x", "c")}
    got = drift_mod.compare_counts([NUMERIC, CATEGORY], summed, len(whole), "feature", config)
    expected = drift_mod.compare([NUMERIC, CATEGORY], whole, "feature", config)
    pd.testing.assert_frame_equal(got, expected)
    assert got["current_rows"].tolist() == [500, 500]


def test_unseen_counts_of_parts_add_up_and_ties_are_ordered_by_value() -> None:
    bundle = train_bundle("churn")  # categorical feature: segment
    a = {"churn": {"segment": {"public": 2, "retail": 1}}}
    b = {"churn": {"segment": {"retail": 1, "agri": 2}}}
    total = add_unseen(a, b)
    assert total == {"churn": {"segment": {"public": 2, "retail": 2, "agri": 2}}}
    assert a == {"churn": {"segment": {"public": 2, "retail": 1}}}  # inputs unchanged
    report = ScoringReport()
    report_unseen(total, {"churn": bundle}, report)
    # equal counts: by value, whatever order the parts came in
    assert list(report.unseen_categories["churn"]["segment"].items()) == [
        ("agri", 2), ("public", 2), ("retail", 2)
    ]  # fmt: skip


def test_concat_rows_sorts_by_client_and_keeps_each_column_type() -> None:
    one = pd.DataFrame(
        {"client_id": pd.Series(["c3", "c1"], dtype="str"), "p": [0.3, 0.1],
         "previous_lifecycle_stage": pd.Series(["active", "churned"], dtype="str")}
    )  # fmt: skip
    two = pd.DataFrame({"client_id": pd.Series(["c2"], dtype="str"), "p": [0.2]})
    out = concat_rows([two, one])
    assert out["client_id"].tolist() == ["c1", "c2", "c3"]
    assert list(out.columns) == ["client_id", "p", "previous_lifecycle_stage"]
    assert out["previous_lifecycle_stage"].dtype == one["previous_lifecycle_stage"].dtype
    assert out["previous_lifecycle_stage"].isna().tolist() == [False, True, False]
    assert isinstance(out.index, pd.RangeIndex)


def test_combine_events_puts_each_partitions_triggers_on_its_clients() -> None:
    ids = pd.Series(["c1", "c2", "c3"], index=[0, 1, 2], dtype="str")
    first = pd.DataFrame({"complaint": ["complaint", np.nan]}, index=[2, 0])
    second = pd.DataFrame({"complaint": [np.nan]}, index=[1])
    found = combine_events([first, second], ids)
    assert list(found) == ["complaint"]
    assert found["complaint"].index.tolist() == [0, 1, 2]
    assert found["complaint"].notna().tolist() == [False, False, True]
    assert combine_events([pd.DataFrame(index=[0]), pd.DataFrame(index=[1])], ids) == {}


@pytest.mark.parametrize("grade", ["3", "ZZ"])
def test_previous_grades_are_decided_per_client_so_parts_grade_as_the_whole(grade: str) -> None:
    config = GradesConfig()
    previous = pd.DataFrame(
        {"client_id": ["c1", "c2"], "default_probability": [0.001, 0.2],
         "rating_grade": [config.scale[3], grade]}
    )  # fmt: skip
    whole = previous_grades(previous, config)
    assert whole is not None
    # c1's reported grade is on today's scale: kept whatever c2's row says (PD 0.001 would
    # grade it scale[2]); c2's is kept when on the scale, else its PD 0.2 is regraded
    assert whole["previous_rating_grade"].tolist() == [
        config.scale[3],
        grade if grade in config.scale else config.scale[9],
    ]
    parts = [previous_grades(previous.iloc[[k]], config) for k in range(2)]
    got = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(got, whole.reset_index(drop=True))
