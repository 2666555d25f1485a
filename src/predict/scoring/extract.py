"""Scoring an extract: some clients' rows cut from a whole book, scored against the book's
skeleton (``predict score --input EXTRACT --book BOOK``), e.g. one client on demand.

A client's scores must depend only on its own rows and the model folder. Several decisions
read the input as a whole book, and from the rows of a few clients they would come out
differently:

- **which tables and columns the data has** (:mod:`predict.scoring.support`, the features
  built, the default-status inputs, the early-warning triggers evaluated): a table without
  a row, or a column without a value, is absent in a book. For one client with no credit
  event, no survey answer or no revenue it is simply its truth, and the book gives that
  client counts of 0, not missing features or a refused model. And the other way round: a
  column the whole book lacks (every ``revenue.source`` empty) cannot be told from one
  client's rows, where it would read as present;
- **the scoring date and its checks** (:mod:`predict.scoring.dates`): the latest month end,
  the history before it and the data end are the book's, not those of a client onboarded
  six months ago or whose activity stopped in the summer;
- **the month end to rescore** (the previous scoring): before the book's data start or not.

So every one of them reads the book's **skeleton** instead (:mod:`predict.contract.skeleton`:
each table's columns with their least and greatest value, two rows per table, written by the
validate stage beside the validated tables and by ``predict partition`` into a dataset),
and the extract gives only the clients' own rows: the features, outputs, explanations and
per-client steps. An optional table's file without a row is then a table of no rows, not an
absent one (:func:`predict.contract.validation.validate_folder`, ``empty_tables``).

The extract must hold a file for each table the book has (a header-only file when these
clients have no row in it): a missing file cannot be told from a forgotten one, and the run
stops naming it. A table the book does not have is dropped from the extract when it has no
row, and stops the run when it has some (the extract and the book disagree).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from predict.contract.skeleton import read_book_skeleton

log = logging.getLogger(__name__)


def given_columns(folder: str | os.PathLike[str]) -> dict[str, set[str]]:
    """The columns of each contract table file in ``folder`` as written (before validation
    or the contract fills an absent optional column with nulls)."""
    import pyarrow.parquet as pq

    from predict.contract.tables import locate_tables, read_table_file

    def names(path: Path) -> set[str]:
        if path.suffix == ".parquet":  # its schema, not its rows
            return {str(c).strip() for c in pq.read_schema(path).names}
        return set(read_table_file(path).columns)

    return {name: names(path) for name, path in locate_tables(folder).items()}


def extract_of(
    tables: Mapping[str, pd.DataFrame],
    skeleton: Mapping[str, pd.DataFrame],
    given: Mapping[str, set[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """The extract's ``tables`` checked against the book's ``skeleton``: a table the book
    lacks and the extract gives without a row is left out; ValueError naming a table the
    book has and the extract lacks, one the extract has rows of and the book lacks, or a
    column that holds a value in the book and is not in the extract's file (``given``:
    :func:`given_columns`; an absent optional column would read as "no value" for these
    clients, which the book's column says is not the case)."""
    book = {n for n, frame in skeleton.items() if not frame.empty}
    lacking = sorted(book - set(tables))
    if lacking:
        raise ValueError(
            f"--book: the book has table(s) {lacking} and the extract has no file for them: "
            "give their rows for these clients (a header-only file when they have none)"
        )
    extra = sorted(set(tables) - book)
    with_rows = [n for n in extra if not tables[n].empty]
    if with_rows:
        raise ValueError(
            f"--book: the extract has rows of table(s) {with_rows}, which the book lacks "
            "(absent, or without a row): the extract and the book disagree"
        )
    for name in extra:
        log.info("--book: table %s is not in the book: its empty file is left out", name)
    for name in sorted(book & set(given or {})):
        frame = skeleton[name]
        valued = [c for c in frame.columns if frame[c].notna().any()]
        missing = [c for c in valued if c not in (given or {})[name]]
        if missing:
            raise ValueError(
                f"--book: table {name} of the extract has no column(s) {missing}, which hold "
                "values in the book: give them (empty where these clients have no value)"
            )
    return {n: frame for n, frame in tables.items() if n in book}


def require_onboarded(tables: Mapping[str, pd.DataFrame], as_of: dt.date) -> None:
    """ValueError when no client of the extract is onboarded on or before ``as_of`` (the
    book's date checks passed: its first client was; these clients were not yet)."""
    onboarded = pd.to_datetime(tables["clients"]["onboarding_date"])
    if not (onboarded <= pd.Timestamp(as_of)).any():
        first = onboarded.min()
        raise ValueError(
            f"--book: no client of the extract is onboarded by the scoring as-of "
            f"{as_of.isoformat()} (the first on {first.date() if pd.notna(first) else 'no date'}"
            "): nothing to score"
        )


__all__ = ["extract_of", "given_columns", "read_book_skeleton", "require_onboarded"]
