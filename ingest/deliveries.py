"""Delivery counts of redelivered messages, on disk: no message may kill the worker forever.

Why: a message that kills the worker (a crash outside Python's exception handling, memory
exhaustion, a bug in a C extension) is not acknowledged, so the broker delivers it again to the
restarted service, which dies again: a crash loop that also strands every good message queued
behind it. Per-message isolation (ingest/pipeline.py) stops every *exception*; this stops the rest.

How: a message the broker delivers again carries the MQTT **DUP** flag (it was sent before and not
acknowledged: the worker died, or the connection was lost). Only such messages are counted, so
the normal path costs nothing. Before the worker handles one, it writes a small file named after
the hash of its topic and payload: how many times the message was being handled when the worker
died, and whether the last time it was handled **alone**. Once the message is written (or
dead-lettered) the file is removed, so a file that is still there on the next delivery means the
worker died while the message was in its hands. Per delivery:

1. the first delivery carries no DUP flag: not counted;
2. no file yet: handled in a **group** with other redelivered messages (a batch of up to
   :data:`GROUP_MESSAGES`), the file says "1, in a group";
3. a file "in a group": it was one of a group the worker died on. Handled **alone** (after
   everything before it is written, as its own batch): the file says "2, alone";
4. a file "alone": it killed the worker by itself: dead-lettered ``poison_message``, unread.

So a poison message is dead-lettered on its 4th delivery (:data:`POISON_DELIVERY`), and the
innocent messages redelivered with it are handled in groups (then alone, once, if they shared its
group) and never dead-lettered. Groups keep a restart after a crash (up to ``receive_maximum``
messages redelivered) from becoming thousands of one-message writes. The one way to dead-letter
an innocent message: the worker is killed from outside (SIGKILL, the OOM killer because of
another process) twice, once while the message is in a group and once while it is alone.

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
from enum import StrEnum
from pathlib import Path

from ingest.messages import Inbound

log = logging.getLogger("ingest.deliveries")


def default_dir(client_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", client_id)[:100] or "_"
    return Path(tempfile.gettempdir()) / "ep-ingest-deliveries" / safe


#: Redelivered messages handled in one batch while no death is blamed on them yet. [1]
GROUP_MESSAGES = 500


class Verdict(StrEnum):
    group = "group"  # handle it with other redelivered messages
    alone = "alone"  # handle it as its own batch, nothing else in the worker's hands
    poison = "poison"  # dead-letter it unread


#: The delivery on which a message that killed the worker alone is dead-lettered. [1]
POISON_DELIVERY = 4


class DeliveryLog:
    def __init__(self, directory: Path):
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._mine: set[str] = set()  # files this process wrote and has not removed yet

    @staticmethod
    def key(m: Inbound) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(m.topic.encode("utf-8", errors="surrogatepass"))
        h.update(b"\0")
        h.update(m.payload)
        return h.hexdigest()

    def state(self, key: str) -> tuple[int, bool]:
        """(deaths while the message was being handled, the last one while it was alone)."""
        try:
            deaths, how = (self.dir / key).read_text().split()
            return int(deaths), how == "alone"
        except (FileNotFoundError, ValueError):
            return 0, False

    def begin(self, key: str) -> tuple[Verdict, int]:
        """Decide how to handle a redelivered message and record that it is being handled.
        Returns the verdict and the message's delivery number."""
        deaths, alone = self.state(key)
        delivery = deaths + 2  # the first delivery (not counted) + the deaths + this one
        if alone:
            return Verdict.poison, delivery
        verdict = Verdict.alone if deaths else Verdict.group
        tmp = self.dir / f"{key}.tmp"
        tmp.write_text(f"{deaths + 1} {verdict.value}")
        os.replace(tmp, self.dir / key)
        self._mine.add(key)
        return verdict, delivery

    def done(self, key: str) -> None:
        (self.dir / key).unlink(missing_ok=True)
        self._mine.discard(key)

    def release_all(self) -> None:
        """An orderly stop (SIGTERM, shutdown with writes pending): the messages in our hands did not
        kill us, so their files must not count against them on the next delivery."""
        for key in list(self._mine):
            self.done(key)
