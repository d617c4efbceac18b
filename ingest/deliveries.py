"""Delivery counts of redelivered messages, on disk: no message may kill the worker forever.

Why: a message that kills the worker (a crash outside Python's exception handling, memory
exhaustion, a bug in a C extension) is not acknowledged, so the broker delivers it again to the
restarted service, which dies again: a crash loop that also strands every good message queued
behind it. Per-message isolation (ingest/pipeline.py) stops every *exception*; this stops the rest.

How: a message the broker delivers again carries the MQTT **DUP** flag (it was sent before and not
acknowledged: the worker died, or the connection was lost). Only such messages are counted, so
the normal path costs nothing. The worker handles them **one at a time**, each as its own batch,
and before handling one it increments a small counter file named after the hash of its topic and
payload; once the message is written (or dead-lettered) the file is removed. A message that comes
back once more with its file still there was being handled when the worker died. Delivery number
``n`` = 1 (the first, uncounted) + the count on disk + 1 (this one); at ``n >= max_deliveries`` the
message is dead-lettered ``poison_message`` instead of handled. Innocent messages redelivered with
it are handled (and their files removed) before or after it, one by one, so they never accumulate.

Durability: the file is replaced atomically (``os.replace``) without ``fsync``: it survives the
death of the process (the kernel keeps the page), not a power cut (then the count starts again,
at worst one more crash). The files live in ``delivery_state_dir`` (default: the system temp
directory), one directory per client id, since each client id is its own broker session.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from ingest.messages import Inbound

log = logging.getLogger("ingest.deliveries")


def default_dir(client_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)[:100] or "_"
    return Path(tempfile.gettempdir()) / "ep-ingest-deliveries" / safe


class DeliveryLog:
    def __init__(self, directory: Path, max_deliveries: int):
        self.dir = directory
        self.max_deliveries = max_deliveries
        directory.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(m: Inbound) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(m.topic.encode("utf-8", errors="surrogatepass"))
        h.update(b"\0")
        h.update(m.payload)
        return h.hexdigest()

    def count(self, key: str) -> int:
        """Earlier deliveries of a redelivered message that were being handled when the worker died."""
        try:
            return int((self.dir / key).read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def begin(self, key: str) -> int | None:
        """Count one more handling of a redelivered message. Returns its delivery number when it
        must be dead-lettered instead (``poison_message``), else None (handle it)."""
        n = self.count(key)
        delivery = n + 2
        if delivery >= self.max_deliveries:
            return delivery
        tmp = self.dir / f"{key}.tmp"
        tmp.write_text(str(n + 1))
        os.replace(tmp, self.dir / key)
        return None

    def done(self, key: str) -> None:
        (self.dir / key).unlink(missing_ok=True)
