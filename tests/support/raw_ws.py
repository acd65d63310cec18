"""A WebSocket client that never reads: a plain TCP socket with a tiny receive buffer.

Used to show what the server does with a reader that does not keep up: its kernel buffers
fill after a few KB, so the server's sends stall as they would for a stalled browser tab.
"""

from __future__ import annotations

import base64
import os
import socket


def connect_never_reading(host: str, port: int, path: str, rcvbuf: int = 4096, timeout: float = 10.0) -> socket.socket:
    """Open ``ws://host:port/path``, read the 101 answer, then leave the socket unread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: the window stays small
    sock.settimeout(timeout)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: nothing past the head is read
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise ConnectionError(f"no upgrade: {status!r}")
    return sock


def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Read everything left; True when the server ended the connection (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
