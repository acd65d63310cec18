"""One base class for every failure the data writer reports.

Sink adapters translate driver exceptions into these in one place (``raise ... from e``)
so the batching loop only has to tell *transient* (retry, never lose) from *poison*
(dead-letter that one event, go on without it).
"""


class WriterError(Exception):
    """Base class of data-writer errors."""


class SinkUnavailable(WriterError):
    """The database cannot be reached, timed out or rolled us back: safe to retry."""


class SinkConstraintError(WriterError):
    """The database refused a row (check, foreign key, type): the event is poison."""


class DeadLetterUnavailable(WriterError):
    """The dead-letter destination (Kafka) refused or timed out: safe to retry."""


class UnsupportedDatabaseURL(WriterError, ValueError):
    """``SPACEGRID_DATABASE_URL`` names a scheme no adapter handles."""
