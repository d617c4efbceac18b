"""Server-side SVG charts: the drawn geometry matches the data."""

from __future__ import annotations

import re

import pytest

from api.disclosure.charts import horizontal_bars_svg, monthly_stacked_svg, nice_ceiling


@pytest.mark.parametrize(("value", "ceiling"), [(0, 1), (1, 1), (7, 10), (1.5, 2), (2.2, 2.5), (3400, 5000),
                                                (0.031, 0.05), (100, 100)])
def test_nice_ceiling(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def _bars(svg: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', m)) for m in re.findall(r"<rect ([^>]*)>", svg)]


def test_monthly_stacked_heights_are_proportional():
    monthly = {"hvac": (300.0,) + (0.0,) * 11, "lighting_sockets": (100.0,) * 12}
    svg = str(monthly_stacked_svg(monthly, height_px=300, title="t"))
    bars = _bars(svg)
    assert len(bars) == 24  # 12 months x 2 sub-items
    # January stacks 100 + 300 = 400 kWh; axis max is nice_ceiling(400) = 500; plot height 300-28-40 = 232 px.
    jan = {b["data-sub-item"]: b for b in bars if b["data-month"] == "1"}
    assert float(jan["hvac"]["height"]) == pytest.approx(232 * 300 / 500, abs=0.01)
    assert float(jan["lighting_sockets"]["height"]) == pytest.approx(232 * 100 / 500, abs=0.01)
    # Stacked: HVAC sits on top of lighting (MOHURD order draws lighting first, from the bottom).
    assert float(jan["hvac"]["y"]) + float(jan["hvac"]["height"]) == pytest.approx(float(jan["lighting_sockets"]["y"]),
                                                                                   abs=0.1)
    assert 'data-y-max-kwh="500"' in svg


def test_horizontal_bars_escape_labels_and_scale_to_largest():
    svg = str(horizontal_bars_svg([("a", "<b>x</b>", 50.0), ("b", "y", 200.0)], unit="kWh", width_px=520))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    widths = {b["data-key"]: float(b["width"]) for b in _bars(svg)}
    assert widths["b"] == pytest.approx(520 - 170 - 110)  # the largest bar fills the plot width
    assert widths["a"] == pytest.approx(widths["b"] / 4)  # 50 / 200
