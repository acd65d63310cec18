"""Structured JSON logs: one object per line, with the request id of the request being served."""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from datetime import datetime, timezone
from typing import Callable

import orjson

from service_kit.bounded import keep

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


#: loggers of the drivers that log once per reconnect attempt while their server is away
#: (aiokafka: an error per attempt, every 0.1-2 s; the Hazelcast client: a warning per
#: attempt and per connection closed)
DRIVER_LOGGERS = ("aiokafka", "hazelcast")
#: a driver's message (same logger, level and text) is let through at most once this often
REPEAT_WINDOW_S = 30.0
#: messages remembered; the oldest is forgotten first (a driver has a few dozen templates)
REPEATS_REMEMBERED = 256


class DriverRepeats(logging.Filter):
    """Lets a driver's repeated message through once per :data:`REPEAT_WINDOW_S`: during an
    outage of the broker or a member the drivers log every reconnect attempt, and the log
    then held little else. The next one let through says how many were left out
    (``repeated``). Our own records are never held back."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window_s, self.clock = window_s, clock
        #: (logger, level, text) -> (when last let through, left out since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(DRIVER_LOGGERS):
            return True
        try:
            key = (record.name, record.levelno, record.getMessage())
        except Exception:  # noqa: BLE001 - a malformed record is the handler's to report, not ours
            return True
        now = self.clock()
        seen = self._seen.pop(key, None)
        if seen is not None and now - seen[0] < self.window_s:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.repeated = seen[1]
        keep(self._seen, key, (now, 0), REPEATS_REMEMBERED)
        return True


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines (call once, in the process entry)."""
    # one access line per request is on the hot path: skip the caller-frame walk and the
    # thread/process lookups no formatter field uses (~20 us a record, measured by bench unit)
    logging._srcfile = None  # documented in logging's source: None disables findCaller()
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DriverRepeats())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
