"""Structured JSON logs: one object a line, with a stable ``event`` id and secrets redacted.

log = get_logger("ioc.ingest")
log.info("ingest.accepted", event_id=str(eid), provider="so-tttt", count=3)

Redacted: any field whose name says it holds a secret; in every message and text field, the
query string of a path or URL (uvicorn's access and WebSocket lines print the full request
target, and a query may carry a token) and the credentials after ``Bearer``/``Basic``.
``uvicorn --no-access-log`` stays off: ``configure_logging`` does not re-enable the access
logger through propagation, and also drops uvicorn's per-handshake WebSocket lines, which are
access logs under another logger.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Final

import orjson

# Any field whose name contains one of these is never written out.
_SECRET_MARKERS: Final = ("password", "secret", "token", "api_key", "apikey", "authorization")
_RESERVED: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REDACTED: Final = "***"
#: ``/path?query`` (also inside a URL); the query goes up to a space or a quote.
_QUERY: Final = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
_CREDENTIALS: Final = re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+")


def redact_text(text: str) -> str:
    """``text`` with query strings and ``Bearer``/``Basic`` credentials replaced."""
    if "?" in text:
        text = _QUERY.sub(rf"\1?{REDACTED}", text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _CREDENTIALS.sub(rf"\1 {REDACTED}", text)
    return text


def _redact(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (
            REDACTED
            if any(m in k.lower() for m in _SECRET_MARKERS)
            else redact_text(v)
            if isinstance(v, str)
            else v
        )
        for k, v in fields.items()
    }


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact_text(str(extra.pop("event", None) or record.getMessage())),
        }
        if record.args or "event" in record.__dict__:
            body["msg"] = redact_text(record.getMessage())
        body.update(_redact(extra))
        if record.exc_info:
            body["exc"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(body, default=str).decode()


class _NoWebSocketAccessLines(logging.Filter):
    """Drops uvicorn's ``<client> - "WebSocket <path>" [accepted]|403|<status>`` lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('%s - "WebSocket %s"')


_WS_ACCESS_FILTER: Final = _NoWebSocketAccessLines()


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
    access = logging.getLogger("uvicorn.access")
    # uvicorn's --no-access-log leaves this logger with no handler and no propagation; its
    # default gives it a handler. Only in the latter case do its lines come to the root.
    access_on = bool(access.handlers) or access.propagate
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access.handlers[:] = []
    access.propagate = access_on
    error = logging.getLogger("uvicorn.error")
    error.removeFilter(_WS_ACCESS_FILTER)
    if not access_on:
        error.addFilter(_WS_ACCESS_FILTER)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
