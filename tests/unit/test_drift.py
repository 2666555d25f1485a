"""PSI: zero on identical data, grows with the shift, bins fixed on the reference."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from predict.models.bins import (
    MISSING,
    OTHER,
    Bins,
    DriftReferenceConfig,
    fit_bins,
    fit_frame,
    shares,
)
from predict.scoring.drift import DRIFT_COLUMNS, DriftConfig, compare, level, psi

CFG = DriftConfig()
BINS = DriftReferenceConfig(bins=10)


def _normal(shift: float, n: int = 20_000, seed: int = 0) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(shift, 1.0, n))


def test_psi_is_zero_for_identical_distributions() -> None:
    ref = _normal(0.0)
    bins = fit_bins(ref, "x", BINS)
    assert psi(np.asarray(bins.reference_shares), shares(bins, ref)) == pytest.approx(
        0.0, abs=1e-12
    )


def test_psi_grows_with_the_shift() -> None:
    bins = fit_bins(_normal(0.0), "x", BINS)
    values = [
        psi(np.asarray(bins.reference_shares), shares(bins, _normal(s, seed=1)))
        for s in (0.0, 0.1, 0.3, 0.6, 1.0)
    ]
    assert values[0] < 0.01
    assert all(b > a for a, b in itertools.pairwise(values))
    assert values[-1] > 0.25


def test_bins_are_fixed_on_the_reference_not_on_current_data() -> None:
    ref = _normal(0.0)
    bins = fit_bins(ref, "x", BINS)
    edges_before = bins.edges
    shifted = pd.DataFrame({"x": _normal(3.0, seed=2)})
    compare([bins], shifted, "feature", CFG)
    assert bins.edges == edges_before
    # Reference quantile bins hold ~10% each; the shifted data piles into the top bin.
    assert np.allclose(bins.reference_shares[:-1], 0.1, atol=0.01)
    assert shares(bins, shifted["x"])[-2] > 0.9


def test_a_score_on_a_few_steps_keeps_its_bins_under_last_bit_rounding() -> None:
    # an isotonic-calibrated score: 44% of the book on its lowest step. The same clients
    # scored again, their values rounded differently in the last bits (TreeSHAP's sum at
    # scoring against LightGBM's prediction at training), are the same distribution: PSI 0.
    # With a cut point at the step itself, 1e-16 moved the whole step to the next bin.
    steps = np.array([0.002981260647359455, 0.004947433518862091, 0.0142469, 0.0155807, 0.0374])
    ref = pd.Series(np.repeat(steps, [440, 150, 160, 100, 150]))
    bins = fit_bins(ref, "default_probability", BINS)
    assert not set(bins.edges) & set(steps)  # no cut point on a value of the reference
    assert bins.edges[0] == pytest.approx((steps[0] + steps[1]) / 2)
    for ulps in (-3, 3, 800):  # 800 ulps: the 0.002981260647359815 seen at scoring
        again = pd.Series(ref.to_numpy() + ulps * np.spacing(ref.to_numpy()))
        np.testing.assert_array_equal(shares(bins, again), np.asarray(bins.reference_shares))
    assert bins.reference_shares[0] == pytest.approx(0.44)


def test_cut_points_lie_in_the_gaps_between_reference_values() -> None:
    # counts 0..4: the deciles fall on the values; each cut moves to the middle of the gap
    # above its value, the bins (edge[i-1], edge[i]] hold the same rows as before
    ref = pd.Series([0, 0, 0, 0, 1, 1, 2, 2, 3, 4] * 10, dtype="float64")
    bins = fit_bins(ref, "n", BINS)
    assert bins.edges == (0.5, 1.5, 2.5, 3.5)
    assert bins.reference_shares == pytest.approx((0.4, 0.2, 0.2, 0.1, 0.1, 0.0))


def test_missing_values_have_their_own_bin() -> None:
    ref = pd.Series([1.0, 2.0, 3.0, np.nan] * 50)
    bins = fit_bins(ref, "x", BINS)
    assert bins.labels[-1] == MISSING
    assert bins.reference_shares[-1] == pytest.approx(0.25)
    all_missing = pd.Series([np.nan] * 10)
    assert shares(bins, all_missing)[-1] == pytest.approx(1.0)
    assert psi(np.asarray(bins.reference_shares), shares(bins, all_missing)) > 0.25


def test_categorical_bins_pool_rare_and_unseen_values_into_other() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20, dtype="str")
    bins = fit_bins(ref, "seg", DriftReferenceConfig(max_categories=2))
    assert bins.kind == "categorical"
    assert bins.categories == ("a", "b")
    assert bins.labels == ("a", "b", OTHER, MISSING)
    cur = pd.Series(["a", "zz", None, "c"], dtype="str")
    assert shares(bins, cur).tolist() == [0.25, 0.0, 0.5, 0.25]


def test_compare_reports_every_reference_column_and_levels() -> None:
    ref = pd.DataFrame({"x": _normal(0.0), "y": _normal(0.0, seed=3)})
    cur = pd.DataFrame({"x": _normal(0.0, seed=4), "z": _normal(0.0)})  # y absent
    out = compare(fit_frame(ref, ["x", "y"], BINS), cur, "feature", CFG)
    assert tuple(out.columns) == DRIFT_COLUMNS
    assert out["variable"].tolist() == ["x", "y"]
    by = out.set_index("variable")
    assert by.loc["x", "level"] == "ok"
    assert by.loc["y", "level"] == "alert"  # absent column = all missing
    assert by.loc["y", "current_missing_share"] == 1.0


def test_levels_follow_thresholds() -> None:
    assert [level(v, CFG) for v in (0.05, 0.1, 0.2, 0.25, float("nan"))] == [
        "ok",
        "warning",
        "warning",
        "alert",
        "n/a",
    ]


def test_bins_round_trip_through_plain_data() -> None:
    bins = fit_bins(_normal(0.0), "x", BINS)
    assert Bins.from_dict(bins.to_dict()) == bins
