"""Structured logging for a long-running service: one line per event, as text or as JSON.

Log calls pass their facts as keyword fields (`emit(log, INFO, "stored", events=12)`), so the JSON
form can be queried by a log pipeline and the text form stays readable in a terminal.
"""
from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

import orjson

LOGGER_NAME = "agenttui.serve"
_STD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def get_logger(part: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{part}" if part else LOGGER_NAME)


def emit(logger: logging.Logger, level: int, message: str, /, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields}, stacklevel=2)


def _timestamp(record: logging.LogRecord) -> str:
    dt = datetime.fromtimestamp(record.created, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _plain(value: Any) -> Any:
    """Redis hands back bytes (ids, field names); logs want their text."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", None) or {})
    for key, value in record.__dict__.items():  # extra=... from other libraries' log calls
        if key not in _STD_ATTRS and key != "fields" and not key.startswith("_"):
            fields.setdefault(key, value)
    return fields


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the call's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=_plain).decode()


class TextFormatter(logging.Formatter):
    """`TIME LEVEL message key=value ...` with values quoted only when they contain spaces."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), f"{record.levelname:<7}", record.getMessage()]
        for key, value in _fields(record).items():
            if isinstance(value, (bytes, bytearray)):
                value = _plain(value)
            if isinstance(value, str):
                text = orjson.dumps(value).decode() if not value or any(c in value for c in ' "=\n') else value
            else:
                text = orjson.dumps(value, default=_plain).decode()
            parts.append(f"{key}={text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(fmt: str = "text", level: str | int = "info", stream: TextIO | None = None) -> logging.Handler:
    """Route agenttui.serve's records (and websockets' warnings) to `stream` in the chosen format."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {fmt!r}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    numeric = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r} (debug, info, warning, error)")
    for name in (LOGGER_NAME, "websockets"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_agenttui_serve", False):
                logger.removeHandler(old)
        handler._agenttui_serve = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger(LOGGER_NAME).setLevel(numeric)
    logging.getLogger("websockets").setLevel(max(numeric, logging.WARNING))
    return handler
