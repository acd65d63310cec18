"""A member's REST health document (``/hazelcast/health``): cluster safe, migrations.

The Python client has no cluster-safe query; the members' HEALTH_CHECK endpoint group
(enabled in ``hazelcast.yaml``) answers it. Blocking: for CLI commands and launchers.
"""

from __future__ import annotations

import json
import urllib.request


def member_health(address: str, timeout: float = 2.0) -> dict | None:
    """The health document of the member at ``host:port``, or None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://{address}/hazelcast/health", timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None
