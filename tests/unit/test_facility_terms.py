"""Terms as of t (``facility_terms``): features at t use the limit, rate and maturity in force
at t, by hand; a term change dated after t moves no feature at t; without the table the
terms are as recorded."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from predict.features.build import build_features
from tests.support.tables import frame, random_tables, terms_at, tiny_tables
from tests.unit.test_point_in_time import assert_same_features, check_point_in_time

D = dt.date
DATES = [D(2021, 6, 30), D(2022, 3, 31), D(2022, 12, 31)]
# c1's f1: original terms at origination, a limit cut, then a repricing with an extension;
# its revolver f2: a repricing only (no row at origination: its recorded limit is used).
TERMS = [
    ("f1", "2020-02-01", 100_000.0, 0.05, "2025-02-01"),
    ("f1", "2021-09-01", 60_000.0, None, None),
    ("f1", "2022-06-15", None, 0.06, "2026-02-01"),
    ("f2", "2022-01-10", None, 0.08, None),
]
TERM_FEATURES = ["total_limit", "avg_interest_rate", "months_to_maturity"]


def _c1(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    out = build_features(tables, DATES)
    return out[out["client_id"] == "c1"].set_index("as_of")[TERM_FEATURES]


def test_terms_in_force_at_t_by_hand() -> None:
    tables = tiny_tables()
    tables["facility_terms"] = frame("facility_terms", TERMS)
    got = _c1(tables)
    # 2021-06-30: before every change: f1 100k at 5% (its first row), f2 50k at 7%
    # (recorded: no row of f2 yet); f2 matures 2022-03-15, 258 days on.
    assert got.iloc[0].tolist() == pytest.approx([150_000.0, 8_500 / 150_000, 258 / 30.4375])
    # 2022-03-31: f1 cut to 60k (rate unchanged 5%), f2 repriced to 8% (limit as recorded).
    assert got.iloc[1]["total_limit"] == 110_000.0
    assert got.iloc[1]["avg_interest_rate"] == pytest.approx((3_000 + 4_000) / 110_000)
    # 2022-12-31: f2 closed; f1 at 60k (the empty limit of the repricing row keeps the cut),
    # 6%, maturity extended to 2026-02-01: 1128 days on.
    assert got.iloc[2].tolist() == pytest.approx([60_000.0, 0.06, 1_128 / 30.4375])


def test_without_the_table_terms_are_as_recorded() -> None:
    got = _c1(tiny_tables())
    assert got["total_limit"].tolist() == [150_000.0, 150_000.0, 100_000.0]
    assert got["avg_interest_rate"].iloc[2] == pytest.approx(0.05)


def _terms_history(tables: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """``tables`` with a terms history per facility: the original terms at origination and
    up to three changes (cuts, repricings, extensions) later; ``facilities`` records the
    latest terms, as a bank's extract does. An unrated facility is never repriced: its
    opening row gives no rate, so before a repricing its recorded (latest) rate would be
    used (the documented rule for a term no row on or before t gives)."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in tables["facilities"].itertuples(index=False):
        rows.append(
            (f.facility_id, f.origination_date, f.limit_amount, f.interest_rate, f.maturity_date)
        )
        day = pd.Timestamp(f.origination_date)
        for _ in range(int(rng.integers(0, 4))):
            day += pd.Timedelta(days=int(rng.integers(20, 400)))
            change = int(rng.choice((0, 1, 2) if pd.notna(f.interest_rate) else (0, 2)))
            limit = round(f.limit_amount * rng.uniform(0.3, 0.9), -2) if change == 0 else None
            rate = round(float(rng.uniform(0.02, 0.09)), 4) if change == 1 else None
            maturity = day + pd.Timedelta(days=int(rng.integers(200, 900))) if change == 2 else None
            rows.append((f.facility_id, day, limit, rate, maturity))
    terms = frame(
        "facility_terms",
        [tuple(str(v.date()) if isinstance(v, pd.Timestamp) else v for v in r) for r in rows],
    )
    out = dict(tables)
    out["facility_terms"] = terms
    out["facilities"] = terms_at(tables["facilities"], terms)
    return out


def test_point_in_time_with_term_changes_at_every_few_month_ends() -> None:
    tables = _terms_history(random_tables(seed=3, n_clients=30, start="2019-01-01", months=36), 1)
    changes = tables["facility_terms"].groupby("facility_id").size()
    assert (changes > 1).sum() >= 10  # facilities with changes after origination
    dates = [D(2019, 6, 30), D(2020, 2, 29), D(2020, 9, 30), D(2021, 4, 30), D(2021, 12, 31)]
    check_point_in_time(tables, dates)


@pytest.mark.parametrize("as_of", [D(2020, 6, 30), D(2021, 3, 31)])
def test_term_changes_after_t_move_no_feature_at_t(as_of: dt.date) -> None:
    """Cuts, repricings and extensions dated after t (the recorded terms updated with them,
    as the next extract would) leave every feature at t unchanged, though they do move the
    features at the data end."""
    tables = _terms_history(random_tables(seed=5, n_clients=40, start="2019-01-01", months=48), 2)
    t, fac = pd.Timestamp(as_of), tables["facilities"]
    opened = fac[fac["origination_date"] <= t]
    later = [
        (
            f.facility_id,
            (t + pd.Timedelta(days=1 + k % 200)).date().isoformat(),
            1.0 + k,
            0.2 if pd.notna(f.interest_rate) else None,
            "2040-01-01",
        )
        for k, f in enumerate(opened.itertuples(index=False))
    ]
    future = dict(tables)
    future["facility_terms"] = pd.concat(
        [tables["facility_terms"], frame("facility_terms", later)], ignore_index=True
    )
    future["facilities"] = terms_at(fac, future["facility_terms"])
    assert_same_features(build_features(tables, [as_of]), build_features(future, [as_of]), as_of)
    end = D(2022, 12, 31)
    assert not build_features(tables, [end]).equals(build_features(future, [end]))
    # Without the table the recorded terms reach back: the same change moves features at t.
    recorded = {k: v for k, v in future.items() if k != "facility_terms"}
    plain = {k: v for k, v in tables.items() if k != "facility_terms"}
    assert not build_features(plain, [as_of]).equals(build_features(recorded, [as_of]))


def test_model_card_states_the_look_ahead_unless_terms_were_dated() -> None:
    from predict.report.model_card import TERMS_AS_RECORDED, terms_flags

    assert terms_flags({"split": {"facility_terms": True}}) == []
    assert terms_flags({"split": {"facility_terms": False}}) == [TERMS_AS_RECORDED]
    assert terms_flags({}) == [TERMS_AS_RECORDED]  # not known to be dated: the risk is said
    assert "look-ahead" in TERMS_AS_RECORDED


def test_snapshots_summary_says_whether_terms_are_dated() -> None:
    from predict.features.build import FeaturesConfig, summarise
    from predict.features.labels import build_labels

    config = FeaturesConfig()
    # none; TERMS (f2's first row after its origination: partly dated); TERMS plus a row at
    # every facility's origination (dated)
    for terms, dated in ((None, False), ("partly", False), ("full", True)):
        tables = tiny_tables()
        if terms is not None:
            rows = list(TERMS)
            if terms == "full":
                starts = tables["facilities"][["facility_id", "origination_date"]]
                rows += [(f, f"{d:%Y-%m-%d}", None, None, None) for f, d in starts.to_numpy()]
            tables["facility_terms"] = frame("facility_terms", rows)
        features = build_features(tables, DATES)
        labels = build_labels(tables, DATES, config.labels)
        frame_ = features.merge(labels, on=["client_id", "as_of"], how="left")
        summary = summarise(tables, frame_, DATES, config)
        assert summary["facility_terms"] is dated, terms
        assert (summary["facility_terms_coverage"] is None) is (terms is None)


def test_rate_reference_reads_each_facility_at_its_rate_at_origination() -> None:
    """The frozen/point-in-time rate reference (``predict.features.rates``) takes f1 at the
    rate of its origination row (5%), not the later repricing (6%, also the recorded rate
    after it); f2 has no row on or before its origination: its recorded rate."""
    from predict.features import rates

    tables = tiny_tables()
    tables["facility_terms"] = frame("facility_terms", TERMS)
    fac = tables["facilities"].copy()
    fac.loc[fac["facility_id"] == "f1", "interest_rate"] = 0.06  # the latest, as recorded
    tables["facilities"] = fac
    got = dict(zip(fac["facility_id"], rates.rate_at_origination(tables), strict=True))
    assert got["f1"] == 0.05
    assert got["f2"] == fac.loc[fac["facility_id"] == "f2", "interest_rate"].item()
    without = {k: v for k, v in tables.items() if k != "facility_terms"}
    assert dict(zip(fac["facility_id"], rates.rate_at_origination(without), strict=True)) == dict(
        zip(fac["facility_id"], fac["interest_rate"], strict=True)
    )


def test_terms_count_as_dated_only_when_every_facility_has_a_row_from_origination() -> None:
    # F1 dated at origination, F2 only from a later change (recorded terms stand in before),
    # F3 with no row at all: 1 of 3 covered -> not dated, coverage 1/3; the card says so
    from predict.features.build import terms_coverage
    from predict.report.model_card import terms_flags

    facilities = pd.DataFrame(
        {
            "facility_id": ["F1", "F2", "F3"],
            "origination_date": pd.to_datetime(["2020-01-15", "2020-03-01", "2021-01-01"]),
        }
    )
    terms = pd.DataFrame(
        {
            "facility_id": ["F1", "F1", "F2"],
            "effective_date": pd.to_datetime(["2020-01-15", "2022-06-30", "2023-06-30"]),
        }
    )
    got = terms_coverage({"facilities": facilities, "facility_terms": terms})
    assert got["facility_terms"] is False
    assert got["facility_terms_coverage"] == pytest.approx(1 / 3)
    flags = terms_flags({"split": got})
    assert len(flags) == 1 and "only 33.3% of facilities" in flags[0]
    full = pd.concat(
        [terms, pd.DataFrame({"facility_id": ["F2", "F3"],
                              "effective_date": pd.to_datetime(["2020-03-01", "2020-12-31"])})]
    )  # fmt: skip
    dated = terms_coverage({"facilities": facilities, "facility_terms": full})
    assert dated == {"facility_terms": True, "facility_terms_coverage": 1.0}
    assert terms_flags({"split": dated}) == []
    assert terms_coverage({"facilities": facilities}) == {
        "facility_terms": False,
        "facility_terms_coverage": None,
    }
    assert "as recorded" in terms_flags({"split": {"facility_terms": False}})[0]
