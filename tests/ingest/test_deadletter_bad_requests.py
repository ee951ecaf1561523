"""Issue 10, dead-letter routes: ids, cursors, filters and replay requests Postgres cannot
compare are a 404 or a 422 naming the field, never a 500; a NUL entry still replays."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from libs.common.db import get_engine
from libs.common.validation import NUL_STAND_IN
from tests import factories
from tests.ingest.hardening_support import BIG, NUL
from tests.ingest.test_deadletter import admin, dl_client, stored

__all__ = ["admin", "dl_client"]  # fixtures, shared with test_deadletter


# --- dead-letter routes: values Postgres cannot compare ------------------------------------


@pytest.mark.parametrize("dead_letter_id", [BIG, 10**30, 0, -1])
async def test_a_dead_letter_id_that_cannot_exist_is_a_404(
    dl_client: Any, admin: dict[str, str], dead_letter_id: int
) -> None:
    for reply in (
        await dl_client.get(f"/v1/dead-letters/{dead_letter_id}", headers=admin),
        await dl_client.post(f"/v1/dead-letters/{dead_letter_id}/discard", headers=admin),
    ):
        assert reply.status_code == 404, reply.text
        assert reply.headers["content-type"] == "application/problem+json"


async def test_a_dead_letter_id_that_is_not_a_number_is_a_422(
    dl_client: Any, admin: dict[str, str]
) -> None:
    for path in ("/v1/dead-letters/abc", "/v1/dead-letters/" + "9" * 5000):
        reply = await dl_client.get(path, headers=admin)
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"] == "dead_letter_id"


@pytest.mark.parametrize(
    "cursor", ["é", "²", "٣", "12a", "-5", "", str(BIG), "9" * 40, "1\x00", " 7"]
)
async def test_a_cursor_we_did_not_issue_is_a_422_naming_it(
    dl_client: Any, admin: dict[str, str], cursor: str
) -> None:
    reply = await dl_client.get("/v1/dead-letters", params={"cursor": cursor}, headers=admin)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in reply.json()["errors"]] == ["cursor"]


async def test_the_largest_cursor_is_a_page(dl_client: Any, admin: dict[str, str]) -> None:
    await dl_client.post("/v1/logs", json=factories.mood(score=0))
    reply = await dl_client.get("/v1/dead-letters", params={"cursor": str(BIG - 1)}, headers=admin)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["items"]) == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("source", f"logs{NUL}"),
        ("reason", f"missing{NUL}"),
        ("service", f"mood{NUL}"),
        ("source", "x" * 33),
        ("service", "x" * 65),
        ("reason", "x" * 1001),
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "-1"),
        ("limit", str(10**40)),
        ("status", "lost"),
        ("since", "not a time"),
    ],
)
async def test_bad_list_filters_are_a_422_naming_the_field(
    dl_client: Any, admin: dict[str, str], name: str, value: str
) -> None:
    reply = await dl_client.get("/v1/dead-letters", params={name: value}, headers=admin)
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == [name]


async def test_extreme_times_in_the_list_filter_are_not_a_500(
    dl_client: Any, admin: dict[str, str]
) -> None:
    for since in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01"):
        reply = await dl_client.get("/v1/dead-letters", params={"since": since}, headers=admin)
        assert reply.status_code in (200, 422), reply.text
        if reply.status_code == 422:
            assert reply.json()["errors"][0]["field"] == "since"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": [BIG]}, "ids[0]"),
        ({"ids": [1, 10**30]}, "ids[1]"),
        ({"ids": [-1]}, "ids[0]"),
        ({"ids": []}, "ids"),
        ({"ids": list(range(1, 1002))}, "ids"),
        ({"filter": {"source": f"logs{NUL}"}}, "filter.source"),
        ({"filter": {"reason": f"x{NUL}"}}, "filter.reason"),
        ({"filter": {"service": f"x{NUL}"}}, "filter.service"),
        ({"filter": {}, "limit": 10**30}, "limit"),
        ({"filter": {}, "limit": 0}, "limit"),
    ],
)
async def test_bad_replay_requests_are_a_422_naming_the_field(
    dl_client: Any, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    reply = await dl_client.post("/v1/dead-letters/replay", json=body, headers=admin)
    assert reply.status_code == 422, reply.text
    assert field in [e["field"] for e in reply.json()["errors"]]


async def test_replay_of_the_largest_id_reports_it_not_found(
    dl_client: Any, admin: dict[str, str]
) -> None:
    reply = await dl_client.post("/v1/dead-letters/replay", json={"ids": [BIG - 1]}, headers=admin)
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"] == [
        {"id": BIG - 1, "outcome": "not_found", "event_id": None, "errors": []}
    ]


async def test_a_replayed_nul_entry_lands_with_the_stand_in(
    dl_client: Any, admin: dict[str, str]
) -> None:
    """A dead letter kept with ␀ is still an entry: once fixed it replays."""
    reply = await dl_client.post(
        "/v1/logs", json=factories.mood(score=11, note=f"a{NUL}b", event_id="nul-replay-1")
    )
    assert reply.status_code == 422
    (row,) = await stored()
    async with get_engine().begin() as conn:  # the fix: an operator corrects the score
        await conn.execute(
            text("UPDATE ingest.dead_letters SET payload = jsonb_set(payload, '{score}', '5')")
        )
    reply = await dl_client.post(
        "/v1/dead-letters/replay", json={"ids": [row["id"]]}, headers=admin
    )
    assert reply.json()["replayed"] == 1, reply.text
    async with get_engine().connect() as conn:
        payload = await conn.scalar(
            text("SELECT payload FROM ingest.outbox WHERE event_id = 'nul-replay-1'")
        )
    assert orjson.loads(payload)["note"] == f"a{NUL_STAND_IN}b"
