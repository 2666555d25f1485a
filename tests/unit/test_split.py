"""Out-of-time split: the documented default plan, purging, holdout fallback, sizes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predict.features.snapshots import add_months, label_end
from predict.io import write_parquet
from predict.models.metrics_files import split_headline
from predict.models.split import (
    ClientHoldout,
    SplitConfig,
    SplitPlan,
    apply_plan,
    check_purged,
    choose_plan,
    describe,
    plan_time_split,
    run,
    split_table,
)

D = dt.date
# The synthetic default: quarterly as-of dates 2020-12-31..2025-12-31; t + 12 inside the
# data (ending 2025-12-31) up to 2024-12-31.
QUARTERS = [add_months(D(2020, 12, 31), 3 * k) for k in range(21)]
LABELLED = [d for d in QUARTERS if label_end(d, 12) <= D(2025, 12, 31)]


def test_default_plan_on_the_synthetic_calendar_is_the_documented_one() -> None:
    plan = choose_plan(LABELLED, 12, SplitConfig())
    assert plan.method == "time"
    assert plan.test == (D(2024, 12, 31),)
    assert plan.valid == (D(2023, 9, 30), D(2023, 12, 31))
    assert plan.train == tuple(add_months(D(2020, 12, 31), 3 * k) for k in range(8))
    assert plan.train[-1] == D(2022, 9, 30)
    check_purged(plan)


def test_explicit_test_date_and_train_window() -> None:
    config = SplitConfig(test_as_of="2024-06-30", valid_as_ofs=1, train_as_ofs=3)
    plan = plan_time_split(LABELLED, 12, config)
    assert plan.test == (D(2024, 6, 30),) and plan.valid == (D(2023, 6, 30),)
    assert plan.train == (D(2021, 12, 31), D(2022, 3, 31), D(2022, 6, 30))
    with pytest.raises(ValueError, match="not an uncensored as-of date"):
        plan_time_split(LABELLED, 12, SplitConfig(test_as_of="2025-06-30"))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    step=st.integers(1, 6),
    horizon=st.integers(1, 24),
    valid=st.integers(1, 4),
)
def test_time_plans_are_always_purged_and_ordered(
    n: int, step: int, horizon: int, valid: int
) -> None:
    dates = [add_months(D(2015, 1, 31), step * k) for k in range(n)]
    config = SplitConfig(valid_as_ofs=valid, min_train_as_ofs=1)
    plan = plan_time_split(dates, horizon, config)
    check_purged(plan)
    if plan.train:
        assert max(plan.train) < min(plan.valid)
        assert label_end(max(plan.train), horizon) <= min(plan.valid)
    if plan.valid:
        assert label_end(max(plan.valid), horizon) <= plan.test[0] and len(plan.valid) <= valid


def test_check_purged_catches_overlap() -> None:
    plan = SplitPlan("time", 12, (D(2023, 3, 31),), (D(2023, 12, 31),), (D(2024, 12, 31),))
    with pytest.raises(ValueError, match="train as-of 2023-03-31 has labels up to 2024-03-31"):
        check_purged(plan)


def test_short_history_falls_back_to_a_client_holdout(caplog: pytest.LogCaptureFixture) -> None:
    short = [D(2024, 12, 31)]
    plan = choose_plan(short, 12, SplitConfig())
    assert plan.method == "client" and "leaves 0 training and 0 validation" in plan.note
    assert plan.fallback and not choose_plan(LABELLED, 12, SplitConfig()).fallback
    assert describe({}, plan)["fallback"] is True
    assert split_headline(describe({}, plan))["fallback"] is True
    assert any("by-client holdout" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="method time"):
        choose_plan(short, 12, SplitConfig(method="time"))
    assert choose_plan(LABELLED, 12, SplitConfig(method="client")).method == "client"


def _feature_table(dates: list[dt.date], n_clients: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [(f"c{i:03d}", pd.Timestamp(d)) for d in dates for i in range(n_clients)]
    frame = pd.DataFrame(rows, columns=["client_id", "as_of"])
    frame["client_id"] = frame["client_id"].astype("str")
    frame["as_of"] = frame["as_of"].astype("datetime64[s]")
    frame["tenure_months"] = rng.random(len(frame))
    frame["label_churn"] = (rng.random(len(frame)) < 0.2).astype(float)
    frame["label_default"] = (rng.random(len(frame)) < 0.05).astype(float)
    frame["label_contribution"] = rng.normal(1000, 100, len(frame))
    censored = frame["as_of"] > pd.Timestamp(LABELLED[-1])
    frame.loc[censored, ["label_churn", "label_default", "label_contribution"]] = np.nan
    return frame


def test_split_table_keeps_labelled_rows_of_the_planned_dates() -> None:
    frame = _feature_table(QUARTERS)
    parts, report = split_table(frame, LABELLED, 12, SplitConfig())
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [400, 100, 50]
    assert report["method"] == "time"
    test = report["sets"]["test"]
    assert test["as_of"] == ["2024-12-31"] and test["clients"] == 50
    expected = float(frame.loc[frame["as_of"] == "2024-12-31", "label_churn"].mean())
    assert test["churn"]["positive_rate"] == pytest.approx(expected)
    assert test["contribution"]["labelled"] == 50 and test["contribution"]["mean"] > 0
    assert not parts["train"]["as_of"].isin(pd.to_datetime(["2022-12-31", "2023-03-31"])).any()


def test_client_holdout_keeps_each_client_in_one_set() -> None:
    frame = _feature_table(LABELLED[-2:], n_clients=200)
    config = SplitConfig(method="client", holdout=ClientHoldout(0.2, 0.25, seed=7))
    parts, report = split_table(frame, LABELLED[-2:], 12, config)
    sets = {s: set(p["client_id"]) for s, p in parts.items()}
    assert not (sets["train"] & sets["valid"]) and not (sets["train"] & sets["test"])
    assert (len(sets["valid"]), len(sets["test"]), len(sets["train"])) == (40, 50, 110)
    assert sum(report["sets"][s]["rows"] for s in sets) == 400
    again, _ = split_table(frame, LABELLED[-2:], 12, config)
    assert again["test"].equals(parts["test"])  # seeded


def test_empty_set_is_an_error() -> None:
    frame = _feature_table(QUARTERS)
    frame.loc[frame["as_of"] == "2024-12-31", ["label_churn", "label_default"]] = np.nan
    frame.loc[frame["as_of"] == "2024-12-31", "label_contribution"] = np.nan
    with pytest.raises(ValueError, match="the test set is empty"):
        split_table(frame, LABELLED, 12, SplitConfig())


def _features_folder(tmp_path: Path) -> tuple[pd.DataFrame, Path, dict[str, Any]]:
    """A features stage's output folder of 10 clients: the table, snapshots.json and the
    rate reference; returns the table, its path and the reference."""
    frame = _feature_table(QUARTERS, n_clients=10)
    features = tmp_path / "features" / "features.parquet"
    features.parent.mkdir()
    frame.to_parquet(features)
    snapshots = [{"as_of": d.isoformat(), "censored": d not in LABELLED} for d in QUARTERS]
    (features.parent / "snapshots.json").write_text(
        json.dumps({"horizon_months": 12, "snapshots": snapshots})
    )
    reference = {"format": "predict.rate_reference/1", "known_at": "2024-12-31", "rows": []}
    (features.parent / "rate_reference.json").write_text(json.dumps(reference))
    return frame, features, reference


def test_run_writes_three_sets_and_the_metrics(tmp_path: Path) -> None:
    frame, features, reference = _features_folder(tmp_path)
    run(features, tmp_path / "split", tmp_path / "metrics" / "split.json", SplitConfig())
    assert json.loads((tmp_path / "split" / "rate_reference.json").read_text()) == reference
    metrics = json.loads((tmp_path / "metrics" / "detail" / "split.json").read_text())
    assert metrics["sets"]["valid"]["as_of"] == ["2023-09-30", "2023-12-31"]
    headline = json.loads((tmp_path / "metrics" / "split.json").read_text())
    assert headline["method"] == "time" and headline["valid_as_ofs"] == 2
    assert headline["fallback"] is False and metrics["fallback"] is False
    assert headline["test_rows"] == 10 == headline["test_clients"]
    assert headline["train_rows"] == metrics["sets"]["train"]["rows"]
    assert all(isinstance(v, (int, float, str)) for v in headline.values())  # flat: one row
    test = pd.read_parquet(tmp_path / "split" / "test.parquet")
    assert len(test) == 10 and list(test.columns) == list(frame.columns)


def test_the_sets_are_written_in_bounded_row_groups_with_the_same_rows(tmp_path: Path) -> None:
    # the row grouping (read a row group per task by a Dask cluster's workers) changes
    # nothing of the rows: the same frame as one row group, and each group its own slice
    features = _features_folder(tmp_path)[1]
    metrics = tmp_path / "metrics" / "split.json"
    run(features, tmp_path / "whole", metrics, SplitConfig(row_group_rows=10**6))
    run(features, tmp_path / "groups", metrics, SplitConfig(row_group_rows=7))
    for name in ("train", "valid", "test"):
        whole = pd.read_parquet(tmp_path / "whole" / f"{name}.parquet")
        file = pq.ParquetFile(tmp_path / "groups" / f"{name}.parquet")
        sizes = [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]
        assert max(sizes) <= 7 and sum(sizes) == len(whole) > 7
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "groups" / f"{name}.parquet"), whole
        )
        start = 0
        for i, size in enumerate(sizes):
            part = file.read_row_group(i).to_pandas()
            expected = whole.iloc[start : start + size].reset_index(drop=True)
            pd.testing.assert_frame_equal(part, expected)
            start += size
    with pytest.raises(ValueError, match="row_group_rows"):
        SplitConfig(row_group_rows=0)


def test_the_default_row_groups_are_pyarrows_own_so_the_files_are_as_before(
    tmp_path: Path,
) -> None:
    # the split's fingerprint (the models' data_hash and versions) hashes the files' bytes
    frame = _feature_table(QUARTERS, n_clients=10)
    frame.to_parquet(tmp_path / "before.parquet", index=False)
    write_parquet(frame, tmp_path / "now.parquet", row_group_rows=SplitConfig().row_group_rows)
    assert (tmp_path / "now.parquet").read_bytes() == (tmp_path / "before.parquet").read_bytes()


def test_apply_plan_rejects_a_table_without_labels() -> None:
    frame = _feature_table(QUARTERS).drop(
        columns=["label_churn", "label_default", "label_contribution"]
    )
    with pytest.raises(ValueError, match="no label columns"):
        apply_plan(frame, choose_plan(LABELLED, 12, SplitConfig()), ClientHoldout())


def test_bad_split_params_are_refused() -> None:
    with pytest.raises(ValueError, match=r"split\.method"):
        SplitConfig(method="random")
    with pytest.raises(ValueError, match="fractions"):
        ClientHoldout(valid_fraction=0.6, test_fraction=0.5)
