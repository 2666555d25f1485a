"""Frozen references: a client scored alone gets exactly the scores and explanations it
gets within the book, and its drift check the same bins (real features, LightGBM models and
scoring on a generated book); a model folder without its references file is refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from predict.contract.spec import OUTPUT_COLUMN
from predict.features.build import FeaturesConfig
from predict.models.store import REFERENCES_FILE, UnsafeModelError, load_bundle
from predict.scoring.config import ScoreConfig
from predict.scoring.run import score_folder
from tests.support.scoring import Book

CONFIG = ScoreConfig(chunk_size=128, previous="month_end")
AS_OF = dt.date(2025, 12, 31)  # the generated book's data end


def _alone(book: Book, client: str, folder: Path) -> Path:
    """The book's tables cut to ``client``'s rows (its facilities' balances too)."""
    folder.mkdir()
    facilities = book.tables["facilities"]
    own = set(facilities.loc[facilities["client_id"] == client, "facility_id"])
    for name, frame in book.tables.items():
        if "client_id" in frame.columns:
            frame = frame[frame["client_id"] == client]
        elif "facility_id" in frame.columns:
            frame = frame[frame["facility_id"].isin(own)]
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _in_every_table(book: Book) -> set[str]:
    """The clients whose own rows give a value in every table and column the book does
    (through their facilities too). An empty optional table is absent by contract, and an
    empty column unusable (docs/data_dictionary.md): a client alone without, say, a credit
    event or a survey answer would be scored as if the bank had no such data, a different
    input rather than the same client's data."""
    owner = book.tables["facilities"].set_index("facility_id")["client_id"]
    found = []
    for frame in book.tables.values():
        if "client_id" in frame.columns:
            who = frame["client_id"]
        elif "facility_id" in frame.columns:
            who = owner.reindex(frame["facility_id"]).set_axis(frame.index)
        else:
            continue
        for column in frame.columns[frame.notna().any()]:
            found.append(set(who[frame[column].notna()].dropna()))
    return set.intersection(*found)


def _score(book: Book, raw: Path, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    # the book's as-of, given: alone, a client's own last rows (an interaction in
    # September) would set an earlier data end; the book's data do reach December
    score_folder(raw, book.models, out, CONFIG, FeaturesConfig(), validated=True, quiet=True,
                 as_of=AS_OF, after_data=True)  # fmt: skip
    return pd.read_parquet(out / "scores.parquet"), pd.read_parquet(out / "explanations.parquet")


# what the drift check takes from the model folders: the bins and their expected shares
DRIFT_BINS = ["variable", "kind", "n_bins", "reference_rows", "reference_missing_share"]


def _drift_bins(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "drift.parquet", columns=DRIFT_BINS)


def _client_rows(frame: pd.DataFrame, client: str) -> pd.DataFrame:
    """``client``'s rows in a stable order, without ``run_id`` (it names the input)."""
    rows = frame.loc[frame["client_id"] == client, [c for c in frame.columns if c != "run_id"]]
    keys = [c for c in ("client_id", "target", "feature") if c in rows.columns]
    return rows.sort_values(keys).reset_index(drop=True)


def test_a_client_scored_alone_gets_exactly_its_scores_in_the_book(
    scoring_book: Book, tmp_path: Path
) -> None:
    scores, explanations = _score(scoring_book, scoring_book.raw, tmp_path / "book")
    spread = explanations[explanations["feature"] == "rate_spread_all"]
    priced = set(spread.loc[spread["value"].notna(), "client_id"])
    scored = set(scores.loc[scores[OUTPUT_COLUMN["default"]].notna(), "client_id"])
    clients = sorted(priced & scored & _in_every_table(scoring_book))
    assert clients, "no scored client with a rate spread: the test would prove nothing"
    for client in clients[:2]:
        alone_scores, alone_expl = _score(
            scoring_book, _alone(scoring_book, client, tmp_path / f"raw_{client}"),
            tmp_path / f"alone_{client}",
        )  # fmt: skip
        assert list(alone_scores["client_id"]) == [client]
        pd.testing.assert_frame_equal(
            _client_rows(alone_scores, client), _client_rows(scores, client), check_exact=True
        )
        pd.testing.assert_frame_equal(
            _client_rows(alone_expl, client), _client_rows(explanations, client), check_exact=True
        )
        within, alone = _drift_bins(tmp_path / "book"), _drift_bins(tmp_path / f"alone_{client}")
        assert len(within) > 20 and (within["reference_rows"] > 1).all()
        pd.testing.assert_frame_equal(alone, within, check_exact=True)
        assert (pd.read_parquet(tmp_path / f"alone_{client}" / "drift.parquet")["current_rows"]
                == 1).all()  # fmt: skip


def test_a_model_folder_without_its_references_is_refused(
    scoring_book: Book, tmp_path: Path
) -> None:
    folder = tmp_path / "default"
    shutil.copytree(scoring_book.models / "default", folder)
    bundle = load_bundle(folder)
    assert bundle.references["rate"]["known_at"] == "2024-12-31"
    (folder / REFERENCES_FILE).unlink()
    with pytest.raises(UnsafeModelError, match=r"references\.json: missing"):
        load_bundle(folder)


def test_edited_references_are_refused(scoring_book: Book, tmp_path: Path) -> None:
    folder = tmp_path / "default"
    shutil.copytree(scoring_book.models / "default", folder)
    text = (folder / REFERENCES_FILE).read_text()
    (folder / REFERENCES_FILE).write_text(text.replace('"ref_rate": 0.', '"ref_rate": 1.', 1))
    with pytest.raises(UnsafeModelError, match=r"references\.json: changed"):
        load_bundle(folder)
    assert dataclasses.is_dataclass(load_bundle(scoring_book.models / "default"))
