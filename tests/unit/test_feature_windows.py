"""The numpy window step (predict.features.windows) against a brute force with SQL semantics."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from predict.features import windows as fw


def test_reduce_runs_equals_a_loop_over_each_run() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=200)
    lo = np.sort(rng.integers(0, 201, 150))
    hi = np.minimum(lo + rng.integers(0, 6, 150), 200)  # empty runs and runs ending at 200
    for ufunc, empty in ((np.add, 0.0), (np.fmax, np.nan)):
        got = fw.reduce_runs(ufunc, values, lo, hi, empty)
        for i in range(len(lo)):
            run = values[lo[i] : hi[i]]
            want = ufunc.reduce(run) if len(run) else empty
            np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)  # order of adds
    # Runs out of row order: the same values (only slower).
    order = rng.permutation(len(lo))
    shuffled = fw.reduce_runs(np.add, values, lo[order], hi[order], 0.0)
    np.testing.assert_array_equal(shuffled, fw.reduce_runs(np.add, values, lo, hi, 0.0)[order])


def test_reduce_runs_with_no_run() -> None:
    empty = np.array([], dtype=np.int64)
    assert fw.reduce_runs(np.add, np.ones(3), empty, empty, 0.0).shape == (0,)


def _book(seed: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Random bucket rows (cid, b; some clients without rows) and snapshots."""
    rng = np.random.default_rng(seed)
    n = 400
    cid = rng.integers(1, 30, n)
    b = rng.integers(24_100, 24_160, n)
    keep = np.unique(np.column_stack([cid, b]), axis=0, return_index=True)[1]
    cid, b = cid[keep], b[keep]  # one row per (client, bucket), as DuckDB's GROUP BY gives
    n = len(cid)
    amount = rng.normal(100.0, 50.0, n)
    amount[rng.random(n) < 0.2] = np.nan  # NULLs
    day = rng.integers(19_000, 20_000, n)
    codes = [f"svc{k}" for k in range(70)]  # more than 64 distinct codes: two words of bits
    source = pa.array(
        [None if rng.random() < 0.1 else codes[k] for k in rng.integers(0, 70, n)], pa.string()
    )
    table = pa.table(
        {
            "cid": pa.array(cid, pa.int32()),
            "b": pa.array(b, pa.int32()),
            "amount": pa.array(amount, pa.float64(), mask=np.isnan(amount)),
            "count": pa.array(rng.integers(0, 5, n), pa.int64()),
            "last": pa.array(day, pa.int32()).cast(pa.date32()),
            "active": pa.array(rng.random(n) < 0.5, pa.bool_()),
            "source": source,
        }
    )
    snap_cid = np.repeat(np.arange(1, 33), 6)  # clients 30..32 have no rows
    snap_m = np.tile(np.arange(24_110, 24_170, 10), 32)
    return table, snap_cid, snap_m


def _brute(rows: list[dict], cid: int, month: int, spec: fw.Column) -> object:
    """What SQL gives for one snapshot: the aggregate over its window's rows."""
    if isinstance(spec, fw.Ratio):
        num, den = _brute(rows, cid, month, spec.num), _brute(rows, cid, month, spec.den)
        if num is None or den is None or den == 0:
            return None
        return num / den  # type: ignore[operator]
    low = -math.inf if spec.months is None else month - spec.months
    values = [
        r[spec.column]
        for r in rows
        if r["cid"] == cid and low < r["b"] <= month - spec.skip and r[spec.column] is not None
    ]
    if spec.op == "distinct":
        return len(set(values))
    if not values:
        return None
    if spec.op == "sum":
        return sum(values)
    return max(values) if spec.op == "max" else min(values)


SPECS: dict[str, fw.Column] = {
    "sum_3": fw.total("amount", 3),
    "sum_12": fw.total("amount", 12),
    "sum_prev": fw.total("amount", 6, 3),
    "sum_all": fw.total("amount"),
    "count_12": fw.total("count", 12),
    "count_one_month_ago": fw.total("count", 4, 3),
    "mean_12": fw.Ratio(fw.total("amount", 12), fw.total("count", 12)),
    "latest": fw.latest("last"),
    "first": fw.Agg("min", "last"),
    "active_6": fw.Agg("max", "active", 6),
    "services_12": fw.Agg("distinct", "source", 12),
    "services_all": fw.Agg("distinct", "source"),
}


@pytest.mark.parametrize("seed", [0, 1])
def test_window_columns_equal_a_brute_force(seed: int) -> None:
    table, snap_cid, snap_m = _book(seed)
    got = fw.window_columns(table, snap_cid, snap_m, fw.Windowed("src", SPECS))
    assert got.type.names == list(SPECS)
    shuffled = table.take(np.random.default_rng(seed).permutation(table.num_rows))
    again = fw.window_columns(shuffled, snap_cid, snap_m, fw.Windowed("src", SPECS))
    rows = table.to_pylist()
    for name, spec in SPECS.items():
        column = got.field(name).to_pylist()
        for i, (c, m) in enumerate(zip(snap_cid, snap_m, strict=True)):
            want = _brute(rows, int(c), int(m), spec)
            if isinstance(want, float):
                assert column[i] == pytest.approx(want, rel=1e-12), (name, c, m)
            else:
                assert column[i] == want, (name, c, m)
        # Rows in any order: the same values, bit for bit (sums run in bucket order).
        assert again.field(name).to_pylist() == column, name


def test_window_types_follow_the_column() -> None:
    table, snap_cid, snap_m = _book(0)
    got = fw.window_columns(table, snap_cid, snap_m, fw.Windowed("src", SPECS))
    assert got.type.field("latest").type == pa.date32()
    assert got.type.field("active_6").type == pa.bool_()
    assert got.type.field("services_12").type == pa.int64()
    assert got.type.field("sum_3").type == pa.float64()
    latest = [v for v in got.field("latest").to_pylist() if v is not None]
    assert latest and all(isinstance(v, dt.date) for v in latest)
    assert set(got.field("active_6").to_pylist()) <= {True, False, None}


def test_a_window_of_zeros_sums_to_exactly_zero() -> None:
    """A run's sum adds its own rows: no residue of the large amounts before the window
    (a difference of running totals would leave ~1e-9 where the revenue was 0)."""
    amounts = [1e9 / 3, 7e8 / 3, 0.1, 0.0, 0.0]
    table = pa.table(
        {
            "cid": pa.array([1] * 5, pa.int32()),
            "b": pa.array([24_100, 24_103, 24_106, 24_109, 24_112], pa.int32()),
            "amount": pa.array(amounts, pa.float64()),
        }
    )
    spec = fw.Windowed("src", {"last_6m": fw.total("amount", 6)})
    got = fw.window_columns(table, np.array([1]), np.array([24_112]), spec)
    assert got.field("last_6m").to_pylist() == [0.0]


def test_distinct_counts_past_64_codes_in_one_client_and_width_per_client() -> None:
    """One client with 100 codes needs two words of bits; the width follows the client
    with the most codes, not the book's 5,000."""
    months = np.arange(24_001, 24_101)
    table = pa.table(
        {
            "cid": pa.array([1] * 100 + [2] * 3, pa.int32()),
            "b": pa.array([*months, 24_001, 24_002, 24_003], pa.int32()),
            "source": pa.array([f"code{k}" for k in range(100)] + ["x", "y", "x"]),
        }
    )
    spec = fw.Windowed(
        "src", {"all": fw.Agg("distinct", "source"), "last_12": fw.Agg("distinct", "source", 12)}
    )
    got = fw.window_columns(table, np.array([1, 1, 2]), np.array([24_050, 24_100, 24_003]), spec)
    assert got.field("all").to_pylist() == [50, 100, 2]
    assert got.field("last_12").to_pylist() == [12, 12, 2]
    book = pa.chunked_array([[f"c{k}" for k in range(5000)]])  # 2,500 clients x 2 codes
    words = fw._bits(book, np.repeat(np.arange(2500), 2))
    assert words.shape == (5000, 1)
    assert (np.bitwise_count(words[:, 0]) == 1).all()


def test_rows_without_a_bucket_are_refused() -> None:
    """b 0 (no bucket: a month after the last as-of date) would sort first and be read by
    every all-history window: the rows must be filtered before."""
    table = pa.table({"cid": pa.array([1, 1], pa.int32()), "b": pa.array([0, 24_100], pa.int32())})
    table = table.append_column("x", pa.array([100.0, 1.0]))
    spec = fw.Windowed("src", {"ever": fw.total("x")})
    with pytest.raises(ValueError, match="b > 0"):
        fw.window_columns(table, np.array([1]), np.array([24_100]), spec)


@pytest.mark.parametrize(("inactivity", "dormant"), [(6, 3), (2, 1), (9, 5), (18, 13)])
def test_every_window_is_a_run_of_whole_buckets(inactivity: int, dormant: int) -> None:
    """A window (t - months, t - skip] must start and end on bucket boundaries (every
    as-of month and every window start t - w), or it would take in part of a bucket's
    months. Exception: a one-month window over a month-end value (``*_end``: the value
    at the bucket's last month)."""
    from predict.features.build import FeaturesConfig, _all_ctes, _windows
    from predict.features.lifecycle import LifecycleConfig

    config = FeaturesConfig(
        inactivity_months=inactivity, lifecycle=LifecycleConfig(dormant_months=dormant)
    )
    bounds = {0, *_windows(config).starts}
    checked = 0
    for cte in _all_ctes(config, {"facilities", "facility_balances", "credit_events"}):
        if cte.windowed is None:
            continue
        for spec in cte.windowed.columns.values():
            for agg in (spec.num, spec.den) if isinstance(spec, fw.Ratio) else (spec,):
                assert agg.skip in bounds, (cte.name, agg)
                point = agg.column.endswith("_end") and agg.months == agg.skip + 1
                assert agg.months is None or agg.months in bounds or point, (cte.name, agg)
                checked += 1
    assert checked > 50
