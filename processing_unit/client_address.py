"""Who the client is, for the abuse limits: the peer, or what a trusted proxy says it is.

``X-Forwarded-For`` is believed only when the peer is one of ``SPACEGRID_TRUSTED_PROXIES``
(HAProxy adds it with ``option forwardfor``); otherwise anyone could pick a fresh
"client" per request and never meet a per-client limit. The header is read from the
right: the last address not itself a trusted proxy is the client.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Sequence

from aiohttp import web

Networks = Sequence[IPv4Network | IPv6Network]


def _trusted(address: str, trusted: Networks) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(request: web.Request, trusted: Networks) -> str:
    """The address the per-client limits count against."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    address = peer[0] if isinstance(peer, (tuple, list)) and peer else "unknown"
    if not trusted or not _trusted(address, trusted):
        return address
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, trusted):
            try:
                return str(ip_address(hop))
            except ValueError:
                return address  # garbage from the proxy's client: count it as the proxy
    return address
