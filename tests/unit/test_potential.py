"""Potential value and growth potential (issue #15 item 4): cell means with shrinkage by
hand, the lookup at scoring (cell, segment, refusals), a client scored alone, the growth
threshold frozen at training (a subset scored gives the same flags), the training round
trip, the action rules and the grow queue."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict.config import ConfigError, load_section
from predict.features.build import FeaturesConfig, build_features
from predict.models.potential import (
    PotentialConfig,
    PotentialReferenceError,
    check,
    conversions,
    potential_reference,
    size_band,
    size_edges,
    value_table,
)
from predict.models.store import load_bundle
from predict.models.training import TrainConfig, run_training
from predict.report.queue import build_queue
from predict.scoring.align import load_models
from predict.scoring.config import ScoreConfig
from predict.scoring.potential import growth_flags, potential_values
from predict.scoring.reasons import catalogue_templates
from predict.scoring.relationship import assign_actions
from predict.scoring.run import score_snapshot
from predict.scoring.scope import NOT_SCORED
from tests.support.scoring import Book as ScoringBook
from tests.support.splits import Book, fast_config, write_split

ROOT = Path(__file__).resolve().parents[2]
SCORE_AS_OF = dt.date(2025, 12, 31)
CONFIG = PotentialConfig(size_bands=1, min_clients=3, shrinkage=2.0)


def _row(cid: str, as_of: str, stage: str, seg: str | None, ind: str | None, y: float) -> dict:
    return {
        "client_id": cid,
        "as_of": pd.Timestamp(as_of),
        "lifecycle_stage": stage,
        "segment": seg,
        "industry": ind,
        "annual_turnover": 1.0,
        "label_contribution": y,
        "revenue_12m": 0.0,
    }


def _hand_split() -> dict[str, pd.DataFrame]:
    # monthly as-of dates: a1-a3 prospects at 2021-12-31, converted by 2022-01-31
    train = pd.DataFrame(
        [
            *(_row(c, "2021-12-31", "potential", "A", "x", 0.0) for c in ("a1", "a2", "a3")),
            _row("a1", "2022-01-31", "new", "A", "x", 100.0),
            _row("a1", "2022-02-28", "new", "A", "x", 9999.0),  # not its first as-of: ignored
            _row("a2", "2022-01-31", "new", "A", "x", 200.0),
            _row("a3", "2022-01-31", "new", "A", "y", 300.0),
            _row("z1", "2022-01-31", "active", "A", "y", 5000.0),  # not new: ignored
            _row("z2", "2022-01-31", "new", "A", "y", np.nan),  # no label: ignored
            _row("z3", "2022-01-31", "new", None, "y", 7000.0),  # no segment: left out
        ]
    )
    # a4 and b1 not in the book one month before (2022-02-28, 2022-05-31): converted since
    valid = pd.DataFrame(
        [
            _row("a4", "2022-03-31", "new", "A", "y", 400.0),
            _row("z1", "2022-05-31", "active", "A", "y", 5000.0),  # 2022-05-31 is an as-of
        ]
    )
    test = pd.DataFrame([_row("b1", "2022-06-30", "new", "B", "x", 1000.0)])
    return {"train": train, "valid": valid, "test": test}


def test_a_conversion_is_counted_only_when_it_fell_in_the_step_before() -> None:
    # quarterly as-of dates with a gap (2022-06 purged): c1 a prospect at 2022-03, new at
    # 2022-09 after the gap (may have converted up to a year before: left out); c2 new at
    # the first date (converted before the data: left out); c3 a prospect at 2022-09, new at
    # 2022-12: counted; c4 not in the book at 2022-09, new at 2022-12: counted
    rows = [
        _row("c1", "2022-03-31", "potential", "A", "x", 0.0),
        _row("c2", "2022-03-31", "new", "A", "x", 50.0),
        _row("c1", "2022-09-30", "new", "A", "x", 900.0),
        _row("c3", "2022-09-30", "potential", "A", "x", 0.0),
        _row("c3", "2022-12-31", "new", "A", "x", 300.0),
        _row("c4", "2022-12-31", "new", "A", "x", 500.0),
    ]
    got = conversions({"train": pd.DataFrame(rows)})
    assert got["client_id"].tolist() == ["c3", "c4"]
    assert got["label_contribution"].tolist() == [300.0, 500.0]


def test_cell_and_segment_means_shrunk_by_hand() -> None:
    table = value_table(conversions(_hand_split()), CONFIG)
    # book: (100 + 200 + 300 + 400 + 1000) / 5 = 400
    assert table["book"] == {"n": 5, "mean": 400.0}
    # A: n = 4 >= 3, its own mean 250; B: n = 1, w = 1/3: 1000/3 + 2/3 x 400 = 600
    assert table["segments"]["A"] == {"n": 4, "mean": 250.0, "value": 250.0}
    assert table["segments"]["B"]["value"] == pytest.approx(600.0)
    cells = {(c["segment"], c["industry"]): c for c in table["cells"]}
    # (A, x): n = 2, mean 150, w = 2/4: 75 + 125 = 200; (A, y): 175 + 125 = 300
    assert cells[("A", "x")]["value"] == pytest.approx(200.0)
    assert cells[("A", "y")]["value"] == pytest.approx(300.0)
    # (B, x): n = 1, mean 1000, toward B's shrunk 600, w = 1/3: 333.3 + 400 = 733.3
    assert cells[("B", "x")]["value"] == pytest.approx(1000 / 3 + 400.0)
    assert {c["n"] for c in table["cells"]} == {1, 2}


def test_a_large_cell_keeps_its_own_mean() -> None:
    big = dataclasses.replace(CONFIG, min_clients=2)
    cells = {
        (c["segment"], c["industry"]): c
        for c in value_table(conversions(_hand_split()), big)["cells"]
    }
    assert cells[("A", "x")]["value"] == 150.0 and cells[("A", "y")]["value"] == 350.0


def test_size_bands_on_frozen_turnover_quantiles() -> None:
    edges = size_edges(pd.Series([10.0, 20.0, 30.0, 40.0, np.nan]), 2)
    assert edges == [25.0]
    bands = size_band(pd.Series([5.0, 25.0, 26.0, np.nan]), edges)
    assert bands.iloc[:3].tolist() == ["b1", "b2", "b2"] and pd.isna(bands.iloc[3])


def _reference() -> dict:
    split = _hand_split()
    test = pd.DataFrame(
        {
            "client_id": [f"t{i}" for i in range(7)],
            "lifecycle_stage": ["active"] * 5 + ["active", "new"],
            "in_default": [0, 0, 0, 0, 0, 1, 0],
            "revenue_12m": [100.0, 100.0, 100.0, 100.0, 0.0, 100.0, 100.0],
        }
    )
    split["test"] = pd.concat([split["test"], test], ignore_index=True)
    predicted = np.array([np.nan, 100.0, 200.0, 300.0, 400.0, 500.0, 9e9, 9e9])
    config = dataclasses.replace(CONFIG, floor_quantile=0.0, growth_top_share=0.2)
    return potential_reference(split, predicted, 1.0, config)


def test_growth_threshold_frozen_from_the_test_rows() -> None:
    growth = _reference()["growth"]
    # active, performing, predicted: 5 rows; floor = smallest positive revenue = 100;
    # ratios 1, 2, 3, 4, 500/max(0, 100) = 5; the 0.8 quantile of 1..5 = 4.2
    assert growth["rows"] == 5 and growth["floor"] == 100.0
    assert growth["threshold"] == pytest.approx(4.2)


def _scored() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": ["g1", "g2", "g3", "g4", "g5", "g6", "g7"],
            "lifecycle_stage": ["active"] * 3 + ["in_default", "new", "active", "active"],
            "in_default": [0, 0, 0, 1, 0, 0, 0],
            "default_probability": [0.01, 0.01, 0.06, 1.0, 0.01, 0.01, np.nan],
            "expected_contribution": [500.0, 400.0, 500.0, 500.0, 500.0, np.nan, 430.0],
            "revenue_12m": [100.0] * 7,
            "default_not_scored_reason": [None] * 6 + [NOT_SCORED["no_exposure"]],
        }
    )


def test_growth_flags_and_a_subset_scored_gives_the_same_flags() -> None:
    reference = _reference()
    scores = _scored()
    flags = growth_flags(scores, scores["revenue_12m"], reference, horizon_months=12)
    # g1 ratio 5 >= 4.2; g2 4 < 4.2; g3 PD above watch; g4 in default; g5 new; g6 no
    # expected contribution (missing); g7 ratio 4.3, no PD (no exposure): flagged
    assert flags.tolist()[:5] == [True, False, False, False, False]
    assert pd.isna(flags.iloc[5]) and bool(flags.iloc[6]) is True
    for i in range(len(scores)):
        alone = scores.iloc[[i]]
        assert growth_flags(alone, alone["revenue_12m"], reference, horizon_months=12).equals(
            flags.iloc[[i]]
        )


def test_growth_is_not_flagged_when_the_default_status_pd_or_revenue_is_unknown() -> None:
    # g1 of the case above (ratio 5, flagged) with one thing unknown at a time: in_default
    # missing (no credit data), PD missing for another reason than no exposure, revenue
    # missing: no flag (missing), never True
    reference = _reference()
    base = _scored().iloc[[0]]
    for change in (
        {"in_default": pd.array([pd.NA], dtype="boolean")},
        {"default_probability": [np.nan], "default_not_scored_reason": ["exposure unknown"]},
        {"revenue_12m": [np.nan]},
    ):
        row = base.assign(**change)
        flag = growth_flags(row, row["revenue_12m"], reference, horizon_months=12)
        assert pd.isna(flag.iloc[0]), change


def test_prospects_and_new_clients_get_the_cell_value_others_a_reason() -> None:
    reference = _reference()
    frame = pd.DataFrame(
        {
            "stage": ["potential", "new", "potential", "active", "potential", "potential"],
            "segment": ["A", "A", "B", "A", "C", None],
            "industry": ["x", "z", None, "x", "x", "x"],
            "turnover": [1.0, 1.0, np.nan, 1.0, 1.0, 1.0],
        }
    )
    args = [frame[c] for c in ("stage", "segment", "industry", "turnover")]
    out = potential_values(*args, reference)
    values = out["potential_value"].tolist()
    assert values[0] == pytest.approx(200.0)  # cell (A, x)
    assert values[1] == 250.0  # industry z unseen: segment A
    assert values[2] == pytest.approx(600.0)  # no industry nor turnover: segment B (shrunk)
    assert out["potential_basis"].tolist()[:3] == ["cell (n=2)", "segment (n=4)", "segment (n=1)"]
    assert np.isnan(values[3:]).all()
    reasons = out["potential_not_scored_reason"].tolist()
    assert "stage active" in reasons[3] and "segment C" in reasons[4]
    assert reasons[5] == "no segment: no comparable clients"
    assert out["potential_not_scored_reason"].iloc[:3].isna().all()
    for i in range(len(frame)):  # a client scored alone gets the same
        alone = potential_values(*[a.iloc[[i]] for a in args], reference)
        pd.testing.assert_frame_equal(alone, out.iloc[[i]])


def test_without_a_reference_every_value_is_missing_with_the_reason() -> None:
    scores = _scored()
    stage = scores["lifecycle_stage"]
    out = potential_values(stage, stage, stage, scores["revenue_12m"], None, "why")
    assert out["potential_value"].isna().all()
    assert set(out["potential_not_scored_reason"]) == {"why"}
    assert growth_flags(scores, scores["revenue_12m"], None, horizon_months=12).isna().all()


def test_bad_settings_and_references_refused() -> None:
    for bad in (
        {"size_bands": 0},
        {"min_clients": 0},
        {"shrinkage": 0},
        {"growth_top_share": 1.0},
        {"floor_quantile": 1.0},
        {"watch_default_probability": 0.0},
    ):
        with pytest.raises(ValueError, match=r"train\.potential"):
            PotentialConfig(**bad)
    broken = _reference()
    broken["growth"]["floor"] = 0.0
    with pytest.raises(PotentialReferenceError, match="floor"):
        check(broken)


def _with_stages(book: Book) -> Book:
    """``book`` with a life-cycle stage (a third of the clients prospects at the first
    training as-of and 'new' at the second: converted in between) and a turnover; the rest
    'active'."""

    def add(frame: pd.DataFrame, first: bool) -> pd.DataFrame:
        some = frame["client_id"].str[-1].isin(["0", "3", "6"]) & first
        early = frame["as_of"] == frame["as_of"].min()
        stage = np.where(some & early, "potential", np.where(some, "new", "active"))
        return frame.assign(
            lifecycle_stage=stage,
            annual_turnover=frame["revenue_12m"] * 20,
            in_default=0.0,
        )

    return Book(add(book.train, True), add(book.valid, False), add(book.test, False), book.truth)


@pytest.mark.parametrize("stages", [True, False])
def test_training_freezes_the_reference_or_says_why_not(
    split_book: Book, tmp_path: Path, stages: bool
) -> None:
    book = _with_stages(split_book) if stages else split_book
    split = write_split(book, tmp_path / "split")
    run_training(
        split,
        "contribution",
        fast_config(30, 10),
        models_dir=tmp_path / "models",
        metrics_dir=tmp_path / "metrics",
        plots_dir=tmp_path / "plots",
    )
    references = load_bundle(tmp_path / "models" / "contribution").references
    if not stages:
        assert "lifecycle_stage" in references["potential_unavailable"]
        assert "potential" not in references
        return
    reference = references["potential"]
    first = book.train[book.train["lifecycle_stage"].eq("new")]
    converted = first.dropna(subset=["label_contribution", "segment"])
    assert reference["value"]["book"]["n"] == converted["client_id"].nunique()
    assert reference["value"]["book"]["mean"] == pytest.approx(
        converted.sort_values("as_of").drop_duplicates("client_id")["label_contribution"].mean()
    )
    assert reference["growth"]["rows"] == len(book.test)
    assert reference["growth"]["revenue_scale"] == 1.0


def test_default_rules_grow_on_growth_potential_and_convert_on_potential_value() -> None:
    config = load_section(ROOT / "params.yaml", "score", ScoreConfig).relationship
    scores = pd.DataFrame(
        {
            "client_id": ["p1", "p2", "a1", "a2"],
            "lifecycle_stage": ["potential", "potential", "active", "active"],
            "expected_contribution": [0.0, 0.0, 100.0, 100.0],
            "potential_value": [500.0, np.nan, np.nan, np.nan],
            "default_probability": [np.nan, np.nan, 0.02, 0.02],
            "churn_probability": [np.nan, np.nan, 0.05, 0.05],
            "growth_potential": pd.array([False, False, True, False], dtype="boolean"),
            "relationship_value": [0.0, 0.0, 1.0, 1.0],
            "utilisation": [np.nan, np.nan, 0.5, 0.5],
            "ever_defaulted": [0, 0, 0, 0],
        }
    )
    out = assign_actions(scores, config)
    assert out["action"].tolist() == ["convert", "none", "grow", "maintain"]
    assert "potential_value" in out["action_rule"].iloc[0]
    assert "growth_potential" in out["action_rule"].iloc[2]


def test_grow_queue_puts_growth_potential_first() -> None:
    scores = pd.DataFrame(
        {
            "client_id": ["c1", "c2", "c3"],
            "action": ["grow"] * 3,
            "expected_contribution": [900.0, 100.0, 500.0],
            "growth_potential": pd.array([False, True, pd.NA], dtype="boolean"),
            "ead": [1.0] * 3,
            "run_rate_revenue": [1.0] * 3,
        }
    )
    assert build_queue(scores, "grow").rows["client_id"].tolist() == ["c2", "c1", "c3"]


def test_scoring_a_client_alone_gives_the_same_potential_and_growth(
    scoring_book: ScoringBook, tmp_path: Path
) -> None:
    features = build_features(scoring_book.tables, [SCORE_AS_OF], FeaturesConfig())
    bundles, _ = load_models(scoring_book.models)
    reference = bundles["contribution"].references["potential"]
    config = ScoreConfig(previous="none")

    def score(rows: pd.DataFrame, out: Path) -> pd.DataFrame:
        result = score_snapshot(
            scoring_book.tables,
            SCORE_AS_OF,
            bundles,
            lambda tables, dates: rows.copy(),
            out,
            config,
            templates=catalogue_templates(),
        )
        return result.scores.set_index("client_id")

    book = score(features, tmp_path / "all")
    stages = book["lifecycle_stage"].astype("str")
    assert book.loc[stages.isin(["potential", "new"]), "potential_value"].notna().any()
    assert book.loc[~stages.isin(["potential", "new"]), "potential_value"].isna().all()
    assert book.loc[~stages.eq("active"), "growth_potential"].eq(False).all()
    prospect = book.index[stages.eq("potential") & book["potential_value"].notna()][0]
    row = features[features["client_id"].astype("str") == prospect]
    seg = str(row["segment"].iloc[0])
    band = size_band(row["annual_turnover"], reference["value"]["size_edges"]).iloc[0]
    cell = [
        c
        for c in reference["value"]["cells"]
        if (c["segment"], c["industry"], c["size_band"])
        == (seg, str(row["industry"].iloc[0]), band)
    ]
    want = cell[0]["value"] if cell else reference["value"]["segments"][seg]["value"]
    assert book.loc[prospect, "potential_value"] == pytest.approx(want)
    flagged = book.index[book["growth_potential"].fillna(False).astype(bool)]
    assert len(flagged) > 0
    for client in (prospect, flagged[0]):
        alone = score(
            features[features["client_id"].astype("str") == client], tmp_path / f"c{client}"
        )
        for column in ("potential_value", "potential_basis", "growth_potential"):
            assert alone.loc[client, column] == book.loc[client, column] or (
                pd.isna(alone.loc[client, column]) and pd.isna(book.loc[client, column])
            )


def test_a_bad_potential_setting_in_params_is_refused_with_its_name(tmp_path: Path) -> None:
    params = (ROOT / "params.yaml").read_text(encoding="utf-8")
    bad = params.replace("    growth_top_share: 0.2\n", "    growth_top_share: 1.5\n", 1)
    assert bad != params
    (tmp_path / "params.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"growth_top_share"):
        load_section(tmp_path / "params.yaml", "train", TrainConfig)
    assert load_section(ROOT / "params.yaml", "train", TrainConfig).potential == PotentialConfig()
