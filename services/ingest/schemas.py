"""Log entries, typed per source service: a discriminated union on `service`.

Every entry has the common fields of DESIGN.md; its body fields depend on the service.
Fields a service's model does not know are kept (they land in the `extras` map).
`FREE_TEXT` fields are PII-scrubbed on the way to the lake; `IDENTIFIERS` are structured
personal fields anonymized as a whole (keyed hash by default); `identifier_slots` says where
they sit in a body (top level, or nested as in Segment traits).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

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

    @classmethod
    def identifier_slots(cls, body: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
        """(holder, key, entity) of each structured identifier present in a dumped body."""
        return [
            (body, name, entity)
            for name, entity in cls.IDENTIFIERS.items()
            if isinstance(body.get(name), str)
        ]


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


SegmentType = Literal["track", "identify", "page", "screen", "group", "alias"]


def _id_text(value: Any) -> Any:
    """Segment ids may be sent as numbers."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


SegmentId = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=200)]


def _segment_time(original: Any, sent: Any) -> Any:
    """Segment's rule for a message without `timestamp`: receivedAt - (sentAt -
    originalTimestamp), which corrects the device's clock; else the receive time."""
    now = datetime.now(UTC)
    if original is None:
        return now
    try:
        start = datetime.fromisoformat(original)
        sent_at = datetime.fromisoformat(sent) if sent is not None else None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        if sent_at is None:
            return start
        if sent_at.tzinfo is None:
            sent_at = sent_at.replace(tzinfo=UTC)
        return now - (sent_at - start)
    except (TypeError, ValueError):
        return original  # the timestamp validator reports it


class SegmentEvent(EntryBase):
    """A Segment / RudderStack message: track, identify, page, screen, group or alias.

    Takes Segment's camelCase names (userId, anonymousId, messageId, sentAt, ...) or ours.
    user_id is userId, else `anon:<anonymousId>`; event_id is messageId; event_type is the
    Segment type (a small fixed set: the event name stays in `event`). properties, traits and
    context are scrubbed as free text, except the identifying traits below (and context.ip),
    which land as keyed hashes and become the user's known identifiers.
    """

    FREE_TEXT = ("properties", "traits", "context")
    # Segment's reserved identifying traits (camelCase and snake_case), by entity.
    IDENTIFIERS = {
        "email": "EMAIL_ADDRESS",
        "name": "PERSON",
        "firstName": "PERSON",
        "lastName": "PERSON",
        "first_name": "PERSON",
        "last_name": "PERSON",
        "username": "USERNAME",
        "phone": "PHONE_NUMBER",
        "birthday": "DATE_OF_BIRTH",
    }

    service: Literal["segment"]
    event_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        None, validation_alias=AliasChoices("messageId", "event_id")
    )
    type: SegmentType
    event: ShortText | None = None
    name: ShortText | None = None
    category: ShortText | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    anonymous_id: SegmentId | None = Field(
        None, validation_alias=AliasChoices("anonymousId", "anonymous_id")
    )
    previous_id: SegmentId | None = Field(
        None, validation_alias=AliasChoices("previousId", "previous_id")
    )
    group_id: SegmentId | None = Field(None, validation_alias=AliasChoices("groupId", "group_id"))
    sent_at: datetime | None = Field(None, validation_alias=AliasChoices("sentAt", "sent_at"))
    original_timestamp: datetime | None = Field(
        None, validation_alias=AliasChoices("originalTimestamp", "original_timestamp")
    )

    @model_validator(mode="before")
    @classmethod
    def _from_segment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        user = _id_text(data.pop("userId", None) or data.get("user_id"))
        anonymous = _id_text(data.get("anonymousId") or data.get("anonymous_id"))
        if user in (None, "") and anonymous in (None, ""):
            raise ValueError("userId or anonymousId is required")
        data["user_id"] = user if user not in (None, "") else f"anon:{anonymous}"
        if data.get("timestamp") is None:
            data["timestamp"] = _segment_time(
                data.get("originalTimestamp", data.get("original_timestamp")),
                data.get("sentAt", data.get("sent_at")),
            )
        return data

    @model_validator(mode="after")
    def _required_by_type(self) -> Self:
        if self.type == "track" and not self.event:
            raise ValueError("a track call needs 'event'")
        if self.type == "group" and not self.group_id:
            raise ValueError("a group call needs 'groupId'")
        if self.type == "alias" and (not self.previous_id or self.user_id.startswith("anon:")):
            raise ValueError("an alias call needs 'previousId' and 'userId'")
        self.event_type = self.type
        return self

    @classmethod
    def identifier_slots(cls, body: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
        """Identifying traits in `traits` and `context.traits` (RudderStack's identify puts
        them there), and the device's IP in `context.ip`."""
        context = body.get("context")
        context = context if isinstance(context, dict) else {}
        slots = []
        for holder in (body.get("traits"), context.get("traits")):
            if isinstance(holder, dict):
                slots += [
                    (holder, name, entity)
                    for name, entity in cls.IDENTIFIERS.items()
                    if isinstance(holder.get(name), str)
                ]
        if isinstance(context.get("ip"), str):
            slots.append((context, "ip", "IP_ADDRESS"))
        return slots


LogEntry = Annotated[
    LyfbotLog
    | AiLog
    | JournalLog
    | MoodLog
    | ChatLog
    | CommunityLog
    | AuthLog
    | PaymentLog
    | SegmentEvent,
    Field(discriminator="service"),
]
ENTRY_ADAPTER: TypeAdapter[Any] = TypeAdapter(LogEntry)
ENTRY_TYPES: dict[str, type[EntryBase]] = {
    cls.model_fields["service"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
        LyfbotLog,
        AiLog,
        JournalLog,
        MoodLog,
        ChatLog,
        CommunityLog,
        AuthLog,
        PaymentLog,
        SegmentEvent,
    )
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
