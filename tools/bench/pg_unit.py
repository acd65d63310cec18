"""A processing unit over :class:`~tools.bench.postgres_grid.PostgresGrid`: bench compare's database side.

The same ``create_app`` and the same drain as ``spacegrid unit``; the grid adapter differs
(every call is a PostgreSQL statement, DSN from ``SPACEGRID_DATABASE_URL``) and an order is
placed in one SQL transaction (:mod:`tools.bench.pg_orders`), as a conventional service does.
Run by the benchmark as ``python -m tools.bench.pg_unit``; not a product command.
"""

from __future__ import annotations

import sys


def main() -> int:
    from tools.bench.pg_orders import PostgresOrderSagas
    from tools.bench.postgres_grid import PostgresGrid
    from processing_unit.app import create_app
    from service_kit.logs import configure_logging
    from processing_unit.server import serve
    from processing_unit.settings import load_unit_settings

    settings = load_unit_settings(require_secret=True)
    if not settings.database_url.startswith(("postgresql://", "postgres://")):
        print("pg_unit: SPACEGRID_DATABASE_URL must be a postgresql:// URL", file=sys.stderr)
        return 2
    configure_logging()
    grid = PostgresGrid(settings.database_url, settings.names)
    app = create_app(settings, grid, own_grid=True, sagas=PostgresOrderSagas)
    return serve(app, settings.http_host, settings.http_port, settings.drain_grace_s, settings.shutdown_timeout_s)


if __name__ == "__main__":
    sys.exit(main())
