"""The partitioned dataset (predict.distributed.dataset): written by client hash in batches,
workers read their own partition's files, and features, labels, training and scoring from
it equal the single-machine run on a real two-process LocalCluster."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client
from typer.testing import CliRunner

from predict.cli import app
from predict.distributed import dataset as ds
from predict.distributed import partitions as dp
from predict.distributed import scoring as dist_scoring
from predict.distributed import steps as dd
from predict.distributed.cluster import open_cluster
from predict.features import rates as frates
from predict.features.build import FeaturesConfig, build_feature_table, build_features, load_tables
from predict.features.build import run as run_features
from predict.features.snapshots import as_of_dates, scoring_as_of
from predict.io import read_json, write_csv
from predict.models.training import BoosterConfig, TrainConfig, train_model
from predict.scoring.align import add_missing_features
from predict.scoring.chunks import score_chunks
from predict.scoring.config import ScoreConfig
from predict.scoring.explain import ExplanationWriter
from predict.scoring.reasons import catalogue_templates
from predict.scoring.result import ScoringReport
from predict.scoring.run import score_folder
from predict.synthetic import generate_portfolio
from tests.support.scoring import Book as ScoringBook
from tests.support.synthetic import SMALL, WINDOW

BOOK = dataclasses.replace(SMALL, seed=29, n_clients=500, months=30, truth_paths=0)
CONFIG = FeaturesConfig()
PARTS = 5


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("validated")
    for name, frame in generate_portfolio(BOOK, WINDOW).tables.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


@pytest.fixture(scope="module")
def tables(validated: Path) -> dict[str, pd.DataFrame]:
    return load_tables(validated)


@pytest.fixture(scope="module")
def dataset(validated: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "partitioned"
    ds.write_dataset(validated, out, ds.PartitionConfig(partitions=PARTS, batch_rows=997))
    return out


def test_client_hash_is_the_same_in_another_process() -> None:
    ids = [f"C{i:05d}" for i in range(50)]
    here = dp.client_partition(pd.Series(ids, dtype="str"), 7).tolist()
    code = (
        "import pandas as pd; from predict.distributed.partitions import client_partition; "
        f"print(client_partition(pd.Series({ids!r}, dtype='str'), 7).tolist())"
    )
    env_seed = {"PYTHONHASHSEED": "12345"}  # Python's own hash would move with it
    import os

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, **env_seed},
    )  # fmt: skip
    assert out.stdout.strip() == str(here)


def test_dataset_parts_are_the_in_memory_partitions_and_the_digest_counts_them(
    dataset: Path, tables: dict[str, pd.DataFrame]
) -> None:
    expected = dp.partition_tables(tables, PARTS)
    digest = ds.read_digest(dataset)
    for k in range(PARTS):
        got = ds.read_part(dataset, k)
        assert set(got) == set(tables)
        for name in tables:
            pd.testing.assert_frame_equal(got[name], expected[k][name], obj=f"{name} part {k}")
            assert digest["tables"][name]["rows_per_partition"][k] == len(expected[k][name])
    for name, frame in tables.items():
        assert digest["tables"][name]["rows"] == len(frame)
    skeleton = ds.read_skeleton(dataset)
    assert all(len(skeleton[n]) == 2 for n in tables if len(tables[n]))
    # the book-wide decisions read the same from the skeleton as from the whole tables
    assert as_of_dates(skeleton, CONFIG.as_of) == as_of_dates(tables, CONFIG.as_of)
    assert scoring_as_of(skeleton, CONFIG.as_of) == scoring_as_of(tables, CONFIG.as_of)
    dates = as_of_dates(tables, CONFIG.as_of)
    pd.testing.assert_frame_equal(
        ds.rate_reference(dataset, dates), frates.point_in_time(tables, dates)
    )
    known_at = max(dates)
    assert ds.frozen_rate_reference(dataset, known_at) == frates.freeze(tables, known_at)
    assert not list(dataset.parent.glob(".partitioned*"))  # no temporary folder left


def test_an_empty_optional_table_is_left_out_of_the_dataset(
    validated: Path, tmp_path: Path
) -> None:
    # as load_validated reads it: absent, so the workers' parts do not hold a table of no
    # rows that would read as "no event happened"
    folder = tmp_path / "validated"
    shutil.copytree(validated, folder)
    events = pd.read_parquet(folder / "credit_events.parquet")
    events.iloc[:0].to_parquet(folder / "credit_events.parquet", index=False)
    digest = ds.write_dataset(folder, tmp_path / "partitioned", ds.PartitionConfig(partitions=2))
    assert "credit_events" not in digest["tables"] and "revenue" in digest["tables"]
    assert "credit_events" not in ds.read_part(tmp_path / "partitioned", 0)


def test_a_balance_of_an_unknown_facility_stops_the_partitioning(
    validated: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for path in validated.glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.stem == "facility_balances":
            frame.loc[3, "facility_id"] = "F-NOBODY"
        frame.to_parquet(folder / path.name, index=False)
    with pytest.raises(ValueError, match=r"facility_balances, column facility_id.*F-NOBODY"):
        ds.write_dataset(folder, tmp_path / "out", ds.PartitionConfig(partitions=3))
    assert not (tmp_path / "out").exists()


def test_feature_table_from_the_dataset_on_a_cluster_equals_the_single_machine_one(
    dataset: Path, tables: dict[str, pd.DataFrame], cluster: Client
) -> None:
    expected = build_feature_table(tables, CONFIG)
    got = dd.build_feature_table_dataset(dataset, CONFIG, client=cluster)
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.summary == expected.summary


def test_features_training_and_scoring_from_the_dataset_on_a_cluster(
    dataset: Path, tables: dict[str, pd.DataFrame], cluster: Client, tmp_path: Path
) -> None:
    """The whole path on the cluster: features and labels read by the workers from their
    partitions; the train set written as a split file of several row groups and read by the
    workers again, a row group each (the driver holds only the validation period), boosters
    fitted with lightgbm.dask; scoring read by the workers from their partitions; the scores
    equal the single machine's with the same models."""
    from predict.models.dask_train import read_train

    table = dd.build_feature_table_dataset(dataset, CONFIG, client=cluster).frame
    dates = sorted(table["as_of"].unique())
    booster = BoosterConfig(learning_rate=0.1, min_data_in_leaf=20, num_boost_round=40,
                            early_stopping_rounds=10)  # fmt: skip
    config_t = TrainConfig(num_threads=1, booster=booster)
    train_file = tmp_path / "split" / "train.parquet"
    train_file.parent.mkdir()
    table[table["as_of"] <= dates[-6]].to_parquet(train_file, index=False, row_group_size=200)
    source = read_train(train_file)
    assert source.frame.npartitions > 1  # the workers read it, a row group per task
    valid = table[table["as_of"] == dates[-5]]
    bundles = {t: train_model(source.frame, valid, t, config_t, client=cluster)
               for t in ("churn", "default")}  # fmt: skip
    assert all(b.metadata["fitted_on"].startswith("lightgbm.dask") for b in bundles.values())
    on_driver = train_model(table[table["as_of"] <= dates[-6]], valid, "churn", config_t,
                            client=cluster)  # fmt: skip
    for key in ("train_window", "feature_ranges", "default_status_known"):
        assert bundles["churn"].metadata[key] == on_driver.metadata[key], key
    assert bundles["churn"].features == on_driver.features  # the same categories
    day = scoring_as_of(tables, CONFIG.as_of)
    known_at = max(as_of_dates(tables, CONFIG.as_of))
    reference = frates.freeze(tables, known_at)
    rates = frates.frozen_table(reference, [day])
    snapshot = build_features(tables, [day], CONFIG, rate_reference=rates)
    report = ScoringReport()
    snapshot = add_missing_features(snapshot, bundles, "nan", report)
    config, templates = ScoreConfig(chunk_size=150), catalogue_templates()
    with ExplanationWriter(tmp_path / "explanations.parquet") as writer:
        expected = score_chunks(
            snapshot, bundles, config, templates, writer, None, report.missing_features
        )
    features, outputs, rows = dist_scoring.score_dataset(
        dataset, day, bundles, config, templates, CONFIG, reference,
        explanations_dir=tmp_path / "parts", client=cluster,
    )  # fmt: skip
    pd.testing.assert_frame_equal(features, snapshot)
    pd.testing.assert_frame_equal(outputs, expected)
    assert rows == writer.rows > 0
    keys = ["client_id", "target", "feature"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "parts").sort_values(keys, ignore_index=True),
        pd.read_parquet(tmp_path / "explanations.parquet").sort_values(keys, ignore_index=True),
    )


def test_cli_partition_then_features_from_the_dataset(validated: Path, tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("partition:\n  partitions: 3\n  batch_rows: 5000\nfeatures: {}\n")
    out = tmp_path / "partitioned"
    runner = CliRunner()
    result = runner.invoke(
        app, ["partition", "--input", str(validated), "--out", str(out), "--params", str(params)]
    )
    assert result.exit_code == 0, result.output
    assert ds.read_digest(out)["partitions"] == 3
    result = runner.invoke(
        app,
        [
            "features",
            "--input",
            str(out),
            "--out",
            str(tmp_path / "f.parquet"),
            "--dask",
            "--params",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    run_features(validated, tmp_path / "single" / "f.parquet", CONFIG)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "f.parquet"), pd.read_parquet(tmp_path / "single" / "f.parquet")
    )
    for name in ("snapshots.json", frates.REFERENCE_FILE):
        assert (tmp_path / name).read_bytes() == (tmp_path / "single" / name).read_bytes(), name


def test_score_folder_on_a_cluster_equals_the_single_machine_run(
    scoring_book: ScoringBook, cluster: Client, tmp_path: Path
) -> None:
    config = ScoreConfig(chunk_size=64, partitions=3)  # previous month end rescored too
    plain = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "plain", config,
                         CONFIG, validated=True, quiet=True)  # fmt: skip
    address = cluster.scheduler.address  # type: ignore[union-attr]
    on_dask = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "dask", config,
                           CONFIG, validated=True, quiet=True, scheduler=address,
                           cluster_factory=open_cluster)  # fmt: skip
    pd.testing.assert_frame_equal(on_dask.scores, plain.scores)
    assert on_dask.report == plain.report
    keys = ["client_id", "target", "feature"]
    got = pd.read_parquet(tmp_path / "dask" / "explanations.parquet")
    expected = pd.read_parquet(tmp_path / "plain" / "explanations.parquet")
    assert len(expected) > 0
    pd.testing.assert_frame_equal(
        got.sort_values(keys, ignore_index=True), expected.sort_values(keys, ignore_index=True)
    )
    assert not (tmp_path / "dask" / "explanations.parts").exists()
    for name in ("scores.parquet", "score_summary.json"):
        assert (tmp_path / "dask" / name).is_file()


def test_score_distributed_setting_is_checked() -> None:
    with pytest.raises(ValueError, match=r"score\.partitions"):
        ScoreConfig(partitions=0)
    with pytest.raises(ValueError, match=r"score\.distributed"):
        ScoreConfig(distributed=" ")


def _without_run_id(report: ScoringReport) -> ScoringReport:
    return dataclasses.replace(report, run_id="")


def _same_outputs(got: Path, expected: Path) -> None:
    """Every file of two scoring runs equal, but for the run id (the inputs differ: a
    dataset and a folder of tables) and the explanations' row order (by partition)."""
    for name in ("scores.parquet", "early_warning.parquet", "drift.parquet",
                 "migration.parquet"):  # fmt: skip
        a, b = (pd.read_parquet(f / name).drop(columns="run_id", errors="ignore")
                for f in (got, expected))  # fmt: skip
        pd.testing.assert_frame_equal(a, b, obj=name)
    keys = ["client_id", "target", "feature"]
    a = pd.read_parquet(got / "explanations.parquet")
    b = pd.read_parquet(expected / "explanations.parquet")
    assert len(b) > 0
    pd.testing.assert_frame_equal(
        a.sort_values(keys, ignore_index=True), b.sort_values(keys, ignore_index=True)
    )
    a_sum, b_sum = (read_json(f / "score_summary.json") | {"run_id": ""} for f in (got, expected))
    assert a_sum == b_sum
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in expected.iterdir())


@pytest.mark.parametrize("horizon", [12, 6], ids=["H12", "H6"])
def test_score_from_a_dataset_on_a_cluster_equals_the_single_machine_run(
    scoring_book: ScoringBook, cluster: Client, tmp_path: Path, horizon: int
) -> None:
    """``predict score`` of a partitioned dataset: every per-client step on the workers (each
    reading its partition, the previous month end rescored there), the driver holding the
    skeleton and the clients' rows; every output equals the single machine's, at H = 12 and
    at H = 6 (the one-year PD of the early-warning triggers, the grades and capital read H
    on both paths)."""
    features = dataclasses.replace(
        CONFIG, horizon_months=horizon, inactivity_months=min(6, horizon - 2)
    )
    dataset = tmp_path / "partitioned"
    ds.write_dataset(scoring_book.raw, dataset, ds.PartitionConfig(partitions=4, batch_rows=900))
    config = ScoreConfig(chunk_size=64)
    plain = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "plain", config,
                         features, validated=True, quiet=True)  # fmt: skip
    address = cluster.scheduler.address  # type: ignore[union-attr]
    on_dask = score_folder(dataset, scoring_book.models, tmp_path / "dask", config, features,
                           quiet=True, scheduler=address, cluster_factory=open_cluster)  # fmt: skip
    assert plain.report.previous == "rescored previous month end"
    assert len(plain.early_warning) > 0
    pd.testing.assert_frame_equal(on_dask.scores, plain.scores)
    pd.testing.assert_frame_equal(on_dask.early_warning, plain.early_warning)
    pd.testing.assert_frame_equal(on_dask.drift, plain.drift)
    pd.testing.assert_frame_equal(on_dask.migration, plain.migration)
    assert _without_run_id(on_dask.report) == _without_run_id(plain.report)
    _same_outputs(tmp_path / "dask", tmp_path / "plain")
    assert not (tmp_path / "dask" / "explanations.parquet.parts").exists()


def test_scores_merged_in_many_batches_equal_the_single_machine_files(
    scoring_book: ScoringBook, cluster: Client, tmp_path: Path
) -> None:
    """The driver writes the scores files by merging the partitions' sorted files 7 rows of
    each at a time (dozens of batches), holding no score row: the files equal the single
    machine's (the Parquet schema with its pandas metadata too), the CSV byte for byte the one
    pandas writes from the whole frame."""
    dataset = tmp_path / "partitioned"
    ds.write_dataset(scoring_book.raw, dataset, ds.PartitionConfig(partitions=4))
    config = ScoreConfig(chunk_size=64, merge_batch_rows=7)
    plain = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "plain", config,
                         CONFIG, validated=True, quiet=True)  # fmt: skip
    address = cluster.scheduler.address  # type: ignore[union-attr]
    on_dask = score_folder(dataset, scoring_book.models, tmp_path / "dask", config, CONFIG,
                           quiet=True, scheduler=address, cluster_factory=open_cluster)  # fmt: skip
    assert on_dask.held_scores is None and plain.held_scores is not None
    assert on_dask.scores_file == tmp_path / "dask" / "scores.parquet"
    assert plain.report.clients > 4 * 7 * 5  # each partition read in 5 batches or more
    _same_outputs(tmp_path / "dask", tmp_path / "plain")
    pd.testing.assert_frame_equal(on_dask.scores, plain.scores)  # read back, typed as held
    assert on_dask.counts == plain.counts
    # the CSV merged batch by batch is the one pandas writes from the whole frame
    whole = write_csv(on_dask.scores.assign(run_id=on_dask.report.run_id), tmp_path / "w.csv")
    assert (tmp_path / "dask" / "scores.csv").read_bytes() == whole.read_bytes()
    a_csv, b_csv = (pd.read_csv(f / "scores.csv").drop(columns="run_id")
                    for f in (tmp_path / "dask", tmp_path / "plain"))  # fmt: skip
    pd.testing.assert_frame_equal(a_csv, b_csv)
    a, b = (pq.read_schema(f / "scores.parquet") for f in (tmp_path / "dask", tmp_path / "plain"))
    assert a.remove_metadata().equals(b.remove_metadata())
    assert a.metadata[b"pandas"] == b.metadata[b"pandas"]
    assert not (tmp_path / "dask" / "scores.parts").exists()


def test_score_from_a_dataset_with_a_previous_file_equals_the_single_machine_run(
    scoring_book: ScoringBook, cluster: Client, tmp_path: Path
) -> None:
    """A given previous scoring is split by client to the workers; its grades, one of them
    off today's scale (that client's regraded from its PD, as one machine does), the change
    columns and the early-warning list equal the single machine's."""
    dataset = tmp_path / "partitioned"
    ds.write_dataset(scoring_book.raw, dataset, ds.PartitionConfig(partitions=3))
    config = ScoreConfig(chunk_size=100, previous="none")
    earlier = dt.date(2025, 9, 30)
    first = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "first", config,
                         CONFIG, as_of=earlier, validated=True, quiet=True)  # fmt: skip
    previous = first.scores.assign(rating_grade=first.scores["rating_grade"].astype("str"))
    previous.loc[previous.index[0], "rating_grade"] = "off-scale"
    previous.to_parquet(tmp_path / "previous.parquet", index=False)
    plain = score_folder(scoring_book.raw, scoring_book.models, tmp_path / "plain", config,
                         CONFIG, validated=True, quiet=True,
                         previous_path=tmp_path / "previous.parquet")  # fmt: skip
    address = cluster.scheduler.address  # type: ignore[union-attr]
    on_dask = score_folder(dataset, scoring_book.models, tmp_path / "dask", config, CONFIG,
                           quiet=True, scheduler=address, cluster_factory=open_cluster,
                           previous_path=tmp_path / "previous.parquet")  # fmt: skip
    assert plain.scores["grade_change"].notna().any()
    assert len(plain.early_warning) > 0
    _same_outputs(tmp_path / "dask", tmp_path / "plain")
    assert _without_run_id(on_dask.report) == _without_run_id(plain.report)


def test_a_dataset_is_scored_only_on_a_cluster(
    scoring_book: ScoringBook, dataset: Path, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"partitioned dataset.*--scheduler"):
        score_folder(dataset, scoring_book.models, tmp_path / "out", ScoreConfig(), CONFIG)
    assert not (tmp_path / "out").exists()


def test_cli_scores_a_dataset_on_the_scheduler_given(
    scoring_book: ScoringBook, cluster: Client, tmp_path: Path
) -> None:
    dataset = tmp_path / "partitioned"
    ds.write_dataset(scoring_book.raw, dataset, ds.PartitionConfig(partitions=2))
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    base = ["score", "--input", str(dataset), "--models", str(scoring_book.models),
            "--params", str(params), "--quiet", "--as-of", "2025-11-30"]  # fmt: skip
    refused = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "none")])
    assert refused.exit_code == 1 and "--scheduler" in refused.output
    address = cluster.scheduler.address  # type: ignore[union-attr]
    out = tmp_path / "scores"
    result = CliRunner().invoke(app, [*base, "--out", str(out), "--scheduler", address])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out / "scores.parquet")
    assert f"scored {len(scores)} clients as of 2025-11-30" in result.output
    assert scores["client_id"].is_unique and len(scores) > 100
    assert (out / "explanations.parquet").is_file() and (out / "early_warning.parquet").is_file()
