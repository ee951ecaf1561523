"""Crypto-shredding: a data key per user, stored only wrapped by a master key.

Free text in the lake is encrypted with its user's data key (AES-256-GCM, the user's
`subject_key` as associated data, so a value cannot be moved to another user's row).
Erasure deletes the user's row of `common.data_keys` first: every copy of their text (old
table versions, backups, files not yet rewritten) is unreadable from that moment, and the
physical purge follows.

The master key comes from a key provider: `local` (a key from settings) or `aws-kms` (the
data key is wrapped by KMS Encrypt/Decrypt; the master key never leaves KMS).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import DateTime, LargeBinary, String, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.consent import TOMBSTONE_GUARD
from libs.common.db import CommonBase
from libs.common.settings import PLACEHOLDER, CommonSettings, get_settings

PREFIX = "enc1:"  # marks an encrypted value: enc1:<base64 of nonce | ciphertext | tag>
NONCE_BYTES = 12


class DataKeyRow(CommonBase):
    """A user's data key, wrapped. No user id here: the row is found by `subject_key`."""

    __tablename__ = "data_keys"

    subject_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    provider: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- values ----------------------------------------------------------------------------------
def encrypt_text(key: bytes, plain: str, aad: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plain.encode(), aad.encode())
    return PREFIX + base64.b64encode(nonce + sealed).decode()


def decrypt_text(key: bytes, token: str, aad: str) -> str:
    raw = base64.b64decode(token[len(PREFIX) :])
    return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode()).decode()


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def seal(key: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """Bytes for an encrypted object (a request's working files, an export archive)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def unseal(key: bytes, sealed: bytes, aad: bytes = b"") -> bytes:
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


# --- key providers ---------------------------------------------------------------------------
class KeyProvider(Protocol):
    name: str

    def wrap(self, key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...


class LocalKeyProvider:
    """Master key from `MINDLAKE_MASTER_KEY` (base64 of 32 bytes). The development
    placeholder derives a fixed key; production refuses to start with it (settings)."""

    name = "local"

    def __init__(self, settings: CommonSettings) -> None:
        secret = settings.master_key.get_secret_value()
        if secret == PLACEHOLDER:
            self._key = hashlib.sha256(b"mindlake-development-master-key").digest()
        else:
            self._key = base64.b64decode(secret)
            if len(self._key) != 32:
                raise ValueError("MINDLAKE_MASTER_KEY must be the base64 of 32 bytes")

    def wrap(self, key: bytes) -> bytes:
        return seal(self._key, key, b"data-key")

    def unwrap(self, wrapped: bytes) -> bytes:
        return unseal(self._key, wrapped, b"data-key")


class KmsKeyProvider:
    """Data keys wrapped by AWS KMS (`MINDLAKE_KMS_KEY_ID`; `MINDLAKE_KMS_ENDPOINT_URL` for a
    KMS-compatible endpoint). Unwrapped keys are cached, so KMS sees one call per user per
    cache period, not one per row."""

    name = "aws-kms"

    def __init__(self, settings: CommonSettings) -> None:
        import boto3

        assert settings.kms_key_id
        self.key_id = settings.kms_key_id
        kwargs: dict[str, Any] = {"region_name": settings.s3_region}
        if settings.kms_endpoint_url:
            kwargs["endpoint_url"] = settings.kms_endpoint_url
        if settings.s3_access_key_id and settings.s3_secret_access_key:
            kwargs["aws_access_key_id"] = settings.s3_access_key_id.get_secret_value()
            kwargs["aws_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
        self.client = boto3.client("kms", **kwargs)

    def wrap(self, key: bytes) -> bytes:
        reply = self.client.encrypt(KeyId=self.key_id, Plaintext=key)
        return bytes(reply["CiphertextBlob"])

    def unwrap(self, wrapped: bytes) -> bytes:
        reply = self.client.decrypt(KeyId=self.key_id, CiphertextBlob=wrapped)
        return bytes(reply["Plaintext"])


def make_provider(settings: CommonSettings) -> KeyProvider:
    if settings.key_provider == "aws-kms":
        return KmsKeyProvider(settings)
    return LocalKeyProvider(settings)


# --- the key store ---------------------------------------------------------------------------
class DataKeys:
    """Users' data keys by subject_key: created on first use, destroyed by erasure.

    `for_subjects(create=True)` never creates a key for a subject with a consent tombstone
    (an erased user): their late data has nothing to be encrypted with and is refused.
    """

    def __init__(self, settings: CommonSettings | None = None) -> None:
        self.settings = settings or get_settings()
        self.provider = make_provider(self.settings)
        self._cache: dict[str, tuple[bytes, float]] = {}

    def _cached(self, subject_key: str, now: float) -> bytes | None:
        hit = self._cache.get(subject_key)
        if hit is None or hit[1] < now:
            return None
        return hit[0]

    async def for_subjects(
        self, conn: AsyncConnection, subject_keys: Iterable[str], *, create: bool = False
    ) -> dict[str, bytes]:
        """The keys of these subjects that exist (created first when `create`); an erased
        subject is absent from the result."""
        now = time.monotonic()
        wanted = set(subject_keys)
        found = {k: key for k in wanted if (key := self._cached(k, now)) is not None}
        missing = sorted(wanted - found.keys())
        if not missing:
            return found
        if create:
            await self._create(conn, missing)
        rows = await conn.execute(
            text("SELECT subject_key, wrapped FROM common.data_keys WHERE subject_key = ANY(:k)"),
            {"k": missing},
        )
        expires = now + self.settings.data_key_cache_ttl_s
        for subject, wrapped in rows:
            key = self.provider.unwrap(bytes(wrapped))
            self._cache[subject] = (key, expires)
            found[subject] = key
        return found

    async def _create(self, conn: AsyncConnection, subject_keys: list[str]) -> None:
        wrapped = [self.provider.wrap(new_key()) for _ in subject_keys]
        await conn.execute(
            _CREATE_KEYS,
            {"provider": self.provider.name, "keys": subject_keys, "wrapped": wrapped},
        )

    async def all(self, conn: AsyncConnection) -> dict[str, bytes]:
        """Every live key this provider can unwrap (the erasure scan decrypts the whole lake
        to search it; what it cannot decrypt it counts as undecryptable)."""
        rows = await conn.execute(text("SELECT subject_key, wrapped FROM common.data_keys"))
        keys: dict[str, bytes] = {}
        for subject, wrapped in rows:
            try:
                keys[subject] = self.provider.unwrap(bytes(wrapped))
            except Exception:  # noqa: S112 - wrapped by another master key or provider
                continue
        return keys

    async def destroy(self, conn: AsyncConnection, subject_key: str) -> bool:
        self._cache.pop(subject_key, None)
        result = await conn.execute(
            text("DELETE FROM common.data_keys WHERE subject_key = :k"), {"k": subject_key}
        )
        return bool(getattr(result, "rowcount", 0))


# New keys only for subjects not erased: the tombstone check is in the same statement.
_CREATE_KEYS = text(
    f"""
    INSERT INTO common.data_keys (subject_key, wrapped, provider, created_at)
    SELECT s.k, s.w, :provider, now()
    FROM unnest(CAST(:keys AS text[]), CAST(:wrapped AS bytea[])) AS s(k, w)
    WHERE NOT EXISTS ({TOMBSTONE_GUARD.format(column="s.k")})
    ON CONFLICT (subject_key) DO NOTHING
    """  # noqa: S608 - built from constants only
)


@lru_cache
def get_data_keys() -> DataKeys:
    return DataKeys()
