"""Exit statuses every ``spacegrid`` command shares (stated in ``spacegrid --help``).

0 success; 1 a check failed (``verify``: drift) or the process failed; 2 bad usage or
settings; 3 something the command needs is unreachable or taken: the cluster, the
broker, the database, the HTTP port, or the files of a running ``spacegrid up``.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3

EXIT_HELP = (
    "exit status: 0 ok; 1 failed (verify: drift found); 2 bad usage or settings; "
    "3 cluster, broker, database, port or a running `spacegrid up` unreachable or in use"
)


class Unavailable(Exception):
    """A dependency cannot be reached or is taken; ``str()`` is the one line to print (exit 3)."""


def unavailable_line(e: BaseException) -> str | None:
    """One line for a failure to reach the cluster, broker, database or port (exit 3), else None.

    Classified by exception class name: this module imports no driver (nor any project package).
    """
    kind = type(e).__name__
    text = str(e).splitlines()[0] if str(e) else kind
    if isinstance(e, Unavailable) or kind in ("GridUnavailable", "Indeterminate", "Disconnected"):
        return text
    if kind == "IllegalStateError" and "connect" in text.lower():  # the Hazelcast client gave up
        return f"cannot reach the Hazelcast cluster: {text}"
    if kind in ("KafkaConnectionError", "NoBrokersAvailable") or (kind == "KafkaError" and "connect" in text.lower()):
        return f"cannot reach the Kafka broker: {text}"
    if kind.startswith("ClientConnector"):  # aiohttp: nothing answers at the URL
        return f"cannot connect: {text}"
    if kind in ("OperationalError", "InterfaceError") or isinstance(e, ConnectionError):
        return f"cannot reach the database or service: {text}"
    return None
