"""``python -m tests.e2e.junk_flood URL COUNT ADDRESS``: COUNT concurrent junk logins from ADDRESS.

Its own process, as an attacker is: the flood's client work does not share the event
loop (or the GIL) of the test that times a real login meanwhile. Prints ``ready`` when it
fires, then one JSON line: every status and the slowest answer in ms.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp


async def flood(url: str, count: int, address: str) -> dict[str, object]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=count)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def one(i: int) -> tuple[int, float, str | None]:
            started = time.perf_counter()
            body = {"email": f"junk{i}@security.invalid", "password": f"junk-password-{i}"}
            async with http.post(f"{url}/sessions", json=body) as r:
                await r.read()
                return r.status, time.perf_counter() - started, r.headers.get("Retry-After")

        print("ready", flush=True)
        results = await asyncio.gather(*(one(i) for i in range(count)))
    return {
        "statuses": [s for s, _, _ in results],
        "slowest_ms": round(max(t for _, t, _ in results) * 1000),
        "retry_after_missing": sum(1 for s, _, ra in results if s in (429, 503) and not ra),
    }


if __name__ == "__main__":
    url, count, address = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(flood(url, count, address))), flush=True)
