"""Log entries, typed per source service: a discriminated union on `service`.

Every entry has the common fields of DESIGN.md; its body fields depend on the service.
Fields a service's model does not know are kept (they land in the `extras` map).
`FREE_TEXT` fields are PII-scrubbed on the way to the lake; `IDENTIFIERS` are structured
personal fields anonymized as a whole (keyed hash by default); `identifier_slots` says where
they sit in a body (top level, or nested as in Segment traits).

Secondary fields take the forms services really send when they can mean one thing only: a
number where text is expected is its decimal text, a whole number is an id, epoch seconds,
milliseconds, microseconds or nanoseconds and HTTP dates are timestamps, a lone string is a
one-item list, names and currency codes in any case, an `action` named by `event_type` (or by
a common synonym), a journal's 1-10 `mood` number its `mood_score`. What cannot be meant is
rejected, naming the field. A `user_id` (or Segment id) that is an e-mail address or a phone
number is refused unless `MINDLAKE_ALLOW_CONTACT_USER_IDS` is set: it is kept in clear.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    TypeAdapter,
    model_validator,
)

from services.ingest.logs.actions import ActionEntry, action_names
from services.ingest.logs.fields import (
    ID_PATTERN,
    EntryBase,
    Score01,
    Score10,
    ShortText,
    Tags,
    Text,
    Timestamp,
    _cents,
    _folded,
    _id_text,
    _opaque_alias,
    _upper,
    _whole,
)


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
    latency_ms: Annotated[int, Field(ge=0), BeforeValidator(_whole)] | None = None


class LyfbotLog(ConversationTurn):
    service: Literal["lyfbot-service"]


class AiLog(ConversationTurn):
    service: Literal["ai-service"]
    prompt_tokens: Annotated[int, Field(ge=0)] | None = None
    completion_tokens: Annotated[int, Field(ge=0)] | None = None


def _score_of(value: Any) -> int | None:
    """A 1-10 mood score sent as a number (or its digits), else None."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value in range(1, 11):
        return int(value)
    return None


def _mood_as(data: Any, score_field: str) -> Any:
    """A `mood` that is a 1-10 number is the score (when none is sent beside it); any other
    number is kept as its text, the label."""
    if isinstance(data, dict) and score_field not in data:
        score = _score_of(data.get("mood"))
        if score is not None:
            data = {k: v for k, v in data.items() if k != "mood"}
            data[score_field] = score
    return data


class JournalLog(EntryBase):
    """`mood` is the journal's mood label ("calm"); `mood_score` its 1-10 score, which a
    `mood` sent as a 1-10 number becomes."""

    FREE_TEXT = ("title", "text")

    service: Literal["journal-service"]
    entry_id: ShortText | None = None
    title: ShortText | None = None
    text: Text
    mood: ShortText | None = None
    mood_score: Score10 | None = None
    tags: Tags = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _numeric_mood(cls, data: Any) -> Any:
        return _mood_as(data, "mood_score")


class MoodLog(EntryBase):
    """`score` is the 1-10 check-in; a `mood` sent as a 1-10 number without one is it."""

    FREE_TEXT = ("note",)

    service: Literal["mood-service"]
    score: Score10
    mood: ShortText | None = None
    note: Text | None = None
    factors: Tags = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _numeric_mood(cls, data: Any) -> Any:
        return _mood_as(data, "score")


class ChatLog(EntryBase):
    FREE_TEXT = ("message",)

    service: Literal["chat-service"]
    conversation_id: ShortText
    message_id: ShortText | None = None
    sender_role: Annotated[
        Literal["user", "therapist", "peer", "system"], BeforeValidator(_folded)
    ] = "user"
    message: Text


CommunityAction = Literal["post", "comment", "reaction", "report", "join", "leave"]
AuthAction = Literal[
    "signup", "login", "logout", "login_failed", "password_reset", "profile_update", "mfa"
]
PaymentAction = Literal["charge", "refund", "subscription_start", "subscription_cancel", "failed"]


class CommunityLog(ActionEntry):
    FREE_TEXT = ("content",)
    ACTIONS = action_names(CommunityAction, "community")

    service: Literal["community-service"]
    action: CommunityAction
    post_id: ShortText | None = None
    group_id: ShortText | None = None
    content: Text | None = None


class AuthLog(ActionEntry):
    """`success` defaults to false for a `login_failed` (true otherwise)."""

    ACTIONS = action_names(AuthAction, "auth")
    IDENTIFIERS = {
        "email": "EMAIL_ADDRESS",
        "name": "PERSON",
        "phone": "PHONE_NUMBER",
        "ip_address": "IP_ADDRESS",
    }

    service: Literal["auth-service"]
    action: AuthAction
    success: bool = True
    email: Annotated[str, Field(max_length=320)] | None = None
    name: ShortText | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    ip_address: Annotated[str, Field(max_length=64)] | None = None
    user_agent: Annotated[str, Field(max_length=500)] | None = None

    @classmethod
    def _derived(cls, data: dict[str, Any]) -> dict[str, Any]:
        if data["action"] == "login_failed" and "success" not in data:
            data["success"] = False
        return data


class PaymentLog(ActionEntry):
    FREE_TEXT = ("description",)
    ACTIONS = action_names(PaymentAction, "payment")

    service: Literal["payment-service"]
    action: PaymentAction
    amount: Annotated[
        Decimal, Field(ge=0, max_digits=12, decimal_places=2), BeforeValidator(_cents)
    ]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), BeforeValidator(_upper)]
    plan: ShortText | None = None
    payment_id: ShortText | None = None
    description: ShortText | None = None


ClinicalOutcome = Literal["phq9", "episode_confirmed", "crisis_escalation"]
PHQ9_MAX = 27  # nine items scored 0-3


class ClinicalLog(EntryBase):
    """Outcomes recorded by clinicians and screenings: a PHQ-9 total (0-27, required for
    `phq9`), an episode a clinician confirmed, a crisis escalation. The risk service learns
    from them. `outcome` may be named by `event_type` instead."""

    FREE_TEXT = ("note",)

    service: Literal["clinical-service"]
    outcome: ClinicalOutcome
    phq9_score: Annotated[int, Field(ge=0, le=PHQ9_MAX), BeforeValidator(_whole)] | None = None
    note: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _outcome_from_event_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and "outcome" not in data:
            named = str(data.get("event_type", "")).strip().lower()
            if named in ("phq9", "episode_confirmed", "crisis_escalation"):
                data = {**data, "outcome": named}
        return data

    @model_validator(mode="after")
    def _phq9_has_a_score(self) -> Self:
        if self.outcome == "phq9" and self.phq9_score is None:
            raise ValueError("phq9_score is required for a phq9 outcome")
        return self


SegmentType = Literal["track", "identify", "page", "screen", "group", "alias"]


SegmentId = Annotated[str, Field(min_length=1, max_length=200), BeforeValidator(_id_text)]
UserAlias = Annotated[SegmentId, AfterValidator(_opaque_alias)]


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
    type: Annotated[SegmentType, BeforeValidator(_folded)]
    event: ShortText | None = None
    name: ShortText | None = None
    category: ShortText | None = None
    properties: dict[str, Any] | None = None
    traits: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    anonymous_id: UserAlias | None = Field(
        None, validation_alias=AliasChoices("anonymousId", "anonymous_id")
    )
    previous_id: UserAlias | None = Field(
        None, validation_alias=AliasChoices("previousId", "previous_id")
    )
    group_id: SegmentId | None = Field(None, validation_alias=AliasChoices("groupId", "group_id"))
    sent_at: Timestamp | None = Field(None, validation_alias=AliasChoices("sentAt", "sent_at"))
    original_timestamp: Timestamp | None = Field(
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
    | ClinicalLog
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
        ClinicalLog,
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
