"""Feature passes over ranges of clients: each pass reads only its own clients' rows, passes
run at once give the very same bits, and the result equals one pass over the whole book."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from predict.features import sql as fsql
from predict.features.build import (
    FeaturesConfig,
    _client_ranges,
    _cpus,
    _idle_cpus,
    _rows_per_key,
    build_features,
)
from tests.support.tables import random_tables, tiny_tables

DATES = [dt.date(2020, 12, 31), dt.date(2021, 9, 30), dt.date(2022, 6, 30)]


def _shuffled(tables: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """The same book with every table's rows (clients too) in a random order."""
    return {
        name: frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        for name, frame in tables.items()
    }


def test_split_rows_keeps_grouped_rows_in_place_and_groups_the_others() -> None:
    order, bounds = fsql.split_rows(np.array([0, 1, 1, 2, 3, 3, 5], dtype=np.int32), [1, 3, 5])
    assert order is None  # already grouped by range: zero-copy slices
    assert bounds.tolist() == [1, 4, 6, 7]  # the row of key 0 (no client) is in no range
    keys = np.array([3, 1, 0, 5, 2, 1, 4], dtype=np.int32)
    order, bounds = fsql.split_rows(keys, [1, 3, 5])
    assert order is not None
    parts = [keys[order[bounds[k] : bounds[k + 1]]].tolist() for k in range(3)]
    assert parts == [[1, 2, 1], [3, 4], [5]]  # row order kept within a range


def test_client_keys_follow_client_id_order_and_reach_balances_through_facilities() -> None:
    tables = tiny_tables()
    tables["clients"] = tables["clients"].iloc[::-1].reset_index(drop=True)  # c4 .. c1
    tables["revenue"].loc[0, "client_id"] = "nobody"
    keys = fsql.client_keys(tables)
    assert keys.ordered.to_pylist() == ["c1", "c2", "c3", "c4"]
    assert keys.rows["clients"].tolist() == [4, 3, 2, 1]
    assert keys.rows["revenue"][0] == 0  # a client absent from clients: read by no pass
    owner = dict(zip(tables["facilities"]["facility_id"], keys.rows["facilities"], strict=True))
    expected = tables["facility_balances"]["facility_id"].map(owner).to_numpy()
    assert (keys.rows["facility_balances"] == expected).all()
    assert keys.client_ids(np.array([2, 1, 4])).tolist() == ["c2", "c1", "c4"]


def test_a_repeated_client_or_facility_id_is_a_clear_error() -> None:
    tables = tiny_tables()
    clients = tables["clients"]
    with pytest.raises(ValueError, match="table clients, column client_id: client_id='c2'"):
        build_features({**tables, "clients": pd.concat([clients, clients.iloc[[1]]])}, DATES)
    facilities = pd.concat([tables["facilities"], tables["facilities"].iloc[[0]]])
    with pytest.raises(ValueError, match=r"facility_id='f1' repeated \(rule: primary key"):
        build_features({**tables, "facilities": facilities}, DATES)


def test_ranges_hold_about_the_same_number_of_event_rows_and_cover_every_client() -> None:
    tables = random_tables(seed=3, n_clients=60)
    keys = fsql.client_keys(tables)
    events = sum(len(tables[t]) for t in fsql.EVENT_VIEWS)
    ranges = _client_ranges(keys, events_per_pass=events // 4)
    assert ranges[0][0] == 1 and ranges[-1][1] == 60 and 4 <= len(ranges) <= 5
    assert all(last + 1 == first for (_, last), (first, _) in itertools.pairwise(ranges))
    per_client = sum(np.bincount(keys.rows[t], minlength=61) for t in fsql.EVENT_VIEWS)
    sizes = [int(per_client[first : last + 1].sum()) for first, last in ranges]
    assert sum(sizes) == events and max(sizes) <= events // 4 + per_client.max()


def test_a_pass_reads_only_its_own_clients_rows_and_copies_none_when_grouped() -> None:
    tables = random_tables(seed=5, n_clients=30)
    keys = fsql.client_keys(tables)
    ranges = [(1, 10), (11, 20), (21, 30)]
    passes = fsql.client_passes(tables, keys, ranges)
    for name in fsql.EVENT_VIEWS:
        assert passes.cuts[name][0] is None  # the book is grouped by client: no reorder
    seen = 0
    for k, (first, last) in enumerate(ranges):
        part = passes.part(k)
        revenue, revenue_keys = part["revenue"]
        assert revenue_keys is not None and len(revenue_keys) == len(revenue) > 0
        assert ((revenue_keys >= first) & (revenue_keys <= last)).all()
        amounts = tables["revenue"]["amount"].to_numpy()
        assert np.shares_memory(revenue["amount"].to_numpy(), amounts)  # a slice, not a copy
        assert len(part["clients"][0]) == 30  # small tables whole: the statement keeps its own
        seen += len(revenue)
    assert seen == len(tables["revenue"])


def test_passes_in_any_row_order_give_the_one_pass_features() -> None:
    tables = random_tables(seed=11, n_clients=50)
    one = build_features(tables, DATES)
    shuffled = _shuffled(tables, seed=2)  # event rows not grouped by client: reordered once
    chunked = build_features(shuffled, DATES, FeaturesConfig(events_per_pass=500))
    assert chunked["client_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(chunked, one, check_exact=False, rtol=1e-12, atol=1e-9)


def test_rows_of_clients_absent_from_clients_change_nothing() -> None:
    tables = random_tables(seed=13, n_clients=30)
    revenue = tables["revenue"]
    stray = revenue.iloc[: len(revenue) // 3].assign(client_id="zz-unknown")
    with_stray = {**tables, "revenue": pd.concat([stray, revenue], ignore_index=True)}
    for config in (FeaturesConfig(), FeaturesConfig(events_per_pass=600)):  # 1 pass, several
        expected = build_features(tables, DATES, config)
        got = build_features(with_stray, DATES, config)
        pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-12, atol=1e-9)


def test_passes_run_at_once_give_the_same_bits_as_one_after_the_other() -> None:
    tables = _shuffled(random_tables(seed=17, n_clients=60), seed=4)
    rng = np.random.default_rng(17)
    revenue = tables["revenue"]
    big = revenue.sample(n=60_000, replace=True, random_state=17).reset_index(drop=True)
    big["amount"] = rng.lognormal(8.0, 2.0, len(big)) * rng.choice([-1.0, 1.0], len(big))
    tables = {**tables, "revenue": big}
    config = FeaturesConfig(events_per_pass=16_000)
    sequential = build_features(tables, DATES, config, workers=1)
    for workers in (2, 4):
        pd.testing.assert_frame_equal(
            build_features(tables, DATES, config, workers=workers), sequential, check_exact=True
        )


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        build_features(tiny_tables(), DATES, workers=0)


def test_idle_cpus_is_between_one_and_the_cpus_of_the_process() -> None:
    assert 1 <= _idle_cpus(sample_s=0.02) <= _cpus()


def test_rows_per_key_counts_sorted_and_unsorted_keys_alike() -> None:
    keys = np.random.default_rng(3).integers(0, 50, 5_000).astype(np.int32)
    expected = np.bincount(keys, minlength=61)
    assert (_rows_per_key(keys, 60) == expected).all()
    assert (_rows_per_key(np.sort(keys), 60) == expected).all()
