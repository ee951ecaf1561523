"""POST /v1/search: one user's own items (personalization) or research across users."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from libs.common.audit import AuditAction, AuditPurpose, audit, entry_from_request
from libs.common.auth import Scope, authenticate
from libs.common.consent import can_use
from libs.common.contracts import ConsentPurpose
from libs.common.errors import Forbidden, Unprocessable
from services.embedding.config import get_embedding_settings
from services.embedding.search.metrics import SEARCH_SECONDS
from services.embedding.search.schemas import SearchIn, SearchOut
from services.embedding.search.service import search

router = APIRouter(tags=["search"])


@router.post("/v1/search", response_model=SearchOut)
async def post_search(request: Request, body: SearchIn) -> SearchOut:
    started = time.monotonic()
    settings = get_embedding_settings()
    personal = body.scope == "personalization"
    scope = Scope.EMBEDDING_USER if personal else Scope.EMBEDDING_RESEARCH
    principal = await authenticate(request, scope)
    if body.k > settings.embedding_search_max_k:
        raise Unprocessable(
            "k is too large",
            errors=[{"field": "k", "message": f"at most {settings.embedding_search_max_k}"}],
        )
    if personal and body.user_id is None:
        raise Unprocessable(
            "user_id is required", errors=[{"field": "user_id", "message": "required"}]
        )
    if not personal and body.user_id is not None:
        raise Unprocessable(
            "user_id is not allowed in research",
            errors=[{"field": "user_id", "message": "not allowed"}],
        )
    if personal and not await can_use(body.user_id or "", ConsentPurpose.PERSONALIZATION):
        raise Forbidden(
            "the user has not granted personalization",
            errors=[{"field": "user_id", "message": "no personalization consent"}],
        )
    out = await search(body, settings)
    await audit(
        entry_from_request(
            request, principal,
            purpose=AuditPurpose.UserView if personal else AuditPurpose.Research,
            action=AuditAction.Read, asset=f"embedding/{out.collection}",
            subject=body.user_id if personal else None,
        )
    )  # fmt: skip
    SEARCH_SECONDS.labels(body.scope).observe(time.monotonic() - started)
    return out
