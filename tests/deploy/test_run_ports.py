"""deploy/run.py keeps its fixed ports across a quick restart and names a port it cannot have."""

from __future__ import annotations

import socket

import pytest

from deploy.localservers import free_port
from deploy.run import _port


def test_a_port_left_in_time_wait_is_kept():
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    conn, _ = server.accept()
    # The side that closes first keeps the port in TIME_WAIT: the server's, as after a restart.
    conn.close()
    server.close()
    client.recv(1)
    client.close()
    # The situation of the bug: a bind without address reuse fails on that port ...
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))
    # ... and the platform keeps it all the same.
    assert _port(port, "MQTT broker") == port


def test_a_port_held_by_another_listener_is_an_error_naming_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"MQTT broker: port {port} "):
            _port(port, "MQTT broker")
