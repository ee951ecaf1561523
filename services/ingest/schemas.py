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

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from libs.common.validation import opaque_user_id_error
from services.ingest.config import get_ingest_settings

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
MAX_FUTURE = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _id_text(value: Any) -> Any:
    """Ids may be sent as whole numbers (database ids): their decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return value


def _user_id(value: Any) -> Any:
    """A whole number is its text; an id that is an e-mail address or phone number is refused
    (ids are kept in clear). One call an entry: the setting is read only for such an id."""
    if type(value) is not str:
        return _id_text(value)
    if "@" not in value and not value[:1].isdigit():  # neither an address nor a number
        return value
    reason = opaque_user_id_error(value)
    if reason is not None and not get_ingest_settings().allow_contact_user_ids:
        raise PydanticCustomError("contact_user_id", reason)
    return value


def _opaque_alias(value: str) -> str:
    """The user-id rule for a Segment id that identifies the user beside `userId`."""
    reason = opaque_user_id_error(value, name="this id")
    if reason is not None and not get_ingest_settings().allow_contact_user_ids:
        raise PydanticCustomError("contact_user_id", reason)
    return value


def _timestamp(value: Any) -> Any:
    """Epoch microseconds and nanoseconds by magnitude (pydantic reads seconds and
    milliseconds); an RFC 2822 / HTTP date ("Fri, 20 Nov 2026 14:30:22 GMT")."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 1e14 <= abs(value) < 1e20:
        return _EPOCH + timedelta(microseconds=value if abs(value) < 1e17 else value / 1000)
    if isinstance(value, str) and value[:1].isalpha():
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value
    return value


def _folded(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _whole(value: Any) -> Any:
    """A duration in milliseconds may come with a fraction: rounded."""
    return round(value) if isinstance(value, float) and abs(value) < 2**53 else value


def _cents(value: Any) -> Any:
    """A float amount off by binary rounding only (0.1 + 0.2) is its two-place decimal."""
    if isinstance(value, float) and abs(value - round(value, 2)) < 1e-6:
        return Decimal(f"{value:.2f}")
    return value


Text = Annotated[str, Field(max_length=32_000, coerce_numbers_to_str=True)]
ShortText = Annotated[str, Field(max_length=200, coerce_numbers_to_str=True)]
Score01 = Annotated[float, Field(ge=0.0, le=1.0)]
Score10 = Annotated[int, Field(ge=1, le=10)]
Tags = Annotated[list[ShortText], Field(max_length=50), BeforeValidator(_listed)]
Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]
UserId = Annotated[str, Field(pattern=ID_PATTERN), BeforeValidator(_user_id)]


class EntryBase(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    FREE_TEXT: ClassVar[tuple[str, ...]] = ()
    IDENTIFIERS: ClassVar[dict[str, str]] = {}

    event_id: Annotated[str, Field(pattern=ID_PATTERN, coerce_numbers_to_str=True)] | None = None
    user_id: UserId
    timestamp: Timestamp
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


# Namespaces a producer may put before an action ("user.login", "customer.subscription.created").
_NAMESPACES = frozenset(
    ["auth", "user", "users", "account", "customer", "billing", "payment", "stripe", "community"]
)


# Other names producers give each action ("service action: names"), Stripe's event names
# ("charge.refunded", "customer.subscription.deleted") among them.
_SYNONYMS = """
community post: posted post_created create_post new_post post_published
community comment: commented comment_created comment_added new_comment reply replied
community reaction: react reacted reaction_added like liked upvote upvoted
community report: reported flag flagged post_reported content_reported report_post
community report: report_comment
community join: joined group_joined join_group member_joined
community leave: left group_left leave_group member_left
auth signup: sign_up signed_up register registered registration user_created account_created
auth signup: create_account
auth login: log_in logged_in signin sign_in signed_in login_success login_succeeded
auth login: login_successful authenticated
auth logout: log_out logged_out signout sign_out signed_out
auth login_failed: login_failure failed_login login_error signin_failed sign_in_failed
auth login_failed: authentication_failed
auth password_reset: reset_password password_reset_requested password_reset_completed
auth password_reset: forgot_password
auth profile_update: profile_updated update_profile user_updated account_updated
auth profile_update: profile_changed
auth mfa: 2fa two_factor mfa_challenge mfa_verified mfa_enabled otp totp
payment charge: charged charge_succeeded payment_succeeded paid payment purchase purchased
payment charge: invoice_paid payment_intent_succeeded
payment refund: refunded charge_refunded refund_created refund_succeeded
payment subscription_start: subscription_started subscription_created subscribed
payment subscription_cancel: subscription_cancelled subscription_canceled subscription_deleted
payment subscription_cancel: subscription_ended unsubscribed
payment failed: payment_failed charge_failed declined payment_declined invoice_payment_failed
payment failed: payment_intent_payment_failed
"""


def action_names(actions: Any, service: str) -> dict[str, str]:
    """Each accepted spelling of an action of `service` (normalized) -> the action."""
    names = {name: name for name in get_args(actions)}
    for line in _SYNONYMS.strip().splitlines():
        head, _, aliases = line.partition(":")
        owner, _, action = head.partition(" ")
        if owner == service:
            names.update(dict.fromkeys(aliases.split(), action))
    return names


_CAMEL_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])")


def action_of(value: Any, names: dict[str, str]) -> str | None:
    """The action a name means ("User.LoggedIn" -> "login"), or None when it means none."""
    if not isinstance(value, str):
        return None
    key = re.sub(r"[^a-z0-9]+", "_", _CAMEL_HUMP.sub("_", value).lower()).strip("_")
    while key not in names:
        head, _, rest = key.partition("_")
        if head not in _NAMESPACES or not rest:
            return None
        key = rest
    return names[key]


class ActionEntry(EntryBase):
    """An entry with an `action` from a fixed set: a synonym is taken for its action, and an
    entry without one takes it from an `event_type` that names one."""

    ACTIONS: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _action(cls, data: Any) -> Any:
        given = data.get("action") if isinstance(data, dict) else None
        if not isinstance(data, dict) or (
            isinstance(given, str) and cls.ACTIONS.get(given) == given
        ):
            return data
        action = action_of(data.get("event_type") if given is None else given, cls.ACTIONS)
        if action is None:
            return data  # required or not one of the set: the field's own error says so
        return cls._derived({**data, "action": action})

    @classmethod
    def _derived(cls, data: dict[str, Any]) -> dict[str, Any]:
        return data


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
