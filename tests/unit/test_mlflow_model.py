"""The registered pyfunc against the scoring path: MLflow loading and ``mlflow models serve``.

Real MLflow (SQLite store in tmp_path), a default model with categorical features.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.contract.spec import OUTPUT_COLUMN
from predict.models.store import ModelBundle, save_bundle
from predict.models.tracking import TrackingConfig, log_training, model_example
from predict.scoring.chunks import explain_chunk, predict_outputs
from tests.support.splits import Book

CONFIG = TrackingConfig(experiment="pyfunc")
MODEL_URI = "models:/predict-default@challenger"


def _features(book: Book) -> pd.DataFrame:
    """Test rows with an unseen category and a missing category and number."""
    rows = book.test.head(40).copy()
    rows["segment"] = rows["segment"].astype("object")
    rows.loc[rows.index[0], "segment"] = "never seen in training"
    rows.loc[rows.index[1], "segment"] = None
    rows.loc[rows.index[2], "dpd_max_12m"] = np.nan
    return rows


def _register(uri: str, bundle: ModelBundle, book: Book, folder: Path) -> str:
    assert bundle.features.categorical  # the case that used to fail
    bundle_dir = save_bundle(bundle, folder / "default")
    info = log_training(
        uri,
        CONFIG,
        bundle,
        metrics={"test": {"auc": 0.7}},
        data_hash="h",
        bundle_dir=bundle_dir,
        input_example=book.test.head(3),
        training_data=book.train,
    )
    assert info.run_id
    return info.run_id


def _scored(rows: pd.DataFrame, bundle: ModelBundle) -> np.ndarray:
    """What ``predict score`` writes for these rows (the SHAP path), checked against the
    outputs-only path."""
    shap_path = bundle.from_raw(explain_chunk(rows, bundle).raw)
    plain = predict_outputs(rows, {"default": bundle}, chunk_size=7)[OUTPUT_COLUMN["default"]]
    np.testing.assert_allclose(plain.to_numpy(), shap_path, rtol=0, atol=1e-12)
    return shap_path


def test_the_registered_model_returns_what_scoring_returns(
    mlflow_uri: str, default_bundle: ModelBundle, split_book: Book, tmp_path: Path
) -> None:
    import mlflow

    run_id = _register(mlflow_uri, default_bundle, split_book, tmp_path)
    rows = _features(split_book)
    model = mlflow.pyfunc.load_model(MODEL_URI)
    out = model.predict(rows)
    assert list(out.columns) == ["default_probability"] and len(out) == len(rows)
    np.testing.assert_allclose(
        out["default_probability"].to_numpy(), _scored(rows, default_bundle), rtol=0, atol=1e-12
    )
    signature = model.metadata.signature
    inputs = {c.name: c.type.name for c in signature.inputs.inputs}
    assert list(inputs) == list(default_bundle.features.names)
    assert inputs["segment"] == "string" and inputs["dpd_max_12m"] == "double"
    assert model.metadata.saved_input_example_info is not None
    run = mlflow.MlflowClient(tracking_uri=mlflow_uri).get_run(run_id)
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "default-train" and dataset.dataset.digest
    assert dataset.tags[0].value == "training"
    assert json.loads(dataset.dataset.profile)["num_rows"] == len(split_book.train)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(
    server: subprocess.Popen[bytes], url: str, body: dict[str, object], deadline: float
) -> dict[str, object]:
    """POST ``body`` once the server answers /ping; give up at ``deadline`` or if it exits."""
    base = url.rsplit("/", 1)[0]
    while True:
        try:
            with urllib.request.urlopen(f"{base}/ping", timeout=2):
                break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited with {server.returncode}") from None
            if time.monotonic() > deadline:
                raise TimeoutError(f"mlflow models serve did not answer {base}/ping") from None
            time.sleep(0.5)
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it is still up after 15 s."""
    server.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=15)
    if server.poll() is None:
        server.kill()
        server.wait(timeout=15)


@pytest.mark.slow
def test_mlflow_models_serve_scores_one_client(
    mlflow_uri: str, default_bundle: ModelBundle, split_book: Book, tmp_path: Path
) -> None:
    _register(mlflow_uri, default_bundle, split_book, tmp_path)
    client = _features(split_book).iloc[[0]]  # one client, with an unseen category
    record = model_example(default_bundle, client).astype("object")
    record = record.where(record.notna(), None).to_dict(orient="records")
    port = _free_port()
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "PATH": path}  # uvicorn
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", MODEL_URI]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        answer = _post(
            server,
            f"http://127.0.0.1:{port}/invocations",
            {"dataframe_records": record},
            time.monotonic() + 90,
        )
    finally:
        _stop(server)
    (prediction,) = answer["predictions"]  # type: ignore[misc]
    expected = _scored(client, default_bundle)[0]
    assert abs(prediction["default_probability"] - expected) <= 1e-12
