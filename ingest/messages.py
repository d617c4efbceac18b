"""Typed records that cross the pipe between the service process and the worker process.

Everything on the pipe is one of these, pickled: a reader (and a type checker) can follow a
message from paho's callback to the acknowledgement. NamedTuples, not dataclasses: they pickle as
tuples, and the feeder pickles up to 2 000 :class:`Inbound` per chunk on the hot path.

service -> worker: :class:`Deliver` (messages in arrival order), :class:`Stop`.
worker -> service: :class:`Ready`, :class:`Commit` (a batch is written: publish its dead letters,
then acknowledge its messages in order), :class:`Stats`, :class:`Stopped`, :class:`Failed`.
"""

from __future__ import annotations

from typing import NamedTuple


class Inbound(NamedTuple):
    """One MQTT message as the network thread hands it over."""

    gen: int  # connection generation: acks go only to the connection that delivered it
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ms: int
    #: The broker's DUP flag: delivered before and not acknowledged (a crash or a lost connection).
    #: Such messages are handled one by one with a delivery count on disk (ingest/deliveries.py).
    dup: bool = False


class Ack(NamedTuple):
    gen: int
    mid: int
    qos: int


class OutboundDeadLetter(NamedTuple):
    topic: str  # ep/v1/deadletter/<reason>
    payload: bytes  # the dead letter's JSON (docs/mqtt-contract.md)


class Deliver(NamedTuple):
    messages: list[Inbound]


class Stop(NamedTuple):
    pass


class Ready(NamedTuple):
    pass


class Commit(NamedTuple):
    acks: list[Ack]
    deadletters: list[OutboundDeadLetter]
    snapshot: dict


class Stats(NamedTuple):
    snapshot: dict


class Stopped(NamedTuple):
    snapshot: dict  # the counters at the end: a recycled worker's last Stats may never be read


class Failed(NamedTuple):
    error: str


def topic_text(raw: bytes) -> str:
    """A topic as text. Brokers check UTF-8 (MQTT 5 4.7.3), but paho's ``msg.topic`` raises on
    anything else, in its network thread: replaced characters are then refused as ``bad_topic``."""
    return raw.decode("utf-8", errors="replace")
