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


class TransactionConflict(GridError):
    """A transaction could not take its locks in time; safe to retry."""


class PoisonEvent(ValueError):
    """A change event that cannot be decoded or violates the contract."""


