"""The numpy window step (predict.feature_windows) against a brute force with SQL semantics."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pyarrow as pa
import pytest

from predict import feature_windows as fw


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
    assert isinstance(got.field("latest").to_pylist()[0], dt.date | None)


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
