"""Log entries, typed per source service: a discriminated union on `service`.

Every entry has the common fields of DESIGN.md; its body fields depend on the service.
Fields a service's model does not know are kept (they land in the `extras` map).
`FREE_TEXT` fields are PII-scrubbed on the way to the lake; `IDENTIFIERS` are structured
personal fields anonymized as a whole (keyed hash by default).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
MAX_FUTURE = timedelta(days=1)

Text = Annotated[str, Field(max_length=32_000)]
ShortText = Annotated[str, Field(max_length=200)]
Score01 = Annotated[float, Field(ge=0.0, le=1.0)]


class EntryBase(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    FREE_TEXT: ClassVar[tuple[str, ...]] = ()
    IDENTIFIERS: ClassVar[dict[str, str]] = {}

    event_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    user_id: Annotated[str, Field(pattern=ID_PATTERN)]
    timestamp: datetime
    event_type: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")] = "log"

    @field_validator("timestamp")
    @classmethod
    def _aware_and_not_future(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value > datetime.now(UTC) + MAX_FUTURE:
            raise ValueError("timestamp is more than a day in the future")
        return value.astimezone(UTC)


class ConversationTurn(EntryBase):
    FREE_TEXT = ("prompt", "response")

    interaction_type: ShortText | None = None
    prompt: Text | None = None
    response: Text | None = None
    model: ShortText | None = None
    session_id: ShortText | None = None
    conversation_id: ShortText | None = None
    intent: ShortText | None = None
    confidence_score: Score01 | None = None
    latency_ms: Annotated[int, Field(ge=0)] | None = None


class LyfbotLog(ConversationTurn):
    service: Literal["lyfbot-service"]


class AiLog(ConversationTurn):
    service: Literal["ai-service"]
    prompt_tokens: Annotated[int, Field(ge=0)] | None = None
    completion_tokens: Annotated[int, Field(ge=0)] | None = None


class JournalLog(EntryBase):
    FREE_TEXT = ("title", "text")

    service: Literal["journal-service"]
    entry_id: ShortText | None = None
    title: ShortText | None = None
    text: Text
    mood: ShortText | None = None
    tags: list[ShortText] = Field(default_factory=list, max_length=50)


class MoodLog(EntryBase):
    FREE_TEXT = ("note",)

    service: Literal["mood-service"]
    score: Annotated[int, Field(ge=1, le=10)]
    mood: ShortText | None = None
    note: Text | None = None
    factors: list[ShortText] = Field(default_factory=list, max_length=50)


class ChatLog(EntryBase):
    FREE_TEXT = ("message",)

    service: Literal["chat-service"]
    conversation_id: ShortText
    message_id: ShortText | None = None
    sender_role: Literal["user", "therapist", "peer", "system"] = "user"
    message: Text


class CommunityLog(EntryBase):
    FREE_TEXT = ("content",)

    service: Literal["community-service"]
    action: Literal["post", "comment", "reaction", "report", "join", "leave"]
    post_id: ShortText | None = None
    group_id: ShortText | None = None
    content: Text | None = None


class AuthLog(EntryBase):
    IDENTIFIERS = {
        "email": "EMAIL_ADDRESS",
        "name": "PERSON",
        "phone": "PHONE_NUMBER",
        "ip_address": "IP_ADDRESS",
    }

    service: Literal["auth-service"]
    action: Literal[
        "signup", "login", "logout", "login_failed", "password_reset", "profile_update", "mfa"
    ]
    success: bool = True
    email: Annotated[str, Field(max_length=320)] | None = None
    name: ShortText | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    ip_address: Annotated[str, Field(max_length=64)] | None = None
    user_agent: Annotated[str, Field(max_length=500)] | None = None


class PaymentLog(EntryBase):
    FREE_TEXT = ("description",)

    service: Literal["payment-service"]
    action: Literal["charge", "refund", "subscription_start", "subscription_cancel", "failed"]
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    plan: ShortText | None = None
    payment_id: ShortText | None = None
    description: ShortText | None = None


LogEntry = Annotated[
    LyfbotLog | AiLog | JournalLog | MoodLog | ChatLog | CommunityLog | AuthLog | PaymentLog,
    Field(discriminator="service"),
]
ENTRY_ADAPTER: TypeAdapter[Any] = TypeAdapter(LogEntry)
ENTRY_TYPES: dict[str, type[EntryBase]] = {
    cls.model_fields["service"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (LyfbotLog, AiLog, JournalLog, MoodLog, ChatLog, CommunityLog, AuthLog, PaymentLog)
}
SERVICES: tuple[str, ...] = tuple(sorted(ENTRY_TYPES))
COMMON_FIELDS = ("event_id", "service", "user_id", "timestamp", "event_type")


class Rejection(BaseModel):
    index: int
    field: str
    reason: str


class IngestReply(BaseModel):
    accepted: int
    duplicate: int
    rejected: int
    errors: list[Rejection] = Field(default_factory=list)
    event_ids: list[str | None] = Field(
        default_factory=list,
        description="Per entry, in request order: its event_id (accepted or duplicate) or null.",
    )
