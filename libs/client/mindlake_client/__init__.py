"""mindlake_client: log from a microservice to the MindLake ingest API.

Buffering (100 entries or 30 s by default), batches within the API's limits, gzip, retries
with backoff and jitter, a disk spill while the API is unreachable. Depends on httpx only.
"""

from mindlake_client.async_logger import AsyncDataLakeLogger
from mindlake_client.config import ClientConfig
from mindlake_client.entries import (
    AiLog,
    AuthLog,
    ChatLog,
    CommunityLog,
    JournalLog,
    LogEntry,
    LyfbotLog,
    MoodLog,
    PaymentLog,
)
from mindlake_client.errors import (
    ConfigError,
    EntryTooLarge,
    InvalidEntry,
    LoggerClosed,
    MindLakeClientError,
)
from mindlake_client.status import Counters, HealthStatus, Rejection
from mindlake_client.sync_logger import DataLakeLogger

__all__ = [
    "AiLog",
    "AsyncDataLakeLogger",
    "AuthLog",
    "ChatLog",
    "ClientConfig",
    "CommunityLog",
    "ConfigError",
    "Counters",
    "DataLakeLogger",
    "EntryTooLarge",
    "HealthStatus",
    "InvalidEntry",
    "JournalLog",
    "LogEntry",
    "LoggerClosed",
    "LyfbotLog",
    "MindLakeClientError",
    "MoodLog",
    "PaymentLog",
    "Rejection",
]
