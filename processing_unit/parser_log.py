"""The HTTP parser's error log without the request's bytes.

aiohttp logs a request its parser refuses ("Error handling request from ...") with the
exception, whose text quotes the offending raw line: a password in a body, a bearer
token in a header (issue 12 found both in a log). This filter, on aiohttp's
``aiohttp.server`` logger, keeps the fact (peer, status, error class) and drops the text
and the traceback of every such record.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class DropRequestBytes(logging.Filter):
    """Rewrite parser-error records to a fixed message; other records pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) or str(record.msg).startswith("Error handling request"):
            peer = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg = "request refused by the HTTP parser (raw bytes not logged)"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.peer = str(peer) if peer is not None else None
            record.error = type(exc).__name__ if exc is not None else None
            record.status = getattr(exc, "code", None)
        return True


def install() -> None:
    """Attach the filter once (idempotent: ``spacegrid up`` and tests may call it again)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, DropRequestBytes) for f in logger.filters):
        logger.addFilter(DropRequestBytes())
