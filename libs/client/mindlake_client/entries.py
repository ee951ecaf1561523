"""Typed log entries, one light dataclass per source service, mirroring the ingest API's types.

They are a convenience: plain dicts with the same fields are accepted too, and the server
does the validation. The client never imports the server's code (it is installed on its
own); `tests/client/test_entries.py` checks these types against the ingest schemas (field
names, required or optional, choices, and that each wire form validates), so the two cannot
drift. Fields a type does not have go in `extras`. An auth, community or payment entry may
leave `action` out when its `event_type` names one (`user.login`): the API takes it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal


@dataclass(kw_only=True, slots=True)
class LogEntry:
    """The common fields. `event_id` (the dedup key) and `timestamp` are set by the client
    when left out."""

    SERVICE: ClassVar[str] = ""

    user_id: str
    timestamp: datetime | str | None = None
    event_id: str | None = None
    event_type: str = "log"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.SERVICE

    def to_dict(self) -> dict[str, Any]:
        """The wire form: unset (None) fields left out, extras merged under the typed ones."""
        out: dict[str, Any] = dict(self.extras)
        out["service"] = self.SERVICE
        for item in fields(self):
            if item.name == "extras":
                continue
            value = getattr(self, item.name)
            if value is not None:
                out[item.name] = value
        return out


@dataclass(kw_only=True, slots=True)
class _ConversationTurn(LogEntry):
    interaction_type: str | None = None
    prompt: str | None = None
    response: str | None = None
    model: str | None = None
    session_id: str | None = None
    conversation_id: str | None = None
    intent: str | None = None
    confidence_score: float | None = None  # 0-1
    latency_ms: int | None = None


@dataclass(kw_only=True, slots=True)
class LyfbotLog(_ConversationTurn):
    SERVICE: ClassVar[str] = "lyfbot-service"


@dataclass(kw_only=True, slots=True)
class AiLog(_ConversationTurn):
    SERVICE: ClassVar[str] = "ai-service"

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(kw_only=True, slots=True)
class JournalLog(LogEntry):
    SERVICE: ClassVar[str] = "journal-service"

    text: str
    entry_id: str | None = None
    title: str | None = None
    mood: str | None = None  # the label ("calm")
    mood_score: int | None = None  # 1-10; a `mood` sent as a 1-10 number is taken for it
    tags: list[str] | None = None


@dataclass(kw_only=True, slots=True)
class MoodLog(LogEntry):
    SERVICE: ClassVar[str] = "mood-service"

    score: int  # 1-10
    mood: str | None = None
    note: str | None = None
    factors: list[str] | None = None


@dataclass(kw_only=True, slots=True)
class ChatLog(LogEntry):
    SERVICE: ClassVar[str] = "chat-service"

    conversation_id: str
    message: str
    message_id: str | None = None
    sender_role: Literal["user", "therapist", "peer", "system"] | None = None


CommunityAction = Literal["post", "comment", "reaction", "report", "join", "leave"]
AuthAction = Literal[
    "signup", "login", "logout", "login_failed", "password_reset", "profile_update", "mfa"
]
PaymentAction = Literal["charge", "refund", "subscription_start", "subscription_cancel", "failed"]


@dataclass(kw_only=True, slots=True)
class CommunityLog(LogEntry):
    SERVICE: ClassVar[str] = "community-service"

    action: CommunityAction | None = None  # else from an event_type naming one
    post_id: str | None = None
    group_id: str | None = None
    content: str | None = None


@dataclass(kw_only=True, slots=True)
class AuthLog(LogEntry):
    SERVICE: ClassVar[str] = "auth-service"

    action: AuthAction | None = None  # else from an event_type naming one
    success: bool | None = None
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(kw_only=True, slots=True)
class PaymentLog(LogEntry):
    SERVICE: ClassVar[str] = "payment-service"

    action: PaymentAction | None = None  # else from an event_type naming one
    amount: Decimal | str | float
    currency: str  # ISO 4217, e.g. "EUR"
    plan: str | None = None
    payment_id: str | None = None
    description: str | None = None


ENTRY_TYPES: tuple[type[LogEntry], ...] = (
    LyfbotLog,
    AiLog,
    JournalLog,
    MoodLog,
    ChatLog,
    CommunityLog,
    AuthLog,
    PaymentLog,
)
