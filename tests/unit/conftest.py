"""Fixtures shared by the unit tests: models trained once per session on ``split_book``."""

from __future__ import annotations

import pytest

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
