"""``python -m ingest``: run the ingest service until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from pydantic import ValidationError

from ingest.service import IngestService
from ingest.settings import parse_args
from storage import logs


def main(argv: list[str] | None = None) -> int:
    try:
        settings = parse_args(argv)
    except ValidationError as e:
        # Each problem without its input value: that may be a password.
        for err in e.errors():
            print(f"error: {'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    service = IngestService(settings).start()
    while not done.wait(0.5):
        if service.failed.is_set():
            logging.getLogger("ingest").error("the worker failed; exiting so that a supervisor restarts us")
            service.stop()
            return 1
    service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
