"""The fields every log entry has (`EntryBase`), and the field types and coercions entries share.

A number where text is expected is its decimal text, a whole number is an id, epoch seconds,
milliseconds, microseconds or nanoseconds and HTTP dates are timestamps; a `user_id` that is an
e-mail address or a phone number is refused unless `MINDLAKE_ALLOW_CONTACT_USER_IDS` is set.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
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
