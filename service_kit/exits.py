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
