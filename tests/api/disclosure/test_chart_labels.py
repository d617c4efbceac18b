"""Chart labels drawn in a real headless Chromium do not overlap each other and stay inside the
drawing, with the largest values and longest labels the pages show. Screenshot in test-artifacts/."""

from __future__ import annotations

import os

import pytest

from api.disclosure import labels
from api.disclosure.charts import horizontal_bars_svg, monthly_stacked_svg
from tests.api.disclosure.browser import Browser, chromium_path
from tests.api.disclosure.conftest import ARTIFACTS

pytestmark = pytest.mark.skipif(chromium_path() is None and not os.environ.get("CI"),
                                reason="needs the Debian package chromium (deploy/bootstrap.sh installs it)")

# Checks every pair of <text> boxes of every chart; returns the offending pairs and escapes, by text.
OVERLAPS_JS = """
(() => {
  const out = [];
  for (const svg of document.querySelectorAll('svg')) {
    const box = svg.getBoundingClientRect();
    const t = [...svg.querySelectorAll('text')].map(e => [e.textContent, e.getBoundingClientRect()]);
    for (const [s, r] of t) {
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.push(svg.id + ': outside: ' + s);
    }
    for (let i = 0; i < t.length; i++) for (let j = i + 1; j < t.length; j++) {
      const [a, ra] = t[i], [b, rb] = t[j];
      if (ra.left < rb.right && rb.left < ra.right && ra.top < rb.bottom && rb.top < ra.bottom)
        out.push(svg.id + ': ' + a + ' / ' + b);
    }
  }
  return out;
})()
"""


def test_chart_labels_do_not_overlap(tmp_path):
    # A large building: 4 x 3,000,000 kWh a month stacks to 12,000,000; the axis goes to nice_ceiling = 2 x 10^7 kWh,
    # whose tick label "20,000,000" is the widest the monthly chart draws.
    monthly = {s: (3_000_000.0,) * 12 for s in labels.SUB_ITEM}
    carriers = [(c, labels.bi(labels.CARRIER, c), 12_345_678.9) for c in labels.CARRIER]
    sub_items = [(s, labels.bi(labels.SUB_ITEM, s), 36_000_000.0) for s in labels.SUB_ITEM]
    page = ("<!doctype html><html><head><meta charset='utf-8'><style>body{font-family:'Noto Sans CJK SC',"
            "sans-serif;margin:0}svg{display:block;margin:8px}</style></head><body>"
            + str(monthly_stacked_svg(monthly, title="m")).replace("<svg ", "<svg id='monthly' ", 1)
            + str(horizontal_bars_svg(sub_items, unit="kWh")).replace("<svg ", "<svg id='sub' ", 1)
            + str(horizontal_bars_svg(carriers, unit="tce")).replace("<svg ", "<svg id='carriers' ", 1)
            + "</body></html>")
    (tmp_path / "charts.html").write_text(page, encoding="utf-8")
    b = Browser()
    try:
        b.goto((tmp_path / "charts.html").as_uri())
        assert b.js("document.querySelectorAll('svg text').length") > 40
        overlaps = b.js(OVERLAPS_JS)
        b.screenshot(ARTIFACTS / "chart_labels.png")
    finally:
        b.close()
    assert overlaps == []
