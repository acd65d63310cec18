"""Who is running: every unit, pump and writer announces itself in the grid with its figures.

Each process puts one record into the ``processes`` map (not journaled, a TTL) every
second: kind, address, pid, when it started and was last seen, and its figures (rates,
lag, dead letters: whatever its kind measures). A process that stops announcing drops out
after :data:`TTL_S`. This is how the dashboard (and ``spacegrid grid status``, through
:func:`list_processes`) finds every process without configuration.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any, Callable, Mapping

from grid_config.ports import Grid

log = logging.getLogger("spacegrid.processes")

#: a record not renewed for this long is gone (the map's entries expire with it)
TTL_S = 10.0
#: how often a process announces itself
HEARTBEAT_S = 1.0
KINDS = ("unit", "pump", "writer")

Figures = Callable[[], Mapping[str, Any]]


async def list_processes(grid: Grid) -> list[dict[str, Any]]:
    """Every process seen within :data:`TTL_S`, by kind then address (for the dashboard and
    ``spacegrid grid status``)."""
    now = time.time()
    found = [v async for _, v in grid.entries(grid.names.processes)]
    alive = [r for r in found if isinstance(r.get("seen_at"), (int, float)) and now - r["seen_at"] <= TTL_S]
    return sorted(alive, key=lambda r: (str(r.get("kind")), str(r.get("address")), str(r.get("id"))))


def status_lines(processes: list[dict[str, Any]]) -> list[str]:
    """One line per process (what ``spacegrid grid status`` prints under "processes")."""
    now = time.time()
    lines = [f"processes: {len(processes)}"]
    for r in processes:
        up = now - float(r.get("started_at", now))
        lines.append(f"  {r.get('kind'):<6} {r.get('address')}  pid={r.get('pid')} host={r.get('host')} "
                     f"up={up:.0f}s seen={now - float(r.get('seen_at', now)):.1f}s ago")
    return lines


class Announcer:
    """Announces one process; :meth:`tick` once per :data:`HEARTBEAT_S` (a timer or :meth:`run`)."""

    def __init__(self, grid: Grid, kind: str, address: str, figures: Figures, *, start_grid: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown process kind {kind!r}")
        self.grid = grid
        self.kind = kind
        self.id = f"{kind}@{socket.gethostname()}:{os.getpid()}:{address}"
        self._address = address
        self._figures = figures
        self._started_at = time.time()
        self._start_grid = start_grid  # a process that has no other use for the grid connects here
        self._connected = not start_grid
        self._last_warning = 0.0

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "address": self._address, "host": socket.gethostname(),
            "pid": os.getpid(), "started_at": self._started_at, "seen_at": time.time(),
            "figures": dict(self._figures()),
        }

    async def tick(self) -> None:
        """Announce once; a grid failure is logged (at most once a minute), never raised."""
        try:
            if not self._connected:
                await self.grid.start()
                self._connected = True
            await self.grid.put(self.grid.names.processes, self.id, self.record(), ttl_s=TTL_S)
        except Exception as e:  # noqa: BLE001 - announcing must never stop the process it describes
            if time.monotonic() - self._last_warning > 60:
                log.warning("cannot announce this process in the grid", extra={"error": repr(e)})
                self._last_warning = time.monotonic()

    async def run(self) -> None:
        """Announce every :data:`HEARTBEAT_S` until cancelled; then withdraw the record."""
        import asyncio

        try:
            while True:
                await self.tick()
                await asyncio.sleep(HEARTBEAT_S)
        finally:
            await self.withdraw()

    async def withdraw(self) -> None:
        if not self._connected:
            return
        try:
            await self.grid.delete(self.grid.names.processes, self.id)
        except Exception:  # noqa: BLE001 - shutting down: the TTL removes it anyway
            pass
