"""The train split read by the workers (predict.models.dask_train): on a real 2-process
LocalCluster with real LightGBM, everything a bundle and its metrics say of the training
data equals the single machine's on the same split, and the driver never reads the rows of
train.parquet."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client

from predict.io import read_json
from predict.models import bins
from predict.models.dask_train import read_train, sample_positions
from predict.models.refit import RefitConfig
from predict.models.training import TrainConfig
from tests.support.splits import Book, fast_config, make_split, train_into, write_split

ROW_GROUP = 150  # rows per row group of the test's train.parquet: 800 rows, 6 groups


def _staged(book: Book) -> Book:
    """``book`` with a life-cycle stage (some clients prospects at the first training as-of
    and 'new' at the second), a turnover, a default status and an exposure flag."""

    def add(frame: pd.DataFrame, first: bool) -> pd.DataFrame:
        some = frame["client_id"].str[-1].isin(["0", "3", "6"]) & first
        early = frame["as_of"] == frame["as_of"].min()
        stage = np.where(some & early, "potential", np.where(some, "new", "active"))
        rng = np.random.default_rng(len(frame))
        return frame.assign(
            lifecycle_stage=pd.Series(stage, index=frame.index, dtype="str"),
            annual_turnover=frame["revenue_12m"] * 20,
            in_default=np.where(rng.random(len(frame)) < 0.03, 1.0, 0.0),
            has_exposure=np.where(rng.random(len(frame)) < 0.1, 0.0, 1.0),
        )

    return Book(add(book.train, True), add(book.valid, False), add(book.test, False), book.truth)


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A split folder whose train.parquet has several row groups."""
    book = _staged(make_split(n_clients=400, seed=11))
    folder = write_split(book, tmp_path_factory.mktemp("dask_train") / "split")
    book.train.to_parquet(folder / "train.parquet", index=False, row_group_size=ROW_GROUP)
    return folder


def _config(**changes: Any) -> TrainConfig:
    return dataclasses.replace(fast_config(30, 10), **changes)


def _run(
    split: Path,
    target: str,
    config: TrainConfig,
    out: Path,
    client: Client | None,
    tracking_uri: str | None = None,
) -> Any:
    return train_into(split, target, config, out, client=client, tracking_uri=tracking_uri)


def _metadata(out: Path, target: str) -> dict[str, Any]:
    return read_json(out / "models" / target / "model.json")


CASES = [
    # default: the scorecard baseline, in_default / has_exposure counts, every train row binned
    ("default", _config()),
    # contribution: the potential reference, a drift sample of 300 of the 800 train rows,
    # the final refit on train + valid
    (
        "contribution",
        _config(
            drift_reference=bins.DriftReferenceConfig(max_rows=300, seed=3),
            final_refit=RefitConfig(enabled=("contribution",)),
        ),
    ),
]


@pytest.mark.parametrize(("target", "config"), CASES)
def test_the_cluster_run_says_what_the_single_machine_says_of_the_training_data(
    split_dir: Path, cluster: Client, tmp_path: Path, target: str, config: TrainConfig
) -> None:
    single = _run(split_dir, target, config, tmp_path / "single", None)
    on_dask = _run(split_dir, target, config, tmp_path / "dask", cluster)
    one, two = single.bundle, on_dask.bundle
    assert two.metadata["fitted_on"].startswith("lightgbm.dask")
    assert two.features.to_dict() == one.features.to_dict()  # names, dtypes, category levels
    assert one.features.categories  # the book has categorical features
    for key in (
        "train_window",
        "valid_window",
        "feature_ranges",
        "default_status_known",
        "default_status_from",
        "lifecycle_stage_from",
        "params",
        "data_hash",
    ):
        assert two.metadata[key] == one.metadata[key], key
    fits = (one.metadata["fits"], two.metadata["fits"])
    assert fits[1]["scoring"] == fits[0]["scoring"]
    if "refit" in fits[0]:  # the refit's rows (train + valid) and its windows
        assert fits[1]["refit"]["train_window"] == fits[0]["refit"]["train_window"]
        assert fits[1]["refit"]["row_ratio"] == fits[0]["refit"]["row_ratio"]
    assert on_dask.metrics["population"] == single.metrics["population"]
    assert on_dask.metrics["rows"] == single.metrics["rows"]
    assert on_dask.metrics["baseline"] == single.metrics["baseline"]  # the same fit, to the bit
    assert set(on_dask.metrics) == set(single.metrics)
    drift = (one.references["drift"]["features"], two.references["drift"]["features"])
    assert drift[1] == drift[0]  # the same rows binned: the same bins and shares
    if target == "contribution":
        assert drift[0]["binned_rows"] == 300 < drift[0]["rows"] == 800
        assert two.references["potential"]["value"] == one.references["potential"]["value"]
        assert one.references["potential"]["value"]["book"]["n"] > 0
    # the trees differ (data-parallel LightGBM bins each worker's rows): within the noise of
    # this small book (800 training rows, 85 defaults; 30 trees at most); the
    # quality on a larger book: tests/unit/test_dist_training.py
    test = single.metrics["test"]
    key = "auc" if target != "contribution" else "rmse"
    figures = (test[key], on_dask.metrics["test"][key])
    if key == "auc":
        assert figures[1] > 0.6 and abs(figures[1] - figures[0]) < 0.1, figures
    else:
        assert figures[1] < 1.1 * figures[0], figures


@pytest.fixture
def no_train_rows_here(split_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """This process (the driver) refuses to read the rows of the train split: pandas and
    pyarrow readers raise for it (the workers are other processes, not patched); the reads
    refused are listed."""
    train = (split_dir / "train.parquet").resolve()
    refused: list[str] = []

    def guard(what: str, read: Any) -> Any:
        def guarded(source: Any, *args: Any, **kwargs: Any) -> Any:
            path = getattr(source, "_train_path", source)
            if isinstance(path, str | Path) and Path(path).resolve() == train:
                refused.append(what)
                raise AssertionError(f"the driver read the train rows ({what})")
            return read(source, *args, **kwargs)

        return guarded

    monkeypatch.setattr(pd, "read_parquet", guard("pandas.read_parquet", pd.read_parquet))
    monkeypatch.setattr(pq, "read_table", guard("pyarrow.parquet.read_table", pq.read_table))
    original_init = pq.ParquetFile.__init__

    def init(self: pq.ParquetFile, source: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, source, *args, **kwargs)
        self._train_path = source  # type: ignore[attr-defined]

    monkeypatch.setattr(pq.ParquetFile, "__init__", init)
    for method in ("read", "read_row_group", "read_row_groups", "iter_batches"):
        read = getattr(pq.ParquetFile, method)

        def refuse(self: pq.ParquetFile, *args: Any, _read: Any = read, _m: str = method,
                   **kwargs: Any) -> Any:  # fmt: skip
            return guard(f"ParquetFile.{_m}", lambda _s, *a, **k: _read(self, *a, **k))(
                self, *args, **kwargs
            )

        monkeypatch.setattr(pq.ParquetFile, method, refuse)
    yield refused
    assert not refused, refused


def test_the_driver_never_reads_the_train_rows(
    split_dir: Path,
    cluster: Client,
    tmp_path: Path,
    no_train_rows_here: list[str],
    mlflow_uri: str,
) -> None:
    source = read_train(split_dir / "train.parquet")
    assert source.frame.npartitions == 6 > 1  # a partition per row group, read by the workers
    assert source.group_rows == (150,) * 5 + (50,)
    with pytest.raises(AssertionError, match="the driver read the train rows"):
        pd.read_parquet(split_dir / "train.parquet")  # the guard works
    no_train_rows_here.clear()
    config = _config(final_refit=RefitConfig(enabled=("churn",)))
    result = _run(split_dir, "churn", config, tmp_path, cluster, mlflow_uri)
    assert result.bundle.metadata["train_window"]["rows"] > 0
    assert result.bundle.metadata["fits"]["scoring"] == "refit"
    # MLflow's training input: a descriptor (source, digest, rows, schema), no row read
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    (run,) = client.search_runs([client.get_experiment_by_name("predict").experiment_id])
    (logged,) = run.inputs.dataset_inputs
    assert logged.dataset.name == "churn-train"
    assert logged.dataset.digest == result.data_hash[:8]
    assert '"num_rows": 1200' in logged.dataset.profile  # train (800) + valid (400): the refit
    assert "train.parquet" in logged.dataset.source
    assert '"label_churn"' in logged.dataset.schema


def test_the_sample_positions_are_pandas_own() -> None:
    frame = pd.DataFrame({"x": np.arange(1000.0)})
    config = bins.DriftReferenceConfig(max_rows=77, seed=5)
    positions = sample_positions(len(frame), config)
    assert positions is not None
    assert list(bins.sample_rows(frame, config).index) == list(positions)
    assert sample_positions(77, config) is None  # every row kept
    assert len(bins.sample_rows(frame.head(77), config)) == 77


def test_train_distributed_is_the_stages_switch_and_not_a_model_setting(
    split_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # train.distributed reaches the train command (here an address nobody listens at: the
    # stage stops, naming it; a --scheduler given wins); the bundle's config leaves it out
    import dask
    import yaml

    from predict.cli import run_stage

    with pytest.raises(ValueError, match=r"train\.distributed"):
        TrainConfig(distributed=" ")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"distributed": "tcp://127.0.0.1:9"}}))
    out = ["--models", str(tmp_path / "m"), "--metrics", str(tmp_path / "x")]
    args = ["--params", str(params), "--split", str(split_dir), "--target", "churn", *out]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert run_stage("train", args) == 1
    assert "127.0.0.1:9" in capsys.readouterr().err
    result = _run(split_dir, "churn", fast_config(5, 2), tmp_path / "one", None)
    assert "distributed" not in result.bundle.metadata["config"]


def test_a_train_split_of_one_row_group_trains_on_the_cluster(
    split_dir: Path, cluster: Client, tmp_path: Path
) -> None:
    # the default row groups (1,048,576 rows) leave a small train set one partition: one
    # worker holds the rows, LightGBM fits there; the figures are the same as ever
    folder = tmp_path / "split"
    folder.mkdir()
    for path in split_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    pd.read_parquet(split_dir / "train.parquet").to_parquet(folder / "train.parquet", index=False)
    assert read_train(folder / "train.parquet").frame.npartitions == 1
    config = fast_config(10, 5)
    one = _run(folder, "churn", config, tmp_path / "dask", cluster)
    many = _run(split_dir, "churn", config, tmp_path / "many", cluster)
    assert one.bundle.metadata["feature_ranges"] == many.bundle.metadata["feature_ranges"]
    assert one.metrics["population"] == many.metrics["population"]
    assert one.bundle.booster.current_iteration() >= 1
