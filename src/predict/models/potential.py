"""Potential value and growth potential, frozen at training of the contribution model into its
``references.json`` under ``potential`` (issue #15 item 4; scoring applies them:
:mod:`predict.scoring.potential`).

Potential value (the expected first-year contribution of a prospect or new client, from
comparable clients when they converted):

- population: the labelled rows of every split (train, valid, test) whose life-cycle stage
  is ``new`` (:mod:`predict.features.lifecycle`: first facility or revenue within
  ``features.lifecycle.new_months``); for each client only its first such as-of date (the
  conversion), so one observation per client, and only when the client was a prospect
  or not yet in the book at the previous as-of date of the splits, one step before
  (:func:`conversions`: the conversion then fell within that step, and the label is about
  the first year); its realised contribution over the horizon (``label_contribution``) is
  the value;
- cell: (segment, industry, size band); the size band is the quantile band of
  ``annual_turnover`` (``size_bands`` bands, edges fitted on that population's turnovers and
  frozen); a row with no segment is left out; no industry or turnover: in its segment only;
- per cell, per segment and for the book: the number of clients ``n`` and the mean;
- shrinkage (:func:`shrink`): a segment with fewer than ``min_clients`` clients gets
  ``w × segment mean + (1 − w) × book mean`` with ``w = n / (n + shrinkage)``; a cell with
  fewer than ``min_clients`` clients gets ``w × cell mean + (1 − w) × its segment's value``
  (shrunk itself, if small); cells and segments with ``min_clients`` or more keep their mean.

Growth potential (clients whose predicted contribution grows most relative to today's):

- ratio = expected contribution over the horizon / max(``revenue_12m`` × H/12, floor), H/12
  being ``train.baseline.revenue_scale``;
- population: the test split's rows in stage ``active`` not in default (``in_default`` not 1),
  with the scoring model's calibrated prediction (its trees out of sample; with the final
  refit, its calibration was fitted on these rows: with ``scale`` or ``identity``
  calibration the factor multiplies the ratio and the threshold alike and the flags do
  not depend on it; with ``linear`` (a + b x) the intercept does change the order);
- floor: the ``floor_quantile`` quantile of the positive ``revenue_12m`` × H/12 of that
  population (a client with little or no revenue would otherwise have an unbounded ratio);
- threshold: the (1 − ``growth_top_share``) quantile of the ratio on that population.

Both are frozen here; scoring never recomputes them from its input.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

FORMAT = "predict.potential/1"
STAGE_NEW = "new"
STAGE_ACTIVE = "active"
LABEL = "label_contribution"


class PotentialReferenceError(ValueError):
    """A potential reference (``references.json`` ``potential``) is malformed."""


class PotentialUnavailable(ValueError):
    """The split cannot support the reference (a column missing, no population): the model
    is trained without it and scoring leaves potential value and growth potential missing."""


@dataclass(frozen=True)
class PotentialConfig:
    """How potential value and growth potential are frozen at training (``train.potential``)."""

    size_bands: int = 3  # annual_turnover quantile bands of the converting clients
    min_clients: int = 30  # a cell or segment with fewer clients is shrunk
    shrinkage: float = 30.0  # k in the weight n / (n + k) of a small cell's own mean
    growth_top_share: float = 0.2  # share of active test-period clients flagged
    floor_quantile: float = 0.1  # revenue floor of the growth ratio (quantile of positive ones)
    watch_default_probability: float = 0.05  # at or above: never growth_potential

    def __post_init__(self) -> None:
        for name, low in (("size_bands", 1), ("min_clients", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"train.potential.{name} must be an integer >= {low}")
        if not (isinstance(self.shrinkage, int | float) and self.shrinkage > 0):
            raise ValueError("train.potential.shrinkage must be a number > 0")
        if not 0.0 < self.growth_top_share < 1.0:
            raise ValueError("train.potential.growth_top_share must be in (0, 1)")
        if not 0.0 <= self.floor_quantile < 1.0:
            raise ValueError("train.potential.floor_quantile must be in [0, 1)")
        if not 0.0 < self.watch_default_probability <= 1.0:
            raise ValueError("train.potential.watch_default_probability must be in (0, 1]")


def shrink(n: int, mean: float, toward: float, config: PotentialConfig) -> float:
    """``mean`` when ``n >= min_clients``; else ``w × mean + (1 − w) × toward``, w = n/(n+k)."""
    if n >= config.min_clients:
        return mean
    w = n / (n + config.shrinkage)
    return w * mean + (1.0 - w) * toward if n else toward


def size_edges(turnover: pd.Series, bands: int) -> list[float]:
    """Inner quantile edges of ``turnover`` (bands − 1 of them, ties merged)."""
    values = pd.to_numeric(turnover, errors="coerce").dropna()
    if values.empty or bands == 1:
        return []
    qs = np.quantile(values.to_numpy("float64"), np.arange(1, bands) / bands)
    return sorted({float(q) for q in qs})


def size_band(turnover: pd.Series, edges: list[float]) -> pd.Series:
    """Band ``b1`` (smallest) ... per row; missing turnover: missing band."""
    values = pd.to_numeric(turnover, errors="coerce").to_numpy("float64")
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), values, side="right") + 1
    out = pd.Series([f"b{i}" for i in idx], index=turnover.index, dtype="str")
    return out.where(~np.isnan(values))


def _month(ts: pd.Series) -> np.ndarray:
    t = pd.to_datetime(ts)
    return (t.dt.year * 12 + t.dt.month).to_numpy(dtype="int64")


def conversions(
    split: Mapping[str, pd.DataFrame], as_of_months: np.ndarray | None = None
) -> pd.DataFrame:
    """Each client's conversion: its first labelled row in stage ``new`` (over all splits)
    at an as-of date t whose previous as-of date t - step is in the splits too (step: the
    smallest gap between the splits' as-of dates), the client being a prospect
    (``potential``) or not yet in the book there. So the first activity fell in the step
    before t and the label, the contribution of the H months after t, is about its first
    year. A client first seen ``new`` after a gap of the splits (the purged periods, or the
    first as-of date) may have converted up to ``features.lifecycle.new_months`` before:
    its label would be a later year's, higher for a growing client (left out).

    ``as_of_months``: the as-of months (year * 12 + month) of the whole split, when ``split``
    holds only some of its rows (the train rows a Dask cluster gathers for it,
    :func:`predict.models.dask_train.potential_rows`); None: those of ``split``."""
    need = ["client_id", "as_of", "lifecycle_stage", "segment", LABEL]
    frames = []
    for name, frame in split.items():
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise PotentialUnavailable(
                f"potential value: the {name} split lacks column(s) {missing}"
            )
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True).sort_values(["client_id", "as_of"], kind="stable")
    rows = rows.loc[rows["as_of"].notna().to_numpy(dtype=bool)]  # a row of no date: no step
    month = _month(rows["as_of"])
    months = np.unique(month) if as_of_months is None else np.asarray(as_of_months, "int64")
    step = int(np.diff(months).min()) if len(months) > 1 else 0
    stage = rows["lifecycle_stage"].astype("str")
    new = rows.loc[(stage.eq(STAGE_NEW) & rows[LABEL].notna()).to_numpy(dtype=bool)]
    first = new.drop_duplicates("client_id", keep="first")
    if not step or first.empty:
        return first.iloc[0:0].reset_index(drop=True)
    at = _month(first["as_of"])
    # each client's stage at each as-of month; then at its as-of month one step earlier
    ids = rows["client_id"].astype("str").to_numpy()
    stage_at = pd.Series(stage.to_numpy(), index=pd.MultiIndex.from_arrays([ids, month]))
    stage_at = stage_at[~stage_at.index.duplicated(keep="last")]
    key = pd.MultiIndex.from_arrays([first["client_id"].astype("str").to_numpy(), at - step])
    then = stage_at.reindex(key)
    was_prospect = (then.isna() | then.eq("potential")).to_numpy(dtype=bool)  # or not in book
    keep = np.isin(at - step, months) & was_prospect
    out = first.loc[keep].reset_index(drop=True)
    log.info(
        "potential value: %d clients first seen new, %d of them converted in the %d months "
        "before (the others after a gap of the splits: left out)",
        len(first), len(out), step,
    )  # fmt: skip
    return out


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="str")
    return frame[column].astype("str").where(frame[column].notna())


def value_table(rows: pd.DataFrame, config: PotentialConfig) -> dict[str, Any]:
    """Book, segment and cell ``n``, ``mean`` and shrunk ``value`` of ``rows`` (conversions)."""
    rows = rows.loc[rows["segment"].notna().to_numpy(dtype=bool)]
    y = pd.to_numeric(rows[LABEL], errors="coerce").astype("float64")
    if rows.empty:
        raise PotentialUnavailable(
            "potential value: no client in stage 'new' with a labelled contribution"
        )
    edges = size_edges(_text_num(rows, "annual_turnover"), config.size_bands)
    frame = pd.DataFrame(
        {
            "segment": _text(rows, "segment"),
            "industry": _text(rows, "industry"),
            "size_band": size_band(_text_num(rows, "annual_turnover"), edges),
            "y": y.to_numpy(),
        }
    )
    book = float(frame["y"].mean())
    segments: dict[str, dict[str, Any]] = {}
    for key, g in frame.groupby("segment", sort=True):
        n, mean = len(g), float(g["y"].mean())
        segments[str(key)] = {"n": n, "mean": mean, "value": shrink(n, mean, book, config)}
    cells = []
    full = frame.dropna(subset=["industry", "size_band"])
    for (seg, ind, band), g in full.groupby(["segment", "industry", "size_band"], sort=True):
        n, mean = len(g), float(g["y"].mean())
        toward = segments[str(seg)]["value"]
        cells.append(
            {
                "segment": str(seg),
                "industry": str(ind),
                "size_band": str(band),
                "n": n,
                "mean": mean,
                "value": shrink(n, mean, toward, config),
            }
        )
    return {
        "book": {"n": len(frame), "mean": book},
        "segments": segments,
        "cells": cells,
        "size_edges": edges,
    }


def _text_num(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def growth_ratio(
    expected: pd.Series | np.ndarray, revenue_12m: pd.Series, scale: float, floor: float
) -> np.ndarray:
    """expected contribution / max(revenue_12m × scale, floor); missing revenue counts as 0."""
    today = _text_num(revenue_12m.to_frame("r"), "r").fillna(0.0).to_numpy() * scale
    return np.asarray(expected, dtype="float64") / np.maximum(today, floor)


def growth_reference(
    test: pd.DataFrame, predicted: np.ndarray, scale: float, config: PotentialConfig
) -> dict[str, Any]:
    """Floor and threshold of the growth ratio on the test split's active, performing rows."""
    for column in ("lifecycle_stage", "revenue_12m"):
        if column not in test.columns:
            raise PotentialUnavailable(f"growth potential: the test split lacks column {column!r}")
    active = test["lifecycle_stage"].astype("str").eq(STAGE_ACTIVE).to_numpy(dtype=bool, copy=True)
    if "in_default" in test.columns:
        active &= ~pd.to_numeric(test["in_default"], errors="coerce").eq(1).to_numpy(dtype=bool)
    active &= ~np.isnan(np.asarray(predicted, dtype="float64"))
    if not active.any():
        raise PotentialUnavailable("growth potential: no active, performing row in the test split")
    today = _text_num(test, "revenue_12m").fillna(0.0).to_numpy()[active] * scale
    positive = today[today > 0]
    if positive.size == 0:
        raise PotentialUnavailable(
            "growth potential: no active test-period client has revenue_12m > 0"
        )
    floor = float(np.quantile(positive, config.floor_quantile))
    ratio = np.asarray(predicted, dtype="float64")[active] / np.maximum(today, floor)
    threshold = float(np.quantile(ratio, 1.0 - config.growth_top_share))
    return {
        "rows": int(active.sum()),
        "revenue_scale": scale,
        "floor": floor,
        "threshold": threshold,
    }


def potential_reference(
    split: Mapping[str, pd.DataFrame],
    predicted_test: np.ndarray,
    scale: float | str,
    config: PotentialConfig,
    *,
    as_of_months: np.ndarray | None = None,
) -> dict[str, Any]:
    """``references.json`` ``potential`` of the contribution model (see the module);
    ``as_of_months``: as for :func:`conversions`."""
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
        raise ValueError(
            f"potential reference: revenue scale H/12 must be a number > 0, got {scale!r} "
            "(resolve train.baseline.revenue_scale first)"
        )
    reference: dict[str, Any] = {
        "format": FORMAT,
        "settings": {
            "size_bands": config.size_bands,
            "min_clients": config.min_clients,
            "shrinkage": float(config.shrinkage),
            "growth_top_share": config.growth_top_share,
            "floor_quantile": config.floor_quantile,
            "watch_default_probability": config.watch_default_probability,
        },
        "value": value_table(conversions(split, as_of_months), config),
        "growth": growth_reference(split["test"], predicted_test, float(scale), config),
    }
    check(reference)
    log.info(
        "potential value: %d converting clients, %d cells; growth threshold %.4g (floor %.4g)",
        reference["value"]["book"]["n"],
        len(reference["value"]["cells"]),
        reference["growth"]["threshold"],
        reference["growth"]["floor"],
    )
    return reference


def check(reference: Any) -> None:
    """Refuse a malformed ``potential`` reference (raises :class:`PotentialReferenceError`)."""
    try:
        assert isinstance(reference, dict) and reference.get("format") == FORMAT, "format"
        value, growth = reference["value"], reference["growth"]
        assert isinstance(value["segments"], dict) and isinstance(value["cells"], list), "value"
        assert all(math.isfinite(float(e)) for e in value["size_edges"]), "size_edges"
        for part in (*value["segments"].values(), *value["cells"]):
            assert int(part["n"]) >= 1 and math.isfinite(float(part["value"])), "value entry"
        for key in ("floor", "threshold", "revenue_scale"):
            assert math.isfinite(float(growth[key])), key
        assert float(growth["floor"]) > 0, "floor"
        assert 0 < float(reference["settings"]["watch_default_probability"]) <= 1, "watch"
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        raise PotentialReferenceError(f"potential reference malformed ({exc})") from exc
