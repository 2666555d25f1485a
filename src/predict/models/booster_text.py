"""Checks of a LightGBM model text before LightGBM parses it.

LightGBM parses the trees of a model text in parallel C++ threads: a malformed tree there
(a wrong count, a child index out of range, a ``tree_sizes`` entry that does not match) ends
the whole process (``terminate``/SIGABRT, sometimes SIGSEGV or SIGFPE) instead of raising.
:func:`check_model_text` reads the text the way LightGBM will and raises
:class:`ModelTextError` first, naming the tree, the field and the rule:

- the header has ``num_class``, ``num_tree_per_iteration``, ``label_index`` (>= 0 / >= 1),
  ``max_feature_idx``, as many ``feature_names`` and ``feature_infos`` as features, and
  ``tree_sizes``: one byte size per tree, and each size spans exactly ``Tree=<i>`` to the
  next tree (LightGBM jumps by these sizes);
- each tree has only known ``key=value`` lines; arrays have exactly ``num_leaves - 1``
  (nodes) or ``num_leaves`` (leaves) numbers; ``split_feature`` is a feature index; the
  children make one tree from node 0 (every node and leaf reached once, no cycle);
  ``decision_type`` is a valid bit set; a categorical split points at one of ``num_cat``
  category sets, ``cat_boundaries`` and ``cat_threshold`` agree; leaf values and
  ``shrinkage`` are finite numbers; linear trees are refused (training never makes them);
- the ``feature_importances`` and ``parameters`` sections after the trees are complete
  (LightGBM crashes reading a truncated ``parameters`` section).

It is plain Python over the text (a few tens of milliseconds for a thousand trees).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

_INT = r"-?\d+"
_FLOAT = r"(?:-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?inf)"
_INTS = re.compile(rf"(?:{_INT}(?: {_INT})*)?")
_FLOATS = re.compile(rf"(?:{_FLOAT}(?: {_FLOAT})*)?")
HEADER_INTS = ("num_class", "num_tree_per_iteration", "label_index", "max_feature_idx")
NODE_INTS = ("split_feature", "decision_type", "left_child", "right_child", "internal_count")
NODE_FLOATS = ("split_gain", "threshold", "internal_value", "internal_weight")
LEAF_INTS = ("leaf_count",)
LEAF_FLOATS = ("leaf_value", "leaf_weight")
TREE_KEYS = frozenset(
    (
        "num_leaves",
        "num_cat",
        "is_linear",
        "shrinkage",
        "cat_boundaries",
        "cat_threshold",
        *NODE_INTS,
        *NODE_FLOATS,
        *LEAF_INTS,
        *LEAF_FLOATS,
    )
)
_TAIL = re.compile(  # LightGBM crashes reading a truncated or malformed parameters section
    r"end of trees\n\nfeature_importances:\n(?:[^\n=]+=\d+\n)*\n"
    r"parameters:\n(?:\[[^\n\[\]]+: [^\n]*\]\n)*\n?end of parameters\n"
    r"(?:\npandas_categorical:[^\n]*\n?)?"
)
REQUIRED_NODE = ("split_feature", "threshold", "left_child", "right_child")


class ModelTextError(ValueError):
    """A model text LightGBM cannot safely parse."""


@dataclass(frozen=True)
class ModelText:
    """What the check learnt: the number of trees."""

    trees: int


def _numbers(value: str, where: str, kind: type) -> list[float] | list[int]:
    pattern = _INTS if kind is int else _FLOATS
    value = value.strip(" ")  # LightGBM ends some arrays with a space
    if not pattern.fullmatch(value):
        raise ModelTextError(f"{where}: expected {kind.__name__} numbers separated by spaces")
    return [kind(v) for v in value.split()] if value else []


def _header(text: str) -> dict[str, str]:
    if not text.startswith("tree\n"):
        raise ModelTextError("not a LightGBM model text (first line is not 'tree')")
    out: dict[str, str] = {}
    for line in text.split("\n")[1:]:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or ("=" in value and key != "feature_names"):
            raise ModelTextError(f"header line {line[:60]!r}: expected key=value")
        out[key] = value
    required = (*HEADER_INTS, "feature_names", "feature_infos", "tree_sizes")
    missing = [k for k in required if k not in out]
    if missing:
        raise ModelTextError(f"header lacks {missing}")
    return out


def _header_counts(header: dict[str, str]) -> tuple[dict[str, int], list[int]]:
    ints: dict[str, int] = {}
    for key in HEADER_INTS:
        if not re.fullmatch(_INT, header[key]):
            raise ModelTextError(f"header: {key} must be an integer, got {header[key][:20]!r}")
        ints[key] = int(header[key])
    if ints["num_class"] < 1 or ints["num_tree_per_iteration"] < 1 or ints["label_index"] < 0:
        raise ModelTextError(f"header: num_class, num_tree_per_iteration must be >= 1: {ints}")
    if ints["max_feature_idx"] < 0:
        raise ModelTextError("header: max_feature_idx must be >= 0")
    n = ints["max_feature_idx"] + 1
    for key in ("feature_names", "feature_infos"):
        if len(header[key].split(" ")) != n:
            raise ModelTextError(f"header: {key} does not list max_feature_idx + 1 = {n} entries")
    sizes = [int(s) for s in _numbers(header["tree_sizes"], "header tree_sizes", int)]
    if any(s < 1 for s in sizes) or len(sizes) % ints["num_tree_per_iteration"]:
        raise ModelTextError("header: tree_sizes must be positive, a whole number of iterations")
    return ints, sizes


def _tree_fields(block: str, index: int) -> dict[str, str]:
    head = f"Tree={index}\n"
    if not block.startswith(head):
        raise ModelTextError(f"tree {index}: tree_sizes do not match the trees (no {head!r})")
    body, sep, rest = block[len(head) :].partition("\n\n")
    if not sep or rest.strip("\n"):
        raise ModelTextError(f"tree {index}: tree_sizes do not match the trees")
    fields: dict[str, str] = {}
    for line in body.split("\n"):
        key, sep, value = line.partition("=")
        if not sep or key not in TREE_KEYS or key in fields:
            raise ModelTextError(f"tree {index}: unexpected line {line[:60]!r}")
        fields[key] = value
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in fields:
            raise ModelTextError(f"tree {index}: no {key}")
    return fields


def _arrays(fields: dict[str, str], index: int, leaves: int) -> dict[str, list]:
    out: dict[str, list] = {}
    for keys, kind, size in (
        (NODE_INTS, int, leaves - 1),
        (NODE_FLOATS, float, leaves - 1),
        (LEAF_INTS, int, leaves),
        (LEAF_FLOATS, float, leaves),
    ):
        for key in keys:
            if key not in fields:
                continue
            values = _numbers(fields[key], f"tree {index} {key}", kind)
            if leaves > 1 and len(values) != size:
                raise ModelTextError(f"tree {index}: {key} has {len(values)} numbers, not {size}")
            out[key] = values
    if len(out.get("leaf_value", [])) != leaves:
        raise ModelTextError(f"tree {index}: leaf_value has not num_leaves = {leaves} numbers")
    return out


def _check_shape(arrays: dict[str, list], index: int, leaves: int) -> None:
    left, right = arrays["left_child"], arrays["right_child"]
    seen_nodes, seen_leaves, stack = {0}, set(), [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child >= 0 and child < leaves - 1 and child not in seen_nodes:
                seen_nodes.add(child)
                stack.append(child)
            elif child < 0 and ~child < leaves and ~child not in seen_leaves:
                seen_leaves.add(~child)
            else:
                raise ModelTextError(f"tree {index}: child {child} of node {node} is not new")
    if len(seen_nodes) != leaves - 1 or len(seen_leaves) != leaves:
        raise ModelTextError(f"tree {index}: the children do not reach every node and leaf")


def _check_splits(arrays: dict[str, list], fields: dict[str, str], index: int, n_feat: int) -> None:
    num_cat = int(fields["num_cat"]) if re.fullmatch(_INT, fields["num_cat"]) else -1
    if num_cat < 0:
        raise ModelTextError(f"tree {index}: num_cat must be an integer >= 0")
    pairs = zip(arrays["split_feature"], arrays["decision_type"], strict=True)
    for node, (feat, kind) in enumerate(pairs):
        if not 0 <= feat < n_feat:
            raise ModelTextError(f"tree {index}: split_feature {feat} is not a feature index")
        if kind & ~0b1111 or (kind >> 2) & 3 == 3:
            raise ModelTextError(f"tree {index}: decision_type {kind} is not valid")
        cat = arrays["threshold"][node]
        if kind & 1 and not (float(cat).is_integer() and 0 <= cat < num_cat):
            raise ModelTextError(f"tree {index}: categorical split {node} has no category set")
    if num_cat:
        bounds = _numbers(fields.get("cat_boundaries", "x"), f"tree {index} cat_boundaries", int)
        ok = len(bounds) == num_cat + 1 and bounds[0] == 0
        ok = ok and all(a <= b for a, b in itertools.pairwise(bounds))
        cats = _numbers(fields.get("cat_threshold", "x"), f"tree {index} cat_threshold", int)
        if not ok or len(cats) != bounds[-1] or any(not 0 <= c < 2**32 for c in cats):
            raise ModelTextError(f"tree {index}: cat_boundaries and cat_threshold do not agree")


def _check_tree(block: str, index: int, n_features: int) -> None:
    fields = _tree_fields(block, index)
    leaves = int(fields["num_leaves"]) if re.fullmatch(r"\d+", fields["num_leaves"]) else 0
    if leaves < 1:
        raise ModelTextError(f"tree {index}: num_leaves must be an integer >= 1")
    if fields.get("is_linear", "0") != "0":
        raise ModelTextError(f"tree {index}: linear trees are not supported")
    shrinkage = _numbers(fields.get("shrinkage", "1"), f"tree {index} shrinkage", float)
    arrays = _arrays(fields, index, leaves)
    values = [*arrays["leaf_value"], *shrinkage]
    if len(shrinkage) != 1 or not all(math.isfinite(v) for v in values):
        raise ModelTextError(f"tree {index}: leaf values and shrinkage must be finite numbers")
    if leaves == 1:
        return
    missing = [k for k in REQUIRED_NODE if k not in arrays]
    if missing:
        raise ModelTextError(f"tree {index}: no {missing}")
    arrays.setdefault("decision_type", [0] * (leaves - 1))
    _check_shape(arrays, index, leaves)
    _check_splits(arrays, fields, index, n_features)


def check_model_text(text: str) -> ModelText:
    """Raise :class:`ModelTextError` unless LightGBM can parse ``text`` without crashing."""
    if "\x00" in text or "\r" in text:
        raise ModelTextError("NUL or carriage-return characters in the model text")
    found = re.search(r"^Tree=", text, flags=re.MULTILINE)
    start = found.start() if found else len(text)
    header = _header(text[:start])
    ints, sizes = _header_counts(header)
    # tree_sizes are byte counts (UTF-8): slice the bytes. A tree is numbers and keys only,
    # so it must decode as ASCII; feature names after the trees may be any UTF-8.
    data = text[start:].encode()
    pos = 0
    for index, size in enumerate(sizes):
        try:
            block = data[pos : pos + size].decode("ascii")
        except UnicodeDecodeError:
            raise ModelTextError(f"tree {index}: non-ASCII characters in the tree") from None
        _check_tree(block, index, ints["max_feature_idx"] + 1)
        pos += size
    try:
        tail = data[pos:].decode()
    except UnicodeDecodeError:
        raise ModelTextError(
            "tree_sizes do not match the trees (they end inside a character)"
        ) from None
    if not tail.startswith("end of trees\n"):
        raise ModelTextError("tree_sizes do not match the trees (no 'end of trees' after them)")
    if not _TAIL.fullmatch(tail):
        raise ModelTextError("the feature_importances / parameters sections are malformed")
    return ModelText(trees=len(sizes))
