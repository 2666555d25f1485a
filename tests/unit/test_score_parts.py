"""The pieces that let a book be scored partition by partition (predict.scoring.clients):
counts that add up over the parts, and the parts' rows put back as the whole book's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from predict.io import write_csv, write_parquet
from predict.models.bins import Bins, bin_counts
from predict.scoring import drift as drift_mod
from predict.scoring.align import add_unseen, report_unseen
from predict.scoring.clients import concat_rows
from predict.scoring.grades import (
    GradesConfig,
    migration_counts,
    migration_from_counts,
    migration_matrix,
    previous_grades,
)
from predict.scoring.parts import merge_scores, merged_batches, write_part
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


def _book(n: int = 23) -> pd.DataFrame:
    """Score-like rows of every type a scores file holds, a formula-like text among them."""
    ids = [f"c{i:03d}" for i in range(n)]
    return pd.DataFrame(
        {
            "client_id": pd.Series(ids, dtype="str"),
            "as_of": pd.Series(pd.Timestamp("2024-06-30"), index=range(n)).astype("datetime64[s]"),
            "p": [i / 7 if i % 5 else np.nan for i in range(n)],
            "n_facilities": np.arange(n, dtype="int64"),
            "in_default": pd.array([i % 3 == 0 if i % 4 else None for i in range(n)], "boolean"),
            "reasons": pd.Series(
                ["=SUM(A1)" if i == 4 else (None if i % 6 == 0 else f"r{i}") for i in range(n)],
                dtype="str",
            ),
        }
    )


def _parts(book: pd.DataFrame, folder: Path) -> list[str]:
    """The book split into 3 by client (every third client), each part written sorted."""
    paths = []
    for k in range(3):
        part = book.iloc[k::3].sample(frac=1.0, random_state=k)  # shuffled, then sorted
        part = part.sort_values("client_id", ignore_index=True)
        paths.append(str(write_part(part, folder / f"part-{k}.parquet", 3)))
    return paths


def test_merged_batches_give_every_row_in_client_order_holding_a_batch_per_part(
    tmp_path: Path,
) -> None:
    book = _book()
    batches = list(merged_batches(_parts(book, tmp_path), batch_rows=2))
    assert len(batches) > 3  # the merge spans many batches
    assert max(len(b) for b in batches) <= 3 * 2  # at most batch_rows rows of each part
    merged = pd.concat(batches, ignore_index=True)
    assert merged["client_id"].tolist() == book["client_id"].tolist()
    part = pq.ParquetFile(tmp_path / "part-0.parquet")  # clients 0, 3, ..., 21
    assert part.metadata.num_row_groups == 3  # 8 rows, 3 a row group
    got = pd.read_parquet(tmp_path / "part-0.parquet").astype({"as_of": "datetime64[s]"})
    pd.testing.assert_frame_equal(got, book.iloc[0::3].reset_index(drop=True))


@pytest.mark.parametrize("batch_rows", [1, 4, 1000])
def test_merged_scores_files_equal_the_files_of_the_whole_frame(
    tmp_path: Path, batch_rows: int
) -> None:
    """scores.parquet and scores.csv merged from sorted parts, batch by batch, equal those
    written from the whole frame: same rows, types and Parquet schema (the pandas metadata
    and the run's keys), the same CSV bytes (the formula-like text escaped)."""
    book, meta = _book(), {"predict.run_id": "abc", "predict.as_of": "2024-06-30"}
    (tmp_path / "parts").mkdir()
    paths = _parts(book, tmp_path / "parts")
    layout = book.iloc[:0]
    rows = merge_scores(paths, layout, tmp_path / "merged", meta, "abc", batch_rows)
    whole = book.assign(run_id="abc")
    write_parquet(whole, tmp_path / "whole" / "scores.parquet", meta)
    write_csv(whole, tmp_path / "whole" / "scores.csv")
    assert rows == len(book)
    merged, expected = tmp_path / "merged", tmp_path / "whole"
    csv = (merged / "scores.csv").read_bytes()
    assert csv == (expected / "scores.csv").read_bytes()
    assert b"'=SUM(A1)" in csv
    assert pq.read_schema(merged / "scores.parquet").equals(
        pq.read_schema(expected / "scores.parquet"), check_metadata=True
    )
    pd.testing.assert_frame_equal(
        pd.read_parquet(merged / "scores.parquet"), pd.read_parquet(expected / "scores.parquet")
    )
    assert sorted(p.name for p in merged.iterdir()) == ["scores.csv", "scores.parquet"]


def test_a_part_without_a_column_is_merged_with_it_missing(tmp_path: Path) -> None:
    book = _book(6)
    paths = [
        str(write_parquet(book.iloc[:3], tmp_path / "a.parquet")),
        str(write_parquet(book.iloc[3:].drop(columns="reasons"), tmp_path / "b.parquet")),
    ]
    merge_scores(paths, book.iloc[:0], tmp_path / "out", {}, "r", 2)
    got = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert got["reasons"].dtype == book["reasons"].dtype
    assert got["reasons"].isna().tolist() == [True, False, False, True, True, True]


def test_migration_counts_of_parts_give_the_whole_books_matrix() -> None:
    config = GradesConfig()
    scores = pd.DataFrame(
        {
            "client_id": [f"c{i}" for i in range(8)],
            "as_of": pd.Timestamp("2024-06-30"),
            "previous_as_of": pd.Series([pd.Timestamp("2024-05-31")] * 7 + [pd.NaT]),
            "rating_grade": pd.Series(["3", "3", "4", "D", "3", None, "4", "5"], dtype="str"),
            "previous_rating_grade": pd.Series(
                ["3", "2", "3", "4", "3", "3", "4", None], dtype="str"
            ),
        }
    )
    parts = [scores.iloc[:3], scores.iloc[3:5], scores.iloc[5:]]
    counts = pd.concat([migration_counts(p) for p in parts], ignore_index=True)
    got = migration_from_counts(
        counts, pd.Timestamp("2024-06-30"), pd.Timestamp("2024-05-31"), config
    )
    pd.testing.assert_frame_equal(got, migration_matrix(scores, config))
    by = got.set_index(["previous_grade", "rating_grade"])
    assert by.loc[("3", "3"), "clients"] == 2  # c0 and c4, counted in two parts
    assert by.loc[("3", "3"), "share"] == 2 / 4  # of the 4 clients graded 3 before


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
