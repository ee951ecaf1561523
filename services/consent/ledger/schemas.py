"""Request and reply models of the consent API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from libs.common.contracts import ConsentPurpose
from libs.common.validation import PgText, opaque_user_id_error
from services.consent.config import get_consent_settings

# The ingest service's user id pattern: the same ids name the same users everywhere.
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"


def opaque(user_id: str) -> str:
    """Refuse an e-mail address or phone number as a user id, as ingest does (unless
    MINDLAKE_ALLOW_CONTACT_USER_IDS): consent keeps user ids in clear."""
    if get_consent_settings().allow_contact_user_ids:
        return user_id
    reason = opaque_user_id_error(user_id)
    if reason is not None:
        raise PydanticCustomError("contact_user_id", reason)
    return user_id


UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN), AfterValidator(opaque)]

# GDPR art. 6 bases (health data also needs an art. 9 condition: explicit consent).
LawfulBasis = Literal[
    "explicit_consent",
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
]
Source = Literal["app", "admin", "import"]
# The version of the privacy policy the user saw when they chose (e.g. "2026-11" or "v3").
PolicyVersion = Annotated[PgText, StringConstraints(min_length=1, max_length=64)]


class ConsentChange(BaseModel):
    """PUT /v1/consent/{user_id}: grant (true) or withdraw (false) some purposes."""

    model_config = ConfigDict(extra="forbid")

    purposes: Annotated[dict[ConsentPurpose, bool], Field(min_length=1)]
    lawful_basis: LawfulBasis = "explicit_consent"
    policy_version: PolicyVersion
    source: Source = "app"


class RevokeAll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy_version: PolicyVersion | None = None  # default: each purpose's current version
    source: Source = "app"


class PurposeState(BaseModel):
    purpose: ConsentPurpose
    granted: bool
    as_of: datetime | None  # None: never recorded, so not granted
    policy_version: str | None
    lawful_basis: str | None
    source: str | None


class ConsentState(BaseModel):
    user_id: str
    purposes: list[PurposeState]


class CheckReply(BaseModel):
    user_id: str
    purpose: ConsentPurpose
    allowed: bool
    as_of: datetime | None
    policy_version: str | None


class HistoryEntry(BaseModel):
    id: int
    purpose: ConsentPurpose
    granted: bool
    lawful_basis: str
    policy_version: str
    source: str
    actor_key_id: str
    recorded_at: datetime


class HistoryPage(BaseModel):
    user_id: str
    entries: list[HistoryEntry]
    next_after_id: int | None  # pass as `after_id` for the next page


class BulkCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: ConsentPurpose
    user_ids: Annotated[list[UserId], Field(min_length=1)]


class BulkCheckReply(BaseModel):
    purpose: ConsentPurpose
    checked: int
    allowed: list[str]
