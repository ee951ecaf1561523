"""Consent logic: append changes to the ledger, derive the state. Never commits."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.contracts import ConsentPurpose
from libs.common.errors import Conflict, NotFound
from libs.common.subjects import subject_key
from services.consent.config import get_consent_settings
from services.consent.ledger import repository
from services.consent.ledger.models import CurrentConsent, LedgerEntry
from services.consent.ledger.schemas import (
    CheckReply,
    ConsentChange,
    ConsentState,
    HistoryEntry,
    PurposeState,
    RevokeAll,
)


class SubjectErased(Conflict):
    """The user was erased: no consent can be recorded for them again."""


async def _refuse_erased(session: AsyncSession, user_id: str) -> None:
    """An erased user's tombstone refuses new consent (a re-import must not revive them).
    Called under the user's lock, which the erasure takes too."""
    if await repository.is_erased(session, subject_key(user_id, get_consent_settings())):
        raise SubjectErased(
            "this user was erased; no consent can be recorded for them",
            errors=[{"field": "user_id", "reason": "subject erased"}],
        )


def _purpose_state(purpose: ConsentPurpose, row: CurrentConsent | None) -> PurposeState:
    if row is None:  # no record: not granted
        return PurposeState(
            purpose=purpose,
            granted=False,
            as_of=None,
            policy_version=None,
            lawful_basis=None,
            source=None,
        )
    return PurposeState(
        purpose=purpose,
        granted=row.granted,
        as_of=row.as_of,
        policy_version=row.policy_version,
        lawful_basis=row.lawful_basis,
        source=row.source,
    )


async def state(*, session: AsyncSession, user_id: str) -> ConsentState:
    """Every purpose's current state for the user (unrecorded purposes are not granted)."""
    rows = {row.purpose: row for row in await repository.current_state(session, user_id)}
    return ConsentState(
        user_id=user_id,
        purposes=[_purpose_state(p, rows.get(p.value)) for p in ConsentPurpose],
    )


async def check(*, session: AsyncSession, user_id: str, purpose: ConsentPurpose) -> CheckReply:
    current = (await state(session=session, user_id=user_id)).purposes
    found = next(p for p in current if p.purpose == purpose)
    return CheckReply(
        user_id=user_id,
        purpose=purpose,
        allowed=found.granted,
        as_of=found.as_of,
        policy_version=found.policy_version,
    )


async def record(
    *, session: AsyncSession, user_id: str, change: ConsentChange, actor_key_id: str
) -> list[LedgerEntry]:
    """Append one entry per purpose in the change (a repeat is recorded too: a re-grant under
    a new policy version is itself a fact)."""
    now = datetime.now(UTC)
    await repository.lock_user(session, user_id)
    await _refuse_erased(session, user_id)
    return await repository.append(
        session,
        [
            {
                "user_id": user_id,
                "purpose": purpose.value,
                "granted": granted,
                "lawful_basis": change.lawful_basis,
                "policy_version": change.policy_version,
                "source": change.source,
                "actor_key_id": actor_key_id,
                "recorded_at": now,
            }
            for purpose, granted in sorted(change.purposes.items())
        ],
    )


async def revoke_all(
    *, session: AsyncSession, user_id: str, body: RevokeAll, actor_key_id: str
) -> list[LedgerEntry]:
    """Withdraw every purpose currently granted. A user with no record at all is unknown."""
    await repository.lock_user(session, user_id)
    await _refuse_erased(session, user_id)
    if not await repository.has_entries(session, user_id):
        raise NotFound(
            "no consent has ever been recorded for this user",
            errors=[{"field": "user_id", "reason": "unknown user"}],
        )
    now = datetime.now(UTC)
    granted = [row for row in await repository.current_state(session, user_id) if row.granted]
    if not granted:
        return []
    return await repository.append(
        session,
        [
            {
                "user_id": user_id,
                "purpose": row.purpose,
                "granted": False,
                "lawful_basis": row.lawful_basis,
                "policy_version": body.policy_version or row.policy_version,
                "source": body.source,
                "actor_key_id": actor_key_id,
                "recorded_at": now,
            }
            for row in sorted(granted, key=lambda r: r.purpose)
        ],
    )


async def history(
    *, session: AsyncSession, user_id: str, after_id: int, limit: int
) -> list[HistoryEntry]:
    rows = await repository.history(session, user_id, after_id=after_id, limit=limit)
    if not rows and after_id == 0:
        raise NotFound(
            "no consent has ever been recorded for this user",
            errors=[{"field": "user_id", "reason": "unknown user"}],
        )
    return [
        HistoryEntry(
            id=r.id,
            purpose=ConsentPurpose(r.purpose),
            granted=r.granted,
            lawful_basis=r.lawful_basis,
            policy_version=r.policy_version,
            source=r.source,
            actor_key_id=r.actor_key_id,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]
