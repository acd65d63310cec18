"""`spacegrid verify` against Hazelcast + PostgreSQL: it opens the grid itself (G4)."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from data_writer.postgres import postgres_sink
from grid_config.names import Names
from tests.integration.data_pump.support import grid_settings, open_grid
from tests.integration.data_writer.support import REPO, shop_history
from grid_config.layout import Entries, grid_entries, merge_into


def _verify(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spacegrid.cli", "verify"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


async def test_verify_opens_the_cluster_and_compares_entity_by_entity(
    hazelcast_cluster, postgres_dsn: str, namespace: str, names: Names
) -> None:
    history = shop_history(400, seed=3, poison_share=0, replay_share=0)
    newest = history.newest()
    sink = postgres_sink(postgres_dsn)
    grid = await open_grid(grid_settings(hazelcast_cluster.settings_env, namespace))
    try:
        await sink.migrate()
        await sink.apply(sorted(newest.values(), key=lambda e: ("users", "products", "orders").index(e.kind)))
        pending: Entries = {}
        for (kind, _), e in newest.items():
            if e.op == "upsert":
                merge_into(pending, grid_entries(names, kind, e.state))
        for map_name, values in pending.items():
            await grid.put_all(map_name, values)
        env = {**hazelcast_cluster.settings_env, "SPACEGRID_NAMESPACE": namespace,
               "SPACEGRID_DATABASE_URL": postgres_dsn, "PYTHONPATH": str(REPO)}
        done = _verify(env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "converged" in done.stdout

        product = next(e for (k, _), e in newest.items() if k == "products")
        order = next(e for (k, _), e in newest.items() if k == "orders" and e.op == "upsert")
        with psycopg.connect(postgres_dsn) as conn:  # drift behind the writer's back
            conn.execute("UPDATE products SET version = version - 1 WHERE id = %s", (product.id,))
        await grid.delete(names.orders, order.id)  # the database now has an extra order
        done = _verify(env)
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"stale: {product.id}" in done.stdout and f"extra: {order.id}" in done.stdout
    finally:
        await grid.close()
        await sink.close()
