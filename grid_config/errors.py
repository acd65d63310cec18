"""One base class for every failure the grid layer reports.

Adapters translate driver exceptions into these in one place (``raise ... from e``),
so services and HTTP handlers never see a hazelcast or sqlite exception type.
"""


class GridError(Exception):
    """Base class of grid-layer errors."""


class GridUnavailable(GridError):
    """The grid cannot be reached or did not answer in time (maps to 503)."""


class BacklogFull(GridError):
    """A journal holds its bound of un-shipped changes: the write was refused (G7, maps to 503)."""


class WriteConflict(GridError):
    """A compare-and-set kept losing to concurrent writes of the same key; safe to retry."""


class Indeterminate(GridUnavailable):
    """A write reached its primary but not every backup acknowledged it in time.

    It may or may not have been applied (Hazelcast's ``IndeterminateOperationStateError``,
    raised because the client runs with ``fail_on_indeterminate_operation_state``): only an
    idempotent step may be retried as is.
    """


class Disconnected(Indeterminate):
    """The connection that carried the call closed before its answer (the member died or
    left, or the client dropped the connection).

    A write may or may not have been applied, as with :class:`Indeterminate`; a read can
    simply be sent again. Unlike a missed backup acknowledgement it says nothing about the
    cluster's health: the partition moves to a live member within about a second, so a
    retry should wait that long (:mod:`processing_unit.retrying`).
    """


class PoisonEvent(ValueError):
    """A change event that cannot be decoded or violates the contract."""


