"""The request and response of POST /v1/search."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator


class SearchIn(BaseModel):
    scope: Literal["personalization", "research"]
    query: Annotated[str, Field(min_length=1, max_length=2000)]
    user_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    k: Annotated[int, Field(ge=1)] = 10
    services: list[Annotated[str, Field(max_length=64)]] | None = None
    since: datetime | None = None
    until: datetime | None = None

    @field_validator("query", "user_id")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("must not contain NUL")
        return value


class Hit(BaseModel):
    score: float
    service: str
    event_time: datetime
    chunk_index: int
    snippet: str | None
    event_id: str | None = None  # personalization only


class SearchOut(BaseModel):
    scope: str
    collection: str
    results: list[Hit]
