"""The review site built from fabricated scoring outputs: pages, escaping, links, atomicity."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from predict import io
from predict.contract.spec import DEFAULT_DPD_THRESHOLD, POPULATIONS
from predict.models.store import read_model_info
from predict.report import ReportConfig, ReportInputError, build_report, load_inputs, site_dir
from predict.report import site as site_module
from predict.report.formatting import Col, client_page_name, coverage, money_cols, table_spec
from predict.report.model_card import population_definition
from tests.support.report_inputs import EVIL_ID, PortfolioPaths, make_portfolio, write_portfolio

SMALL = ReportConfig(max_client_pages=2)  # fewer client pages where they are not the point


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts = 0
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.refs.append(value)
            if name == "id" and value:
                self.ids.add(value)


def _refs(path: Path) -> _Refs:
    parser = _Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> PortfolioPaths:
    return write_portfolio(tmp_path_factory.mktemp("run"), evil=True)


def write_snapshots(run: PortfolioPaths) -> Path:
    """A features table with every scored client at the as-of date and 3 and 6 months
    before (the few columns the dimension scores read)."""
    scores = pd.read_parquet(run.scores / "scores.parquet")
    as_of = pd.Timestamp(scores["as_of"].max())
    rng = np.random.default_rng(7)
    parts = []
    for k in (6, 3, 0):
        n = len(scores)
        parts.append(
            pd.DataFrame(
                {
                    "client_id": scores["client_id"].astype("str").to_numpy(),
                    "as_of": (as_of.to_period("M") - k).to_timestamp(how="end").normalize(),
                    "segment": scores["segment"].astype("str").to_numpy(),
                    "csat_mean_12m": rng.uniform(1, 5, n),
                    "nps_mean_12m": rng.uniform(0, 10, n),
                    "tenure_months": rng.uniform(0, 120, n),
                    "months_since_revenue": rng.integers(0, 12, n).astype("float64"),
                    "max_dpd_12m": rng.integers(0, 90, n).astype("float64"),
                    "current_dpd": np.zeros(n),
                    "revenue_12m": rng.uniform(0, 1000, n),
                }
            )
        )
    path = run.root / "features.parquet"
    pd.concat(parts, ignore_index=True).astype({"as_of": "datetime64[ms]"}).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def built(run: PortfolioPaths) -> Path:
    features = write_snapshots(run)
    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables, run.plots, features, None)
    result = build_report(inputs, site_dir(run.root / "reports"), ReportConfig(), clients=["C0011"])
    assert result.index == run.root / "reports" / "review" / "index.html"
    return result.site


def test_site_has_portfolio_explanations_model_card_and_client_pages(built: Path) -> None:
    for name in ("index.html", "explanations.html", "model_card.html", "kpis.json"):
        assert (built / name).is_file()
    pages = {p.name for p in (built / "clients").glob("*.html")}
    assert "C0011.html" in pages  # requested with --client although on no list
    assert client_page_name(EVIL_ID) in pages  # on the retain list


def test_client_names_with_markup_are_escaped_everywhere(built: Path) -> None:
    for page in [built / "index.html", *(built / "clients").glob("*.html")]:
        text = page.read_text(encoding="utf-8")
        assert EVIL_ID not in text
        assert "<img src=x" not in text and "<b>bold</b>" not in text
        assert _refs(page).scripts == 1  # only the report's own sorting script
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in index


def test_pages_are_self_contained_and_every_link_resolves(built: Path) -> None:
    pages = [
        built / "index.html",
        built / "explanations.html",
        built / "model_card.html",
        *(built / "clients").glob("*.html"),
    ]
    for page in pages:
        for ref in _refs(page).refs:
            assert not ref.startswith(("http:", "https:", "//")), f"{page.name}: {ref}"
            if ref.startswith("#"):  # an anchor on the same page: its id is there
                assert f'id="{ref[1:]}"' in page.read_text(), f"{page.name}: no {ref}"
                continue
            target = (page.parent / ref.split("#")[0]).resolve()
            assert target.is_file(), f"{page.name} links to missing {ref}"


def test_client_page_links_back_and_shows_scores_history_and_waterfalls(built: Path) -> None:
    page = built / "clients" / "C0011.html"
    refs = _refs(page)
    assert "../index.html" in refs.refs
    text = page.read_text(encoding="utf-8")
    for expected in (
        "SHAP contributions",
        "Drawn balance",
        "Revenue per month",
        "Previous scoring",
        "Contacts and survey answers",
        "revenue fell",
        "Relationship (0-100)",
        "trust reason of client 11",
        "(5 of 5)",
    ):
        assert expected in text, expected
    assert text.count("<svg") >= 3 + 4  # three waterfalls and the history charts
    assert text.count("(calibrated)") >= 2  # churn and default waterfalls end on the score shown


def test_a_newly_defaulted_client_tops_the_queue_with_a_first_screen_and_no_rule_waterfall(
    built: Path, run: PortfolioPaths
) -> None:
    scores = pd.read_parquet(run.scores / "scores.parquet")
    last = str(scores["client_id"].iloc[-1])  # the fixture's newly defaulted client
    index = (built / "index.html").read_text(encoding="utf-8")
    section = index[index.index('id="queue-default"') :]
    assert f'href="clients/{last}.html"' in section.split("</table>")[0]
    assert "newly defaulted" in section.split("</table>")[0]
    page = (built / "clients" / f"{last}.html").read_text(encoding="utf-8")
    for expected in (
        'id="decision"',
        "Workout: manage the defaulted exposure",
        "Relationship manager",
        "EAD",
        "4,000,000",  # the fixture's EAD of this client
        'id="facilities"',
        "Credit events",
        "Not a model score: in default at the as-of date",
    ):
        assert expected in page, expected
    assert page.count("(calibrated)") == 0  # neither churn nor default has a waterfall


def test_portfolio_page_has_kpis_lists_warnings_and_sortable_tables(built: Path) -> None:
    refs = _refs(built / "index.html")
    for table_id in (
        "kpi-segment",
        "kpi-branch_id",
        "queue-default",
        "queue-watch",
        "queue-retain",
        "queue-grow",
        "queue-filters",
        "early-warning",
        "drift",
        "league-branch_id",
        "league-rm_id",
        "trends-branch-id",
        "trends-segment",
        "stages",
        "stage-flows",
    ):
        assert table_id in refs.ids, table_id
    text = (built / "index.html").read_text(encoding="utf-8")
    assert 'class="sortable"' in text
    assert "max_dpd_12m" in text  # the drift alert
    kpi = text[text.index('id="kpi-segment"') :].split("</table>")[0]
    assert "Expected loss, performing" in kpi and "Expected loss, in default" in kpi
    league = text[text.index('id="league-branch_id"') :].split("</table>")[0]
    assert "Ranked (new, active, dormant)" in league and "Clients (all stages)" in league
    assert any(r.startswith("clients/") for r in refs.refs)


def test_portfolio_shows_league_tables_trends_and_stage_flows(
    built: Path, run: PortfolioPaths
) -> None:
    text = (built / "index.html").read_text(encoding="utf-8")
    scores = pd.read_parquet(run.scores / "scores.parquet")
    trends = text[text.index('id="trends-branch-id"') : text.index('id="trends-segment"')]
    assert trends.count("<svg") == 4  # retention, NPS, CSAT, the index: each on its own axis
    assert "NPS (-100..100) by branch" in trends and "Average CSAT (1-5) by branch" in trends
    label = "Relationship index (0-100), from the data at each date (model outputs not included)"
    assert label in trends
    series = pd.read_csv(built / "relationship_series.csv")
    # the index from the features snapshots: 3 dates, every scored client behind All's points
    index = series[series["relationship_index_from_data_clients"] > 0]
    assert index["date"].nunique() == 3
    every = index[(index["by"] == "segment") & (index["group"] == "All")]
    assert (every["relationship_index_from_data_clients"] == len(scores)).all()
    assert every["relationship_index_from_data"].between(0, 100).all()
    # no contribution_quantiles in the fabricated model folder: contribution left missing
    assert (series["contribution_score_from_data_clients"] == 0).all()
    assert "no contribution_quantiles in the contribution model folder" in text
    assert set(series["by"]) == {"branch_id", "segment"}
    assert set(series.loc[series["by"] == "branch_id", "group"]) == {
        *scores["branch_id"].astype("str"),
        "All",
    }
    assert (series.loc[series["nps"].notna(), "nps_respondents"] >= 10).all()  # min_answers
    stages = text[text.index('id="stages"') : text.index('id="stage-flows"')]
    assert "Re-engage before the client leaves" in stages  # the dormant stage's strategy
    flows = text[text.index('id="stage-flows"') :].split("</table>")[0]
    assert "(not scored before)" in flows
    total = flows[flows.index("<tfoot>") :]
    assert f'<td class="num">{len(scores)}</td></tr>' in total


def test_kpis_json_matches_the_scores(built: Path, run: PortfolioPaths) -> None:
    kpis = json.loads((built / "kpis.json").read_text(encoding="utf-8"))
    scores = pd.read_parquet(run.scores / "scores.parquet")
    head = kpis["headline"]
    assert head["clients"] == len(scores)
    in_default = scores["in_default"].astype(bool)
    assert head["expected_loss_in_default"] == pytest.approx(
        scores.loc[in_default, "expected_loss"].sum()
    )
    assert head["expected_loss_performing"] == pytest.approx(
        scores.loc[~in_default, "expected_loss"].sum()
    )
    assert head["mean_default_probability"] == pytest.approx(
        scores.loc[~in_default, "default_probability"].mean()
    )
    assert "expected_loss" not in head  # no total adding the two
    footer = kpis["by"]["segment"][-1]  # the segment table's All row: the same split
    assert footer["expected_loss_in_default"] == head["expected_loss_in_default"]
    assert head["contribution_at_risk"] == pytest.approx(scores["contribution_at_risk"].sum())
    assert head["retention_rate"] == pytest.approx(0.8)  # every fifth client left
    assert [r["segment"] for r in kpis["by"]["segment"]][-1] == "All"


def test_model_card_shows_version_hash_windows_metrics_and_stability(
    built: Path, run: PortfolioPaths
) -> None:
    text = (built / "model_card.html").read_text(encoding="utf-8")
    version = read_model_info(run.models / "churn")[0]["model_version"]  # the folder digest
    for expected in (
        version,
        "sha256:ab12cd34ef56",
        "2020-06-30 to 2022-12-31",
        "logistic_regression",
        "truth",
        "calibration on the test period",
        "Stability (PSI",
        "Intended use",
        "Revenue booked",
    ):
        assert expected in text, expected


def test_model_card_and_portfolio_state_each_models_population_and_size(
    built: Path, run: PortfolioPaths
) -> None:
    card = (built / "model_card.html").read_text(encoding="utf-8")
    for target in ("churn", "default", "contribution"):
        assert f'id="population-{target}">{POPULATIONS[target]}' in card.replace("&#39;", "'")
    sizes = (
        '<th scope="row">train</th><td>2021-12-31 to 2022-06-30 (2 dates)</td>'
        '<td class="num">900</td><td class="num">300</td><td class="num">45</td>'
        '<td class="num">5.00%</td>'
    )
    assert sizes in card  # default: events = 900 labelled x 5% (split.json)
    outside = '<th scope="row">train</th><td class="num">41</td><td class="num">12</td>'
    assert outside in card
    page = (built / "index.html").read_text(encoding="utf-8")
    assert 'id="populations"' in page
    scores = pd.read_parquet(run.scores / "scores.parquet")
    row = f'<th scope="row">default</th><td>{POPULATIONS["default"]}</td>'
    assert f"{row}<td>{len(scores) - 1}</td>" in page
    assert "1 in default at the as-of date" in page


def test_explanations_page_has_a_summary_per_model(built: Path) -> None:
    text = (built / "explanations.html").read_text(encoding="utf-8")
    for target in ("churn", "default", "contribution"):
        assert f"{target}: mean |SHAP|" in text
    assert "SHAP value per client" in text


def test_fixture_has_the_formats_the_scoring_step_writes() -> None:
    """The fabricated inputs keep the real outputs' columns (so the tests mean something)."""
    from predict.scoring.drift import DRIFT_COLUMNS
    from predict.scoring.early_warning import EARLY_WARNING_COLUMNS
    from predict.scoring.explain import EXPLANATION_SCHEMA
    from predict.scoring.outputs import SCORE_COLUMNS

    data = make_portfolio(n_clients=6)
    assert set(SCORE_COLUMNS) <= set(data["scores"].columns)
    assert list(data["early_warning"].columns) == list(EARLY_WARNING_COLUMNS)
    assert list(data["drift"].columns) == list(DRIFT_COLUMNS)
    assert list(data["explanations"].columns) == EXPLANATION_SCHEMA.names


def test_clients_in_default_get_their_own_histogram_bar(run: PortfolioPaths) -> None:
    scores = pd.read_parquet(run.scores / "scores.parquet")
    hist = site_module.default_histogram(scores, ReportConfig().kpis.default_bins)
    assert hist["band"].iloc[-1] == "in default"
    assert hist["clients"].iloc[-1] == scores["in_default"].sum() == 1
    assert hist["clients"].sum() == len(scores)


def test_movement_since_last_scoring_marks_what_got_worse() -> None:
    row = pd.Series(
        {
            "churn_probability": 0.30,
            "previous_churn_probability": 0.10,
            "churn_probability_change": 0.20,
            "default_probability": 0.02,
            "previous_default_probability": 0.02,
            "default_probability_change": 0.0,
            "expected_contribution": 1200.0,
            "previous_expected_contribution": 1000.0,
            "contribution_change": 200.0,
        }
    )
    moves = {m["target"]: m for m in site_module.movement_rows(row)}
    assert moves["churn"]["change"] == "+20.0 pp" and moves["churn"]["worse"] is True
    assert moves["default"]["worse"] is None  # no change
    assert moves["contribution"]["change"] == "+200" and moves["contribution"]["worse"] is False


def test_unknown_client_is_refused_and_previous_report_kept(
    run: PortfolioPaths, tmp_path: Path
) -> None:
    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables)
    out = tmp_path / "review"
    build_report(inputs, out, SMALL)
    before = (out / "index.html").read_text(encoding="utf-8")
    with pytest.raises(ReportInputError, match="NOPE"):
        build_report(inputs, out, SMALL, clients=["NOPE"])
    assert (out / "index.html").read_text(encoding="utf-8") == before


def test_a_failure_while_writing_leaves_the_previous_report(
    run: PortfolioPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables)
    out = tmp_path / "review"
    build_report(inputs, out, ReportConfig(title="First", max_client_pages=2))
    real = site_module.write_pages

    def half_then_fail(folder: Path, pages: dict[str, str]) -> None:
        real(folder, dict(list(pages.items())[:2]))
        raise OSError("disk full")

    monkeypatch.setattr(site_module, "write_pages", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        build_report(inputs, out, ReportConfig(title="Second", max_client_pages=2))
    assert "First" in (out / "index.html").read_text(encoding="utf-8")
    assert (out / "model_card.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["review"]  # no temp folder left


def _same_run(run: PortfolioPaths, folder: Path, scores: pd.DataFrame) -> None:
    """``scores`` alone in ``folder``, stamped as the fixture's run."""
    stamp = io.parquet_metadata(run.scores / "scores.parquet")
    io.write_parquet(scores, folder / "scores.parquet", stamp)
    shutil.copy(run.scores / "score_summary.json", folder / "score_summary.json")


def test_mixed_runs_in_one_folder_are_refused(run: PortfolioPaths, tmp_path: Path) -> None:
    """Explanations of another run (or another as-of date) beside the scores: refused."""
    folder = tmp_path / "scores"
    shutil.copytree(run.scores, folder)
    expl = pd.read_parquet(folder / "explanations.parquet")
    stamp = io.parquet_metadata(folder / "explanations.parquet")
    io.write_parquet(expl, folder / "explanations.parquet", stamp | {"predict.run_id": "other"})
    with pytest.raises(ReportInputError, match="mixes the files of several scoring runs"):
        load_inputs(folder)
    later = stamp | {"predict.as_of": "2031-01-31"}
    io.write_parquet(expl, folder / "explanations.parquet", later)
    with pytest.raises(ReportInputError, match=r"explanations.parquet: run .* as of 2031-01-31"):
        load_inputs(folder)
    io.write_parquet(expl, folder / "explanations.parquet")  # no stamp at all
    with pytest.raises(ReportInputError, match="carry no run id"):
        load_inputs(folder)


def test_missing_score_column_is_named(run: PortfolioPaths, tmp_path: Path) -> None:
    scores = pd.read_parquet(run.scores / "scores.parquet").drop(columns="expected_loss")
    _same_run(run, tmp_path / "scores", scores)
    with pytest.raises(ReportInputError, match=r"scores.parquet.*expected_loss"):
        load_inputs(tmp_path / "scores")


def test_report_without_optional_inputs_still_builds(run: PortfolioPaths, tmp_path: Path) -> None:
    _same_run(run, tmp_path / "scores", pd.read_parquet(run.scores / "scores.parquet"))
    inputs = load_inputs(tmp_path / "scores")
    result = build_report(inputs, tmp_path / "review", SMALL)
    text = result.index.read_text(encoding="utf-8")
    assert "No early-warning file" in text and "No drift file" in text
    assert "No model metadata found" in (tmp_path / "review" / "model_card.html").read_text(
        encoding="utf-8"
    )


def test_a_partial_sum_cell_says_on_how_many_clients_it_rests() -> None:
    frame = pd.DataFrame({"x": [1234.4, np.nan, 5.0], "x_clients": [1, 0, 3], "clients": [2, 2, 3]})
    cols = money_cols([Col("x", "X", "money", of=("x_clients", "clients"))], "EUR")
    assert cols[0].of == ("x_clients", "clients") and cols[0].label == "X, EUR"
    first, missing, full = (r[0] for r in table_spec(frame, cols, table_id="t")["rows"])
    assert (first["text"], first["of"]) == ("1,234", "1 of 2")
    assert missing["text"] == "–" and "of" not in missing  # missing, not "0 (0 of 2)"
    assert (full["text"], full["of"]) == ("5", "")  # every client known: nothing to say
    assert coverage(1, 2, "clients") == "1 of 2 clients" and coverage(None, 2) == ""


def _card(text: str, label: str) -> str:
    """The value of the headline card labelled ``label`` on the portfolio page."""
    head = text[: text.index(f'<div class="l">{label}')]
    return head[head.rindex('<div class="v">') + len('<div class="v">') :].split("</div>")[0]


def test_a_sum_no_client_has_reads_missing_and_a_partial_one_says_on_how_many(
    run: PortfolioPaths, tmp_path: Path
) -> None:
    """The churn model not applied (no churn probability, no contribution at risk) and the
    expected loss of every other performing client unknown: expected leavers and
    contribution at risk read "–" (never 0), the expected loss the sum of the known ones
    with "k of N clients"."""
    scores = pd.read_parquet(run.scores / "scores.parquet")
    scores["churn_probability"] = np.nan
    scores["contribution_at_risk"] = np.nan
    performing = ~scores["in_default"].astype(bool)
    unknown = performing & (np.arange(len(scores)) % 2 == 0)
    scores.loc[unknown, "expected_loss"] = np.nan
    _same_run(run, tmp_path / "scores", scores)
    result = build_report(load_inputs(tmp_path / "scores"), tmp_path / "review", SMALL)
    text = result.index.read_text(encoding="utf-8")
    assert _card(text, "Expected leavers") == "–"
    assert _card(text, "Predicted churn (mean)") == "–"
    assert _card(text, "Contribution at risk (p × run-rate revenue)") == "–"
    known = performing & ~unknown
    total = round(scores.loc[known, "expected_loss"].sum())
    assert _card(text, "Expected loss, performing clients") == (
        f"{total:,} ({int(known.sum()):,} of {int(performing.sum()):,} clients)"
    )
    assert _card(text, "Clients in the book (not prospects, not former)") != "–"
    # every client's EAD known: no "of" on the card
    assert "of" not in _card(text, "EAD")
    head = json.loads((result.site / "kpis.json").read_text(encoding="utf-8"))["headline"]
    assert head["expected_leavers"] is None and head["expected_leavers_clients"] == 0
    assert head["expected_loss_performing_clients"] == int(known.sum())
    # the KPI table's footer says the same
    footer = text[text.index('id="kpi-segment"') :].split("</table>")[0].split("<tfoot>")[1]
    n_of = f"{int(known.sum()):,} of {int(performing.sum()):,}"
    assert f'>{total:,}<span class="of">{n_of}</span></td>' in footer


def test_grades_migration_and_value_decomposition_are_shown(built: Path) -> None:
    index = (built / "index.html").read_text(encoding="utf-8")
    assert "Clients by rating grade" in index
    assert 'id="migration"' in index and "Rating-grade migration" in index
    assert "Compared with: rescored previous month end" in index
    page = next((built / "clients").glob("*.html")).read_text(encoding="utf-8")
    for label in ("Expected loss", "Funding cost", "Cost to serve", "Capital charge", "RAROC"):
        assert label in page, label
    assert 'id="value"' in page


def test_migration_table_pivots_the_scorings_migration_file() -> None:
    """migration.parquet (long form, as predict score writes it) pivoted: previous grade by
    row, grade now by column, best grade first, (none) last, empty rows/columns left out."""
    from predict.report.credit import migration_table

    migration = pd.DataFrame(
        {
            "previous_grade": pd.Series(["1", "1", "2", "2", "10"], dtype="str"),
            "rating_grade": pd.Series(["1", "2", "2", "(none)", "D"], dtype="str"),
            "clients": [1, 1, 1, 1, 1],
        }
    )
    spec = migration_table(migration)
    assert spec is not None
    assert [c["label"] for c in spec["columns"]] == ["From \\ to", "1", "2", "D", "(none)"]
    rows = {r[0]["text"]: [c["text"] for c in r[1:]] for r in spec["rows"]}
    assert rows == {
        "1": ["1", "1", "0", "0"],
        "2": ["0", "1", "0", "1"],
        "10": ["0", "0", "1", "0"],
    }
    no_previous = migration.assign(previous_grade="(none)")  # a first run: nothing to compare
    assert migration_table(no_previous) is None and migration_table(None) is None


def test_named_grades_read_in_the_scales_order_not_the_alphabets() -> None:
    # score.grades.names AAA ... C, D last: the matrix and the chart follow the scale
    from predict.report.credit import grade_chart, grade_order, migration_table
    from predict.scoring.grades import GradesConfig

    scale = GradesConfig(bounds=(0.001, 0.01, 0.05, 0.2, 1.0),
                         names=("AAA", "AA", "A", "BBB", "CCC")).scale  # fmt: skip
    migration = pd.DataFrame(
        {
            "previous_grade": pd.Series(["AAA", "AA", "A", "CCC", "BBB"], dtype="str"),
            "rating_grade": pd.Series(["AA", "A", "A", "D", "(none)"], dtype="str"),
            "clients": [1, 1, 1, 1, 1],
        }
    )
    spec = migration_table(migration, scale)
    assert spec is not None
    labels = [c["label"] for c in spec["columns"]][1:]
    assert labels == ["AA", "A", "D", "(none)"]
    assert [r[0]["text"] for r in spec["rows"]] == ["AAA", "AA", "A", "BBB", "CCC"]
    assert grade_order(pd.Series(["A", "AAA", "D", "AA"])) == ["A", "AA", "AAA", "D", "(none)"]
    scores = pd.DataFrame({"rating_grade": ["A", "AAA", "D", "AA", "AAA"]})
    chart = grade_chart(scores, scale)
    assert chart is not None
    assert grade_order(scores["rating_grade"], scale) == ["AAA", "AA", "A", "D", "(none)"]


def test_model_card_states_its_definitions_and_the_contract_threshold(built: Path) -> None:
    """The card defines the value and risk figures the report shows (pointing to
    docs/scoring.md), takes the default DPD threshold from the contract and does not say
    "not for capital" next to the report's IRB capital and RAROC."""
    card = (built / "model_card.html").read_text(encoding="utf-8")
    for name, formula in (
        ("EAD", "drawn + CCF(product) x undrawn"),
        ("EL", "PD x LGD x EAD"),
        ("Relationship value", "expected contribution - expected loss"),
        ("Economic profit", "hurdle rate x capital"),
        ("RAROC", "capital, annualised"),
        ("Capital", "Basel IRB capital of the EAD from the model PD"),
    ):
        assert f'<tr><th scope="row">{name}</th><td>' in card and formula in card, name
    assert "docs/scoring.md" in card
    assert f"{DEFAULT_DPD_THRESHOLD}+ days past due" in card
    assert "pricing or capital" not in card
    assert "not regulatory capital reporting" in card


def test_model_card_population_falls_back_to_the_contract() -> None:
    """Metrics without a population block: the card states the contract's population."""
    assert population_definition({"churn": {"test": {"auc": 0.8}}}, "churn") == POPULATIONS["churn"]
    assert population_definition({}, "default") == POPULATIONS["default"]
    assert population_definition({}, "unknown") == ""  # no contract entry: nothing invented


class _Headers(HTMLParser):
    """Every ``<th>`` of a page, with its ``scope`` and whether it sits in a ``<thead>``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_head = False
        self.headers: list[tuple[str | None, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_head = self.in_head or tag == "thead"
        if tag == "th":
            self.headers.append((dict(attrs).get("scope"), self.in_head))

    def handle_endtag(self, tag: str) -> None:
        self.in_head = self.in_head and tag != "thead"


def test_every_table_header_on_every_page_has_a_scope(built: Path) -> None:
    pages = sorted(built.rglob("*.html"))
    assert len(pages) >= 4
    counted = 0
    for page in pages:
        parser = _Headers()
        parser.feed(page.read_text(encoding="utf-8"))
        for scope, in_head in parser.headers:
            assert scope == ("col" if in_head else "row"), f"{page.name}: th scope={scope}"
        counted += len(parser.headers)
    assert counted >= 50


def test_every_early_warning_row_the_table_shows_gets_a_client_page(run: PortfolioPaths) -> None:
    # the table ranks the rows by the rise of expected loss: the pages are chosen from the
    # same ranking, not from the scoring's order (33 of 50 rows shown had no page)
    import dataclasses

    inputs = load_inputs(run.scores, run.models, run.metrics, run.tables, run.plots, None, None)
    assert inputs.early_warning is not None and len(inputs.early_warning) >= 4
    reversed_ew = inputs.early_warning.iloc[::-1].reset_index(drop=True)
    inputs = dataclasses.replace(inputs, early_warning=reversed_ew)
    config = ReportConfig(list_size=2, action_lists={})
    shown = site_module.ranked_early_warning(reversed_ew, inputs.scores)["client_id"].head(2)
    assert list(shown) != list(reversed_ew["client_id"].astype("str").head(2))  # orders differ
    pages = site_module.select_clients(inputs, config, [])
    assert set(shown.astype("str")) <= set(pages)
