"""One base class for every failure the grid layer reports.

Adapters translate driver exceptions into these in one place (``raise ... from e``),
so services and HTTP handlers never see a hazelcast or sqlite exception type.
"""


class GridError(Exception):
    """Base class of grid-layer errors."""


class GridUnavailable(GridError):
    """The grid cannot be reached or did not answer in time (maps to 503)."""


class BacklogFull(GridError):
    """The un-shipped change-record backlog reached its bound (G7, maps to 503)."""


class TransactionConflict(GridError):
    """A transaction could not take its locks in time; safe to retry."""


class PoisonEvent(ValueError):
    """A change event that cannot be decoded or violates the contract."""


class OutboxDisturbed(GridError):
    """Committing a change batch removed records the batch had not taken.

    Only when a stripe had a second taker (two pumps owning it at once) or a removal
    from an earlier attempt executed late. ``records`` (raw, in outbox order) are no
    longer in the grid: the caller must ship them before anything else of the stripe.
    """

    def __init__(self, message: str, records: list[bytes]) -> None:
        super().__init__(message)
        self.records = records
