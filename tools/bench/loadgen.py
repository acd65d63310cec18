"""Load generators, each in its own process (no shared event loop or GIL with the units).

Closed loop, for ``spacegrid bench unit``: ``wrk`` when installed, else aiohttp. Both run a
fixed number of connections for a fixed duration against one route, picking a random
seeded product per request, and report ``{requests, seconds, errors, non2xx, p50_ms,
p99_ms}``. wrk (C, multi-threaded) is preferred: a Python client on the same two cores
would cap the figures it measures.

Open loop, for ``spacegrid bench compare`` (:func:`run_open_loop`, docs/benchmarks.md §1):
requests arrive at a fixed offered rate on a schedule drawn before the step
(:mod:`tools.bench.arrivals`), whatever the answers do; each latency runs from the
request's due time, so a late answer cannot hide the queueing it causes (no coordinated
omission). In-flight requests are bounded: an arrival that finds the bound reached is not
sent and counts as dropped. The generator also reports how late it started requests
(``send_lag_p99_ms``): a high figure means the generator itself was short of CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

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


def wrk_command(url: str, script: str, connections: int, seconds: float, threads: int = 2) -> list[str]:
    """wrk's arguments; it refuses more threads than connections (the sequential measurements use one)."""
    return ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{seconds:g}s",
            "--timeout", "10s", "-s", script, url]


def run_wrk(url: str, mode: str, product_ids: list[str], token: str, connections: int, seconds: float,
            threads: int = 2) -> dict:
    script = _LUA % {"ids": ",".join(f'"{p}"' for p in product_ids), "mode": mode, "token": token}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(wrk_command(url, f.name, connections, seconds, threads),
                             capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
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


# ---- open loop ------------------------------------------------------------------------
Request = tuple[str, Callable[[], Awaitable[bool]]]
ERROR_KINDS = 50


@dataclass
class Tally:
    """What one open-loop step saw, per request name; each list is bounded by the schedule."""

    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    #: "name: why" -> count, for the first :data:`ERROR_KINDS` distinct reasons (then "other")
    error_kinds: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    send_lag_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0


async def drive_open_loop(offsets: Iterable[float], next_request: Callable[[], Request],
                          max_in_flight: int) -> Tally:
    """Start a request at each due time (seconds from now), at most ``max_in_flight`` at once.

    The dispatcher never awaits an answer: a slow request delays no later arrival. Latency
    is answer time minus due time; a request that raises (connection error, timeout) is an
    error with its latency recorded too; an arrival over the bound is dropped, not queued.
    """
    if max_in_flight < 1:
        raise ValueError("max_in_flight must be >= 1")
    loop = asyncio.get_running_loop()
    tally = Tally()
    in_flight: set[asyncio.Task[None]] = set()
    start = loop.time()

    async def one(name: str, send: Callable[[], Awaitable[bool]], due: float) -> None:
        tally.send_lag_ms.append((loop.time() - due) * 1000)
        why = "failed"
        try:
            ok = await send()
        except Exception as exc:  # noqa: BLE001 - any failure of one request is that request's error
            ok, why = False, (str(exc) or type(exc).__name__)[:160]
        tally.latencies_ms.setdefault(name, []).append((loop.time() - due) * 1000)
        if not ok:
            tally.errors[name] += 1
            kind = f"{name}: {why}"
            tally.error_kinds[kind if kind in tally.error_kinds or len(tally.error_kinds) < ERROR_KINDS
                              else "other"] += 1

    for offset in offsets:
        due = start + offset
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        name, send = next_request()
        if len(in_flight) >= max_in_flight:
            tally.dropped[name] += 1
            continue
        task = loop.create_task(one(name, send, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    tally.elapsed_s = loop.time() - start
    return tally


def summarize(tally: Tally, offered_rps: float, seconds: float) -> dict[str, Any]:
    """A step's figures: offered and achieved rate (successful answers per second), errors,
    dropped arrivals and latency percentiles, overall and per request name."""
    from tools.bench.results import percentile

    def figures(lat: list[float], errors: int, dropped: int) -> dict[str, Any]:
        return {"requests": len(lat) + dropped, "ok": len(lat) - errors, "errors": errors, "dropped": dropped,
                "p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95), "p99_ms": percentile(lat, 99)}

    every = [x for lat in tally.latencies_ms.values() for x in lat]
    total = figures(every, sum(tally.errors.values()), sum(tally.dropped.values()))
    window = max(seconds, tally.elapsed_s)
    names = sorted(set(tally.latencies_ms) | set(tally.dropped))
    return {
        # scheduled: what the (random) schedule actually offered; achieved is judged against it
        "offered_rps": offered_rps, "scheduled_rps": total["requests"] / seconds if seconds > 0 else 0.0,
        "achieved_rps": total["ok"] / window if window > 0 else 0.0, **total,
        "seconds": seconds, "elapsed_s": tally.elapsed_s, "send_lag_p99_ms": percentile(tally.send_lag_ms, 99),
        "routes": {n: figures(tally.latencies_ms.get(n, []), tally.errors[n], tally.dropped[n]) for n in names},
        "error_kinds": dict(tally.error_kinds.most_common()),
    }


async def _open_loop(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    from tools.bench.arrivals import arrival_offsets
    from tools.bench.shop_requests import Shop

    timeout = aiohttp.ClientTimeout(total=spec["timeout_s"])
    connector = aiohttp.TCPConnector(limit=spec["max_in_flight"])
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        shop = Shop(http, spec["url"], spec["product_ids"], spec["shopper_tokens"], spec["admin_token"], spec["seed"])
        offsets = arrival_offsets(spec["rate"], spec["seconds"], spec["arrivals"], spec["seed"])
        tally = await drive_open_loop(offsets, lambda: shop.next_request(spec["route"]), spec["max_in_flight"])
    return summarize(tally, spec["rate"], spec["seconds"])


def run_open_loop(url: str, route: str, rate: float, seconds: float, *, product_ids: list[str],
                  shopper_tokens: list[str], admin_token: str, arrivals: str = "poisson", seed: int | None = None,
                  max_in_flight: int = 512, timeout_s: float = 5.0) -> dict[str, Any]:
    """One open-loop step in a child process (this module's ``main``); its :func:`summarize` dict."""
    repo_root = Path(__file__).resolve().parents[2]
    spec = {"loop": "open", "url": url, "route": route, "rate": rate, "seconds": seconds, "arrivals": arrivals,
            "seed": seed, "max_in_flight": max_in_flight, "timeout_s": timeout_s, "product_ids": product_ids,
            "shopper_tokens": shopper_tokens, "admin_token": admin_token}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(repo_root), os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run([sys.executable, "-m", "tools.bench.loadgen", "-"], input=json.dumps(spec),
                         capture_output=True, text=True, cwd=repo_root, env=env, check=False,
                         timeout=seconds + timeout_s + 60)
    if out.returncode != 0:
        raise RuntimeError(f"open-loop generator failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("spec", help="JSON spec, or - to read it from standard input")
    raw = ap.parse_args().spec
    spec = json.loads(sys.stdin.read() if raw == "-" else raw)
    load = _open_loop if spec.get("loop") == "open" else _python_load
    print(json.dumps(asyncio.run(load(spec))))


if __name__ == "__main__":
    main()
