"""The train split on a Dask cluster: read by the workers, a row group per task, never whole
on the driver (``predict train --scheduler``, docs/scaling.md).

The train set (clients x every training as-of date) is the largest input of training. On
the cluster path :func:`read_train` makes it a ``dask.dataframe`` whose partitions are the
row groups of ``train.parquet`` (written at most ``split.row_group_rows`` rows each,
:mod:`predict.models.split`), each read by a worker with pyarrow exactly as
``pandas.read_parquet`` reads the whole file (same dtypes, rows in file order). The valid
and test sets (one as-of date each) stay on the driver.

Everything the single-machine run computes from the train frame comes from reductions
over the partitions, equal to it (tested, ``tests/unit/test_dask_train.py``):

- the labelled rows of a target (``label_<target>`` not missing), per partition;
- the category levels of :meth:`predict.models.store.FeatureSpec.from_frame`: the sorted
  union of each partition's set of strings (the dtypes come from the file's schema, the
  same for every row group), so every partition's matrix has the same levels;
- the train window (first and last as-of, labelled rows), the feature ranges (min and max of
  the finite values: min and max of the partitions' min and max), whether the default
  status was known, the label counts the skip rule and ``lgb_params`` read (0/1 counts;
  for contribution, the negatives clipped), the population counts (clients: Dask's
  ``nunique``, a tree reduction on the workers), the refit's labelled rows;
- the drift reference's rows (:func:`drift_sample`): the very rows ``DataFrame.sample``
  draws on one machine (the same positions from the same seed, :func:`sample_positions`),
  gathered on the driver in the same order, so the bins are computed by the same code on
  the same values: exact. The driver holds at most ``train.drift_reference.max_rows`` rows
  of the model's features (the reference's own bound), not the train set;
- the potential value's rows (:func:`potential_rows`): the rows of stage ``new`` with a
  contribution label, and the rows at the as-of date one step before them of the same
  clients (a small share of the train set), in file order; with the as-of months of the
  whole set, :func:`predict.models.potential.conversions` then finds the same conversions;
- the baseline (churn, default: a logistic regression fitted on the labelled train rows):
  its fit needs the rows themselves (an exact distributed Newton fit would not give the
  same bits as scikit-learn's), so it runs as one task on a worker, which gathers the
  labelled rows' features in file order and fits and predicts exactly as one machine
  (:func:`baseline_predictions`): the driver never holds them, one worker does (the
  carry-forward baseline of contribution fits nothing).

The booster is fitted by ``lightgbm.dask`` on partitions built with ``map_partitions``
(:func:`booster_inputs`): the matrix of :meth:`FeatureSpec.matrix` (the spec's levels in
every partition), the fitted label and the offset. Partitions with no labelled row are
left out (LightGBM's Dask estimators need rows in each part they get).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from predict.models.bins import DriftReferenceConfig

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

    from predict.models.baselines import Baseline
    from predict.models.offset import Offset
    from predict.models.store import FeatureSpec

log = logging.getLogger(__name__)

POSITION = "_position"  # a row's position in train.parquet (gathered rows)


def read_row_group(path: str, group: int) -> pd.DataFrame:
    """Row group ``group`` of the Parquet file ``path`` as pandas reads the file (on a worker)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group).to_pandas()


@dataclass(frozen=True)
class TrainSource:
    """``train.parquet`` as a Dask collection: one partition per row group, and the row
    counts of the row groups (from the file's footer: no row is read on the driver)."""

    path: Path
    frame: dd.DataFrame
    group_rows: tuple[int, ...]

    @property
    def rows(self) -> int:
        return sum(self.group_rows)

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    @property
    def offsets(self) -> np.ndarray:
        """Position in the file of each partition's first row."""
        return np.concatenate([[0], np.cumsum(self.group_rows[:-1], dtype="int64")]).astype("int64")


def as_read() -> AbstractContextManager[Any]:
    """Dask's settings under which a collection made of pandas frames keeps their dtypes:
    without it Dask turns text columns into ``string[pyarrow]``, which would give the
    category levels and matrices other values than one machine's frames."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def read_train(path: str | os.PathLike[str]) -> TrainSource:
    """``path`` (``data/split/train.parquet``) as a Dask collection read by the workers, a
    row group per partition; the driver reads only its footer (schema, row counts). The
    workers must reach ``path`` (a shared file system), as for scoring from a dataset."""
    import dask.dataframe as dd
    import pyarrow.parquet as pq

    file = Path(path).resolve()  # the workers' working folder may not be ours
    if not file.is_file():
        raise FileNotFoundError(f"train split {file} missing")
    parquet = pq.ParquetFile(file)
    groups = tuple(parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups))
    if not groups:
        raise ValueError(f"train split {file}: no row group (an empty file)")
    meta = parquet.schema_arrow.empty_table().to_pandas()
    with as_read():  # the partitions' dtypes are pandas' own (no conversion of strings)
        frame = dd.from_map(
            read_row_group,
            [str(file)] * len(groups),
            list(range(len(groups))),
            meta=meta,
            enforce_metadata=False,
            label="read-train-row-group",
        )
    log.info("train split %s: %d rows in %d row groups (read by the workers)",
             file, sum(groups), len(groups))  # fmt: skip
    return TrainSource(file, frame, groups)


def _meta(frame: dd.DataFrame) -> pd.DataFrame:
    return frame._meta


def _labelled(part: pd.DataFrame, label: str) -> pd.DataFrame:
    return part.loc[part[label].notna()]


def labelled(frame: dd.DataFrame, label: str, period: str = "train") -> dd.DataFrame:
    """The rows of ``frame`` with a defined ``label``, per partition (in file order)."""
    if label not in frame.columns:
        raise KeyError(f"{period} split: no label column {label!r}")
    return frame.map_partitions(_labelled, label, meta=_meta(frame))


@dataclass(frozen=True)
class LabelledFacts:
    """What training reads from the labelled train rows of one target (see the module)."""

    parts: tuple[int, ...]  # labelled rows per partition
    first_as_of: pd.Timestamp | None
    last_as_of: pd.Timestamp | None
    categories: dict[str, tuple[str, ...]]  # sorted levels of each categorical feature
    ranges: dict[str, tuple[float, float]]  # finite min and max of each numeric feature
    label_counts: dict[float, int]  # binary targets: rows per label value
    negatives: tuple[int, float]  # contribution: negative labels (count, sum)
    status_known: bool  # in_default is a column with a value

    @property
    def rows(self) -> int:
        return sum(self.parts)

    def window(self) -> dict[str, Any]:
        """The ``train_window`` of a bundle's metadata (as ``training._window``)."""
        if self.first_as_of is None or self.last_as_of is None:
            raise ValueError("the train window of no labelled row")
        return {
            "from": str(self.first_as_of.date()),
            "to": str(self.last_as_of.date()),
            "rows": self.rows,
        }


def _part_facts(
    part: pd.DataFrame,
    label: str,
    categorical: Sequence[str],
    numeric: Sequence[str],
    binary: bool,
) -> dict[str, Any]:
    from predict.models.store import FeatureSpec, _as_strings

    rows = part.loc[part[label].notna()]
    as_of = pd.to_datetime(rows["as_of"])
    y = rows[label].to_numpy("float64")
    ranges: dict[str, tuple[float, float]] = {}
    for name in numeric:
        values = FeatureSpec._numeric(name, rows[name])
        values = values[np.isfinite(values)]
        if len(values):
            ranges[name] = (float(values.min()), float(values.max()))
    values_, counts = np.unique(y, return_counts=True) if binary else ((), ())
    return {
        "rows": len(rows),
        "first": as_of.min() if len(rows) else None,
        "last": as_of.max() if len(rows) else None,
        "levels": {n: set(_as_strings(rows[n]).dropna().unique()) for n in categorical},
        "ranges": ranges,
        "counts": {float(v): int(c) for v, c in zip(values_, counts, strict=True)},
        "negatives": (int((y < 0).sum()), float(y[y < 0].sum())),
        "status": bool("in_default" in rows and rows["in_default"].notna().any()),
    }


def labelled_facts(
    source: dd.DataFrame, label: str, names: Sequence[str], binary: bool, client: Client
) -> tuple[FeatureSpec, LabelledFacts]:
    """The feature spec (levels from the labelled rows) and the facts of ``label``'s labelled
    rows of ``source``, in one pass over the partitions on the workers."""
    import dask

    from predict.models.store import FeatureSpec

    if label not in source.columns:
        raise KeyError(f"train split: no label column {label!r}")
    dtypes = FeatureSpec.from_frame(_meta(source), tuple(names))  # dtype checks, on the schema
    categorical = list(dtypes.categories)
    numeric = [n for n in names if n not in dtypes.categories]
    parts = [
        dask.delayed(_part_facts)(p, label, categorical, numeric, binary)
        for p in source.to_delayed()
    ]
    results: list[dict[str, Any]] = client.compute(parts, sync=True)
    firsts = [r["first"] for r in results if r["first"] is not None]
    lasts = [r["last"] for r in results if r["last"] is not None]
    ranges: dict[str, tuple[float, float]] = {}
    for name in numeric:
        found = [r["ranges"][name] for r in results if name in r["ranges"]]
        if found:
            ranges[name] = (min(f[0] for f in found), max(f[1] for f in found))
    counts: dict[float, int] = {}
    for r in results:
        for value, n in r["counts"].items():
            counts[value] = counts.get(value, 0) + n
    levels = {
        n: tuple(sorted(set().union(*(r["levels"][n] for r in results)))) for n in categorical
    }
    spec = FeatureSpec(names=tuple(names), categories=levels)
    facts = LabelledFacts(
        parts=tuple(int(r["rows"]) for r in results),
        first_as_of=min(firsts) if firsts else None,
        last_as_of=max(lasts) if lasts else None,
        categories=levels,
        ranges=ranges,
        label_counts=dict(sorted(counts.items())),
        negatives=(
            sum(r["negatives"][0] for r in results),
            float(sum(r["negatives"][1] for r in results)),
        ),
        status_known=any(r["status"] for r in results),
    )
    return spec, facts


def _matrix(part: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    return spec.matrix(part)


def _fitted_label(part: pd.DataFrame, label: str, transform: str) -> pd.Series:
    from predict.models.training import transform_labels

    y = transform_labels(part[label].to_numpy("float64"), transform)
    return pd.Series(y, index=part.index, name="label")


def _offset(part: pd.DataFrame, offset: Offset) -> pd.Series:
    return pd.Series(offset.values(part), index=part.index, name="init_score", dtype="float64")


def booster_inputs(
    rows: dd.DataFrame,
    parts: Sequence[int],
    spec: FeatureSpec,
    label: str,
    transform: str,
    offset: Offset | None,
) -> tuple[dd.DataFrame, dd.Series, dd.Series | None]:
    """``lightgbm.dask``'s X, y and init_score of the labelled ``rows`` (``parts``: their rows
    per partition; the empty partitions are left out), partition by partition."""
    keep = [i for i, n in enumerate(parts) if n > 0]
    if not keep:
        raise ValueError(f"{label}: no labelled training row")
    rows = rows.partitions[keep]
    meta = _meta(rows)
    x = rows.map_partitions(_matrix, spec, meta=spec.matrix(meta))
    y = rows.map_partitions(
        _fitted_label, label, transform, meta=pd.Series(dtype="float64", name="label")
    )
    init = (
        None
        if offset is None
        else rows.map_partitions(
            _offset, offset, meta=pd.Series(dtype="float64", name="init_score")
        )
    )
    return x, y, init


def population_entry(
    frame: dd.DataFrame, target: str, label: str, client: Client
) -> dict[str, Any]:
    """``population_block``'s entry of a set held as a Dask collection (the same counts)."""
    known = frame[label].notnull()
    counts: dict[str, Any] = {
        "rows": known.sum(),
        "clients": frame["client_id"][known].nunique(),
        "rows_unlabelled": (~known).sum(),
    }
    if target != "contribution" and "in_default" in frame.columns:
        counts["rows_in_default"] = frame["in_default"].eq(1).sum()
    if target == "default" and "has_exposure" in frame.columns:
        counts["rows_without_exposure"] = frame["has_exposure"].eq(0).sum()
    keys = list(counts)
    results = client.compute([counts[k] for k in keys], sync=True)
    return {k: int(v) for k, v in zip(keys, results, strict=True)}


def label_counts(
    frame: dd.DataFrame, label: str, binary: bool, client: Client
) -> tuple[int, dict[float, int]]:
    """The defined labels of ``frame``: their count and, for a binary target, the rows per
    value (what :func:`predict.models.skipped.untrainable` reads)."""
    known = frame[label].dropna()
    if not binary:
        return int(client.compute(known.count(), sync=True)), {}
    counts = client.compute(known.value_counts(), sync=True)
    values = {float(v): int(n) for v, n in sorted(counts.items())}
    return sum(values.values()), values


def label_mean(frame: dd.DataFrame, label: str, client: Client) -> float:
    """The mean of the defined ``label`` of ``frame`` (of 0/1 labels: the sum is a whole
    number, so this is pandas' ``mean`` to the bit)."""
    known = frame[label].dropna()
    total, count = client.compute([known.sum(), known.count()], sync=True)
    return float(float(total) / int(count))


def sample_positions(rows: int, config: DriftReferenceConfig) -> np.ndarray | None:
    """The positions of the rows :func:`predict.models.bins.sample_rows` keeps of a frame of
    ``rows`` rows, in its order (``DataFrame.sample``: ``RandomState(seed).choice`` without
    replacement); None when it keeps them all."""
    if rows <= config.max_rows:
        return None
    state = np.random.RandomState(config.seed)
    return state.choice(rows, size=config.max_rows, replace=False).astype(np.intp, copy=False)


def _rows_at(
    part: pd.DataFrame, offset: int, positions: np.ndarray | None, columns: Sequence[str]
) -> pd.DataFrame:
    index = np.arange(offset, offset + len(part), dtype="int64")
    out = part[list(columns)].set_axis(index, axis=0)
    if positions is None:
        return out
    inside = positions[(positions >= offset) & (positions < offset + len(part))]
    return out.loc[np.sort(inside)]


def drift_sample(
    source: TrainSource, names: Sequence[str], config: DriftReferenceConfig, client: Client
) -> pd.DataFrame:
    """The train rows :func:`predict.models.references.drift_reference` bins on one machine
    (every row, or the seeded sample of ``config.max_rows``), with the columns ``names`` and
    ``as_of``, in the same order and with the same index (their positions in the file)."""
    import dask

    missing = [n for n in names if n not in source.columns]
    if missing:
        raise KeyError(f"drift reference: feature(s) {missing} not in the train split")
    columns = [*names, *(["as_of"] if "as_of" in source.columns else [])]
    positions = sample_positions(source.rows, config)
    tasks = [
        dask.delayed(_rows_at)(part, int(offset), positions, columns)
        for part, offset in zip(source.frame.to_delayed(), source.offsets, strict=True)
    ]
    rows = pd.concat(client.compute(tasks, sync=True))
    return rows if positions is None else rows.loc[positions]


def _potential_part(
    part: pd.DataFrame, offset: int, columns: Sequence[str], keys: pd.MultiIndex | None
) -> tuple[set[int], pd.DataFrame]:
    from predict.models.potential import LABEL, STAGE_NEW, _month

    index = np.arange(offset, offset + len(part), dtype="int64")
    part = part.set_axis(index, axis=0)
    part = part.loc[part["as_of"].notna().to_numpy(dtype=bool)]
    month = _month(part["as_of"])
    if keys is None:  # pass 1: the months, and the labelled rows of stage new
        new = part["lifecycle_stage"].astype("str").eq(STAGE_NEW) & part[LABEL].notna()
        return set(np.unique(month).tolist()), part.loc[new.to_numpy(dtype=bool), list(columns)]
    at = pd.MultiIndex.from_arrays([part["client_id"].astype("str").to_numpy(), month])
    return set(), part.loc[at.isin(keys), list(columns)]


def _new_rows(frame: pd.DataFrame) -> pd.DataFrame:
    from predict.models.potential import LABEL, STAGE_NEW

    rows = frame.loc[frame["as_of"].notna().to_numpy(dtype=bool)]
    new = rows["lifecycle_stage"].astype("str").eq(STAGE_NEW) & rows[LABEL].notna()
    return rows.loc[new.to_numpy(dtype=bool)]


def potential_rows(
    source: TrainSource, others: Mapping[str, pd.DataFrame], client: Client
) -> tuple[pd.DataFrame, np.ndarray]:
    """The train rows :func:`predict.models.potential.conversions` needs, in file order, and
    the as-of months of the whole split (``as_of_months``): every labelled row of stage
    ``new`` and every row of a client at the month one step (the smallest gap between the
    split's as-of months) before a labelled ``new`` row of that client in any set. The
    conversions of these rows (with ``others``, the valid and test sets) are those of the
    whole train set. A column ``conversions`` needs that the train split lacks is left out,
    so it refuses the train split with the same message."""
    import dask

    from predict.models.potential import LABEL, _month

    need = ["client_id", "as_of", "lifecycle_stage", "segment", LABEL]
    if any(c not in source.columns for c in need):  # conversions says which
        return _meta(source.frame)[[c for c in source.columns if c in need]], np.array([])
    extra = [c for c in source.columns if c not in need and c in ("annual_turnover", "industry")]
    columns = [*need, *extra]
    offsets = [int(o) for o in source.offsets]
    parts = source.frame.to_delayed()
    first = client.compute(
        [
            dask.delayed(_potential_part)(p, o, columns, None)
            for p, o in zip(parts, offsets, strict=True)
        ],
        sync=True,
    )
    months = set().union(*(m for m, _ in first))
    candidates = [rows for _, rows in first]
    for frame in others.values():  # a set lacking a column: conversions refuses it
        if all(c in frame.columns for c in need):
            dated = frame.loc[frame["as_of"].notna().to_numpy(dtype=bool)]
            months |= set(np.unique(_month(dated["as_of"])).tolist())
    all_months = np.array(sorted(months), dtype="int64")
    step = int(np.diff(all_months).min()) if len(all_months) > 1 else 0
    complete = [f for f in others.values() if all(c in f.columns for c in need)]
    new = pd.concat([*candidates, *(_new_rows(f) for f in complete)])
    keys = pd.MultiIndex.from_arrays(
        [new["client_id"].astype("str").to_numpy(), _month(new["as_of"]) - step]
    ).unique()
    second = client.compute(
        [
            dask.delayed(_potential_part)(p, o, columns, keys)
            for p, o in zip(parts, offsets, strict=True)
        ],
        sync=True,
    )
    rows = pd.concat([*candidates, *(r for _, r in second)])
    rows = rows.loc[~rows.index.duplicated()].sort_index()
    log.info("potential value: %d of the %d train rows gathered for the conversions",
             len(rows), source.rows)  # fmt: skip
    return rows, all_months


def _fit_predict_baseline(
    parts: Sequence[pd.DataFrame],
    baseline: Baseline,
    target: str,
    valid: pd.DataFrame,
    test: pd.DataFrame,
) -> np.ndarray:
    from predict.models.training import LABEL_PREFIX, labelled_rows

    label = LABEL_PREFIX + target
    train = labelled_rows(pd.concat(parts, ignore_index=True), target, "train")
    baseline.fit(train, train[label].to_numpy("float64"), valid, valid[label].to_numpy("float64"))
    return baseline.predict(test)


def baseline_predictions(
    source: dd.DataFrame,
    baseline: Baseline,
    spec: FeatureSpec,
    target: str,
    valid: pd.DataFrame,
    test: pd.DataFrame,
    client: Client,
) -> np.ndarray:
    """``baseline`` fitted on the labelled train rows of ``source`` (and ``valid``) and its
    predictions of ``test``, in one task on a worker: the labelled rows' keys, label and
    features gathered there in file order, then exactly the single machine's fit."""
    import dask

    from predict.models.training import LABEL_PREFIX

    label = LABEL_PREFIX + target
    columns = list(dict.fromkeys(["as_of", "client_id", label, *spec.names]))
    rows = labelled(source, label)[columns]
    task = dask.delayed(_fit_predict_baseline)(rows.to_delayed(), baseline, target, valid, test)
    return np.asarray(client.compute(task, sync=True), dtype="float64")


__all__ = [
    "LabelledFacts",
    "TrainSource",
    "baseline_predictions",
    "booster_inputs",
    "drift_sample",
    "label_counts",
    "label_mean",
    "labelled",
    "labelled_facts",
    "population_entry",
    "potential_rows",
    "read_train",
    "sample_positions",
]
