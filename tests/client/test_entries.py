"""The client's entry types against the ingest API's schemas, so the two cannot drift.

`mindlake_client` is installed on its own and never imports `services` (checked below); this
test imports both. For every source service the client offers a type for: the same fields,
required where the API requires them (except what the client or the API fills in), the same
choices, and the client's wire form (`encode_entry`, what `log()` buffers) validating as that
service's ingest model with every field landing where it was meant, none in `extras`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import types
import typing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import mindlake_client
import pytest
from mindlake_client.encoding import encode_entry
from mindlake_client.entries import ENTRY_TYPES, LogEntry
from pydantic import BaseModel

from services.ingest.logs import schemas

# The ingest services the client has no typed entry for, and why.
NOT_OFFERED = {
    "segment": "Segment / RudderStack messages come from their own SDKs (POST /v1/batch); "
    "a dict with service 'segment' still goes through the client untyped",
    "clinical-service": "clinical outcomes come from the clinical system's backend, not the apps; "
    "a dict with service 'clinical-service' still goes through the client untyped",
}
# Required by the API, optional in the client: `encode_entry` sets the current time.
CLIENT_FILLS = {"timestamp"}

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
COMMON: dict[str, Any] = {"user_id": "u_1", "event_id": "evt-1", "timestamp": WHEN}
# Every field of every type, with a value the API takes as it is.
FULL: dict[str, dict[str, Any]] = {
    "lyfbot-service": {
        "interaction_type": "chat",
        "prompt": "How are you?",
        "response": "Tired.",
        "model": "gpt-4-turbo",
        "session_id": "s_1",
        "conversation_id": "c_1",
        "intent": "mood_check",
        "confidence_score": 0.9,
        "latency_ms": 120,
    },
    "journal-service": {
        "text": "A long day.",
        "entry_id": "j_1",
        "title": "Monday",
        "mood": "calm",
        "mood_score": 7,
        "tags": ["work", "sleep"],
    },
    "mood-service": {"score": 6, "mood": "ok", "note": "slept badly", "factors": ["sleep"]},
    "chat-service": {
        "conversation_id": "c_1",
        "message": "See you Thursday.",
        "message_id": "m_1",
        "sender_role": "therapist",
    },
    "community-service": {
        "action": "comment",
        "post_id": "p_1",
        "group_id": "g_1",
        "content": "Same here.",
    },
    "auth-service": {
        "action": "login_failed",
        "success": False,
        "email": "ann@example.com",
        "name": "Ann Lee",
        "phone": "+15551234567",
        "ip_address": "10.0.0.1",
        "user_agent": "curl/8",
    },
    "payment-service": {
        "action": "refund",
        "amount": Decimal("12.50"),
        "currency": "EUR",
        "plan": "pro",
        "payment_id": "pay_1",
        "description": "refund of May",
    },
}
FULL["ai-service"] = {**FULL["lyfbot-service"], "prompt_tokens": 10, "completion_tokens": 20}


def ingest_model(cls: type[LogEntry]) -> type[schemas.EntryBase]:
    return schemas.ENTRY_TYPES[cls.SERVICE]


def client_fields(cls: type[LogEntry]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.name != "extras"}


def is_required(item: dataclasses.Field[Any]) -> bool:
    return item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING


def choices(annotation: Any) -> set[Any]:
    """The values of every Literal in an annotation (through unions, Annotated, Optional)."""
    if typing.get_origin(annotation) is Literal:
        return set(typing.get_args(annotation))
    found: set[Any] = set()
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found |= choices(arg)
    return found


def wire(entry: LogEntry) -> dict[str, Any]:
    """What the client sends for an entry: the JSON `log()` buffers."""
    _, raw = encode_entry(entry, 32_000)
    data: dict[str, Any] = json.loads(raw)
    return data


def validated(data: dict[str, Any]) -> BaseModel:
    model: BaseModel = schemas.ENTRY_ADAPTER.validate_python(data)
    return model


def entry_id(cls: type[LogEntry]) -> str:
    return cls.SERVICE


def test_the_client_offers_a_type_for_every_ingest_service_but_the_named_ones() -> None:
    offered = [cls.SERVICE for cls in ENTRY_TYPES]
    assert len(offered) == len(set(offered))
    assert set(offered) == set(schemas.SERVICES) - set(NOT_OFFERED)
    assert set(NOT_OFFERED) <= set(schemas.SERVICES)  # an exception for a service gone is stale
    assert {cls.__name__ for cls in ENTRY_TYPES} <= set(mindlake_client.__all__)


@pytest.mark.parametrize("cls", ENTRY_TYPES, ids=entry_id)
def test_field_names_agree(cls: type[LogEntry]) -> None:
    server = set(ingest_model(cls).model_fields) - {"service"}  # the client's is SERVICE
    assert set(client_fields(cls)) == server
    assert set(FULL[cls.SERVICE]) | set(COMMON) | {"event_type"} == server  # FULL covers all


@pytest.mark.parametrize("cls", ENTRY_TYPES, ids=entry_id)
def test_required_and_optional_agree(cls: type[LogEntry]) -> None:
    model = ingest_model(cls)
    server = {name for name, info in model.model_fields.items() if info.is_required()}
    exempt = {"service"} | CLIENT_FILLS
    if issubclass(model, schemas.ActionEntry):
        exempt.add("action")  # the API takes it from an event_type naming one
    client = {name for name, item in client_fields(cls).items() if is_required(item)}
    assert client == server - exempt
    assert exempt - {"service"} <= set(client_fields(cls))  # exposed, only optional


@pytest.mark.parametrize("cls", ENTRY_TYPES, ids=entry_id)
def test_choices_agree(cls: type[LogEntry]) -> None:
    hints = typing.get_type_hints(cls)
    model = ingest_model(cls)
    for name in client_fields(cls):
        server = choices(model.model_fields[name].annotation)
        assert choices(hints[name]) == server, name


@pytest.mark.parametrize("cls", ENTRY_TYPES, ids=entry_id)
def test_a_full_entry_validates_as_its_ingest_type_field_for_field(cls: type[LogEntry]) -> None:
    sent = wire(cls(**COMMON, **FULL[cls.SERVICE]))
    model = validated(sent)
    assert type(model) is ingest_model(cls)
    assert model.model_extra == {}  # no field of the client's is unknown to the API
    got = model.model_dump(mode="json")
    assert datetime.fromisoformat(got.pop("timestamp")) == WHEN
    assert {k: v for k, v in sent.items() if k != "timestamp"} == got


@pytest.mark.parametrize("cls", ENTRY_TYPES, ids=entry_id)
def test_a_minimal_entry_validates(cls: type[LogEntry]) -> None:
    required = {
        name: FULL[cls.SERVICE][name]
        for name, item in client_fields(cls).items()
        if is_required(item) and name != "user_id"
    }
    if issubclass(ingest_model(cls), schemas.ActionEntry):
        required["action"] = FULL[cls.SERVICE]["action"]  # or an event_type naming one
    sent = wire(cls(user_id="u_1", **required))
    assert set(sent) == {"service", "user_id", "event_id", "timestamp", "event_type", *required}
    model = validated(sent)
    assert type(model) is ingest_model(cls) and model.model_extra == {}


ACTION_TYPES = [c for c in ENTRY_TYPES if issubclass(ingest_model(c), schemas.ActionEntry)]


@pytest.mark.parametrize("cls", ACTION_TYPES, ids=entry_id)
def test_an_entry_without_action_takes_it_from_its_event_type(cls: type[LogEntry]) -> None:
    given = {k: v for k, v in FULL[cls.SERVICE].items() if k != "action"}
    for action in choices(typing.get_type_hints(cls)["action"]):
        sent = wire(cls(user_id="u_1", event_type=action, **given))
        assert "action" not in sent
        assert validated(sent).model_dump()["action"] == action


def test_extras_land_in_the_apis_extras() -> None:
    entry = ENTRY_TYPES[0](user_id="u_1", extras={"app_version": "2.1"})
    assert validated(wire(entry)).model_extra == {"app_version": "2.1"}


def test_a_journal_mood_score_and_the_old_call_forms_still_work() -> None:
    journal = mindlake_client.JournalLog(user_id="u_1", text="ok", mood_score=4)
    assert validated(wire(journal)).model_dump()["mood_score"] == 4
    old = mindlake_client.JournalLog(user_id="u_1", text="ok", mood="7")  # no mood_score
    assert validated(wire(old)).model_dump()["mood_score"] == 7
    login = mindlake_client.AuthLog(user_id="u_1", action="login")
    assert wire(login)["action"] == "login"


def test_the_client_imports_no_server_code() -> None:
    package = Path(mindlake_client.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in {"services", "libs"}, f"{path.name}: {name}"
