"""``GET /dashboard/data``: the members and every registered process, as one JSON document."""

from __future__ import annotations

import time
from typing import Any

from grid_config.errors import GridError
from grid_config.ports import Grid
from grid_config.processes import list_processes


async def snapshot(grid: Grid) -> dict[str, Any]:
    """What the dashboard draws; the grid not answering is shown, not raised."""
    out: dict[str, Any] = {"at": time.time(), "members": [], "processes": [], "problems": []}
    try:
        out["members"] = await grid.members()
    except (GridError, RuntimeError) as e:
        out["problems"].append(f"members: {type(e).__name__}")
    try:
        out["processes"] = await list_processes(grid)
    except GridError as e:
        out["problems"].append(f"processes: {type(e).__name__}")
    return out
