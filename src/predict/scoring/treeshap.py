"""Exact path-dependent TreeSHAP of a LightGBM booster from precomputed leaf tables.

The values are those of LightGBM's ``Booster.predict(pred_contrib=True)`` (the
tree-path-dependent TreeSHAP of Lundberg et al., 2020), computed the way FastTreeSHAP v2
does (Yang, 2021): work that depends only on the tree is done once per model, so that each
row costs one pass over the tree's nodes plus one table look-up per (leaf, path feature).

The definition, per tree and leaf ``l`` with value ``v``: the leaf's path from the root
splits on the set ``D`` of distinct features (``d = |D|``). For a path feature ``j``, ``z_j``
is the product over the path's splits on ``j`` of ``count(child) / count(node)`` (the share
of training rows that went that way; LightGBM's ``internal_count`` / ``leaf_count``), and a
row is *hot* on ``j`` when it goes the path's way at every split on ``j`` (LightGBM's own
decision rule: missing-value direction, categorical sets). With ``H`` the row's hot set and
the Shapley weight ``w(s) = s! (d - s - 1)! / d!``, the leaf's table is, for every
``H`` (2^d entries)::

    B(H) = v * sum over S subset of H of  w(|S|) * prod over j in D minus S of z_j

and the leaf's part of the SHAP value of a path feature ``i`` is ``(o_i / z_i - 1) B(H - {i})``
with ``o_i = 1`` when the row is hot on ``i`` and 0 when not (then ``H - {i} = H`` and the
part is ``-B(H)``). A row's SHAP value of a feature is
the sum of these parts over the trees' leaves whose path splits on it; the base value is
the sum over trees of ``sum_l v_l count_l / count_root`` (the expected raw output), and
per row base + values equal the raw score.

Memory: ``sum over leaves of 2^d`` float64 per model. :func:`model_tables` refuses (returns
None, with the reason) a model whose tables would exceed a cap, or that this module does not
read (linear trees, several trees per iteration, averaged output, a zero count on a path):
callers then use LightGBM's ``pred_contrib`` for that model.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numba
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def _jit(**options: Any) -> Any:
    """``numba.njit`` with an on-disk cache of the compiled code when numba can place one
    (beside this file or in the user's cache folder), else compiled once per process."""

    def wrap(func: Any) -> Any:
        try:
            return numba.njit(cache=True, nogil=True, **options)(func)
        except RuntimeError:  # numba: no writable cache location
            return numba.njit(cache=False, nogil=True, **options)(func)

    return wrap


MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}
ROW_BLOCK = 32  # rows taken through one tree at a time (cache locality)
MAX_PATH_FEATURES = 40  # distinct features on one path: bit sets in int64, tables 2^d
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: |x| <= this is "zero" for missing_type Zero


@dataclass(frozen=True)
class ModelTables:
    """A booster's trees as flat arrays plus its leaf tables (see the module docstring).

    Nodes of each tree are in pre-order (a parent before its children); ``tree_start[t]``
    is tree ``t``'s first node. Internal nodes: ``feature``, ``categorical``,
    ``threshold``, ``default_left``, ``missing_type``, the left-going categories
    ``cats[cat_start:cat_end]``, children ``left`` / ``right`` (absolute node indices) and
    ``bit`` (1 << position of the node's feature among its path's distinct features).
    Leaves: ``feature == -1`` and ``leaf`` their index into ``path_start`` (their path
    features ``path_feature`` and their ``path_inv_z = 1 / z``) and ``table_start``
    (their 2^d entries of ``tables``).
    """

    n_features: int
    base: float
    tree_start: np.ndarray
    feature: np.ndarray
    categorical: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    missing_type: np.ndarray
    cat_start: np.ndarray
    cat_end: np.ndarray
    cats: np.ndarray
    left: np.ndarray
    right: np.ndarray
    bit: np.ndarray
    leaf: np.ndarray
    path_start: np.ndarray
    path_feature: np.ndarray
    path_inv_z: np.ndarray
    table_start: np.ndarray
    tables: np.ndarray

    @property
    def table_bytes(self) -> int:
        return int(self.tables.nbytes)


class Unsupported(ValueError):
    """The booster cannot be explained from tables (the message says why)."""


# --------------------------------------------------------------------------- parsing


@dataclass
class _Parsed:
    feature: list[int]
    categorical: list[bool]
    threshold: list[float]
    default_left: list[bool]
    missing_type: list[int]
    cat_start: list[int]
    cat_end: list[int]
    cats: list[int]
    left: list[int]
    right: list[int]
    bit: list[int]
    leaf: list[int]
    tree_start: list[int]
    leaf_value: list[float]
    leaf_z: list[list[float]]
    leaf_features: list[list[int]]
    base: float


def _parse(dump: dict[str, Any]) -> _Parsed:
    """Flatten ``Booster.dump_model()``'s trees (pre-order), with each leaf's distinct path
    features and their zero fractions ``z``."""
    if int(dump.get("num_tree_per_iteration", 1)) != 1:
        raise Unsupported("several trees per iteration (multiclass)")
    if dump.get("average_output", False):
        raise Unsupported("averaged output (random forest)")
    p = _Parsed([], [], [], [], [], [], [], [], [], [], [], [], [], [], [], [], 0.0)
    for info in dump["tree_info"]:
        p.tree_start.append(len(p.feature))
        root = info["tree_structure"]
        if "leaf_value" in root:  # a single-leaf tree: its value for every row, no feature
            p.base += float(root["leaf_value"])
            _add_leaf(p, root, [], [])
            continue
        total = float(root["internal_count"])
        _walk(p, root, [], [], total)
    p.tree_start.append(len(p.feature))
    return p


def _add_leaf(p: _Parsed, node: dict[str, Any], feats: list[int], z: list[float]) -> int:
    if "leaf_coeff" in node or "leaf_features" in node:
        raise Unsupported("linear trees")
    idx = len(p.feature)
    p.feature.append(-1)
    p.categorical.append(False)
    p.threshold.append(0.0)
    p.default_left.append(False)
    p.missing_type.append(0)
    p.cat_start.append(0)
    p.cat_end.append(0)
    p.left.append(-1)
    p.right.append(-1)
    p.bit.append(0)
    p.leaf.append(len(p.leaf_value))
    p.leaf_value.append(float(node["leaf_value"]))
    p.leaf_features.append(list(feats))
    p.leaf_z.append(list(z))
    return idx


def _walk(
    p: _Parsed, root: dict[str, Any], feats0: list[int], z0: list[float], total: float
) -> None:
    """Pre-order walk with an explicit stack (trees can be deep); ``total`` the root count."""
    # stack items: (node, distinct path features, their z, parent index, is_left)
    stack: list[tuple[dict[str, Any], list[int], list[float], int, bool]] = [
        (root, feats0, z0, -1, True)
    ]
    while stack:
        node, feats, z, parent, is_left = stack.pop()
        if "leaf_value" in node:
            idx = _add_leaf(p, node, feats, z)
            p.base += float(node["leaf_value"]) * float(node["leaf_count"]) / total
        else:
            idx = len(p.feature)
            f = int(node["split_feature"])
            count = float(node["internal_count"])
            if count <= 0:
                raise Unsupported("a node with no training rows (zero count)")
            p.feature.append(f)
            categorical = node["decision_type"] == "=="
            p.categorical.append(categorical)
            p.missing_type.append(MISSING_TYPES[str(node["missing_type"])])
            p.default_left.append(bool(node["default_left"]))
            p.cat_start.append(len(p.cats))
            if categorical:
                p.cats.extend(sorted(int(c) for c in str(node["threshold"]).split("||")))
                p.threshold.append(0.0)
            else:
                p.threshold.append(float(node["threshold"]))
            p.cat_end.append(len(p.cats))
            p.left.append(-1)
            p.right.append(-1)
            pos = feats.index(f) if f in feats else len(feats)
            p.bit.append(1 << pos)
            p.leaf.append(-1)
            children = []
            for side, child in (("left", node["left_child"]), ("right", node["right_child"])):
                child_count = float(child.get("internal_count", child.get("leaf_count", 0)))
                if child_count <= 0:
                    raise Unsupported("a node with no training rows (zero count)")
                frac = child_count / count
                cf, cz = list(feats), list(z)
                if pos < len(cf):
                    cz[pos] *= frac
                else:
                    cf.append(f)
                    cz.append(frac)
                children.append((child, cf, cz, idx, side == "left"))
            # push right first so that the left subtree comes next in pre-order
            stack.append(children[1])
            stack.append(children[0])
        if parent >= 0:
            if is_left:
                p.left[parent] = idx
            else:
                p.right[parent] = idx


# --------------------------------------------------------------------------- tables


@_jit()
def _leaf_table(v: float, z: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """``out[H] = B(H)`` for every hot set H of a leaf (bit k: path feature k)."""
    d = z.shape[0]
    n = 1 << d
    full = n - 1
    # Shapley weights w(s) = s! (d - s - 1)! / d!, s = 0..d-1
    w = np.empty(max(d, 1))
    binom = 1.0  # C(d - 1, s)
    for s in range(d):
        w[s] = 1.0 / (d * binom)
        binom = binom * (d - 1 - s) / (s + 1)
    q = np.empty(n)  # q[S] = prod over j in S of z_j
    q[0] = 1.0
    for s in range(1, n):
        low = s & (-s)
        k = 0
        while (1 << k) != low:
            k += 1
        q[s] = q[s ^ low] * z[k]
    for s in range(n):
        if s == full:
            out[s] = 0.0  # B(D) is never read: every path feature is hot
        else:
            c = 0
            t = s
            while t:
                t &= t - 1
                c += 1
            out[s] = v * w[c] * q[full ^ s]
    for k in range(d):  # sum over subsets (zeta transform)
        b = 1 << k
        for h in range(n):
            if h & b:
                out[h] += out[h ^ b]


def model_tables(booster: lgb.Booster, max_bytes: int) -> ModelTables | str:
    """The booster's tables, or the reason (a string) they are not built: too large for
    ``max_bytes`` or a model form this module does not read."""
    try:
        parsed = _parse(booster.dump_model())
    except Unsupported as exc:
        return f"{exc}"
    deepest = max((len(f) for f in parsed.leaf_features), default=0)
    if deepest > MAX_PATH_FEATURES:
        return f"a leaf's path splits on {deepest} distinct features (at most {MAX_PATH_FEATURES})"
    sizes = np.array([1 << len(f) for f in parsed.leaf_features], dtype=np.int64)
    needed = int(sizes.sum()) * 8
    if needed > max_bytes:
        return (
            f"its leaf tables need {needed / 2**20:,.1f} MiB, over the cap of "
            f"{max_bytes / 2**20:,.1f} MiB (score.shap_table_mib)"
        )
    table_start = np.zeros(len(sizes), dtype=np.int64)
    if len(sizes):
        table_start[1:] = np.cumsum(sizes)[:-1]
    tables = np.empty(int(sizes.sum()), dtype=np.float64)
    path_start = np.zeros(len(sizes) + 1, dtype=np.int64)
    path_start[1:] = np.cumsum([len(f) for f in parsed.leaf_features])
    path_feature = np.array([f for fs in parsed.leaf_features for f in fs], dtype=np.int32)
    z_all = np.array([x for zs in parsed.leaf_z for x in zs], dtype=np.float64)
    for i, (value, z) in enumerate(zip(parsed.leaf_value, parsed.leaf_z, strict=True)):
        start = table_start[i]
        _leaf_table(value, np.asarray(z, dtype=np.float64), tables[start : start + sizes[i]])
    return ModelTables(
        n_features=booster.num_feature(),
        base=parsed.base,
        tree_start=np.asarray(parsed.tree_start, dtype=np.int64),
        feature=np.asarray(parsed.feature, dtype=np.int32),
        categorical=np.asarray(parsed.categorical, dtype=np.bool_),
        threshold=np.asarray(parsed.threshold, dtype=np.float64),
        default_left=np.asarray(parsed.default_left, dtype=np.bool_),
        missing_type=np.asarray(parsed.missing_type, dtype=np.int8),
        cat_start=np.asarray(parsed.cat_start, dtype=np.int64),
        cat_end=np.asarray(parsed.cat_end, dtype=np.int64),
        cats=np.asarray(parsed.cats, dtype=np.int64),
        left=np.asarray(parsed.left, dtype=np.int64),
        right=np.asarray(parsed.right, dtype=np.int64),
        bit=np.asarray(parsed.bit, dtype=np.int64),
        leaf=np.asarray(parsed.leaf, dtype=np.int64),
        path_start=path_start,
        path_feature=path_feature,
        path_inv_z=1.0 / z_all,
        table_start=table_start,
        tables=tables,
    )


# --------------------------------------------------------------------------- rows


@_jit(inline="always")
def _goes_left(
    x: float,
    categorical: bool,
    threshold: float,
    default_left: bool,
    missing_type: int,
    cats: np.ndarray,
    c0: int,
    c1: int,
) -> bool:  # pragma: no cover - numba
    """LightGBM's decision at one split (tree.h NumericalDecision / CategoricalDecision)."""
    if categorical:
        if math.isnan(x) or x < 0.0 or x >= 2147483648.0:
            return False  # NaN and negative categories go right
        c = np.int64(x)  # truncation, as static_cast<int>
        found = False
        for i in range(c0, c1):
            found = found or cats[i] == c
        return found
    if math.isnan(x) and missing_type != 2:
        x = 0.0
    if (missing_type == 1 and -ZERO_THRESHOLD <= x <= ZERO_THRESHOLD) or (
        missing_type == 2 and math.isnan(x)
    ):
        return default_left
    return x <= threshold


@_jit(parallel=True)
def _explain(
    X: np.ndarray,
    out: np.ndarray,
    tree_start: np.ndarray,
    feature: np.ndarray,
    categorical: np.ndarray,
    threshold: np.ndarray,
    default_left: np.ndarray,
    missing_type: np.ndarray,
    cat_start: np.ndarray,
    cat_end: np.ndarray,
    cats: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    bit: np.ndarray,
    leaf: np.ndarray,
    path_start: np.ndarray,
    path_feature: np.ndarray,
    path_inv_z: np.ndarray,
    table_start: np.ndarray,
    tables: np.ndarray,
) -> None:  # pragma: no cover - numba
    n = X.shape[0]
    n_trees = tree_start.shape[0] - 1
    widest = 1
    for t in range(n_trees):
        widest = max(widest, tree_start[t + 1] - tree_start[t])
    # rows in blocks, tree by tree within a block: a tree's nodes and tables stay in cache
    # while the block's rows go through it
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for blk in numba.prange(n_blocks):
        r0 = blk * ROW_BLOCK
        r1 = min(n, r0 + ROW_BLOCK)
        cold = np.zeros(widest, dtype=np.int64)  # per node: path features the row is cold on
        for t in range(n_trees):
            s = tree_start[t]
            e = tree_start[t + 1]
            if e - s == 1:
                continue  # a single leaf: no feature contributes
            for r in range(r0, r1):
                x = X[r]
                phi = out[r]
                cold[0] = 0
                for node in range(s, e):
                    c = cold[node - s]
                    f = feature[node]
                    if f >= 0:
                        b = bit[node]
                        go = _goes_left(
                            x[f],
                            categorical[node],
                            threshold[node],
                            default_left[node],
                            missing_type[node],
                            cats,
                            cat_start[node],
                            cat_end[node],
                        )
                        cold[left[node] - s] = c | (0 if go else b)
                        cold[right[node] - s] = c | (b if go else 0)
                    else:
                        lf = leaf[node]
                        p0 = path_start[lf]
                        d = path_start[lf + 1] - p0
                        hot = ((1 << d) - 1) & ~c
                        t0 = table_start[lf]
                        for k in range(d):
                            # (o_k / z_k - 1) B(H - k): o_k = 1 if hot on k, else 0 (-B(H))
                            o = (hot >> k) & 1
                            share = tables[t0 + (hot & ~(1 << k))]
                            phi[path_feature[p0 + k]] += (o * path_inv_z[p0 + k] - 1.0) * share


def explain(tables: ModelTables, X: np.ndarray) -> np.ndarray:
    """SHAP values of the rows of ``X`` (float64, LightGBM's numeric form: categorical
    columns as category codes, missing as NaN): (n, n_features + 1), the last column the
    base value, as ``pred_contrib``."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != tables.n_features:
        raise ValueError(f"X has shape {X.shape}; the model takes {tables.n_features} features")
    out = np.zeros((X.shape[0], tables.n_features + 1), dtype=np.float64)
    if X.shape[0]:
        # one call at a time per process: each uses every core (numba's threads), and
        # numba's fallback threading layer (workqueue) must not be entered concurrently
        with _RUN_LOCK:
            _explain(
                X,
                out,
                tables.tree_start,
                tables.feature,
                tables.categorical,
                tables.threshold,
                tables.default_left,
                tables.missing_type,
                tables.cat_start,
                tables.cat_end,
                tables.cats,
                tables.left,
                tables.right,
                tables.bit,
                tables.leaf,
                tables.path_start,
                tables.path_feature,
                tables.path_inv_z,
                tables.table_start,
                tables.tables,
            )
    out[:, -1] = tables.base
    return out


def numeric_matrix(booster: lgb.Booster, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """``X`` as LightGBM reads it for ``booster.predict``: a pandas frame's category columns
    become the codes of the training categories (``booster.pandas_categorical``), missing
    NaN; numbers float64. Uses LightGBM's own conversion, so the two engines see one input."""
    if isinstance(X, pd.DataFrame):
        if len(X) == 0:  # LightGBM's conversion refuses an empty frame
            return np.empty((0, X.shape[1]), dtype=np.float64)
        data, _, _, _ = lgb.basic._data_from_pandas(
            X, "auto", "auto", getattr(booster, "pandas_categorical", None)
        )
        return np.ascontiguousarray(data, dtype=np.float64)
    return np.ascontiguousarray(X, dtype=np.float64)


# --------------------------------------------------------------------------- per booster

_CACHE: weakref.WeakKeyDictionary[lgb.Booster, tuple[int, ModelTables | str]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()


def tables_for(booster: lgb.Booster, max_bytes: int) -> ModelTables | str:
    """:func:`model_tables` of ``booster``, built once per booster and cap (cached while the
    booster lives)."""
    with _LOCK:
        hit = _CACHE.get(booster)
        if hit is not None and hit[0] == max_bytes:
            return hit[1]
        built = model_tables(booster, max_bytes)
        _CACHE[booster] = (max_bytes, built)
        if isinstance(built, str):
            log.warning("SHAP tables not used for this model (LightGBM pred_contrib): %s", built)
        else:
            log.info("SHAP tables built: %.1f MiB", built.table_bytes / 2**20)
        return built
