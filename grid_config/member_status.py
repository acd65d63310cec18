"""The client half of the member-side ``MemberStatus`` task (grid_config/member/).

Sent to every member through an executor by ``spacegrid grid status``: each answers a JSON
object about itself (UUID, master, cluster name/state/version, owned and backup
partitions, migrations, per-map owned/backup entries and memory). The ids are the wire
contract of ``MemberFactory`` (factory 7311, class 8).
"""

from __future__ import annotations

import json
from typing import Any

from hazelcast.serialization.api import IdentifiedDataSerializable

from grid_config.entry_processors import FACTORY_ID

MEMBER_STATUS_CLASS_ID = 8
EXECUTOR = "spacegrid-status"


class MemberStatusTask(IdentifiedDataSerializable):
    """No fields: the member answers about itself."""

    def write_data(self, object_data_output: Any) -> None:
        pass

    def read_data(self, object_data_input: Any) -> None:
        pass

    def get_factory_id(self) -> int:
        return FACTORY_ID

    def get_class_id(self) -> int:
        return MEMBER_STATUS_CLASS_ID


def every_member_status(client: Any) -> list[dict[str, Any]]:
    """Each member's answer (blocking, bounded by the client's invocation timeout)."""
    answers = client.get_executor(EXECUTOR).execute_on_all_members(MemberStatusTask()).result()
    return [json.loads(a) for a in answers]
