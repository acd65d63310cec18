"""``GET /ws``: a user's live messages over a WebSocket (order changes; stock alerts for admins).

The handler is thin: authenticate, subscribe at the hub, then three tasks until one ends:
send what the hub queues, read (pongs, the client's close), and wait for the hub to give
up on the socket (too slow, shutdown). Every refusal is a close frame with a code and a
reason, never an HTTP error after the upgrade:

======  =============================================================================
 4401   no token, bad or expired token, unknown user (a token comes in ``Authorization:
        Bearer``, in the offered subprotocol ``spacegrid.token.<token>``, or in ``?token=``)
 4400   a cursor this server did not issue (malformed, wrong number of positions)
 4410   a cursor older than the retention window, or from another stream
 4429   the user already holds ``SPACEGRID_WS_MAX_PER_USER`` sockets
 1013   try again later: the unit is full, the stream is not connected yet, the grid
        did not answer, or this socket read too slowly (its queue overflowed)
 1001   the unit is shutting down
======  =============================================================================
"""

from __future__ import annotations

import asyncio
import socket as sockets
import time

from aiohttp import WSMsgType, web

from grid_config.errors import GridError
from processing_unit.errors import Unauthorized
from processing_unit.keys import LIVE, METRICS, SERVICES, SETTINGS
from processing_unit.live.cursor import CursorError
from processing_unit.live.hub import TRY_AGAIN, Closing, Refused, Subscriber
from processing_unit.metrics import UnitMetrics
from processing_unit.problems import problem_response
from processing_unit.routes.spec import RouteSpec

UNAUTHORIZED = 4401
#: a close handshake (or an unread socket's buffer) gets this long before the TCP connection is cut
CLOSE_TIMEOUT_S = 2.0
#: bytes one socket may hold unsent: in aiohttp's writer, in the transport, in the kernel's
#: send buffer (the kernel doubles it). Past them a send waits, the socket's queue fills, and
#: a reader that does not keep up is closed: at most ~100 KB of buffers per socket.
WRITER_LIMIT = 16 * 1024
TRANSPORT_HIGH_WATER = 16 * 1024
KERNEL_SEND_BUFFER = 32 * 1024
#: clients send nothing but control frames; a larger message closes the socket
MAX_CLIENT_MESSAGE = 4096


#: the subprotocol a unit answers with, and the prefix of the one that carries a token:
#: a browser cannot set ``Authorization`` on a WebSocket, but it can offer subprotocols,
#: ``new WebSocket(url, [PROTOCOL, TOKEN_PROTOCOL + token])``; unlike ``?token=``, a header
#: stays out of URLs and so out of proxies' and browsers' logs and histories. A signed
#: token is made of characters a subprotocol name may hold (letters, digits, ``-_.``).
PROTOCOL = "spacegrid.live"
TOKEN_PROTOCOL = "spacegrid.token."


def _token_protocols(request: web.Request) -> tuple[str, ...]:
    """The offered subprotocols that carry a token (at most one is used)."""
    offered = (p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(","))
    return tuple(p for p in offered if p.startswith(TOKEN_PROTOCOL) and len(p) > len(TOKEN_PROTOCOL))


def _token(request: web.Request, offered: tuple[str, ...]) -> str:
    """``Authorization: Bearer``, else the first of the ``offered`` token subprotocols, else ``?token=``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if offered:
        return offered[0][len(TOKEN_PROTOCOL):]
    return request.query.get("token", "").strip()


async def websocket(request: web.Request) -> web.StreamResponse:
    offered = _token_protocols(request)
    socket = web.WebSocketResponse(
        heartbeat=request.app[SETTINGS].ws_heartbeat_s, compress=False, writer_limit=WRITER_LIMIT,
        max_msg_size=MAX_CLIENT_MESSAGE, timeout=CLOSE_TIMEOUT_S,
        # the token's own subprotocol is known too: offered alone, aiohttp would otherwise log
        # "protocols don't overlap" with the offered ones (the token) at WARNING, and a
        # browser would fail the handshake; offered after PROTOCOL, PROTOCOL is chosen
        protocols=(PROTOCOL, *offered),
    )
    if not socket.can_prepare(request).ok:
        return problem_response(426, "Upgrade required", "GET /ws is a WebSocket: send 'Upgrade: websocket'",
                                "upgrade-required", headers={"Upgrade": "websocket"})
    await socket.prepare(request)
    transport = request.transport
    _bound_buffers(transport)
    metrics, services = request.app[METRICS], request.app[SERVICES]
    try:
        token = _token(request, offered)
        if not token:
            raise Unauthorized(f"send Authorization: Bearer <token>, or offer the subprotocols {PROTOCOL} and "
                               f"{TOKEN_PROTOCOL}<token> (POST /sessions gives one)")
        user_id = services.identity.tokens.verify(token)
        user = await services.identity.user(user_id)
        sub = request.app[LIVE].subscribe(user_id, bool(user.get("is_admin")), request.query.get("after"))
    except Unauthorized as e:
        return await _close(socket, transport, UNAUTHORIZED, e.detail, metrics)
    except CursorError as e:
        return await _close(socket, transport, e.code, str(e), metrics)
    except Refused as e:
        return await _close(socket, transport, e.code, e.reason, metrics)
    except (GridError, TimeoutError):
        return await _close(socket, transport, TRY_AGAIN, "the data grid did not answer; retry shortly", metrics)
    metrics.ws_connections.inc()
    try:
        await _serve(socket, sub, metrics)
    finally:
        request.app[LIVE].unsubscribe(sub)
        metrics.ws_connections.dec()
    if sub.closing is not None:
        return await _close(socket, transport, *sub.closing, metrics)
    return await _close(socket, transport, 1000, "", metrics)


def _bound_buffers(transport: asyncio.Transport | None) -> None:
    if transport is None:
        return
    transport.set_write_buffer_limits(high=TRANSPORT_HIGH_WATER)
    raw = transport.get_extra_info("socket")
    if raw is not None:
        try:
            raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, KERNEL_SEND_BUFFER)
        except OSError:
            pass


async def _serve(socket: web.WebSocketResponse, sub: Subscriber, metrics: UnitMetrics) -> None:
    tasks = [
        asyncio.create_task(_send(socket, sub, metrics)),
        asyncio.create_task(_read(socket)),
        asyncio.create_task(sub.gone.wait()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _send(socket: web.WebSocketResponse, sub: Subscriber, metrics: UnitMetrics) -> None:
    sent = {t: metrics.ws_sent.labels(t) for t in ("order", "stock_low", "ready")}
    try:
        while True:
            text, item, live = await sub.next()
            await socket.send_str(text)
            if item is None:
                sent["ready"].inc()
                continue
            sent[item.type].inc()
            if live:
                metrics.ws_delay.observe(max(0.0, time.time() - item.changed_at))
    except (Closing, ConnectionError):
        return


async def _read(socket: web.WebSocketResponse) -> None:
    """Consume what the client sends (control frames; text is ignored) until it closes."""
    async for msg in socket:
        if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            return


async def _close(socket: web.WebSocketResponse, transport: asyncio.Transport | None, code: int, reason: str,
                 metrics: UnitMetrics) -> web.WebSocketResponse:
    """Close with ``code`` and ``reason`` (cut to the frame's 123 bytes); cut the connection
    when the client does not take the close frame in time (a reader that never reads)."""
    if not socket.closed:
        metrics.ws_closed.labels(str(code)).inc()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await socket.close(code=code, message=reason.encode()[:123])
    except (TimeoutError, ConnectionError):
        if transport is not None:
            transport.abort()
    return socket


ROUTES = [
    RouteSpec("GET", "/ws", "live.ws", websocket,
              "WebSocket of live messages: order changes, stock alerts (admins); a token in Authorization, "
              "the subprotocol spacegrid.token.<token> (with spacegrid.live) or ?token=; ?after=<cursor>",
              status=101, content_type="text/plain", errors=(426,), tags=("live",), streaming=True),
]
