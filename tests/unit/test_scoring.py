"""Scoring end to end on a tiny generated book with tiny real models, and bad inputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict import io
from predict.contract.spec import TARGETS
from predict.contract.validation import ValidationFailed
from predict.features import rates
from predict.features.build import FeaturesConfig, build_features
from predict.features.lifecycle import STAGES
from predict.models.store import FeatureMismatchError, ModelBundle, load_bundle
from predict.models.training import train_model
from predict.progress import RichProgress, SilentProgress, progress_display
from predict.report.inputs import check_one_run
from predict.scoring.align import known_categories, load_models
from predict.scoring.config import ScoreConfig
from predict.scoring.early_warning import EARLY_WARNING_COLUMNS
from predict.scoring.explain import BASE_FEATURE
from predict.scoring.outputs import SCORE_COLUMNS
from predict.scoring.previous import read_previous
from predict.scoring.reasons import catalogue_templates
from predict.scoring.result import ScoringResult
from predict.scoring.run import score_folder, score_snapshot
from predict.scoring.scope import apply_scope_rules, churn_knows_default_status
from tests.support.scoring import Book
from tests.support.splits import Book as SplitBook
from tests.support.splits import fast_config

AS_OF = dt.date(2025, 12, 31)
FAST = ScoreConfig(chunk_size=128, previous="none")


def _score(book: Book, out: Path, config: ScoreConfig = FAST, **kwargs: object) -> ScoringResult:
    args: dict = {"validated": True, "quiet": True} | kwargs
    raw = args.pop("raw", book.raw)
    models = args.pop("models", book.models)
    return score_folder(raw, models, out, config, FeaturesConfig(), **args)


@pytest.fixture(scope="module")
def scored(
    scoring_book: Book, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ScoringResult]:
    out = tmp_path_factory.mktemp("scores")
    config = dataclasses.replace(FAST, previous="month_end")
    return out, _score(scoring_book, out, config, validated=False)


def test_every_output_is_written_with_one_row_per_client(
    scoring_book: Book, scored: tuple[Path, ScoringResult]
) -> None:
    out, _result = scored
    for name in (
        "scores.parquet",
        "scores.csv",
        "explanations.parquet",
        "drift.parquet",
        "early_warning.parquet",
        "score_summary.json",
    ):
        assert (out / name).is_file(), name
    scores = pd.read_parquet(out / "scores.parquet")
    assert list(scores.columns[: len(SCORE_COLUMNS)]) == list(SCORE_COLUMNS)
    assert scores["client_id"].is_unique
    onboarded = scoring_book.tables["clients"]["onboarding_date"] <= pd.Timestamp(AS_OF)
    assert set(scores["client_id"]) == set(
        scoring_book.tables["clients"].loc[onboarded, "client_id"]
    )
    assert (scores["as_of"] == pd.Timestamp(AS_OF)).all()
    assert scores["default_probability"].dropna().between(0, 1).all()
    assert scores["churn_probability"].dropna().between(0, 1).all()
    actions = ["watch", "retain", "grow", "maintain", "workout", "win_back", "convert", "none"]
    assert scores["action"].isin(actions).all()
    assert len(pd.read_csv(out / "scores.csv")) == len(scores)
    assert (
        scores["default_model_version"] == load_bundle(scoring_book.models / "default").version
    ).all()


def test_explanations_add_up_to_each_models_raw_output(
    scoring_book: Book, scored: tuple[Path, ScoringResult]
) -> None:
    out, _ = scored
    expl = pd.read_parquet(out / "explanations.parquet")
    assert list(expl.columns) == ["client_id", "as_of", "target", "feature", "value", "shap"]
    frozen = load_bundle(scoring_book.models / "default").references["rate"]  # as scoring reads
    features = build_features(
        scoring_book.tables, [AS_OF], rate_reference=rates.frozen_table(frozen, [AS_OF])
    ).set_index("client_id")
    for target in TARGETS:
        bundle = load_bundle(scoring_book.models / target)
        rows = expl[expl["target"] == target]
        total = rows.groupby("client_id", observed=True)["shap"].sum()
        frame = known_categories(features.loc[total.index].reset_index(), bundle)
        np.testing.assert_allclose(total.to_numpy(), bundle.predict_raw(frame), atol=1e-6)
        assert (rows["feature"] == BASE_FEATURE).sum() == len(total)
        assert (rows.loc[rows["feature"] != BASE_FEATURE, "shap"] != 0).all()


def test_reasons_are_plain_words_and_in_default_clients_are_flagged(
    scored: tuple[Path, ScoringResult],
) -> None:
    scores = scored[1].scores
    modelled = scores["default_not_scored_reason"].isna()
    normal = scores[modelled]
    assert (
        normal["default_reasons"]
        .str.contains(r"\((?:adds|takes) [^)]* pp (?:to|off) default probability\)")
        .all()
    )
    assert normal["default_probability"].between(0, 1).all()
    in_default = scores[scores["in_default"]]
    assert len(in_default) > 0
    assert (in_default["default_probability"] == 1.0).all()
    assert in_default["default_reasons"].str.startswith("In default").all()
    assert (in_default["lifecycle_stage"] == "in_default").all()
    assert (in_default["action"] == "workout").all()
    assert in_default["churn_probability"].isna().all()
    idle = scores["lifecycle_stage"].isin(["potential", "churned", "in_default"])
    assert scores.loc[idle, "churn_probability"].isna().all()
    assert scores.loc[~idle, "churn_probability"].notna().all()
    assert scores.loc[idle, "churn_not_scored_reason"].notna().all()


def test_no_exposure_no_pd_and_no_loss_and_no_watch_for_churned_or_prospects(
    scored: tuple[Path, ScoringResult],
) -> None:
    scores = scored[1].scores
    no_exposure = scores["default_not_scored_reason"].str.startswith("no exposure").fillna(False)
    assert no_exposure.sum() > 0
    assert scores.loc[no_exposure, "default_probability"].isna().all()
    assert (scores.loc[no_exposure, "expected_loss"] == 0).all()
    assert (scores.loc[no_exposure, "open_facilities"] == 0).all()
    gone = scores["lifecycle_stage"].isin(["churned", "potential"])
    assert gone.sum() > 0
    assert scores.loc[gone, "action"].isin(["win_back", "convert", "none"]).all()


def test_previous_month_is_rescored_and_drift_is_written(
    scored: tuple[Path, ScoringResult],
) -> None:
    result = scored[1]
    assert result.report.previous == "rescored previous month end"
    assert (result.scores["previous_as_of"].dropna() == pd.Timestamp("2025-11-30")).all()
    # the stage at the rescored month end rides along for the report's stage flows: a month
    # earlier, some clients were in another stage, and no stage is outside the known ones
    scores = result.scores
    before = scores["previous_lifecycle_stage"]
    assert before.notna().any()
    assert set(before.dropna()) <= set(STAGES)
    assert (before.dropna() != scores.loc[before.notna(), "lifecycle_stage"]).any()
    early = pd.read_parquet(scored[0] / "early_warning.parquet")
    assert tuple(early.columns) == EARLY_WARNING_COLUMNS
    drift = result.drift
    assert set(drift.loc[drift["kind"] == "score", "variable"]) == {
        "churn_probability",
        "default_probability",
        "expected_contribution",
    }
    assert (drift["kind"] == "feature").sum() > 20 and drift["psi"].notna().all()


def test_chunk_size_does_not_change_any_result(scoring_book: Book, tmp_path: Path) -> None:
    features = build_features(scoring_book.tables, [AS_OF], FeaturesConfig())
    bundles, _ = load_models(scoring_book.models)

    def run(chunk_size: int, out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
        result = score_snapshot(
            scoring_book.tables,
            AS_OF,
            bundles,
            lambda tables, dates: features.copy(),
            out,
            dataclasses.replace(FAST, chunk_size=chunk_size),
            templates=catalogue_templates(),
        )
        expl = pd.read_parquet(out / "explanations.parquet").astype({"target": "str"})
        # chunks write blocks of clients per target: same rows, another order
        return result.scores, expl.sort_values(
            ["target", "client_id"], kind="stable", ignore_index=True
        )

    small, large = run(40, tmp_path / "small"), run(1000, tmp_path / "large")
    pd.testing.assert_frame_equal(small[0], large[0])
    pd.testing.assert_frame_equal(small[1], large[1])


def test_given_previous_scores_are_compared_with_and_top_k_is_kept(
    scoring_book: Book, scored: tuple[Path, ScoringResult], tmp_path: Path
) -> None:
    before = dt.date(2025, 11, 30)
    first = _score(scoring_book, tmp_path / "before", as_of=before)
    config = dataclasses.replace(FAST, explanations_top_k=3)
    second = _score(scoring_book, tmp_path / "now", config,
                    previous_path=tmp_path / "before" / "scores.parquet")  # fmt: skip
    got = second.scores.set_index("client_id")
    then = first.scores.set_index("client_id")
    assert (got.loc[then.index, "previous_as_of"] == pd.Timestamp(before)).all()
    assert got.drop(then.index)["previous_as_of"].isna().all()  # onboarded since
    change = got.loc[then.index, "default_probability"] - then["default_probability"]
    pd.testing.assert_series_equal(
        got.loc[then.index, "default_probability_change"], change, check_names=False
    )
    assert got.loc[then.index, "previous_lifecycle_stage"].tolist() == (
        then["lifecycle_stage"].tolist()
    )
    # the file of the month end before gives what rescoring that month end gives
    rescored = scored[1].scores.set_index("client_id").loc[got.index]
    for c in ("previous_default_probability", "previous_churn_probability"):
        pd.testing.assert_series_equal(got[c], rescored[c], check_names=False)
    expl = pd.read_parquet(tmp_path / "now" / "explanations.parquet")
    per_client = (
        expl[expl["feature"] != BASE_FEATURE].groupby(["client_id", "target"], observed=True).size()
    )
    assert per_client.max() == 3


def test_a_previous_scoring_not_before_the_as_of_is_refused(
    scoring_book: Book, scored: tuple[Path, ScoringResult], tmp_path: Path
) -> None:
    # the same month's scores (or a later month's) would compare with the future and empty
    # the early-warning event window: refused, naming the rule and the first client
    with pytest.raises(ValueError, match="as_of must be before the scoring as-of 2025-12-31"):
        _score(scoring_book, tmp_path / "out", previous_path=scored[0] / "scores.parquet")
    assert not (tmp_path / "out").exists()


def test_a_csv_previous_file_reads_back_as_written(tmp_path: Path) -> None:
    scores = pd.DataFrame(
        {"client_id": ["00123", "=45", "-7"], "as_of": ["2025-11-30"] * 3,
         "default_probability": [0.01, 0.2, 0.003], "rating_grade": ["3", "10", "D"]}
    )  # fmt: skip
    path = io.write_csv(scores, tmp_path / "scores.csv")
    assert "'=45" in path.read_text()  # escaped for spreadsheets
    back = read_previous(path)
    assert back["client_id"].tolist() == ["00123", "=45", "-7"]
    assert back["rating_grade"].tolist() == ["3", "10", "D"]
    io.write_csv(pd.concat([scores, scores.iloc[[0]]]), tmp_path / "twice.csv")
    with pytest.raises(ValueError, match=r"client_id must be unique.*'00123' in rows \[0, 3\]"):
        read_previous(tmp_path / "twice.csv")


def test_a_missing_model_folder_skips_that_target(scoring_book: Book, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(scoring_book.models / "churn", models / "churn")
    shutil.copytree(scoring_book.models / "default", models / "default")
    result = _score(scoring_book, tmp_path / "out", models=models)
    assert "contribution" in result.report.skipped_targets
    scores = result.scores
    assert scores["expected_contribution"].isna().all()
    assert scores["contribution_reasons"].str.startswith("Not scored: no model folder").all()
    assert scores["relationship_value"].isna().all()
    modelled = scores["default_not_scored_reason"].isna()  # not in default, with exposure
    assert scores.loc[modelled, "default_probability"].notna().all()
    with pytest.raises(FileNotFoundError, match="no model in"):
        load_models(tmp_path / "out")


def _scope_inputs(**features: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two active clients with exposure, both scored by the models (0.2 / 0.1 and 0.3 / 0.4)."""
    frame = pd.DataFrame({"client_id": ["a", "b"], "lifecycle_stage": ["active", "active"]})
    scores = pd.DataFrame(
        {
            "client_id": ["a", "b"],
            "default_probability": [0.2, 0.3],
            "default_reasons": "model",
            "churn_probability": [0.1, 0.4],
            "churn_reasons": "model",
        }
    )
    return scores, frame.assign(**features)


UNKNOWN_STATUS = "default status unknown: credit_events and facility_balances absent"


@pytest.mark.parametrize(
    "features",
    [
        {"has_exposure": [1.0, 1.0]},  # in_default absent (neither input table)
        {"has_exposure": [1.0, 1.0], "in_default": [np.nan, np.nan]},  # missing_features: nan
    ],
    ids=["absent", "all_nan"],
)
def test_an_unknown_default_status_fails_closed(features: dict) -> None:
    # Hand case: status unknown for both -> no PD, no churn probability, both reasons say
    # why; in_default is missing (not False).
    scores, frame = _scope_inputs(**features)
    out = apply_scope_rules(scores, frame, ScoreConfig())
    assert out["default_probability"].isna().all() and out["churn_probability"].isna().all()
    assert (out["default_not_scored_reason"] == UNKNOWN_STATUS).all()
    assert (out["churn_not_scored_reason"] == UNKNOWN_STATUS).all()
    assert out["default_reasons"].str.startswith("Default status unknown").all()
    assert out["churn_reasons"].str.startswith("Default status unknown").all()
    assert out["in_default"].isna().all()


def test_a_churn_model_trained_without_default_status_scores_churn_when_it_is_unknown() -> None:
    # A book with no credit data (e.g. a retail purchase history): the churn model never knew
    # who was in default, so an unknown status matches its training: churn kept (0.1, 0.4),
    # no reason; the PD still fails closed.
    scores, frame = _scope_inputs(has_exposure=[1.0, 1.0])
    out = apply_scope_rules(scores, frame, ScoreConfig(), churn_needs_default_status=False)
    assert out["churn_probability"].tolist() == [0.1, 0.4]
    assert out["churn_not_scored_reason"].isna().all()
    assert out["default_probability"].isna().all()
    assert (out["default_not_scored_reason"] == UNKNOWN_STATUS).all()


def test_the_churn_model_says_whether_it_knew_the_default_status(
    split_book: SplitBook, churn_bundle: ModelBundle
) -> None:
    # the split book has no in_default column: not known; with one: known; a folder without
    # the key: the cautious way (known, so an unknown status is refused)
    knowing = train_model(
        split_book.train.assign(in_default=0.0),
        split_book.valid.assign(in_default=0.0),
        "churn",
        fast_config(30, 10),
    )
    assert knowing.metadata["default_status_known"] is True
    assert churn_knows_default_status({"churn": knowing}) is True
    assert churn_bundle.metadata["default_status_known"] is False
    assert churn_knows_default_status({"churn": churn_bundle}) is False
    legacy = {k: v for k, v in churn_bundle.metadata.items() if k != "default_status_known"}
    assert churn_knows_default_status({"churn": dataclasses.replace(churn_bundle, metadata=legacy)})


def test_an_unknown_status_for_one_client_leaves_the_other_scored() -> None:
    # a: known, not in default, exposure -> model scores 0.2 / 0.1 kept; b: unknown -> NaN.
    scores, frame = _scope_inputs(in_default=[0.0, np.nan], has_exposure=[1.0, 1.0])
    out = apply_scope_rules(scores, frame, ScoreConfig()).set_index("client_id")
    assert out.loc["a", "default_probability"] == 0.2 and out.loc["a", "churn_probability"] == 0.1
    assert pd.isna(out.loc["a", "default_not_scored_reason"])
    assert not out.loc["a", "in_default"]
    assert np.isnan(out.loc["b", "default_probability"])
    assert np.isnan(out.loc["b", "churn_probability"])
    assert out.loc["b", "churn_not_scored_reason"] == UNKNOWN_STATUS


@pytest.mark.parametrize(
    "features", [{}, {"has_exposure": [np.nan, np.nan]}], ids=["absent", "all_nan"]
)
def test_an_unknown_exposure_gives_no_pd_but_churn_is_scored(features: dict) -> None:
    # Known not in default, exposure unknown: PD missing ("exposure unknown"), churn kept.
    scores, frame = _scope_inputs(in_default=[0.0, 0.0], **features)
    out = apply_scope_rules(scores, frame, ScoreConfig())
    assert out["default_probability"].isna().all()
    assert (out["default_not_scored_reason"] == "exposure unknown").all()
    assert out["churn_probability"].tolist() == [0.1, 0.4]
    assert out["churn_not_scored_reason"].isna().all()


@pytest.fixture(scope="module")
def odd(scoring_book: Book, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScoringResult]:
    """A bank's folder that fits the contract loosely: no interactions table, a segment the
    models never saw, and a facility with a negative limit. The tiny models take up to 27%
    of their gain from interactions: scored only with a limit above that (default 5%)."""
    root = tmp_path_factory.mktemp("odd")
    raw = root / "raw"
    shutil.copytree(scoring_book.raw, raw)
    (raw / "interactions.parquet").unlink()
    clients = pd.read_parquet(raw / "clients.parquet")
    clients.loc[clients.index[:10], "segment"] = "brand_new_segment"
    clients.to_parquet(raw / "clients.parquet", index=False)
    facilities = pd.read_parquet(raw / "facilities.parquet")
    facilities.loc[facilities.index[0], "limit_amount"] = -5.0
    facilities.to_parquet(raw / "facilities.parquet", index=False)
    lenient = dataclasses.replace(FAST, max_unavailable_gain=0.5)
    return root, _score(scoring_book, root / "out", lenient, raw=raw, validated=False)


def test_a_missing_table_scores_its_features_as_missing(odd: tuple[Path, ScoringResult]) -> None:
    root, result = odd
    missing = result.report.missing_features["churn"]
    assert any("complaint" in m for m in missing)
    expl = pd.read_parquet(root / "out" / "explanations.parquet")
    cited = expl[expl["feature"].isin(missing)]
    assert cited["value"].isna().all()  # in the explanations with no value...
    reasons = " ".join(result.scores["churn_reasons"])
    assert "complaint" not in reasons.lower()  # ...and never cited as a reason


def test_a_missing_feature_is_an_error_when_params_say_so(
    scoring_book: Book, odd: tuple[Path, ScoringResult], tmp_path: Path
) -> None:
    with pytest.raises(FeatureMismatchError, match="needs feature"):
        _score(
            scoring_book,
            tmp_path,
            dataclasses.replace(FAST, missing_features="error", max_unavailable_gain=0.5),
            raw=odd[0] / "raw",
            validated=False,
        )


def test_unseen_categories_are_reported_not_crashed_on(odd: tuple[Path, ScoringResult]) -> None:
    result = odd[1]
    assert result.report.unseen_categories["default"]["segment"] == {"brand_new_segment": 10}
    scores = result.scores
    assert (
        scores.loc[scores["default_not_scored_reason"].isna(), "default_probability"].notna().all()
    )


def test_rows_that_break_the_contract_are_quarantined_and_reported(
    odd: tuple[Path, ScoringResult],
) -> None:
    root, result = odd
    assert result.report.quarantined["facilities"] >= 1
    assert (root / "out" / "quarantine" / "facilities.parquet").is_file()
    assert (root / "out" / "validation" / "report.md").is_file()


def test_progress_is_silent_when_quiet_and_counts_otherwise() -> None:
    with progress_display(quiet=True) as quiet:
        assert isinstance(quiet, SilentProgress)
    with progress_display(quiet=False) as shown:
        task = shown.task("scoring", total=10)
        shown.advance(task, 4)
        assert isinstance(shown, RichProgress)
        assert shown._progress.tasks[0].completed == 4
        shown.done(task)
        assert shown._progress.tasks[0].completed == 10


def test_every_output_file_carries_the_run_id_and_as_of(
    scored: tuple[Path, ScoringResult],
) -> None:
    out, result = scored
    run_id, as_of = result.report.run_id, result.report.as_of
    assert len(run_id) == 16 and len(as_of) == 10
    summary = json.loads((out / "score_summary.json").read_text())
    assert (summary["run_id"], summary["as_of"]) == (run_id, as_of)
    for name in ("scores", "explanations", "drift", "early_warning"):
        meta = io.parquet_metadata(out / f"{name}.parquet")
        assert (meta["predict.run_id"], meta["predict.as_of"]) == (run_id, as_of), name
    csv = pd.read_csv(out / "scores.csv", dtype="str")
    assert set(csv["run_id"]) == {run_id}
    assert check_one_run(out) == (run_id, as_of)


def test_a_table_with_every_row_quarantined_scores_as_an_absent_table(
    scoring_book: Book, tmp_path: Path
) -> None:
    # every balance invalid: not "no balance" (fully drawn, utilisation 1, no DPD trigger
    # missing) but unknown, exactly as without the file
    def copy(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(scoring_book.raw, folder)
        return folder

    broken, absent = copy("broken"), copy("absent")
    balances = pd.read_parquet(broken / "facility_balances.parquet")
    balances.assign(outstanding=-1.0).to_parquet(broken / "facility_balances.parquet")
    (absent / "facility_balances.parquet").unlink()
    config = dataclasses.replace(FAST, max_unavailable_gain=0.99)
    got = _score(scoring_book, tmp_path / "out1", config, raw=broken, validated=False)
    want = _score(scoring_book, tmp_path / "out2", config, raw=absent, validated=False)
    assert got.scores["utilisation"].isna().all()
    assert "new_dpd: no facility_balances" in got.report.early_warning_not_evaluated
    exposure = ["drawn", "undrawn", "utilisation", "ead", "funded_drawn", "expected_loss"]
    pd.testing.assert_frame_equal(got.scores[exposure], want.scores[exposure])


def test_a_failed_run_leaves_the_previous_outputs_whole(scoring_book: Book, tmp_path: Path) -> None:
    """The run writes beside the output folder and swaps it in at the end: a run that fails
    midway (here: previous scores that are not there, after the data was read) changes
    nothing in ``out``; a leftover of a killed run is removed by the next run; the same
    inputs give the same run id."""
    out = tmp_path / "out"
    first = _score(scoring_book, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(FileNotFoundError, match="previous scores"):
        _score(scoring_book, out, previous_path=tmp_path / "absent.parquet")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".out.{io.HOST}.p{dead.pid}-killed").mkdir()  # what a killed run leaves
    again = _score(scoring_book, out)
    assert again.report.run_id == first.report.run_id  # same inputs, same run id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_older_failed_folder_is_removed_before_this_run_validates(
    scoring_book: Book, tmp_path: Path
) -> None:
    """<out>.failed of an older run never mixes with this run's: a run whose validation
    fails (here: a folder with no table) leaves only its own report there."""
    out, failed = tmp_path / "out", tmp_path / "out.failed"
    (failed / "quarantine").mkdir(parents=True)
    (failed / "quarantine" / "revenue.parquet").write_text("an older run's rows")
    (tmp_path / "raw").mkdir()
    with pytest.raises(ValidationFailed) as caught:
        _score(scoring_book, out, raw=tmp_path / "raw", validated=False)
    assert not (failed / "quarantine").exists(), caught.value


def test_a_month_end_with_no_client_yet_is_an_empty_rescoring_with_the_same_columns(
    scoring_book: Book,
) -> None:
    """Rescoring a month end before any of the clients was onboarded gives no row but the
    columns a rescoring with clients gives: joined to today's rows, each client is new
    (previous columns missing), whoever else is in the book (a partition of a dataset gets
    the same columns as the whole book)."""
    from predict.features.build import build_features
    from predict.scoring.align import load_models
    from predict.scoring.previous import rescore_at
    from predict.scoring.relationship import PREVIOUS_COLUMNS, add_previous

    bundles, _ = load_models(scoring_book.models)
    tables = scoring_book.tables
    onboarded = tables["clients"]["onboarding_date"]
    prev = dt.date(2025, 10, 31)
    late = set(tables["clients"].loc[onboarded > pd.Timestamp(prev), "client_id"])
    assert late  # clients onboarded after the month end rescored
    facilities = tables["facilities"][tables["facilities"]["client_id"].isin(late)]
    part = {
        name: frame[frame["client_id"].isin(late)] if "client_id" in frame.columns
        else frame[frame["facility_id"].isin(facilities["facility_id"])]
        if "facility_id" in frame.columns else frame
        for name, frame in tables.items()
    }  # fmt: skip

    def build(t: dict[str, pd.DataFrame], dates: list[dt.date]) -> pd.DataFrame:
        return build_features(t, dates, FeaturesConfig())

    empty = rescore_at(build(part, [prev]), prev, bundles, FAST)
    full = rescore_at(build(tables, [prev]), prev, bundles, FAST)
    assert empty.empty and len(full) > 0
    carried = ["client_id", "as_of", *PREVIOUS_COLUMNS, "lifecycle_stage"]
    assert set(carried) <= set(empty.columns)
    today = full[["client_id", *PREVIOUS_COLUMNS]].assign(client_id=lambda f: f["client_id"] + "x")
    new, old = add_previous(today, empty), add_previous(today, full)
    assert list(new.columns) == list(old.columns)
    assert new.dtypes.to_dict() == old.dtypes.to_dict()
    assert new["previous_as_of"].isna().all() and new["previous_default_probability"].isna().all()
