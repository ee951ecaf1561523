"""API keys with scopes, stored hashed in Postgres (`common.api_keys`).

A key reads `mlk_<key_id>_<secret>`. Only sha256(secret) is stored: the secret is 32 random
bytes, so a fast hash is safe here (unlike emails or IPs). An ingest key also lists the source
services it may write for and the tenants whose CSV data it may upload and read (`*` for all;
keys made before tenant limits existed have `*`, as they could reach every tenant then).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import ARRAY, DateTime, String, Text, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from libs.common.db import CommonBase, session_maker
from libs.common.errors import Forbidden, NotFound, ServiceError, Unauthorized
from libs.common.settings import get_settings

# a tenant name is also a path segment in the lake (raw/tenants/<tenant>/...)
TENANT_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")  # whole string: use fullmatch


class Scope:
    INGEST_WRITE = "ingest:write"
    ADMIN = "admin"
    AUDIT_READ = "audit:read"
    EMBEDDING_USER = "embedding:user"  # search one user's own items (personalization)
    EMBEDDING_RESEARCH = "embedding:research"  # search across users who granted research
    RISK_READ = "risk:read"  # clinicians' view of risk assessments and interventions
    CATALOG_READ = "catalog:read"  # the catalog's assets, versions and lineage
    CATALOG_WRITE = "catalog:write"  # derived assets, ingestion jobs, restores

    ALL = (
        INGEST_WRITE, ADMIN, AUDIT_READ, EMBEDDING_USER, EMBEDDING_RESEARCH, RISK_READ,
        CATALOG_READ, CATALOG_WRITE,
    )  # fmt: skip


class ApiKeyRow(CommonBase):
    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    services: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # the default is for rows written by code older than the column (a rolling deploy)
    tenants: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{*}'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


ALL_TENANTS = frozenset({"*"})


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    services: frozenset[str]
    tenants: frozenset[str] = ALL_TENANTS

    def may_write_for(self, service: str) -> bool:
        return "*" in self.services or service in self.services

    def may_use_tenant(self, tenant: str) -> bool:
        """Whether the key may upload a tenant's CSV data and read its upload reports."""
        return Scope.ADMIN in self.scopes or "*" in self.tenants or tenant in self.tenants


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "mlk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


async def create_key(
    session: AsyncSession,
    *,
    name: str,
    scopes: list[str],
    services: list[str],
    tenants: list[str] | None = None,
) -> tuple[ApiKeyRow, str]:
    """Store a new key; the plain key is returned once and never stored.

    `services` and `tenants` limit what an ingest key may write (empty or None: `*`, all).
    """
    unknown = sorted(set(scopes) - set(Scope.ALL))
    if unknown:
        raise ServiceError(f"unknown scopes {unknown}; known: {list(Scope.ALL)}")
    bad = sorted(t for t in set(tenants or ()) if t != "*" and not TENANT_RE.fullmatch(t))
    if bad:
        raise ServiceError(f"tenants must be '*' or match {TENANT_RE.pattern}: {bad}")
    key_id = uuid.uuid4().hex[:16]
    secret = secrets.token_urlsafe(32)
    row = ApiKeyRow(
        key_id=key_id,
        name=name,
        secret_hash=_hash(secret),
        scopes=sorted(set(scopes)),
        services=sorted(set(services)) or ["*"],
        tenants=sorted(set(tenants or ())) or ["*"],
        created_at=datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row, f"mlk_{key_id}_{secret}"


async def list_keys(session: AsyncSession) -> list[ApiKeyRow]:
    return list((await session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))).all())


async def revoke_key(session: AsyncSession, key_id: str) -> None:
    result = await session.execute(
        update(ApiKeyRow)
        .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"no active key with id {key_id}")


class KeyVerifier:
    """Verifies presented keys against Postgres, caching hits briefly so ingest stays fast.

    A revocation takes effect everywhere within `ttl_s`.
    """

    def __init__(self, ttl_s: float | None = None) -> None:
        self.ttl_s = get_settings().api_key_cache_ttl_s if ttl_s is None else ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    async def verify(self, key: str) -> Principal | None:
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        principal = await self._load(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + self.ttl_s, principal)
        return principal

    async def _load(self, key: str) -> Principal | None:
        split = _split(key)
        if split is None:
            return None
        key_id, secret = split
        async with session_maker()() as session:
            row = await session.get(ApiKeyRow, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_hash, _hash(secret)):
            return None
        return Principal(
            row.key_id,
            row.name,
            frozenset(row.scopes),
            frozenset(row.services),
            frozenset(row.tenants),
        )


verifier = KeyVerifier()


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key")


async def authenticate(request: Request, scope: str) -> Principal:
    """The caller's principal, if its key is valid and has `scope` (or `admin`)."""
    return await authenticate_key(presented_key(request), scope)


async def authenticate_key(key: str | None, scope: str) -> Principal:
    """The principal of a key however it was presented (Segment's write key comes as Basic
    auth or in the body), if it is valid and has `scope` (or `admin`)."""
    if not key:
        raise Unauthorized("an API key is required: 'Authorization: Bearer <key>'")
    principal = await verifier.verify(key)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    if scope not in principal.scopes and Scope.ADMIN not in principal.scopes:
        raise Forbidden(f"the API key lacks the '{scope}' scope")
    return principal


def require_scope(scope: str) -> object:
    async def dependency(request: Request) -> Principal:
        return await authenticate(request, scope)

    return Depends(dependency)


IngestPrincipal = Annotated[Principal, require_scope(Scope.INGEST_WRITE)]
