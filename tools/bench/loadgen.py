"""Load generators for ``spacegrid bench unit``, each in its own process: ``wrk`` when installed, else aiohttp.

Both run a fixed number of connections for a fixed duration against one route, picking a
random seeded product per request, and report ``{requests, seconds, errors, non2xx,
p50_ms, p99_ms}``. wrk (C, multi-threaded) is preferred: a Python client on the same two
cores would cap the figures it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_LUA = """
local ids = {%(ids)s}
local mode = "%(mode)s"
local body_of = function(id) return '{"lines":[{"product_id":"' .. id .. '","quantity":1}]}' end
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local id = ids[math.random(#ids)]
  if mode == "get" then
    return wrk.format("GET", "/products/" .. id)
  end
  return wrk.format("POST", "/orders", nil, body_of(id))
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests":%%d,"seconds":%%f,"errors":%%d,"non2xx":%%d,"p50_ms":%%f,"p99_ms":%%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, mode: str, product_ids: list[str], token: str, connections: int, seconds: float,
            threads: int = 2) -> dict:
    script = _LUA % {"ids": ",".join(f'"{p}"' for p in product_ids), "mode": mode, "token": token}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
             "-s", f.name, url],
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout
    finally:
        Path(f.name).unlink(missing_ok=True)
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def run_python(url: str, mode: str, product_ids: list[str], token: str, connections: int, seconds: float) -> dict:
    """The aiohttp fallback, in a child process (this module's ``main``)."""
    spec = json.dumps({"url": url, "mode": mode, "ids": product_ids, "token": token,
                       "connections": connections, "seconds": seconds})
    out = subprocess.run([sys.executable, "-m", "tools.bench.loadgen", spec], capture_output=True,
                         text=True, timeout=seconds + 60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_load(url: str, mode: str, product_ids: list[str], token: str, connections: int, seconds: float,
             tool: str = "auto") -> dict:
    if tool == "wrk" or (tool == "auto" and have_wrk()):
        return {**run_wrk(url, mode, product_ids, token, connections, seconds), "tool": "wrk"}
    return {**run_python(url, mode, product_ids, token, connections, seconds), "tool": "aiohttp"}


async def _python_load(spec: dict) -> dict:
    import aiohttp

    from tools.bench.results import percentile

    latencies: list[float] = []
    counts = {"errors": 0, "non2xx": 0}
    headers = {"Authorization": f"Bearer {spec['token']}"}
    deadline = time.monotonic() + spec["seconds"]
    rng = random.Random()

    async def worker(http: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            pid = rng.choice(spec["ids"])
            t0 = time.perf_counter()
            try:
                if spec["mode"] == "get":
                    ctx = http.get(f"{spec['url']}/products/{pid}")
                else:
                    ctx = http.post(f"{spec['url']}/orders", headers=headers,
                                    json={"lines": [{"product_id": pid, "quantity": 1}]})
                async with ctx as r:
                    await r.read()
                    if r.status >= 300:
                        counts["non2xx"] += 1
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError):
                counts["errors"] += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.gather(*(worker(http) for _ in range(spec["connections"])))
    return {"requests": len(latencies) + counts["non2xx"], "seconds": time.monotonic() - started, **counts,
            "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    print(json.dumps(asyncio.run(_python_load(json.loads(ap.parse_args().spec)))))


if __name__ == "__main__":
    main()
