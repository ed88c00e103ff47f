"""Logging: one JSON object per line (LOG_FORMAT=json, the image's default) for log
pipelines, or lines a person reads; either way every line written while a request is
handled carries its request id, taken from the request context the request-id middleware
binds (which threads started with run_in_threadpool inherit)."""

import json
import logging
from datetime import UTC, datetime
from typing import Any, Final, Literal

from service.context import current_request_id

# The fields of the one access line per request, in the order they are written.
ACCESS_FIELDS: Final = (
    "method", "route", "status", "duration_ms", "model_version", "key_id", "customers",
)  # fmt: skip
# Already in the access line's message ("POST /predict -> 200 in 1.2 ms"), so a person
# does not read them twice; JSON lines carry them as fields.
_IN_ACCESS_MESSAGE: Final = frozenset({"request_id", "method", "route", "status", "duration_ms"})
# A record's own attributes, and uvicorn's copy of its message with terminal colours.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message",
}  # fmt: skip


class RequestIdFilter(logging.Filter):
    """Puts the current request's id (or None) on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then any `extra` fields, as one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL [request id] message key=value ...` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        request_id = getattr(record, "request_id", None)
        where = f" [{request_id}]" if request_id else ""
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD and key not in _IN_ACCESS_MESSAGE and value is not None
        )
        text = f"{stamp} {record.levelname:<7}{where} {record.getMessage()}"
        text = f"{text} {extras}" if extras else text
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def log_config(level: str, style: Literal["json", "text"]) -> dict[str, Any]:
    """uvicorn's `log_config`: its own loggers and the service's, one handler on stdout."""
    formatter = JsonFormatter if style == "json" else TextFormatter
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "filters": ["request_id"],
        "stream": "ext://sys.stdout",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": handler},
        "loggers": {
            **{
                name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
                for name in ("uvicorn", "uvicorn.error", "service")
            },
            # Alembic says what it assumes at every start; only its warnings are kept (the
            # service logs where the decision log is, and a migration that fails).
            "alembic": {"handlers": ["default"], "level": "WARNING", "propagate": False},
        },
    }
