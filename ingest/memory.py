"""Give freed memory back to the operating system after a backlog.

CPython frees the objects of a drained backlog, but glibc's allocator keeps the pages of large
allocations (payloads, line strings) in its heap for reuse, so the process stays at its peak for
good. ``malloc_trim(0)`` returns the free pages at the top of every arena. Not glibc (musl, macOS):
nothing to do, the call is skipped.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

_libc = None
try:
    _name = ctypes.util.find_library("c")
    if _name:
        _libc = ctypes.CDLL(_name)
        _libc.malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):
    _libc = None


def release() -> None:
    """Collect cycles and return free heap pages to the OS (glibc)."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)


#: Container allocations between young-generation collections in the worker process (CPython's
#: default is 700). A reading allocates some ten tracked objects (its decoded model, dicts, point,
#: register reading, interval update), so the default ran a collection every ~70 readings and a
#: full one, which walks the whole interval cache, every few thousand: a quarter of the hot path's
#: CPU on gateway batches (docs/benchmarks/ingest-issue13.md). Nearly all of it is freed by
#: reference counting; the rare cycles wait a little longer, and an idle worker collects anyway
#: (:func:`release`). [1]
WORKER_GC_THRESHOLDS = (10_000, 10, 10)


def tune_gc() -> None:
    """The worker process's collector policy: fewer collections, startup objects left out of them."""
    # Modules, pydantic schemas and the fleet index live as long as the process: never scan them.
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLDS)


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (Linux ``/proc``). [B]"""
    with open(f"/proc/{pid}/statm") as f:
        pages = int(f.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")
