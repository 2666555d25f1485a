"""Fixtures shared by the unit tests: models trained once per session on ``split_book``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster

from predict.models.store import ModelBundle
from predict.models.training import train_model
from tests.support.splits import Book, fast_config

SPLIT_TRAINING = fast_config(30, 10)


@pytest.fixture(scope="session")
def default_bundle(split_book: Book) -> ModelBundle:
    """The default model of ``split_book`` (few trees)."""
    return train_model(split_book.train, split_book.valid, "default", SPLIT_TRAINING)


@pytest.fixture(scope="session")
def churn_bundle(split_book: Book) -> ModelBundle:
    """The churn model of ``split_book`` (few trees)."""
    return train_model(split_book.train, split_book.valid, "churn", SPLIT_TRAINING)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    """A real 2-process LocalCluster (one thread per worker), one per test module."""
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as local,
        Client(local) as client,
    ):
        yield client
