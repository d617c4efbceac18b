"""Charts as inline SVG, rendered on the server: no JavaScript, no CDN, readable without a browser.

Every bar carries ``data-*`` attributes with its value and a ``<title>`` tooltip, so a test (or
a screen reader) can check what is drawn, not just that something is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

from api.disclosure.labels import MONTHS, MONTHS_EN, SUB_ITEM, SUB_ITEM_COLOUR, bi


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``value`` (axis maximum); 1 for 0."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    k = math.floor(math.log10(value))
    for m in (1, 2, 2.5, 5, 10):
        if m * 10**k >= value * (1 - 1e-12):
            return m * 10**k
    return 10 ** (k + 1)


def text_width_px(text: str, font_px: float) -> float:
    """An upper estimate of ``text``'s drawn width: a CJK character is one em, any other at most
    0.62 em in the page's sans-serif fonts. Margins are sized from it so that no label is drawn
    over another label, the axis or the edge of the drawing."""
    return sum(font_px if ord(ch) >= 0x2E80 else 0.62 * font_px for ch in text)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def monthly_stacked_svg(monthly_kwh: Mapping[str, Sequence[float]], *, width_px: int = 720,
                        height_px: int = 300, title: str = "") -> Markup:
    """A stacked column chart of electricity by sub-item and month.

    Parameters
    ----------
    monthly_kwh : mapping
        sub_item -> 12 monthly values, January first. [kWh]
    width_px, height_px : int
        Drawing size. [px]
    title : str
        Accessible name of the chart.
    """
    items = [s for s in SUB_ITEM if s in monthly_kwh] + [s for s in monthly_kwh if s not in SUB_ITEM]
    totals = [sum(max(0.0, monthly_kwh[s][m]) for s in items) for m in range(12)]
    y_max = nice_ceiling(max(totals, default=0.0))
    # The left margin holds the widest tick label; the unit sits above the plot, clear of the top tick.
    left = max(64, round(max(text_width_px(_fmt(y_max * i / 4), 11) for i in range(5)) + 14))
    right, top, bottom = 12, 28, 40
    plot_w, plot_h = width_px - left - right, height_px - top - bottom
    slot = plot_w / 12
    bar_w = slot * 0.7
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-monthly" role="img" '
             f'width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}" '
             f'aria-label="{escape(title)}" data-y-max-kwh="{y_max:g}">']
    parts += _y_axis(left, top, plot_w, plot_h, y_max, "kWh")
    for m in range(12):
        x = left + m * slot + (slot - bar_w) / 2
        y = top + plot_h
        for s in items:
            v = max(0.0, monthly_kwh[s][m])
            h = plot_h * v / y_max
            y -= h
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.2f}" '
                         f'fill="{SUB_ITEM_COLOUR.get(s, "#999")}" data-sub-item="{escape(s)}" data-month="{m + 1}" '
                         f'data-value-kwh="{v:g}"><title>{escape(MONTHS[m])} {escape(bi(SUB_ITEM, s))}: '
                         f'{_fmt(v)} kWh</title></rect>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                     f'font-size="11">{m + 1}月</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 30}" text-anchor="middle" '
                     f'font-size="9" fill="#666">{MONTHS_EN[m]}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars_svg(values: Sequence[tuple[str, str, float]], *, unit: str, width_px: int = 520,
                        row_px: int = 28, title: str = "", css_class: str = "chart-bars") -> Markup:
    """Horizontal bars, one per (key, label, value), e.g. annual electricity by sub-item.

    Parameters
    ----------
    values : sequence of (key, label, value)
        Value in ``unit``; negative values are drawn as zero.
    unit : str
        Unit shown after each value, e.g. ``kWh`` or ``tce``.
    width_px, row_px : int
        Drawing width and height of one row. [px]
    """
    v_max = max((v for _, _, v in values), default=0.0)
    # Label and value columns as wide as their longest text (at least 170 and 110 px); the drawing
    # widens rather than squeezing the bars below 120 px.
    label_w = max(170, round(max((text_width_px(lb, 12) for _, lb, _ in values), default=0) + 12))
    value_w = max(110, round(max((text_width_px(f"{_fmt(v)} {unit}", 12) for *_, v in values), default=0) + 12))
    width_px = max(width_px, label_w + value_w + 120)
    plot_w = width_px - label_w - value_w
    height_px = max(1, len(values)) * row_px + 8
    scale = plot_w / v_max if v_max > 0 else 0.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {escape(css_class)}" role="img" '
             f'width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}" '
             f'aria-label="{escape(title)}">']
    for i, (key, label, v) in enumerate(values):
        y = 4 + i * row_px
        w = max(0.0, v) * scale
        parts.append(f'<text x="{label_w - 6}" y="{y + row_px * 0.65:.1f}" text-anchor="end" font-size="12">'
                     f'{escape(label)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{w:.2f}" height="{row_px - 8}" '
                     f'fill="{SUB_ITEM_COLOUR.get(key, "#4477AA")}" data-key="{escape(key)}" data-value="{v:g}">'
                     f'<title>{escape(label)}: {_fmt(v)} {escape(unit)}</title></rect>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + row_px * 0.65:.1f}" font-size="12">'
                     f'{_fmt(v)} {escape(unit)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _y_axis(left: int, top: int, plot_w: float, plot_h: float, y_max: float, unit: str) -> list[str]:
    out = []
    for i in range(5):
        v = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_fmt(v)}</text>')
    out.append(f'<text class="unit" x="4" y="{top - 16}" font-size="11" fill="#666">{escape(unit)}</text>')
    return out
