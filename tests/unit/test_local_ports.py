"""Ports for local engines and units: never where a client's own connection can land."""

from __future__ import annotations

import socket
import threading

from tools.local.processes import ephemeral_ports, free_ports, port_is_free
from tools.local.units import ready_status


def test_free_ports_are_free_and_outside_the_kernels_source_port_range() -> None:
    ephemeral = ephemeral_ports()
    for count in (1, 2, 8):
        for _ in range(50):
            ports = free_ports(count)
            assert ports == list(range(ports[0], ports[0] + count))
            assert all(p not in ephemeral and port_is_free(p) for p in ports), (ports, ephemeral)


def test_a_readiness_probe_answered_by_its_own_request_is_not_ready_rather_than_an_error() -> None:
    """What a probe sees when it connects to itself (TCP simultaneous open): its request echoed."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def echo_once() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(4096))

    echo = threading.Thread(target=echo_once, daemon=True)
    echo.start()
    try:
        assert ready_status(port) is None
    finally:
        echo.join(timeout=5)
        server.close()
