"""Generated passwords that every place they go takes literally.

A generated password travels through command lines (``--influx-password``, ``--mqtt-password``),
``.env`` files, compose files and CSV. URL-safe characters need no quoting in any of them, but
``secrets.token_urlsafe`` starts one password in 64 with ``-``, and argparse then reads
``--influx-password -abc`` as a missing value followed by an unknown option (CI failed on exactly
that). So the first character is drawn from the letters and digits only.
"""

from __future__ import annotations

import secrets
import string

_FIRST = string.ascii_letters + string.digits


def new_password(nbytes: int = 18) -> str:
    """A random password with ``nbytes`` bytes of entropy from the OS generator, URL-safe, never
    starting with ``-`` (or ``_``, which some shells' completion and some CSV readers treat oddly)."""
    return secrets.choice(_FIRST) + secrets.token_urlsafe(nbytes)
