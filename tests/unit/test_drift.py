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
