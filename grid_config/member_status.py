"""The client half of the member-side ``MemberStatus`` task (grid_config/member/).

Sent to every member through an executor by ``spacegrid grid status``: each answers a JSON
object about itself (UUID, master, cluster name/state/version, owned and backup
partitions, migrations, per-map owned/backup entries and memory). The ids are the wire
contract of ``MemberFactory`` (factory 7311, class 8).
"""

from __future__ import annotations

import json
from typing import Any

from grid_config.entry_processors import NoFields

MEMBER_STATUS_CLASS_ID = 8
EXECUTOR = "spacegrid-status"


class MemberStatusTask(NoFields):
    """No fields: the member answers about itself."""

    CLASS_ID = MEMBER_STATUS_CLASS_ID


def every_member_status(client: Any) -> list[dict[str, Any]]:
    """Each member's answer (blocking, bounded by the client's invocation timeout)."""
    answers = client.get_executor(EXECUTOR).execute_on_all_members(MemberStatusTask()).result()
    return [json.loads(a) for a in answers]
