"""Rating grades on the master scale and their migration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from predict.config import from_dict
from predict.scoring.grades import (
    MIGRATION_COLUMNS,
    GradesConfig,
    add_grades,
    grade_of,
    migration_matrix,
)

CFG = GradesConfig(bounds=(0.01, 0.05, 1.0), names=("A", "B", "C"))


def test_grade_boundaries_default_and_missing() -> None:
    pd_ = pd.Series([0.0, 0.0099, 0.01, 0.049, 0.05, 0.99, 1.0, 0.02, np.nan])
    in_default = pd.Series([False] * 7 + [True, False])
    got = grade_of(pd_, in_default, CFG).tolist()
    # lower bound inclusive, upper exclusive; PD 1 or in default: D; no PD: no grade
    assert got[:8] == ["A", "A", "B", "B", "C", "C", "D", "D"]
    assert pd.isna(got[8])


def test_default_scale_has_ten_performing_grades_and_d() -> None:
    cfg = from_dict(GradesConfig, {})
    assert cfg.scale == ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "D")
    assert grade_of(pd.Series([0.0004, 0.003, 0.2]), None, cfg).tolist() == ["1", "4", "10"]
    with pytest.raises(ValueError, match="rise strictly"):
        GradesConfig(bounds=(0.05, 0.01))
    with pytest.raises(ValueError, match="one name per bound"):
        GradesConfig(bounds=(0.05, 1.0), names=("A",))


def test_a_pd_over_another_horizon_is_graded_at_its_one_year_equivalent() -> None:
    # a master scale holds one-year PDs: 0.99% over 6 months is 1 - 0.9901^2 = 1.97% a year,
    # grade 7 [1.6%, 3.2%) where the same figure over 12 months is grade 6 [0.8%, 1.6%);
    # over 24 months, 3% is 1 - 0.97^0.5 = 1.51% a year: grade 6, not 7
    cfg = from_dict(GradesConfig, {})
    assert grade_of(pd.Series([0.0099]), None, cfg, 12).tolist() == ["6"]
    assert grade_of(pd.Series([0.0099]), None, cfg, 6).tolist() == ["7"]
    assert grade_of(pd.Series([0.03, 1.0]), None, cfg, 24).tolist() == ["6", "D"]
    scores = pd.DataFrame({"client_id": ["a"], "default_probability": [0.0099]})
    assert add_grades(scores, None, cfg, 6)["rating_grade"].tolist() == ["7"]


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": pd.Series(["a", "b", "c", "d", "e"], dtype="str"),
            "as_of": pd.Timestamp("2024-06-30"),
            "default_probability": [0.005, 0.2, 0.03, np.nan, 0.004],
        }
    )


def test_grade_change_counts_notches_from_the_reported_grades() -> None:
    previous = pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d"],
            "as_of": pd.Timestamp("2024-05-31"),
            "default_probability": [0.005, 0.005, 0.9, 0.02],
            "rating_grade": ["A", "A", "D", "B"],  # c was reported in default
        }
    )
    out = add_grades(_scores(), previous, CFG).set_index("client_id")
    assert out["rating_grade"].tolist()[:3] == ["A", "C", "B"]
    assert out.loc["b", "grade_change"] == 2.0  # A -> C: down two notches
    assert out.loc["c", "grade_change"] == -2.0  # D -> B as reported (not the PD 0.9 -> C)
    assert np.isnan(out.loc["d", "grade_change"]) and np.isnan(out.loc["e", "grade_change"])
    # grades off today's scale are regraded from their PD, row by row; a grade of today's
    # scale is kept whatever the other rows hold
    previous["rating_grade"] = ["AAA", "AAA", "BB", "C"]
    out = add_grades(_scores(), previous, CFG).set_index("client_id")
    assert out.loc["c", "previous_rating_grade"] == "C"  # BB -> its PD 0.9 -> C
    assert out.loc["a", "previous_rating_grade"] == "A"
    assert out.loc["d", "previous_rating_grade"] == "C"  # as reported, not its PD's B


def test_migration_matrix_counts_clients_by_grade_pair() -> None:
    previous = pd.DataFrame(
        {
            "client_id": ["a", "b", "c", "d"],
            "as_of": pd.Timestamp("2024-05-31"),
            "default_probability": [0.005, 0.005, 0.03, 0.02],
        }
    )
    scores = add_grades(_scores(), previous, CFG)
    scores["previous_as_of"] = pd.Timestamp("2024-05-31")
    m = migration_matrix(scores, CFG)
    assert tuple(m.columns) == MIGRATION_COLUMNS
    got = {(r.previous_grade, r.rating_grade): (r.clients, r.share) for r in m.itertuples()}
    assert got == {
        ("A", "A"): (1, 0.5),
        ("A", "C"): (1, 0.5),
        ("B", "B"): (1, 0.5),  # c and d were B: half stayed
        ("B", "(none)"): (1, 0.5),  # d lost its PD
        ("(none)", "A"): (1, 1.0),  # e is new
    }
    assert m["previous_as_of"].iloc[0] == pd.Timestamp("2024-05-31")
