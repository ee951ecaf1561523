"""Settings shared by every service: one `MINDLAKE_`-prefixed environment, `.env` honoured."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER = "change-me"
PIIMethod = Literal["redact", "tag", "hash", "mask"]


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MINDLAKE_", env_file=".env", extra="ignore", env_nested_delimiter="__"
    )

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/mindlake"
    database_pool_size: int = 10
    redis_url: str = "redis://127.0.0.1:6379/0"

    # One lake root: a local folder (file:///path or a plain path) or s3://bucket/prefix.
    lake_root: str = "file://./var/lake"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_allow_http: bool = False

    # Qdrant (services/embedding; compliance's verification scan reads it too): a server URL
    # in production; without one, qdrant-client's local mode keeps the vectors in this folder
    # (one process at a time: libs users take a file lock around each use).
    qdrant_url: str | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: str = "var/qdrant"

    # PII: keyed hashes use this secret; plain hashes of emails or IPs are brute-forced.
    pii_hmac_key: SecretStr = SecretStr(PLACEHOLDER)
    pii_custom_patterns: dict[str, str] = Field(default_factory=dict)
    pii_text_method: PIIMethod = "tag"
    pii_ner_enabled: bool = True
    pii_score_threshold: float = 0.5

    # Crypto-shredding (libs/common/crypto.py): a data key per user, stored wrapped by a
    # master key. `local`: the master key below (base64 of 32 bytes); `aws-kms`: a KMS key.
    key_provider: Literal["local", "aws-kms"] = "local"
    master_key: SecretStr = SecretStr(PLACEHOLDER)
    kms_key_id: str | None = None
    kms_endpoint_url: str | None = None
    data_key_cache_ttl_s: float = 60.0  # an erased user's key lingers in a process this long

    # Erasure/portability steps that fail are retried after base * 2^attempts, capped.
    subject_retry_base_s: float = 5.0
    subject_retry_max_s: float = 600.0

    # User ids are kept in clear for consent joins: one that is an e-mail address or a phone
    # number is refused (libs/common/validation.py) unless this is set.
    allow_contact_user_ids: bool = False

    api_key_cache_ttl_s: float = 10.0  # a revoked key stops working within this time
    # libs.common.consent: a backstop only; a change deletes the user's entry at once.
    consent_cache_ttl_s: float = 30.0
    celery_task_expires_s: int = 3600
    # A worker beats this often; three missed beats and celery_worker_up shows it down.
    celery_heartbeat_s: float = Field(10.0, gt=0)
    metrics_port: int = 9400

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> CommonSettings:
        if self.environment == "production" and self.pii_hmac_key.get_secret_value() == PLACEHOLDER:
            raise ValueError("MINDLAKE_PII_HMAC_KEY must be set to a real secret in production")
        if (
            self.environment == "production"
            and self.key_provider == "local"
            and self.master_key.get_secret_value() == PLACEHOLDER
        ):
            raise ValueError("MINDLAKE_MASTER_KEY must be set (or MINDLAKE_KEY_PROVIDER=aws-kms)")
        if self.key_provider == "aws-kms" and not self.kms_key_id:
            raise ValueError("MINDLAKE_KMS_KEY_ID is required with MINDLAKE_KEY_PROVIDER=aws-kms")
        return self


@lru_cache
def get_settings() -> CommonSettings:
    return CommonSettings()
