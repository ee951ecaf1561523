"""The daily assessment over the real stack (events in a local lake, Postgres), scored by the
rule baseline (no champion yet): only users who grant `risk_assessment` are assessed, a user
with little data gets a low-coverage assessment, a re-run replaces the day's rows; the
clinicians' API answers with the disclaimer, refuses users without consent and audits each
read; retention drops assessments past 90 days; erasure removes the user's rows and flags the
models trained on them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from libs.common.auth import Scope, create_key
from libs.common.db import get_engine, session_maker
from libs.common.lake import Lake
from libs.common.subject_rights import SubjectContext
from libs.common.subjects import subject_key
from services.risk.config import DISCLAIMER, RiskSettings
from services.risk.models import AssessmentRow, ModelRow, ModelSubjectRow
from services.risk.retention import purge_assessments
from services.risk.scoring.daily import assess_day
from services.risk.subjects.stores import HANDLERS
from tests.embedding.lake_support import Events, set_consent
from tests.integration.services import lake_env, pointed_at
from tests.risk.events import add_at, at, risk_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("lake_settings", ["local"], indirect=True),
]
D = date(2026, 6, 15)
RISK = "risk_assessment"


@pytest.fixture
async def settings(
    lake_settings: Any, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> AsyncIterator[RiskSettings]:
    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE risk.assessments, risk.interventions"))
    with pointed_at(monkeypatch, lake_env(lake_settings)):
        yield risk_settings(lake_settings)


def struggling(ev: Events, user: str) -> None:
    """Three weeks of falling mood, withdrawal and dark journal entries."""
    for back in range(21, 0, -1):
        day = D - timedelta(days=back)
        add_at(ev, user, "mood-service", at(day, 9), score=max(1, 7 - (21 - back) // 3))
        if back < 8:
            text_ = "I feel hopeless and alone, I can't go on like this."
            add_at(ev, user, "journal-service", at(day, 2), text=text_, mood_score=2)


async def landed(settings: RiskSettings) -> dict[str, str]:
    ev = Events(settings)
    users = {name: ev.user(name) for name in ("low", "little", "no", "struggling")}
    await set_consent({users["low"]: True, users["little"]: True, users["struggling"]: True,
                       users["no"]: False}, RISK)  # fmt: skip
    for back in range(21, 0, -1):
        for name in ("low", "no"):
            add_at(ev, users[name], "mood-service", at(D - timedelta(days=back), 10), score=8)
            add_at(ev, users[name], "journal-service", at(D - timedelta(days=back), 19),
                   text="A calm, good day with friends.", mood_score=8)  # fmt: skip
    add_at(ev, users["little"], "mood-service", at(D - timedelta(days=2)), score=6)
    struggling(ev, users["struggling"])
    await ev.land()
    return users


async def stored(day: date) -> dict[str, AssessmentRow]:
    async with get_engine().connect() as conn:
        rows = await conn.execute(select(AssessmentRow).where(AssessmentRow.day == day))
        return {r.user_id: AssessmentRow(**dict(r._mapping)) for r in rows}


async def test_only_consenting_users_are_assessed_and_little_data_is_low_coverage(
    settings: RiskSettings,
) -> None:
    users = await landed(settings)
    result = await assess_day(get_engine(), Lake(settings), settings, D)
    assert result["model_version"] == "rules-1" and result["assessed"] == 3
    rows = await stored(D)
    assert set(rows) == {users["low"], users["little"], users["struggling"]}
    little, low, bad = rows[users["little"]], rows[users["low"]], rows[users["struggling"]]
    assert little.low_coverage and little.coverage < settings.risk_low_coverage
    assert not low.low_coverage and low.level == "low"
    assert bad.score > low.score and bad.level != "low"
    assert bad.top_features and {"feature", "value", "contribution"} <= set(bad.top_features[0])

    again = await assess_day(get_engine(), Lake(settings), settings, D)  # the same day again
    assert again["assessed"] == 3 and len(await stored(D)) == 3


async def key(*scopes: str) -> str:
    async with session_maker()() as session:
        _, secret = await create_key(session, name="risk-test", scopes=list(scopes), services=["*"])
        await session.commit()
    return secret


async def get(path: str, secret: str, **params: Any) -> httpx.Response:
    from services.risk.main import app

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, params=params, headers={"Authorization": f"Bearer {secret}"})


async def audited(user: str) -> int:
    async with get_engine().connect() as conn:
        return int(await conn.scalar(
            text("SELECT count(*) FROM common.audit_outbox WHERE subject = :u"), {"u": user}
        ) or 0)  # fmt: skip


async def test_the_api_answers_clinicians_with_the_disclaimer_and_audits(
    settings: RiskSettings,
) -> None:
    users = await landed(settings)
    await assess_day(get_engine(), Lake(settings), settings, D)
    reader, ingest = await key(Scope.RISK_READ), await key(Scope.INGEST_WRITE)

    latest = await get(f"/v1/users/{users['struggling']}/risk", reader)
    assert latest.status_code == 200, latest.text
    body = latest.json()
    assert body["disclaimer"] == DISCLAIMER and body["assessment"]["day"] == D.isoformat()
    assert await audited(users["struggling"]) == 1
    history = await get(f"/v1/users/{users['struggling']}/risk/history", reader)
    assert [a["day"] for a in history.json()["assessments"]] == [D.isoformat()]

    refused = await get(f"/v1/users/{users['no']}/risk", reader)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await get(f"/v1/users/{users['low']}/risk", ingest)).status_code == 403
    assert (await get("/v1/users/never-seen/risk", reader)).status_code in (403, 404)
    assert (await get("/v1/risk/high", reader, limit=0)).status_code == 422

    high = await get("/v1/risk/high", reader, day=D.isoformat())
    listed = {a["user_id"] for a in high.json()["assessments"]}
    assert users["low"] not in listed and users["little"] not in listed
    assert high.json()["disclaimer"] == DISCLAIMER


async def test_retention_drops_assessments_past_90_days(settings: RiskSettings) -> None:
    now = datetime.now(UTC)
    rows = [
        AssessmentRow(
            id=uuid.uuid4(), subject_key=f"ret-{back}", user_id=f"ret-{back}",
            day=D - timedelta(days=back), assessed_at=now, score=0.1, level="low",
            coverage=1.0, low_coverage=False, model_version="rules-1", top_features=[],
        )
        for back in (0, 89, 90, 91, 400)
    ]  # fmt: skip
    async with session_maker()() as session:
        session.add_all(rows)
        await session.commit()
    assert await purge_assessments(get_engine(), settings, D) == 2  # 91 and 400 days old
    assert {r.day for r in (await stored_all())} == {
        D,
        D - timedelta(days=89),
        D - timedelta(days=90),
    }


async def stored_all() -> list[AssessmentRow]:
    async with get_engine().connect() as conn:
        return [
            AssessmentRow(**dict(r._mapping)) for r in await conn.execute(select(AssessmentRow))
        ]


async def test_erasure_removes_the_users_rows_and_flags_the_models(settings: RiskSettings) -> None:
    users = await landed(settings)
    await assess_day(get_engine(), Lake(settings), settings, D)
    user = users["struggling"]
    key_ = subject_key(user, settings)
    version = f"test-{uuid.uuid4().hex[:8]}"
    async with session_maker()() as session:
        session.add(ModelRow(version=version, created_at=datetime.now(UTC), path="models/x",
                             metrics={}, alias=None, needs_retraining=False))  # fmt: skip
        session.add(ModelSubjectRow(model_version=version, subject_key=key_))
        await session.commit()
    ctx = SubjectContext(
        request_id=uuid.uuid4(), kind="erasure", user_id=user, subject_key=key_, data_key=None,
        settings=settings, lake=Lake(settings), engine=get_engine(),
    )  # fmt: skip
    collected = {store: await h.collect(ctx) for store, h in HANDLERS.items()}
    assert collected["risk.assessments"].records and collected["risk.features"].records
    assert collected["risk.training_manifests"].records == [{"trained_into_model": version}]

    removed = {store: await h.erase(ctx) for store, h in HANDLERS.items()}
    assert removed["risk.assessments"]["rows"] == 1
    assert removed["risk.features"]["rows"] >= 1
    assert removed["risk.training_manifests"]["models_flagged"] == 1
    for store, h in HANDLERS.items():
        assert (await h.collect(ctx)).records == [], store
    async with get_engine().connect() as conn:
        assert await conn.scalar(
            select(ModelRow.needs_retraining).where(ModelRow.version == version)
        )
    assert users["low"] in await stored(D)  # the others stay
