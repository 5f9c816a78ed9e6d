"""Structured JSON logs: one object a line, with a stable ``event`` id and secrets redacted.

log = get_logger("ioc.ingest")
log.info("ingest.accepted", event_id=str(eid), provider="so-tttt", count=3)
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

# Any field whose name contains one of these is never written out.
_SECRET_MARKERS: Final = ("password", "secret", "token", "api_key", "apikey", "authorization")
_RESERVED: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REDACTED: Final = "***"


def _redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (REDACTED if any(m in k.lower() for m in _SECRET_MARKERS) else v)
        for k, v in fields.items()
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": extra.pop("event", None) or record.getMessage(),
        }
        if record.args or "event" in record.__dict__:
            body["msg"] = record.getMessage()
        body.update(_redact(extra))
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class EventLogger:
    """A thin logger whose calls name an event id and carry fields, not format strings."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _log(self, level: int, event: str, exc_info: bool, fields: dict[str, Any]) -> None:
        if self._logger.isEnabledFor(level):
            self._logger.log(level, event, extra={"event": event, **fields}, exc_info=exc_info)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, False, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, False, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, False, fields)

    def error(self, event: str, *, exc_info: bool = False, **fields: Any) -> None:
        self._log(logging.ERROR, event, exc_info, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(logging.getLogger(name))


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send every logger (uvicorn's and aiokafka's included) through the JSON formatter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
