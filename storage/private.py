"""Files only their owner may read (keys, passwords, settings that carry secrets)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` so that only the owner can ever read it (mode 0600 from creation on, not a
    chmod after the fact), replacing ``path`` atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a temporary file left by a crash keeps its old mode through O_TRUNC
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
