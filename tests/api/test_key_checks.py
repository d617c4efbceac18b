"""A key is checked once however many requests present it while its cache entry is missing.

Under load every request in flight misses together when a busy key's entry expires: 50 clients
ran 50 scrypt checks (41 ms each) at once, and the server answered nothing for about a second
(docs/benchmarks/api.md). The requests that arrive during a check await that one check."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from api import security
from api.security import key_cache


def _counting_scrypt(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = security.hash_secret

    def slow(secret: str, salt: bytes) -> bytes:
        calls.append(1)
        time.sleep(0.3)  # all 20 requests below arrive while the first check runs
        return real(secret, salt)

    monkeypatch.setattr(security, "hash_secret", slow)
    return calls


def _at_once(world, headers: dict[str, str], n: int = 20) -> list[int]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: world.client.get("/buildings", headers=headers).status_code, range(n)))


def test_concurrent_requests_of_one_key_share_one_check(world, monkeypatch):
    calls = _counting_scrypt(monkeypatch)
    key_cache.clear()  # as when the entry expires
    assert _at_once(world, world.as_("auditor")) == [200] * 20
    assert len(calls) == 1  # not 20
    assert world.app.state.key_checks == {}  # nothing left behind


def test_a_wrong_key_fails_every_request_that_shares_its_check(world, monkeypatch):
    calls = _counting_scrypt(monkeypatch)
    key_id = world.keys["auditor"].split("_")[1]
    assert _at_once(world, {"Authorization": f"Bearer ep_{key_id}_not-the-secret"}) == [401] * 20
    assert len(calls) == 1
