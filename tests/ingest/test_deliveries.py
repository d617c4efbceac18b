"""Delivery counts of redelivered messages (ingest/deliveries.py): group, then alone, then poison."""

from __future__ import annotations

from ingest.deliveries import POISON_DELIVERY, DeliveryLog, Verdict
from ingest.messages import Inbound


def _m(payload: bytes) -> Inbound:
    return Inbound(1, 1, 1, "ep/v1/510402A001/meter/E-1/telemetry", payload, 0, True)


def test_a_message_that_keeps_killing_the_worker_is_poison_on_its_4th_delivery(tmp_path):
    log = DeliveryLog(tmp_path)
    key = log.key(_m(b"poison"))
    # Each begin() without done() is a delivery during which the worker died.
    assert log.begin(key) == (Verdict.group, 2)  # delivery 1 had no DUP flag: not counted
    assert log.begin(DeliveryLog(tmp_path).key(_m(b"poison"))) == (Verdict.alone, 3)  # a new process: same file
    assert log.begin(key) == (Verdict.poison, POISON_DELIVERY)


def test_innocent_group_mates_are_handled_alone_once_and_forgotten_when_written(tmp_path):
    log = DeliveryLog(tmp_path)
    key = log.key(_m(b"innocent"))
    assert log.begin(key)[0] is Verdict.group  # the worker died on its group
    assert log.begin(key)[0] is Verdict.alone  # handled alone: written this time
    log.done(key)
    assert log.begin(key) == (Verdict.group, 2)  # a later redelivery (a lost connection) starts afresh
    assert log.state(log.key(_m(b"other"))) == (0, False)
