"""Fixtures shared by more than one test folder: the model split, the scoring book, MLflow.

Costly objects that no test changes (a split, a generated book with its models) are built
once per session; an MLflow store is a fresh SQLite file in each test's ``tmp_path``.
Plain builders that tests call with arguments live in ``tests/support``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import scoring, splits


@pytest.fixture(scope="session")
def split_book() -> splits.Book:
    """The in-memory train/valid/test split with planted signal (``tests/support/splits``)."""
    return splits.make_split(n_clients=500, seed=5)


@pytest.fixture(scope="session")
def scoring_book(tmp_path_factory: pytest.TempPathFactory) -> scoring.Book:
    """A generated book on disk with three tiny models and their training reference."""
    return scoring.build_book(tmp_path_factory.mktemp("scoring_book"))


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables made and nothing logged, never written again:
    the migrations that make the tables take about a second, a copy a few milliseconds."""
    import mlflow

    path = tmp_path_factory.mktemp("mlflow_empty") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path, empty_mlflow_db: Path) -> str:
    """A fresh MLflow tracking and registry store (SQLite) in this test's ``tmp_path``."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_mlflow_db, db)
    return f"sqlite:///{db}"
