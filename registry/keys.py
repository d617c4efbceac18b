"""How collector keys are kept: sealed (Fernet: AES-128-CBC + HMAC-SHA256) with the platform's
collector key secret, never in clear in the database, the logs or an export.

The gateway must know the clear key (it checks ``md5(sequence + key)`` and decrypts AES), so a
one-way hash cannot be used. The secret comes from ``EP_COLLECTOR_KEY_SECRET`` (a Fernet key:
32 random bytes, URL-safe base64; make one with ``python -m collectors new-secret``). In
development (``EP_ENV=development``) a fixed, published secret stands in, with a warning; anywhere
else a missing secret is an error.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger("registry.keys")
_DEV_SECRET = base64.urlsafe_b64encode(hashlib.sha256(b"energy-supervision development only").digest())


_warned: list[bool] = []  # the development-secret warning, once per process


class KeySecretError(RuntimeError):
    pass


def new_secret() -> str:
    return Fernet.generate_key().decode()


def _fernet(secret: str | None = None) -> Fernet:
    secret = secret or os.environ.get("EP_COLLECTOR_KEY_SECRET")
    if not secret:
        if os.environ.get("EP_ENV", "") != "development":
            raise KeySecretError("EP_COLLECTOR_KEY_SECRET is not set (see docs/collectors.md, 'Keys')")
        if not _warned:
            _warned.append(True)
            log.warning("EP_COLLECTOR_KEY_SECRET not set: using the published development secret")
        return Fernet(_DEV_SECRET)
    try:
        return Fernet(secret.encode() if isinstance(secret, str) else secret)
    except ValueError:
        raise KeySecretError("EP_COLLECTOR_KEY_SECRET is not a Fernet key (32 bytes, URL-safe base64)") from None


def seal(clear: str, secret: str | None = None) -> str:
    return _fernet(secret).encrypt(clear.encode("utf-8")).decode("ascii")


def unseal(sealed: str, secret: str | None = None) -> str:
    try:
        return _fernet(secret).decrypt(sealed.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise KeySecretError("a collector key does not open with this secret (was it sealed with another?)") from None
