"""`/graphql`: the lakehouse document's queries over the catalog.

Limits before anything runs: query depth, aliases and tokens (a hostile query is refused by
validation, as a GraphQL error). Every operation needs a key with `catalog:read` (or admin)
and is on the audit log with the caller's purpose, the `X-Purpose` header (default Admin).
Assets are loaded through a per-request DataLoader, so fields that name assets cost one
query per request, not one per asset.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import strawberry
from fastapi import Request
from graphql import GraphQLError
from strawberry.dataloader import DataLoader
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.types import Info

from libs.common.audit import AuditAction, AuditPurpose
from libs.common.auth import Principal, Scope, authenticate
from libs.common.db import get_engine
from libs.common.errors import Unprocessable
from services.catalog.access import record
from services.catalog.assets import repository
from services.catalog.assets.known import AssetType
from services.catalog.config import get_catalog_settings
from services.catalog.graphql import ingestion
from services.catalog.graphql.errors import ErrorCodes
from services.catalog.graphql.ingestion import IngestionJob, JobExecutionResult
from services.catalog.graphql.transform import apply_transformation
from services.catalog.graphql.types import DataAsset, DataAssetType, asset_uuid

MAX_DEPTH, MAX_ALIASES, MAX_TOKENS = 8, 20, 2000


async def _load_assets(ids: Sequence[uuid.UUID]) -> list[dict[str, Any] | None]:
    async with get_engine().connect() as conn:
        rows = {r["id"]: r for r in await repository.by_ids(conn, ids)}
    return [rows.get(i) for i in ids]


class Context(BaseContext):
    def __init__(self) -> None:
        super().__init__()
        self.assets = DataLoader(load_fn=_load_assets)

    async def reader(self, asset: str) -> Principal:
        """The caller with `catalog:read`; the read of `asset` is on the audit log."""
        return await self._caller(Scope.CATALOG_READ, AuditAction.Read, asset)

    async def writer(self, asset: str) -> Principal:
        """A caller with `catalog:write`; the write of `asset` is on the audit log."""
        return await self._caller(Scope.CATALOG_WRITE, AuditAction.Write, asset)

    purpose = AuditPurpose.Admin  # the caller's, once `reader` or `writer` has checked it

    async def _caller(self, scope: str, action: AuditAction, asset: str) -> Principal:
        request: Request = self.request  # type: ignore[assignment]
        principal = await authenticate(request, scope)
        raw = request.headers.get("x-purpose", AuditPurpose.Admin.value)
        try:
            purpose = AuditPurpose(raw)
        except ValueError:
            known = ", ".join(p.value for p in AuditPurpose)
            raise Unprocessable(f"X-Purpose must be one of {known}") from None
        await record(request, principal, action=action, asset=asset, purpose=purpose)
        self.purpose = purpose
        return principal


async def get_data_asset(info: Info[Context, None], id: strawberry.ID) -> DataAsset | None:
    asset_id = asset_uuid(id)
    await info.context.reader(f"catalog/assets/{asset_id}")
    row = await info.context.assets.load(asset_id)
    return DataAsset.from_row(row) if row else None


async def list_data_assets(
    info: Info[Context, None],
    types: list[DataAssetType] | None = None,  # type: ignore[valid-type]
    tags: list[str] | None = None,
    limit: int | None = 100,
    offset: int | None = 0,
) -> list[DataAsset]:
    page_max = get_catalog_settings().catalog_page_max
    limit = 100 if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= page_max:
        raise Unprocessable(f"limit must be between 1 and {page_max}")
    if offset < 0:
        raise Unprocessable("offset must not be negative")
    if any(not t or "\x00" in t or len(t) > 64 for t in tags or []):
        raise Unprocessable("a tag is 1 to 64 characters, without NUL")
    await info.context.reader("catalog/assets")
    async with get_engine().connect() as conn:
        rows = await repository.listing(
            conn, types=[AssetType(t).value for t in types or []], tags=tags or [],
            limit=limit, offset=offset,
        )  # fmt: skip
    for row in rows:  # later fields of the same request find them loaded
        info.context.assets.prime(row["id"], row)
    return [DataAsset.from_row(r) for r in rows]


@strawberry.type
class Query:
    get_data_asset: DataAsset | None = strawberry.field(
        resolver=get_data_asset, description="One asset by id; null if there is none"
    )
    list_data_assets: list[DataAsset] = strawberry.field(
        resolver=list_data_assets, description="Assets in location order, by type and tags"
    )
    get_ingestion_job: IngestionJob | None = strawberry.field(
        resolver=ingestion.get_ingestion_job, description="One of ingest's pull jobs"
    )
    list_ingestion_jobs: list[IngestionJob] = strawberry.field(
        resolver=ingestion.list_ingestion_jobs, description="Ingest's pull jobs, by status"
    )


@strawberry.type
class Mutation:
    create_ingestion_job: IngestionJob = strawberry.field(
        resolver=ingestion.create_ingestion_job, description="A new pull job (ingest's API)"
    )
    update_ingestion_job: IngestionJob = strawberry.field(
        resolver=ingestion.update_ingestion_job, description="Change a pull job"
    )
    run_ingestion_job: JobExecutionResult = strawberry.field(
        resolver=ingestion.run_ingestion_job, description="Run a pull job now"
    )
    apply_transformation: DataAsset = strawberry.field(
        resolver=apply_transformation,
        description="A read-only query over an asset, written as a derived asset",
    )


class CatalogSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Only failures are logged (ErrorCodes has logged them by type); a caller's mistake
        is answered, not logged, and no message reaches the log."""


schema = CatalogSchema(
    query=Query,
    mutation=Mutation,
    extensions=[
        ErrorCodes,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ],
)


async def _context() -> Context:
    return Context()


router: GraphQLRouter[Context, None] = GraphQLRouter(
    schema, context_getter=_context, graphql_ide=None, include_in_schema=False
)
