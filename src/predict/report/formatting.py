"""Turning frames into sortable HTML table specs: display text, sort key and optional link per cell.

The template only loops over the spec (and Jinja escapes every text), so number formats
and links are decided here, in one tested place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

MISSING = "–"


def significant(value: float, digits: int = 4, max_decimals: int = 6) -> str:
    """``value`` to ``digits`` significant digits in fixed notation with thousands separators,
    never scientific: 0.04750699 -> 0.04751, 12250.4 -> 12,250, 0.0004 -> 0.000400 (at
    most ``max_decimals`` decimals)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:,.0f}" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    decimals = min(max(digits - 1 - magnitude, 0), max_decimals)
    return f"{value:,.{decimals}f}"


FORMATS: dict[str, Callable[[float], str]] = {
    "int": lambda v: f"{round(v):,}",  # round first: -0.4 reads 0, not -0
    "money": lambda v: f"{round(v):,}",
    "pct": lambda v: f"{v:.1%}",
    "prob": lambda v: f"{v:.1%}",
    "rate": lambda v: f"{v:.2%}",
    "change": lambda v: f"{100 * v:+.1f} pp",
    "money_change": lambda v: f"{v:+,.0f}",
    "float": lambda v: f"{v:,.1f}",
    "psi": lambda v: f"{v:.3f}",
    "nps": lambda v: f"{v:+.0f}",
    "csat": lambda v: f"{v:.2f}",
    "metric": significant,  # model metrics (AUC, RMSE, ...): 4 significant digits
}


@dataclass(frozen=True)
class Col:
    """A table column: frame column ``key``, header ``label``, format name (or ``text``);
    ``of``: (column of the clients whose value is known, column of the clients it is out
    of), for a sum over part of a population (:func:`coverage`)."""

    key: str
    label: str
    fmt: str = "text"
    of: tuple[str, str] | None = None

    @property
    def numeric(self) -> bool:
        return self.fmt in FORMATS


def money_cols(cols: Sequence[Col], currency: str) -> tuple[Col, ...]:
    """The columns with the currency added to the header of money columns (``EAD, EUR``)."""
    if not currency:
        return tuple(cols)
    return tuple(
        dataclasses.replace(c, label=f"{c.label}, {currency}") if c.fmt.startswith("money") else c
        for c in cols
    )


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def coverage(known: Any, total: Any, word: str = "") -> str:
    """``"n of N"`` (with `` word`` after it) when the figure rests on fewer clients than its
    population (``known < total``), else empty: a sum over part of the clients says so."""
    if is_missing(known) or is_missing(total) or int(known) >= int(total):
        return ""
    return f"{int(known):,} of {int(total):,}{' ' + word if word else ''}"


def cell(value: Any, fmt: str = "text", href: str | None = None) -> dict[str, Any]:
    """``{"text", "sort", "href"}`` for one value; missing values sort last."""
    if is_missing(value):
        return {"text": MISSING, "sort": "", "href": href}
    if fmt in FORMATS and isinstance(value, str):  # a word in place of a number ("too few")
        return {"text": value, "sort": "", "href": href}
    if fmt in FORMATS:
        number = float(value)
        return {"text": FORMATS[fmt](number), "sort": repr(number), "href": href}
    if isinstance(value, pd.Timestamp):
        value = value.date().isoformat()
    return {"text": str(value), "sort": str(value).lower(), "href": href}


def table_spec(
    frame: pd.DataFrame,
    columns: Sequence[Col],
    *,
    table_id: str,
    links: dict[str, Callable[[pd.Series], str | None]] | None = None,
    footer: pd.DataFrame | None = None,
    caption: str = "",
    row_data: Sequence[str] = (),
) -> dict[str, Any]:
    """A sortable table for the template (columns absent from ``frame`` are skipped). A
    column with ``of`` gives its cells ``of``, "n of N" when the sum rests on part of its
    clients (:func:`coverage`), shown under the number.

    ``row_data``: columns of ``frame`` written on each row as ``data-<column>`` attributes
    (the portfolio's filters read them; missing values are empty).
    """
    cols = [c for c in columns if c.key in frame.columns]
    links = links or {}

    def one(row: pd.Series, c: Col) -> dict[str, Any]:
        out = cell(row[c.key], c.fmt, links[c.key](row) if c.key in links else None)
        if c.of is not None and not is_missing(row[c.key]):
            out["of"] = coverage(row.get(c.of[0]), row.get(c.of[1]))  # under the number
        return out

    def rows_of(part: pd.DataFrame) -> list[list[dict[str, Any]]]:
        return [[one(row, c) for c in cols] for _, row in part.iterrows()]

    return {
        "id": table_id,
        "caption": caption,
        "columns": [{"label": c.label, "numeric": c.numeric} for c in cols],
        "rows": rows_of(frame),
        "footer": rows_of(footer) if footer is not None else [],
        "row_data": [
            {
                c.replace("_", "-"): "" if is_missing(v) else str(v)
                for c, v in zip(row_data, vals, strict=True)
            }
            for vals in frame[list(row_data)].itertuples(index=False)
        ]
        if row_data
        else [],
    }


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def client_page_name(client_id: str, hashed: bool = False) -> str:
    """A file name for a client's page, safe on any file system, unique per client id.

    An id of safe characters (letters, digits, ``_ . -``, at most 60) is its own name; any
    other id (or any id when ``hashed``) gets a safe slug, ``~`` and 16 hex digits of its
    SHA-256. ``~`` never stands in a plain name, so the two forms cannot collide
    (``a/b`` -> ``a_b~<hash>.html``, while an id ``a_b-<hash>`` keeps its name).
    """
    text = str(client_id)
    slug = _UNSAFE.sub("_", text)[:60].strip(".") or "client"
    if slug != text or hashed:
        slug += "~" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{slug}.html"


def client_page_names(client_ids: Iterable[str]) -> dict[str, str]:
    """Page name of each client id, unique also on case-insensitive file systems: ids whose
    plain names differ only by case (``C1``, ``c1``) get the hashed form."""
    ids = [str(c) for c in dict.fromkeys(client_ids)]
    folded = Counter(client_page_name(c).casefold() for c in ids)
    return {c: client_page_name(c, hashed=folded[client_page_name(c).casefold()] > 1) for c in ids}
