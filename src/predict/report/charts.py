"""Small inline SVG charts: no JavaScript library, no network, every label escaped.

Each function takes plain numbers and labels and returns :class:`markupsafe.Markup`
holding one ``<svg>`` element, ready to drop into a Jinja template (or to show in a
notebook with ``IPython.display.SVG``). Text goes through :func:`markupsafe.escape`, so
a label such as ``<script>`` is drawn as text, never run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from markupsafe import Markup, escape

# Series colours double as legend text on the white chart: each has a contrast of at least
# 4.5:1 against white (WCAG 2 AA for text; see contrast_ratio and its unit test).
PALETTE = ("#1f5a96", "#9c5511", "#277a38", "#b33a3a", "#6f4e9c", "#666666")
POSITIVE = "#b33a3a"  # pushes the score up (red: more risk)
NEGATIVE = "#1f77b4"  # pushes the score down
CHART_BACKGROUND = "#ffffff"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'
TICK_CHAR_PX = 5.5  # width of one tick-label character at font-size 9, to size the axis margin


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of ``#rgb`` or ``#rrggbb`` (0 = black, 1 = white)."""
    hexes = colour.lstrip("#")
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    if len(hexes) != 6:
        raise ValueError(f"colour {colour!r}: expected #rgb or #rrggbb")
    channels = [int(hexes[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio (L1 + 0.05) / (L2 + 0.05), L1 the lighter: 1 to 21.

    AA asks at least 4.5 for text and 3 for graphics (bars, lines, dots)."""
    light, dark = sorted(
        (relative_luminance(foreground), relative_luminance(background)), reverse=True
    )
    return (light + 0.05) / (dark + 0.05)


def _fmt(value: float, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return fmt.format(value)


def nice_ticks(lo: float, hi: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """About ``count`` round tick values covering [lo, hi]; ``integer``: steps of at least 1
    (counts such as days past due never tick at 0.2)."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    if integer:
        raw = max(raw, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's text with just enough decimals to tell the ticks apart."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    if step >= 1 or step == 0:
        return f"{value:,.0f}"
    return f"{value:,.{min(math.ceil(-math.log10(step)), 6)}f}"


def _scale(d0: float, d1: float, r0: float, r1: float) -> Callable[[float], float]:
    span = (d1 - d0) or 1.0
    return lambda v: r0 + (v - d0) / span * (r1 - r0)


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: object, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(str(text))}</text>'
    )


def _empty(title: str, width: int = 420, height: int = 60) -> Markup:
    return _svg(width, height, title, [_text(10, 30, f"{title}: no data")])


def bar_chart(
    labels: Iterable[object],
    values: Iterable[float],
    *,
    title: str,
    fmt: str = "{:,.0f}",
    width: int = 460,
    color: str = PALETTE[0],
) -> Markup:
    """Horizontal bars, one per label; negative values extend left of zero."""
    labels = list(labels)
    vals = [float(v) if v is not None and math.isfinite(float(v)) else 0.0 for v in values]
    if not vals:
        return _empty(title, width)
    row, left, right = 20, min(180, 12 + 7 * max(len(str(x)) for x in labels)), 70
    height = row * len(vals) + 30
    x = _scale(min(0.0, *vals), max(0.0, *vals), left, width - right)
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        y = 22 + i * row
        x0, x1 = sorted((x(0.0), x(v)))
        body.append(_text(left - 6, y + 12, label, "end"))
        body.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 0.5):.1f}" '
            f'height="{row - 6}" fill="{color}"><title>{escape(str(label))}: '
            f"{escape(_fmt(v, fmt))}</title></rect>"
        )
        body.append(_text(x1 + 4, y + 12, _fmt(v, fmt)))
    return _svg(width, height, title, body)


def column_chart(
    labels: Iterable[object],
    values: Iterable[float],
    *,
    title: str,
    fmt: str = "{:,.0f}",
    width: int = 460,
    height: int = 200,
    color: str = PALETTE[0],
) -> Markup:
    """Vertical bars (a histogram when labels are bins)."""
    labels = list(labels)
    vals = [max(float(v), 0.0) for v in values]
    if not vals:
        return _empty(title, width)
    top, bottom, left = 36, 40, 40
    y = _scale(0.0, max(vals) or 1.0, height - bottom, top)
    slot = (width - left - 10) / len(vals)
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    body.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" '
        f'y2="{height - bottom}" stroke="#999"/>'
    )
    for i, (label, v) in enumerate(zip(labels, vals, strict=True)):
        x0 = left + i * slot + 2
        body.append(
            f'<rect x="{x0:.1f}" y="{y(v):.1f}" width="{slot - 4:.1f}" '
            f'height="{height - bottom - y(v):.1f}" fill="{color}"><title>'
            f"{escape(str(label))}: {escape(_fmt(v, fmt))}</title></rect>"
        )
        body.append(_text(x0 + slot / 2 - 2, y(v) - 3, _fmt(v, fmt), "middle"))
        body.append(
            _text(x0 + slot / 2 - 2, height - bottom + 14, label, "middle", 'font-size="9"')
        )
    return _svg(width, height, title, body)


def line_chart(
    x: Sequence[str],
    series: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    fmt: str = "{:,.0f}",
    width: int = 460,
    height: int = 170,
    integer: bool = False,
    y_range: tuple[float, float] | None = None,
) -> Markup:
    """One line per series over shared category labels ``x`` (e.g. months); NaN = gap.

    ``integer``: whole-number ticks (counts, days); ``y_range``: a fixed axis for a bounded
    scale (e.g. CSAT 1-5), widened only if a value falls outside it. The axis margin fits
    the longest tick label (``150,000,000`` is not clipped)."""
    arrays = {k: np.asarray(v, dtype="float64") for k, v in series.items()}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()] or [np.array([0.0])[:0]])
    if not len(x) or finite.size == 0:
        return _empty(title, width)
    lo, hi = (min(0.0, float(finite.min())), float(finite.max()))
    if y_range is not None:
        lo, hi = min(y_range[0], float(finite.min())), max(y_range[1], float(finite.max()))
    ticks = nice_ticks(lo, hi, 4, integer=integer)
    labels = [tick_label(t, ticks) for t in ticks]
    top, bottom, right = 22, 34, 10
    left = max(40, math.ceil(TICK_CHAR_PX * max(map(len, labels))) + 10)
    ys = _scale(ticks[0], ticks[-1], height - bottom, top)
    xs = _scale(0, max(len(x) - 1, 1), left, width - right)
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    for t, label in zip(ticks, labels, strict=True):
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ys(t):.1f}" y2="{ys(t):.1f}" '
            'stroke="#e3e3e3"/>'
        )
        body.append(_text(left - 4, ys(t) + 4, label, "end", 'font-size="9"'))
    for i in sorted({0, len(x) // 2, len(x) - 1}):
        anchor = "start" if i == 0 else ("end" if i == len(x) - 1 else "middle")
        body.append(_text(xs(i), height - bottom + 14, x[i], anchor, 'font-size="9"'))
    for k, (name, arr) in enumerate(arrays.items()):
        color = PALETTE[k % len(PALETTE)]
        body.extend(_polyline(arr, xs, ys, color))
        body.append(_text(left + 4 + 110 * k, height - 6, f"■ {name}", extra=f'fill="{color}"'))
    return _svg(width, height, title, body)


def _polyline(
    arr: np.ndarray, xs: Callable[[float], float], ys: Callable[[float], float], color: str
) -> list[str]:
    parts, run = [], []
    for i, v in enumerate(arr):
        if math.isfinite(v):
            run.append(f"{xs(i):.1f},{ys(v):.1f}")
        elif run:
            parts.append(run)
            run = []
    if run:
        parts.append(run)
    out = [
        f'<polyline fill="none" stroke="{color}" stroke-width="1.8" points="{" ".join(p)}"/>'
        for p in parts
    ]
    out += [
        f'<circle cx="{xs(i):.1f}" cy="{ys(v):.1f}" r="1.8" fill="{color}"/>'
        for i, v in enumerate(arr)
        if math.isfinite(v)
    ]
    return out


def waterfall(
    steps: Sequence[tuple[str, float]],
    *,
    title: str,
    base: float = 0.0,
    base_label: str = "average (base)",
    fmt: str = "{:+.3f}",
    width: int = 520,
    shown_as: str | None = None,
) -> Markup:
    """SHAP waterfall: start at ``base``, add each step, end at the model's raw output.

    ``shown_as``: the score as the page shows it (e.g. the calibrated probability); the end
    line then reads ``raw -1.234 -> shown 22.6%`` so both scales and the map between them
    are on the chart.
    """
    if not steps:
        return _empty(title, width)
    # the labels are sentences: the bars start after the longest (about 6 px a character)
    longest = max(len(label) for label, _ in steps)
    row, left, right = 20, max(220, min(400, 6 * longest + 12)), 70
    width += left - 220
    ends = np.cumsum([base] + [v for _, v in steps])
    lo, hi = float(min(ends.min(), base)), float(max(ends.max(), base))
    x = _scale(lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1), left, width - right)
    height = row * (len(steps) + 2) + 28
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    body.append(_text(left - 6, 34, f"{base_label} {base:.3f}", "end"))
    for i, (label, v) in enumerate(steps):
        y = 24 + (i + 1) * row
        x0, x1 = sorted((x(float(ends[i])), x(float(ends[i + 1]))))
        color = POSITIVE if v > 0 else NEGATIVE
        body.append(_text(left - 6, y + 12, label, "end"))
        body.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 0.8):.1f}" height="{row - 6}" '
            f'fill="{color}"><title>{escape(label)}: {escape(_fmt(v, fmt))}</title></rect>'
        )
        body.append(_text(width - right + 6, y + 12, _fmt(v, fmt)))
    y_end = 24 + (len(steps) + 1) * row
    body.append(
        _text(
            left - 6, y_end + 12, _end_label(float(ends[-1]), shown_as), "end", 'font-weight="bold"'
        )
    )
    for at, colour in ((base, "#999"), (float(ends[-1]), "#333")):
        body.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="22" y2="{y_end + 14}" '
            f'stroke="{colour}" stroke-dasharray="3,2"/>'
        )
    return _svg(width, height, title, body)


def _end_label(raw: float, shown_as: str | None) -> str:
    return f"model output {raw:.3f}" if shown_as is None else f"raw {raw:.3f} → {shown_as}"


def dot_plot(
    features: Sequence[str],
    shap_values: Sequence[Sequence[float]],
    colour_values: Sequence[Sequence[float]],
    *,
    title: str,
    width: int = 560,
    seed: int = 0,
) -> Markup:
    """Beeswarm-like plot: one row per feature, a dot per client at its SHAP value.

    ``colour_values`` are in [0, 1] (the feature value's rank; NaN for categories) and
    colour the dots from blue (low) to red (high).
    """
    arrays = [np.asarray(s, dtype="float64") for s in shap_values]
    flat = np.concatenate(arrays) if arrays else np.array([], dtype="float64")
    if not len(features) or flat.size == 0:
        return _empty(title, width)
    row, left, right = 22, 200, 20
    lim = float(np.nanmax(np.abs(flat))) or 1.0
    x = _scale(-lim, lim, left, width - right)
    height = row * len(features) + 44
    rng = np.random.default_rng(seed)
    body = [
        _text(4, 14, title, extra='font-weight="bold"'),
        f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="20" y2="{height - 22}" stroke="#999"/>',
    ]
    for i, feat in enumerate(features):
        y = 22 + i * row + row / 2
        body.append(_text(left - 6, y + 4, feat, "end"))
        sv = np.asarray(shap_values[i], dtype="float64")
        cv = np.asarray(colour_values[i], dtype="float64")
        jitter = rng.uniform(-row * 0.35, row * 0.35, size=sv.size)
        body.append('<g fill-opacity="0.75">')
        body += [
            f'<circle cx="{x(s):.1f}" cy="{y + j:.1f}" r="2.2" fill="{_ramp(c)}"/>'
            for s, c, j in zip(sv, cv, jitter, strict=True)
            if math.isfinite(s)
        ]
        body.append("</g>")
    body.append(
        _text(
            left,
            height - 6,
            "SHAP: left lowers, right raises the score; value low (blue) to high (red); "
            "grey: category",
            extra='font-size="9"',
        )
    )
    return _svg(width, height, title, body)


def _ramp(v: float) -> str:
    if not math.isfinite(v):
        return "#888888"
    v = min(max(v, 0.0), 1.0)
    r, g, b = int(31 + v * (179 - 31)), int(119 - v * (119 - 58)), int(180 - v * (180 - 58))
    return f"#{r:02x}{g:02x}{b:02x}"


def scatter(
    x_values: Sequence[float],
    y_values: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str = "SHAP value",
    width: int = 360,
    height: int = 220,
    diagonal: bool = False,
) -> Markup:
    """Dependence plot for a numeric feature (value against SHAP), or any x-y scatter.

    ``diagonal`` draws the line y = x (a calibration plot: predicted against observed).
    """
    xv = np.asarray(x_values, dtype="float64")
    yv = np.asarray(y_values, dtype="float64")
    ok = np.isfinite(xv) & np.isfinite(yv)
    if not ok.any():
        return _empty(title, width)
    xv, yv = xv[ok], yv[ok]
    top, bottom, left, right = 34, 36, 56, 12
    lo_x, hi_x, lo_y, hi_y = float(xv.min()), float(xv.max()), float(yv.min()), float(yv.max())
    if diagonal:
        lo_x = lo_y = min(lo_x, lo_y)
        hi_x = hi_y = max(hi_x, hi_y)
    xt = nice_ticks(lo_x, hi_x, 4)
    yt = nice_ticks(lo_y, hi_y, 4)
    xs = _scale(xt[0], xt[-1], left, width - right)
    ys = _scale(yt[0], yt[-1], height - bottom, top)
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    for t in yt:
        body.append(_text(left - 4, ys(t) + 4, tick_label(t, yt), "end", 'font-size="9"'))
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{ys(t):.1f}" y2="{ys(t):.1f}" '
            'stroke="#eee"/>'
        )
    for t in xt:
        body.append(
            _text(xs(t), height - bottom + 12, tick_label(t, xt), "middle", 'font-size="9"')
        )
    if diagonal:
        d0, d1 = max(xt[0], yt[0]), min(xt[-1], yt[-1])
        body.append(
            f'<line x1="{xs(d0):.1f}" y1="{ys(d0):.1f}" x2="{xs(d1):.1f}" y2="{ys(d1):.1f}" '
            'stroke="#999" stroke-dasharray="4,3"/>'
        )
    body.append(f'<g fill="{PALETTE[0]}" fill-opacity="0.6">')
    body += [
        f'<circle cx="{xs(a):.1f}" cy="{ys(b):.1f}" r="2.2"/>' for a, b in zip(xv, yv, strict=True)
    ]
    body.append("</g>")
    body.append(_text((left + width) / 2, height - 6, x_label, "middle"))
    body.append(_text(4, top - 8, f"↑ {y_label}", extra='font-size="9"'))
    return _svg(width, height, title, body)


def strip_chart(
    categories: Sequence[str],
    y_values: Sequence[float],
    *,
    title: str,
    width: int = 360,
    max_categories: int = 8,
) -> Markup:
    """Dependence plot for a categorical feature: one column of SHAP dots per category."""
    cats = [str(c) for c in categories]
    order = sorted(set(cats), key=lambda c: -cats.count(c))[:max_categories]
    yv = np.asarray(y_values, dtype="float64")
    if not order or not np.isfinite(yv).any():
        return _empty(title, width)
    height, top, bottom, left = 220, 34, 40, 56
    yt = nice_ticks(float(np.nanmin(yv)), float(np.nanmax(yv)), 4)
    ys = _scale(yt[0], yt[-1], height - bottom, top)
    slot = (width - left - 10) / len(order)
    body = [_text(4, 14, title, extra='font-weight="bold"')]
    for t in yt:
        body.append(_text(left - 4, ys(t) + 4, tick_label(t, yt), "end", 'font-size="9"'))
    dots = [f'<g fill="{PALETTE[1]}" fill-opacity="0.6">']
    for i, cat in enumerate(order):
        cx = left + slot * (i + 0.5)
        label = cat if len(cat) <= slot // 6 else cat[: max(int(slot // 6) - 1, 2)] + "…"
        body.append(_text(cx, height - bottom + 14, label, "middle", 'font-size="9"'))
        dots += [
            f'<circle cx="{cx:.1f}" cy="{ys(v):.1f}" r="2.2"/>'
            for c, v in zip(cats, yv, strict=True)
            if c == cat and math.isfinite(v)
        ]
    body += [*dots, "</g>"]
    return _svg(width, height, title, body)
