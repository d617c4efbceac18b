"""Every command-line option of the services says what it is, its variable and its default (issue:
`python -m ingest --help` listed 28 options with no description). Checked on the real --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv", [["ingest"], ["collectors", "serve"]])
def test_every_option_is_described(argv):
    out = subprocess.run([sys.executable, "-m", *argv, "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env={"COLUMNS": "400", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    # One entry per option: its "  --flag" line and the indented help lines under it.
    entries = re.split(r"\n(?=  --)", out.stdout.split("options:", 1)[1])
    options = [" ".join(e.split()) for e in entries if e.lstrip().startswith("--") and "--help" not in e]
    assert len(options) > 10
    # "--flag METAVAR what it is [EP_...; default ...]": the description has lower-case words,
    # which an upper-case metavar never has.
    described = re.compile(r"^--[a-z-]+(?: [A-Z_]+)? (?P<text>.*[a-z].*) \[EP_[A-Z_]+.*; default .*\]$")
    bare = [o.split()[0] for o in options if not described.match(o)]
    assert bare == []
    assert any("[EP_INGEST_CLIENT_ID; default 'ingest-1']" in ln for ln in options) or argv != ["ingest"]
