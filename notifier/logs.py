"""Structured logs on stderr, one JSON object per line. Redaction is applied to every
line in one place, so no call site has to remember it.

JSON lines (the default) are written here directly, field for field as structlog's
JSONRenderer wrote them: ``{...fields, "event", "level", "timestamp"}``. structlog
(and, through it, rich) is imported only for ``LOG_FORMAT=console``: a ``once`` run
from a CronJob would otherwise spend a tenth of its time importing them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

# Phone numbers as Clickfono sends them: 9 to 15 digits, maybe a leading +.
# Not inside a word, a dotted number or a dashed uuid group.
_PHONE = re.compile(r"(?<![\w.\-])\+?\d{9,15}(?![\w.\-])")
_SENSITIVE_KEYS = re.compile(
    r"token|secret|password|authorization|caller_number|phone|additionals|webhook_url", re.I
)
_secrets: set[str] = set()


def register_secrets(values: Iterable[str]) -> None:
    """Values that must never reach a log line, whatever field they hide in."""
    _secrets.update(v for v in values if v and len(v) >= 4)


def redact_text(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    return _PHONE.sub(lambda m: _mask_number(m.group()), text)


def _mask_number(number: str) -> str:
    """Keep the last 4 digits: ``****4321``."""
    digits = re.sub(r"\D", "", number)
    return "****" + digits[-4:] if len(digits) > 4 else "****"


def _redact_value(key: str, value: Any) -> Any:
    if _SENSITIVE_KEYS.search(key):
        return "[REDACTED]"
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: hide secrets, tokens and phone numbers."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(key, value)
    return event_dict


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is now (test runners and daemons may swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _CurrentStderr()


_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _timestamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _exc_info(value: Any) -> _ExcInfo | None:
    """``exc_info=`` as structlog read it: an exception, True (the one being handled),
    a ``sys.exc_info()`` tuple, or nothing."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        return value if value and value[0] is not None else None
    if value:
        info = sys.exc_info()
        return info if info[0] is not None else None
    return None


def _format_exception(info: _ExcInfo) -> str:
    return "".join(traceback.format_exception(*info)).rstrip("\n")


def _json_line(event_dict: MutableMapping[str, Any]) -> str:
    info = _exc_info(event_dict.pop("exc_info", None))
    if info is not None:
        event_dict["exception"] = _format_exception(info)
    redact(None, "", event_dict)
    return json.dumps(event_dict, default=repr)


def _write_json(level: str, event: str, fields: dict[str, Any]) -> None:
    fields["event"] = event
    fields["level"] = level
    fields["timestamp"] = _timestamp()
    _STDERR.write(_json_line(fields) + "\n")
    _STDERR.flush()


class _Config:
    threshold = _LEVELS["info"]
    write: Callable[[str, str, dict[str, Any]], None] = staticmethod(_write_json)


class Logger:
    """What ``get_logger`` returns: ``log.info("event", field=value, ...)``.

    ``exc_info=`` (an exception, or True inside ``except``) adds the traceback as the
    ``exception`` field."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] >= _Config.threshold:
            _Config.write(level, event, fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._log("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log("error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._log("critical", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        fields.setdefault("exc_info", True)
        self._log("error", event, fields)


class _JsonFormatter(logging.Formatter):
    """Records of libraries that use stdlib logging (stamina, slack-sdk), as JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        return _json_line(
            {
                "event": record.getMessage(),
                "level": record.levelname.lower(),
                "timestamp": _timestamp(),
                "exc_info": record.exc_info,
            }
        )


def configure(level: str = "info", fmt: str = "json") -> None:
    """Send structured logs to stderr as JSON (default) or coloured console lines."""
    _Config.threshold = _LEVELS[level.lower()]
    formatter: logging.Formatter
    if fmt == "console":
        formatter = _configure_structlog(level)
    else:
        _Config.write = _write_json
        formatter = _JsonFormatter()
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def _configure_structlog(level: str) -> logging.Formatter:
    """Console lines through structlog's dev renderer (imported only here)."""
    import structlog

    renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level.lower()]),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    logger = structlog.get_logger()

    def write(level: str, event: str, fields: dict[str, Any]) -> None:
        getattr(logger, level)(event, **fields)

    _Config.write = write
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def get_logger(name: str) -> Logger:
    return Logger(name)
