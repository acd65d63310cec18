"""The writer's topics: it reads the entity topics and writes the dead-letter topic."""

from __future__ import annotations

from data_writer.settings import WriterSettings
from grid_config.topics import change_topics
from grid_config.topics import ensure_topics as ensure_all


async def ensure_topics(settings: WriterSettings, timeout_s: float = 60.0) -> None:
    """Create missing entity and dead-letter topics (whichever of pump and writer starts first)."""
    await ensure_all(settings.bootstrap_servers, change_topics(settings), timeout_s)
