"""The Dask path (predict.distributed.steps): partitioning by client, and results equal to one
machine's on a small generated book, through a real two-process LocalCluster."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import Client
from typer.testing import CliRunner

from predict.cli import app
from predict.distributed import partitions as dp
from predict.distributed import scoring as dist_scoring
from predict.distributed import steps as dd
from predict.features.build import FeaturesConfig, build_feature_table, build_features
from predict.features.build import run as run_features
from predict.features.snapshots import as_of_dates, data_end
from predict.scoring.chunks import score_chunks
from predict.scoring.config import ScoreConfig
from predict.scoring.explain import ExplanationWriter
from predict.scoring.reasons import catalogue_templates
from predict.synthetic import generate_portfolio
from tests.support.scoring import train_on_features
from tests.support.synthetic import SMALL, WINDOW
from tests.support.tables import tiny_tables

BOOK = dataclasses.replace(SMALL, seed=23, n_clients=800, months=30, truth_paths=0)
CONFIG = FeaturesConfig()


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate_portfolio(BOOK, WINDOW).tables


@pytest.fixture(scope="module")
def dates(tables: dict[str, pd.DataFrame]) -> list[dt.date]:
    return as_of_dates(tables, CONFIG.as_of)


@pytest.fixture(scope="module")
def single(tables: dict[str, pd.DataFrame], dates: list[dt.date]) -> pd.DataFrame:
    return build_features(tables, dates, CONFIG)


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, kind="stable", ignore_index=True)


# ---------------------------------------------------------------- partitioning


def test_client_partition_is_a_fixed_hash_independent_of_order() -> None:
    ids = pd.Series([f"C{i:06d}" for i in range(1000)], dtype="str")
    part = dp.client_partition(ids, 7)
    assert part.min() >= 0 and part.max() <= 6
    assert np.bincount(part, minlength=7).min() > 100  # spread over every partition
    shuffled = ids.sample(frac=1.0, random_state=0)
    assert (dp.client_partition(shuffled, 7) == part[shuffled.index.to_numpy()]).all()
    same_as_object = dp.client_partition(pd.Series(ids.to_numpy(dtype=object)), 7)
    assert (same_as_object == part).all()
    # pinned: a changed hash would move clients between partitions from one version to the next
    assert part[:8].tolist() == PINNED_PARTITIONS


PINNED_PARTITIONS = [3, 0, 5, 5, 5, 6, 4, 0]


def test_partitioning_puts_each_client_in_one_partition_and_loses_no_row(
    tables: dict[str, pd.DataFrame],
) -> None:
    parts = dp.partition_tables(tables, 5)
    owner = tables["facilities"].set_index("facility_id")["client_id"]
    seen: dict[str, int] = {}
    for k, part in enumerate(parts):
        assert set(part) == set(tables)
        for name in ("clients", "facilities", "revenue", "interactions", "credit_events"):
            for client in part[name]["client_id"].unique():
                assert seen.setdefault(client, k) == k, f"{client} in two partitions ({name})"
        for name in ("facility_balances", "facility_terms"):
            for client in part[name]["facility_id"].map(owner).unique():
                assert seen.setdefault(client, k) == k, f"{client} in two partitions ({name})"
    assert len({seen[c] for c in tables["clients"]["client_id"]}) == 5
    for name, frame in tables.items():
        assert sum(len(p[name]) for p in parts) == len(frame), name
        back = pd.concat([p[name] for p in parts], ignore_index=True)
        pd.testing.assert_frame_equal(
            _sorted(back, list(frame.columns)), _sorted(frame, list(frame.columns))
        )


def test_balance_of_an_unknown_facility_is_an_error_naming_the_row() -> None:
    tables = tiny_tables()
    balances = tables["facility_balances"]
    tables["facility_balances"] = pd.concat(
        [balances, balances.head(1).assign(facility_id="f_ghost")], ignore_index=True
    )
    with pytest.raises(ValueError, match=r"facility_balances.*facility_id.*'f_ghost'"):
        dp.partition_tables(tables, 3)


def test_input_without_clients_fails_as_on_one_machine() -> None:
    tables = tiny_tables()
    del tables["clients"]
    with pytest.raises(ValueError, match="table clients is required"):
        dd.build_features_dask(tables, [dt.date(2022, 12, 31)], CONFIG, partitions=3)


# ---------------------------------------------------------------- features on Dask


def test_features_on_a_local_cluster_equal_the_single_machine_build(
    tables: dict[str, pd.DataFrame],
    dates: list[dt.date],
    single: pd.DataFrame,
    cluster: Client,
) -> None:
    got = dd.build_features_dask(tables, dates, CONFIG, partitions=3, client=cluster)
    assert len(got) == len(single) > 800
    keys = ["client_id", "as_of"]
    pd.testing.assert_frame_equal(_sorted(got, keys), _sorted(single, keys))
    pd.testing.assert_frame_equal(got, single)  # already in the single-machine order


def test_feature_table_on_threads_equals_the_single_machine_one_despite_local_data() -> None:
    tables = tiny_tables()  # 4 clients; c4 is onboarded on the data end, after every event
    parts = dp.partition_tables(tables, 4)
    local_ends = {data_end(p) for p in parts if len(p["clients"])}
    assert len(local_ends) > 1 and any(len(p["clients"]) == 0 for p in parts)
    assert any(p["interactions"]["csat"].isna().all() for p in parts if len(p["clients"]))
    expected = build_feature_table(tables, CONFIG)
    got = dd.build_feature_table_dask(tables, CONFIG, partitions=4)
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.summary == expected.summary
    assert got.frame["label_default"].notna().sum() > 0
    assert "csat_mean_12m" in got.frame


def test_cli_features_with_a_scheduler_address_writes_the_same_files(
    tmp_path: Path, cluster: Client
) -> None:
    validated = tmp_path / "validated"
    validated.mkdir()
    for name, frame in tiny_tables().items():
        frame.to_parquet(validated / f"{name}.parquet", index=False)
    expected = run_features(validated, tmp_path / "one" / "features.parquet", CONFIG)
    out = tmp_path / "dask" / "features.parquet"
    args = ["features", "--input", str(validated), "--out", str(out), "--quiet"]
    (tmp_path / "params.yaml").write_text("features: {}\n")  # the built-in defaults
    args += ["--params", str(tmp_path / "params.yaml"), "--partitions", "3"]
    result = CliRunner().invoke(app, [*args, "--scheduler", cluster.scheduler.address])
    assert result.exit_code == 0, result.output
    assert len(expected.frame) > 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out), pd.read_parquet(tmp_path / "one" / "features.parquet")
    )
    assert (out.parent / "snapshots.json").read_text() == (
        tmp_path / "one" / "snapshots.json"
    ).read_text()


def test_cli_features_with_an_unreachable_scheduler_fails_cleanly(tmp_path: Path) -> None:
    validated = tmp_path / "validated"
    validated.mkdir()
    tiny_tables()["clients"].to_parquet(validated / "clients.parquet", index=False)
    args = ["features", "--input", str(validated), "--out", str(tmp_path / "f.parquet")]
    (tmp_path / "params.yaml").write_text("features: {}\n")
    args += ["--params", str(tmp_path / "params.yaml"), "--quiet"]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(app, [*args, "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert not (tmp_path / "f.parquet").exists()


# ---------------------------------------------------------------- scoring on Dask


def test_scoring_on_a_local_cluster_equals_score_chunks(
    single: pd.DataFrame, tmp_path: Path, cluster: Client
) -> None:
    labelled = single.assign(  # stand-in labels: the models only need to be real models
        label_default=(single["max_dpd_12m"] > 0).astype("float64"),
        label_churn=(single["revenue_3m"] <= 0).astype("float64"),
    )
    bundles = {
        t: train_on_features(labelled.drop(columns=f"label_{o}"), t, trees=8)
        for t, o in (("churn", "default"), ("default", "churn"))
    }
    snapshot = single[single["as_of"] == single["as_of"].max()].reset_index(drop=True)
    config, templates = ScoreConfig(chunk_size=150), catalogue_templates()
    with ExplanationWriter(tmp_path / "explanations.parquet") as writer:
        expected = score_chunks(snapshot, bundles, config, templates, writer)
    got, rows = dist_scoring.score_features_dask(
        snapshot,
        bundles,
        config,
        templates,
        explanations_dir=tmp_path / "parts",
        partitions=3,
        client=cluster,
    )
    pd.testing.assert_frame_equal(got, expected)
    assert rows == writer.rows > 0
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 3
    keys = ["client_id", "target", "feature"]
    pd.testing.assert_frame_equal(
        _sorted(pd.read_parquet(tmp_path / "parts"), keys),
        _sorted(pd.read_parquet(tmp_path / "explanations.parquet"), keys),
    )
