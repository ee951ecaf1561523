"""Response bodies of the compliance API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    id: int
    actor: str = Field(description="The API key id that accessed the data")
    purpose: str
    action: str
    asset: str
    subject: str | None = Field(description="The user whose data it was; null when redacted")
    client_ip: str | None = Field(description="Full, partly masked or 'redacted' by purpose")
    device: str | None = Field(description="The User-Agent; null when redacted")
    at: datetime
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page")


class BrokenLinkOut(BaseModel):
    id: int = Field(description="The id where the chain breaks")
    reason: str = Field(description="hash | prev_hash | missing | head | subject")
    expected: str
    found: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int = Field(description="Entries verified before the first broken link, if any")
    last_id: int
    broken: BrokenLinkOut | None


class ChainOut(BaseModel):
    chained: int = Field(description="Outbox entries appended to the chain by this call")
