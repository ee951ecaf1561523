"""The client's settings: one frozen dataclass, built by hand or from `MINDLAKE_*` variables."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mindlake_client.errors import ConfigError

KB = 1024
MB = 1024 * 1024


def default_spill_dir(url: str, api_key: str) -> Path:
    """A folder per API endpoint and key id, so two services never resend each other's entries
    with the wrong key. Only the key's public id part is hashed in, never the secret."""
    parts = api_key.split("_")
    key_id = parts[1] if len(parts) >= 3 else ""
    digest = hashlib.sha256(f"{url.rstrip('/')}|{key_id}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "mindlake-client" / digest


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    url: str
    api_key: str

    buffer_size: int = 100  # send as soon as this many entries are buffered...
    flush_interval_s: float = 30.0  # ...or this long after the last send
    max_buffered: int = 10_000  # in memory; past this the oldest is dropped (counted)

    # The ingest API's limits (services/ingest/config.py); batches are cut to fit them.
    max_batch_entries: int = 1000
    max_batch_bytes: int = 500 * KB  # the JSON body before gzip (the server checks both)
    max_entry_bytes: int = 32 * KB
    compress: bool = True

    timeout_s: float = 10.0
    connect_timeout_s: float = 3.0
    max_attempts: int = 5  # per batch, before it is spilled to disk
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_inline_wait_s: float = 10.0  # a longer wait (e.g. Retry-After: 120) spills instead
    retry_after_max_s: float = 600.0  # a Retry-After past this is capped
    # HTTP 500 replies in a row before a batch is split to find the entry that makes the API
    # fail; a lone entry failing this often while others are accepted is rejected (poison.py)
    poison_after: int = 3

    # "auto": a folder under the system temp dir (default_spill_dir); None: no disk spill
    spill_dir: Path | str | None = "auto"
    spill_max_bytes: int = 100 * MB
    spill_retry_max_s: float = 60.0  # longest pause between resend attempts while the API is down

    shutdown_timeout_s: float = 10.0
    user_agent: str = field(default="mindlake-client/0.1")

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError("url must start with http:// or https://")
        if not self.api_key:
            raise ConfigError("an API key is required")
        if self.buffer_size < 1 or self.buffer_size > self.max_batch_entries:
            raise ConfigError(f"buffer_size must be between 1 and {self.max_batch_entries}")
        if self.max_buffered < self.buffer_size:
            raise ConfigError("max_buffered must be at least buffer_size")
        if self.max_entry_bytes + 64 > self.max_batch_bytes:
            raise ConfigError("max_batch_bytes must hold at least one maximal entry")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.poison_after < 2:
            raise ConfigError("poison_after must be at least 2")
        if self.spill_dir is not None and self.spill_max_bytes < 8 * self.max_entry_bytes:
            raise ConfigError("spill_max_bytes must hold at least 8 maximal entries")

    @property
    def spill_path(self) -> Path | None:
        if self.spill_dir is None:
            return None
        if self.spill_dir == "auto":
            return default_spill_dir(self.url, self.api_key)
        return Path(self.spill_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ClientConfig:
        """Settings from `MINDLAKE_*` variables (README: "Logging from a microservice").

        Keyword arguments override the environment.
        """
        env = os.environ if env is None else env
        url = env.get("MINDLAKE_URL", "")
        api_key = env.get("MINDLAKE_API_KEY", "")
        if not url or not api_key:
            raise ConfigError("set MINDLAKE_URL and MINDLAKE_API_KEY")
        values: dict[str, object] = {"url": url, "api_key": api_key}
        for name, kind in _ENV_FIELDS.items():
            raw = env.get(f"MINDLAKE_{name.upper()}")
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError as exc:
                raise ConfigError(f"MINDLAKE_{name.upper()} is not valid: {raw!r}") from exc
        spill = env.get("MINDLAKE_SPILL_DIR")
        if spill is not None:
            off = spill.strip().lower() in ("", "off", "none")
            values["spill_dir"] = None if off else Path(spill)
        if "spill_max_mb" in values:
            values["spill_max_bytes"] = int(float(str(values.pop("spill_max_mb"))) * MB)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_ENV_FIELDS: dict[str, Callable[[str], object]] = {
    "buffer_size": int,
    "flush_interval_s": float,
    "max_buffered": int,
    "max_batch_entries": int,
    "max_batch_bytes": int,
    "max_entry_bytes": int,
    "compress": _bool,
    "timeout_s": float,
    "connect_timeout_s": float,
    "max_attempts": int,
    "backoff_base_s": float,
    "backoff_max_s": float,
    "max_inline_wait_s": float,
    "poison_after": int,
    "spill_max_mb": float,
    "spill_retry_max_s": float,
    "shutdown_timeout_s": float,
}
