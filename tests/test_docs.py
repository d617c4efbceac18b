"""The README is the newcomer's door: it links every document in docs/ (issue: it linked 3 of 13)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_links_every_doc():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert len(docs) > 10
    assert [d for d in docs if f"`{d}`" not in readme] == []
