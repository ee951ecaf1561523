"""The client's exceptions. `log()` raises only for the caller's own mistakes."""

from __future__ import annotations


class MindLakeClientError(Exception):
    """Base of every exception the client raises."""


class ConfigError(MindLakeClientError, ValueError):
    """The settings are incomplete or inconsistent."""


class InvalidEntry(MindLakeClientError, ValueError):
    """The entry cannot be sent as it is (not an object, not JSON-serializable, NaN, ...):
    it was not buffered. From `log_batch`, the other entries were buffered and `indexes`
    lists the refused ones."""

    def __init__(self, message: str, indexes: list[int] | None = None) -> None:
        super().__init__(message)
        self.indexes = indexes or []


class EntryTooLarge(InvalidEntry):
    """The entry is over the API's per-entry limit (32 KB of JSON by default)."""


class LoggerClosed(MindLakeClientError, RuntimeError):
    """`log()` after `shutdown()`."""
