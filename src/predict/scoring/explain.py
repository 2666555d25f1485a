"""Per-client SHAP explanations of the LightGBM models, and their long Parquet form.

:func:`contributions` is TreeSHAP (path-dependent, exact for trees): one value per feature
plus a base value (the expected raw output); per row they sum to the model's raw output
(log-odds for the classifiers; the regression's own scale for contribution):
``contributions(X).sum(axis=1) == booster.predict(X, raw_score=True)``. Two engines give the
same values (``score.shap_engine``): ``tables`` (default), :mod:`predict.scoring.treeshap`,
per-leaf tables precomputed once per model (FastTreeSHAP v2), several times faster per row;
``lightgbm``, LightGBM's own ``Booster.predict(pred_contrib=True)``, also used for a model
whose tables would exceed ``score.shap_table_mib`` or that the tables do not read (stated in
the log). The values are those of ``shap.TreeExplainer`` (the ``shap`` library is the tests'
oracle, not a dependency of this package).

A model with an offset (the contribution model's recent revenue carried forward,
:mod:`predict.models.offset`) adds it to the booster's raw output; SHAP values do not include
it, so :class:`Explained` carries it per row and the long table gives it a row of its own
(:data:`OFFSET_FEATURE`): base + SHAP values + offset = the raw score the output is mapped from.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from predict.io import atomic_path

log = logging.getLogger(__name__)

SHAP_ENGINES = ("tables", "lightgbm")
DEFAULT_TABLE_MIB = 256.0  # score.shap_table_mib: leaf tables per model, MiB

EXPLANATION_SCHEMA = pa.schema(
    [
        ("client_id", pa.string()),
        ("as_of", pa.date32()),
        ("target", pa.dictionary(pa.int32(), pa.string())),
        ("feature", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.string()),
        ("shap", pa.float64()),
    ]
)


@dataclass(frozen=True)
class Explained:
    """One target's scores and SHAP values for a chunk of clients.

    ``values`` are the clients' own feature values (as given, before casting for the model),
    ``present`` marks the cells the model saw as a value (False where missing, where the
    feature was absent from the data, or where a category was unseen in training).
    ``shap`` is (n, f) in raw units, ``base`` the base value, ``raw = shap.sum(1) + base``
    and ``to_output`` maps a raw margin to the model's output (calibrated). ``absent``: the
    features the data did not give at all (added as missing for the model; the reasons never
    cite them, since a missing value there says nothing about the client).
    """

    target: str
    features: tuple[str, ...]
    values: pd.DataFrame
    present: np.ndarray
    shap: np.ndarray
    base: np.ndarray
    to_output: Callable[[np.ndarray], np.ndarray]
    absent: frozenset[str] = frozenset()
    offset: np.ndarray | None = None  # per row, the model's offset (None: the model has none)

    @property
    def raw(self) -> np.ndarray:
        """base + SHAP values (+ offset): the raw score ``to_output`` maps."""
        raw = self.shap.sum(axis=1) + self.base
        if self.offset is not None:
            raw = raw + self.offset
        return np.asarray(raw, dtype="float64")


def explain_matrix(
    target: str,
    booster: lgb.Booster,
    X: pd.DataFrame,
    values: pd.DataFrame,
    to_output: Callable[[np.ndarray], np.ndarray],
    absent: frozenset[str] = frozenset(),
    offset: np.ndarray | None = None,
    engine: str = "tables",
    table_mib: float = DEFAULT_TABLE_MIB,
) -> Explained:
    """TreeSHAP of the model input ``X``; ``values`` are the same rows' own values;
    ``absent``: features the data did not give; ``offset``: the model's offset per row
    (see :class:`Explained`); ``engine`` and ``table_mib``: see :func:`contributions`."""
    contrib = contributions(booster, X, engine, table_mib)
    present = X.notna().to_numpy()
    return Explained(
        target=target,
        features=tuple(str(c) for c in X.columns),
        values=values,
        present=present,
        shap=contrib[:, :-1],
        base=contrib[:, -1],
        to_output=to_output,
        absent=absent,
        offset=None if offset is None else np.asarray(offset, dtype="float64"),
    )


def contributions(
    booster: lgb.Booster,
    X: pd.DataFrame,
    engine: str = "tables",
    table_mib: float = DEFAULT_TABLE_MIB,
) -> np.ndarray:
    """TreeSHAP of every row: shape (n, n_features + 1), the last column the base value.

    ``engine``: ``tables`` (precomputed leaf tables, at most ``table_mib`` MiB per model, else
    LightGBM for that model) or ``lightgbm`` (``pred_contrib``); equal values either way.
    """
    if engine not in SHAP_ENGINES:
        raise ValueError(f"SHAP engine must be one of {SHAP_ENGINES}, got {engine!r}")
    if engine == "tables":
        from predict.scoring import treeshap  # numba: imported when first used

        tables = treeshap.tables_for(booster, int(table_mib * 2**20))
        if not isinstance(tables, str):
            return treeshap.explain(tables, treeshap.numeric_matrix(booster, X))
    out = booster.predict(X, pred_contrib=True)
    return np.asarray(out, dtype="float64")


def keep_mask(shap_values: np.ndarray, top_k: int) -> np.ndarray:
    """Cells kept in the long explanations: non-zero and, if ``top_k`` > 0, the top-k by |shap|."""
    nonzero = shap_values != 0.0
    f = shap_values.shape[1]
    if top_k <= 0 or top_k >= f:
        return nonzero
    mag = np.abs(shap_values)
    top = np.argpartition(-mag, top_k - 1, axis=1)[:, :top_k]
    mask = np.zeros_like(nonzero)
    np.put_along_axis(mask, top, True, axis=1)
    return mask & nonzero


def value_strings(values: pd.DataFrame) -> list[pa.Array]:
    """Each column of ``values`` as an Arrow string array (null where missing)."""
    out = []
    for name in values.columns:
        col = values[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            arr = pa.array(col.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
            out.append(pc.cast(arr, pa.string()))
        else:
            text = pa.array(col.astype("str"), from_pandas=True)
            out.append(pc.cast(text, pa.string()))
    return out


BASE_FEATURE = "(base)"
OFFSET_FEATURE = "(recent revenue carried forward)"


def long_table(
    client_ids: Sequence[str] | pd.Series,
    as_of: pd.Timestamp,
    target: str,
    values: pd.DataFrame,
    shap_values: np.ndarray,
    top_k: int = 0,
    base: np.ndarray | None = None,
    offset: tuple[np.ndarray, pd.Series] | None = None,
) -> pa.Table:
    """Long explanations of one chunk and one target: a row per (client, kept feature).

    With ``base``, each client also gets a row whose feature is :data:`BASE_FEATURE` (value
    null, shap the base value), so that a client's rows sum to the model's raw output. With
    ``offset`` (each row's offset and the values of the feature it is computed from), each
    client also gets a row :data:`OFFSET_FEATURE` (value: that feature's value, shap: the
    offset), which the sum then includes.
    """
    n, f = shap_values.shape
    if values.shape != (n, f):
        raise ValueError(f"values {values.shape} and shap values {(n, f)} differ in shape")
    mask = keep_mask(shap_values, top_k)
    columns = [str(c) for c in values.columns]
    strings = value_strings(values)
    if base is not None:
        mask = np.column_stack([mask, np.ones(n, dtype=bool)])
        shap_values = np.column_stack([shap_values, base])
        columns.append(BASE_FEATURE)
        strings.append(pa.nulls(n, type=pa.string()))
    if offset is not None:
        mask = np.column_stack([mask, np.ones(n, dtype=bool)])
        shap_values = np.column_stack([shap_values, offset[0]])
        columns.append(OFFSET_FEATURE)
        strings.extend(value_strings(offset[1].to_frame()))
    rows, cols = np.nonzero(mask)
    flat_values = pa.chunked_array(strings, type=pa.string()).combine_chunks()
    ids = pa.array(np.asarray(client_ids, dtype=object), type=pa.string())
    names = pa.array(columns, type=pa.string())
    k = len(rows)
    return pa.Table.from_arrays(
        [
            ids.take(pa.array(rows)),
            pa.array(np.full(k, pd.Timestamp(as_of).date()), type=pa.date32()),
            pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(k, dtype="int32")), pa.array([target], type=pa.string())
            ),
            pa.DictionaryArray.from_arrays(pa.array(cols.astype("int32")), names),
            flat_values.take(pa.array(cols.astype("int64") * n + rows)),
            pa.array(shap_values[rows, cols], type=pa.float64()),
        ],
        schema=EXPLANATION_SCHEMA,
    )


class ExplanationWriter:
    """Append long explanation chunks to one Parquet file; the file appears only on success."""

    def __init__(
        self, path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
    ) -> None:
        self.path = Path(path)
        self.rows = 0
        extra = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
        self.schema = EXPLANATION_SCHEMA.with_metadata(extra) if extra else EXPLANATION_SCHEMA
        self._ctx = atomic_path(self.path)
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ExplanationWriter:
        tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(tmp, self.schema, compression="zstd")
        return self

    def write(self, table: pa.Table) -> None:
        assert self._writer is not None, "use ExplanationWriter as a context manager"
        self._writer.write_table(table.cast(self.schema))
        self.rows += table.num_rows

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()
        self._ctx.__exit__(exc_type, exc, tb)


def output_impact(
    raw: np.ndarray, shap_values: np.ndarray, to_output: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Approximate impact of each contribution on the model's final output.

    ``to_output(raw) - to_output(raw - shap)``: how the calibrated probability (or expected
    amount) would move if that feature's contribution were taken away, all others kept. For a
    classifier this turns log-odds into probability points; it is an approximation (the
    impacts of several features do not add up exactly to the probability, since the link is
    not linear), stated as such wherever shown.
    """
    raw = np.asarray(raw, dtype="float64").reshape(-1, 1)
    now = to_output(raw.ravel()).reshape(-1, 1)
    without = to_output((raw - shap_values).ravel()).reshape(shap_values.shape)
    return np.asarray(now - without, dtype="float64")
