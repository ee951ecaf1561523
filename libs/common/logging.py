"""structlog JSON logs. Callers log ids and counts, never a user's text, email or name.

Requests are logged once each by libs.common.app's access log (route templates, never paths or
query strings); uvicorn's own access log is off (`--no-access-log`, and silenced here in case
a command forgets it). Exceptions are logged as their type and frames only: their messages
and locals can carry user data (a database error quoting a value, a request body).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import MutableMapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any

import structlog

# Loggers whose INFO lines carry URLs with paths and query strings (uvicorn's access log; httpx
# logs every request it sends: pull sources, webhooks).
URL_LOGGERS = ("uvicorn.access", "httpx", "httpcore")
MAX_FRAMES = 12
# The current request's id (set by libs.common.app's access log); one ContextVar is cheaper
# than structlog's bound_contextvars, which copies the whole context on every bind and reset.
REQUEST_ID: ContextVar[str | None] = ContextVar("mindlake_request_id", default=None)


def add_request_id(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the current request's id on every line logged while it runs."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def frames(tb: TracebackType | None) -> list[str]:
    """`file:line function` of the innermost frames: where, never what."""
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)[-MAX_FRAMES:]]


def _exception(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1]  # type: ignore[no-any-return]
    return sys.exc_info()[1] if exc_info else None


def exception_summary(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: `exc_info` becomes `error_type` and `frames` (no message, no locals)."""
    exc = _exception(event_dict.pop("exc_info", None))
    if exc is not None:
        event_dict["error_type"] = type(exc).__name__
        event_dict["frames"] = frames(exc.__traceback__)
    return event_dict


class ExceptionTypeOnly(logging.Filter):
    """For stdlib records (uvicorn's "Exception in ASGI application", libraries): the
    traceback is replaced by the exception's type and frames."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            where = " < ".join(reversed(frames(exc.__traceback__)))
            record.msg = f"{record.getMessage().rstrip()} [{type(exc).__name__}] at {where}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _filter_handlers() -> None:
    for name in ("", "uvicorn", "uvicorn.error", "celery"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, ExceptionTypeOnly) for f in handler.filters):
                handler.addFilter(ExceptionTypeOnly())


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", stream=sys.stdout, level=level.upper())
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")  # without handlers uvicorn skips it entirely
    access.handlers.clear()
    access.propagate = False
    _filter_handlers()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            exception_summary,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=True,
    )
