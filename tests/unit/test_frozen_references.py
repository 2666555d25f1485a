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
from predict.contract.validation import ValidationConfig, validate_folder, write_validated
from predict.features.build import FeaturesConfig
from predict.features.catalogue import FEATURES
from predict.models.store import REFERENCES_FILE, UnsafeModelError, load_bundle
from predict.scoring.config import ScoreConfig
from predict.scoring.run import score_folder
from predict.scoring.support import UnsupportedModelError
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


def _event_clients(book: Book, table: str, column: str | None = None) -> set[str]:
    """The clients with a row in ``table`` (through their facilities too) that gives a value
    in ``column`` (any row when None)."""
    frame = book.tables[table]
    if column is not None:
        frame = frame[frame[column].notna()]
    if "client_id" in frame.columns:
        return set(frame["client_id"])
    owner = book.tables["facilities"].set_index("facility_id")["client_id"]
    return set(owner.reindex(frame["facility_id"]).dropna())


def _last_event(book: Book) -> pd.Series:
    """Each client's latest event date (balances through its facilities)."""
    owner = book.tables["facilities"].set_index("facility_id")["client_id"]
    dates = [book.tables[t][["client_id", "date"]] for t in ("revenue", "interactions")]
    balances = book.tables["facility_balances"]
    dates.append(pd.DataFrame({"client_id": owner.reindex(balances["facility_id"]).to_numpy(),
                               "date": balances["month_end"].to_numpy()}))  # fmt: skip
    every = pd.concat(dates, ignore_index=True)
    return pd.to_datetime(every["date"]).groupby(every["client_id"]).max()


def _validated_book(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """``tables`` through validation: the validated book, with its skeleton."""
    raw = folder / "raw"
    raw.mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(raw / f"{name}.parquet", index=False)
    result = validate_folder(raw, ValidationConfig(mode="strict"))
    write_validated(result, folder / "validated", folder / "quarantine", folder / "report")
    return folder / "validated"


def test_an_extract_of_one_client_gets_its_scores_in_the_book_whatever_it_lacks(
    scoring_book: Book, tmp_path: Path
) -> None:
    """A client's own rows, scored as an extract of the book (``--book``: the book's skeleton
    decides the tables and columns there are, the date and its checks), give exactly its
    scores and explanations within the book, also when its rows leave a table empty (no
    credit event), a column without a value (no NPS answer) or end months before the as-of
    (a client whose activity stopped). Read as a book, the same rows lose what the empty
    table gives (it is absent there)."""
    scores, explanations = _score(scoring_book, scoring_book.raw, tmp_path / "book")
    book = _validated_book(scoring_book.tables, tmp_path / "whole")
    scored = set(scores.loc[scores[OUTPUT_COLUMN["default"]].notna(), "client_id"])
    with_facilities = _event_clients(scoring_book, "facilities")
    last = _last_event(scoring_book)
    cases = {
        "no credit event": scored - _event_clients(scoring_book, "credit_events"),
        "no NPS answer": with_facilities - _event_clients(scoring_book, "interactions", "nps"),
        "stale": set(last[last < pd.Timestamp(AS_OF) - pd.DateOffset(months=4)].index)
        & set(scores["client_id"]),
    }
    for case, clients in cases.items():
        assert clients, f"no client with {case}: the test would prove nothing"
        client = sorted(clients)[0]
        raw = _alone(scoring_book, client, tmp_path / f"raw_{client}")
        out = tmp_path / f"alone_{client}"
        # no --as-of: the book's latest month end, as the book's own run
        score_folder(raw, scoring_book.models, out, CONFIG, FeaturesConfig(), validated=True,
                     quiet=True, book=book)  # fmt: skip
        alone = pd.read_parquet(out / "scores.parquet")
        pd.testing.assert_frame_equal(
            _client_rows(alone, client), _client_rows(scores, client), check_exact=True
        )
        pd.testing.assert_frame_equal(
            _client_rows(pd.read_parquet(out / "explanations.parquet"), client),
            _client_rows(explanations, client),
            check_exact=True,
        )
    stale = tmp_path / f"raw_{sorted(cases['stale'])[0]}"
    late = dt.date(2026, 12, 31)
    with pytest.raises(ValueError, match="after the end of the data"):  # the book's end
        score_folder(stale, scoring_book.models, tmp_path / "late", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=book, as_of=late)  # fmt: skip
    # the same rows read as a book: its empty credit_events is absent, so the event counts
    # the book gives (0 watchlistings...) are missing features
    client = sorted(cases["no credit event"])[0]
    out = tmp_path / "as_book"
    score_folder(tmp_path / f"raw_{client}", scoring_book.models, out, CONFIG, FeaturesConfig(),
                 validated=True, quiet=True, as_of=AS_OF, after_data=True)  # fmt: skip
    within, as_book = (
        _client_rows(frame, client).set_index(["target", "feature"])["value"]
        for frame in (explanations, pd.read_parquet(out / "explanations.parquet"))
    )
    lost = within.index[within.eq("0") & as_book.reindex(within.index).isna()]
    assert len(lost) and all("credit_events" in FEATURES[f].requires for _, f in lost), lost


def test_an_extract_reads_what_the_book_has_not_what_its_rows_show(
    scoring_book: Book, tmp_path: Path
) -> None:
    """A column the whole book lacks (every revenue.source empty) is absent for the extract
    too, though one client's rows cannot show it: the models needing it are refused as for
    the book. A table the book has must be given (a header-only file), and rows of a table
    the book lacks are refused."""
    tables = {n: f.copy() for n, f in scoring_book.tables.items()}
    tables["revenue"]["source"] = None
    book = _validated_book(tables, tmp_path / "whole")
    with pytest.raises(UnsupportedModelError):  # the book itself
        score_folder(book, scoring_book.models, tmp_path / "b", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True)  # fmt: skip
    client = sorted(set(tables["revenue"]["client_id"]))[0]
    raw = _alone(scoring_book, client, tmp_path / "raw")
    tables["revenue"][tables["revenue"]["client_id"] == client].to_parquet(
        raw / "revenue.parquet", index=False
    )
    with pytest.raises(UnsupportedModelError):  # the extract, against the book
        score_folder(raw, scoring_book.models, tmp_path / "e", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=book)  # fmt: skip
    # a column the book has values in, absent from the extract's file: not "no value"
    clients = pd.read_parquet(raw / "clients.parquet").drop(columns="annual_turnover")
    clients.to_parquet(raw / "clients.parquet", index=False)
    with pytest.raises(ValueError, match=r"table clients of the extract has no column\(s\)"):
        score_folder(raw, scoring_book.models, tmp_path / "e", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=book)  # fmt: skip
    scoring_book.tables["clients"].pipe(lambda f: f[f["client_id"] == client]).to_parquet(
        raw / "clients.parquet", index=False
    )
    # the book's dates pass, but a client onboarded in 2025 was not yet at the end of 2024:
    # said, not a crash
    onboarded = pd.to_datetime(scoring_book.tables["clients"]["onboarding_date"])
    late = scoring_book.tables["clients"].loc[onboarded.dt.year.eq(2025), "client_id"]
    assert len(late), "no client onboarded in 2025: the check would prove nothing"
    young = _alone(scoring_book, sorted(late)[0], tmp_path / "young")
    end_2024 = dt.date(2024, 12, 31)
    with pytest.raises(ValueError, match="no client of the extract is onboarded"):
        score_folder(young, scoring_book.models, tmp_path / "e", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=book, as_of=end_2024)  # fmt: skip
    (raw / "facility_terms.parquet").unlink()
    with pytest.raises(ValueError, match=r"the book has table\(s\) \['facility_terms'\]"):
        score_folder(raw, scoring_book.models, tmp_path / "e", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=book)  # fmt: skip
    with pytest.raises(FileNotFoundError, match="no skeleton/ folder"):
        score_folder(raw, scoring_book.models, tmp_path / "e", CONFIG, FeaturesConfig(),
                     validated=True, quiet=True, book=scoring_book.raw)  # fmt: skip
