"""API keys: generated once, shown once, stored as a salted scrypt hash.

A key reads ``ep_<key_id>_<secret>``. ``key_id`` (public) finds the row; the secret is checked
against its scrypt hash with a constant-time comparison. Verified keys are cached for a short
time (``EP_KEY_CACHE_TTL_S``) so that scrypt's deliberate cost is paid once per key and
process, not on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import ApiKey, User

# scrypt cost: 16 MiB and ~50 ms per check on this machine; keys are random, so this guards
# a stolen database rather than a guessable password.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class Role:
    administrator = "administrator"
    bureau_staff = "bureau_staff"
    auditor = "auditor"
    facility_manager = "facility_manager"
    all = ("administrator", "bureau_staff", "auditor", "facility_manager")


def hash_secret(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def issue_key(session: Session, *, user: User) -> str:
    """Create a key for ``user`` and return it in clear text (the only time it exists)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    session.add(ApiKey(key_id=key_id, user_id=user.id, salt=salt, secret_hash=hash_secret(secret, salt)))
    session.flush()
    return f"ep_{key_id}_{secret}"


def create_user(session: Session, *, name: str, role: str, email: str | None = None) -> tuple[User, str]:
    """A new user with a first API key; returns the user and the clear-text key."""
    if role not in Role.all:
        raise ValueError(f"role {role!r} is not one of {list(Role.all)}")
    user = User(name=name, role=role, email=email)
    session.add(user)
    session.flush()
    return user, issue_key(session, user=user)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the routes see it."""

    user_id: int
    name: str
    role: str


class _KeyCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, Principal]] = {}

    def get(self, digest: str, ttl_s: float) -> Principal | None:
        with self._lock:
            hit = self._items.get(digest)
        if hit is None or time.monotonic() - hit[0] > ttl_s:
            return None
        return hit[1]

    def put(self, digest: str, principal: Principal) -> None:
        with self._lock:
            if len(self._items) > 10_000:  # bounded: a flood of keys cannot grow memory
                self._items.clear()
            self._items[digest] = (time.monotonic(), principal)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


key_cache = _KeyCache()


def key_digest(presented: str) -> str:
    # The cache is keyed by a hash of the whole key so the clear key is never held in memory.
    return hashlib.sha256(presented.encode()).hexdigest()


def cached_principal(presented: str, *, cache_ttl_s: float) -> Principal | None:
    """The principal of a key verified within the last ``cache_ttl_s`` (no database, no scrypt)."""
    return key_cache.get(key_digest(presented), cache_ttl_s) if cache_ttl_s > 0 else None


def authenticate(session: Session, *, presented: str, cache_ttl_s: float) -> Principal | None:
    """The principal for a presented key, or None when it is unknown, wrong or revoked."""
    digest = key_digest(presented)
    if cache_ttl_s > 0 and (hit := key_cache.get(digest, cache_ttl_s)) is not None:
        return hit
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "ep" or not parts[1] or not parts[2]:
        return None
    row = session.execute(
        select(ApiKey, User).join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_id == parts[1], ApiKey.revoked_at.is_(None))
    ).first()
    if row is None:
        # Same work as a real check, so timing does not reveal which key ids exist.
        hmac.compare_digest(hash_secret(parts[2], b"0" * 16), b"\0" * 32)
        return None
    key, user = row
    if not hmac.compare_digest(hash_secret(parts[2], key.salt), key.secret_hash):
        return None
    principal = Principal(user_id=user.id, name=user.name, role=user.role)
    if cache_ttl_s > 0:
        key_cache.put(digest, principal)
    return principal
