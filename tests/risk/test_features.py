"""Daily features over the real stack: events landed in raw/events (bodies encrypted per
user), consent and data keys in Postgres, the features table in a local lake.

A day's features use only events before its 00:00 UTC; only users who grant
`risk_assessment` now get rows; a user with little data gets a row with imputed values, the
missingness indicators and a low coverage; VADER and the crisis lexicon score the user's own
texts; rewriting a day replaces its rows; an erased user (key gone) gets none."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pytest

from libs.common.db import get_engine
from libs.common.lake import Lake
from libs.common.subjects import subject_key
from services.risk.config import RiskSettings
from services.risk.features.build import build_features, read_features, write_features
from services.risk.features.columns import FEATURE_SET_VERSION, MODEL_INPUTS
from services.risk.features.compute import NEUTRAL_MOOD
from services.risk.features.schema import FEATURES_SCHEMA
from services.risk.features.sentiment import compound
from tests.embedding.lake_support import Events, erase_key, set_consent
from tests.risk.events import add_at, at, risk_settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("lake_settings", ["local"], indirect=True),
]
D = date(2026, 6, 15)
RISK = "risk_assessment"


@pytest.fixture
def settings(lake_settings: Any) -> RiskSettings:
    return risk_settings(lake_settings)


async def build(settings: RiskSettings, days: list[date]) -> pa.Table:
    return await build_features(get_engine(), Lake(settings), settings, days)


def rows_of(table: pa.Table, user: str) -> dict[date, dict[str, Any]]:
    return {r["day"]: r for r in table.to_pylist() if r["user_id"] == user}


async def test_an_event_on_day_d_changes_the_next_day_not_d(settings: RiskSettings) -> None:
    ev = Events(settings)
    user = ev.user("pit")
    await set_consent({user: True}, RISK)
    add_at(ev, user, "mood-service", at(D - timedelta(days=3)), score=7)
    add_at(ev, user, "mood-service", at(D, -1), score=6)  # 23:00 the day before
    await ev.land()
    before = await build(settings, [D, D + timedelta(days=1)])

    # On day D itself, from its very first microsecond: none of it may reach D's row.
    add_at(ev, user, "mood-service", at(D, 0), score=2)
    add_at(ev, user, "journal-service", at(D, 2), text="Everything feels hopeless.", mood_score=3)
    await ev.land()
    after = await build(settings, [D, D + timedelta(days=1)])

    old, new = rows_of(before, user), rows_of(after, user)
    assert set(new) == {D, D + timedelta(days=1)}
    assert {k: new[D][k] for k in MODEL_INPUTS} == {k: old[D][k] for k in MODEL_INPUTS}
    assert new[D]["mood_last"] == 6 and new[D]["mood_mean_7"] == 6.5
    nxt = new[D + timedelta(days=1)]
    assert nxt != old[D + timedelta(days=1)]
    assert nxt["mood_last"] == 3  # the journal's mood score, the latest before D+1
    assert nxt["mood_mean_7"] == pytest.approx((7 + 6 + 2 + 3) / 4)
    assert nxt["journal_entries_14"] == 1 and nxt["sentiment_missing"] == 0
    assert nxt["days_since_last_activity"] == 1 and new[D]["days_since_last_activity"] == 1
    assert nxt["mood_trend_14"] < 0  # 7 three days before, 6, then 2.5 on D


async def test_only_users_granting_risk_assessment_now_get_rows(settings: RiskSettings) -> None:
    ev = Events(settings)
    yes, no, never, other = (ev.user(n) for n in ("yes", "no", "never", "other"))
    await set_consent({yes: True, no: True}, RISK)
    await set_consent({no: False}, RISK)  # granted, then withdrawn: withdrawn now
    await set_consent({other: True}, "personalization")  # another purpose only
    for user in (yes, no, never, other):
        add_at(ev, user, "mood-service", at(D - timedelta(days=2)), score=5)
        add_at(ev, user, "journal-service", at(D - timedelta(days=1)), text="a quiet day")
    await ev.land()

    table = await build(settings, [D])

    assert table.column("user_id").to_pylist() == [yes]
    assert table.column("subject_key").to_pylist() == [subject_key(yes, settings)]


async def test_a_user_with_one_check_in_gets_a_low_coverage_row(settings: RiskSettings) -> None:
    ev = Events(settings)
    one, text_only, stale = ev.user("one"), ev.user("text"), ev.user("stale")
    await set_consent({one: True, text_only: True, stale: True}, RISK)
    add_at(ev, one, "mood-service", at(D - timedelta(days=2)), score=4)
    add_at(
        ev, text_only, "chat-service", at(D - timedelta(days=20)), conversation_id="c", message="hi"
    )
    add_at(
        ev, text_only, "chat-service", at(D - timedelta(days=1)), conversation_id="c", message="ok"
    )
    add_at(ev, stale, "mood-service", at(D - timedelta(days=36)), score=8)  # out of every window
    await ev.land()

    table = await build(settings, [D])

    assert table.schema.equals(FEATURES_SCHEMA)
    by_user = {r["user_id"]: r for r in table.to_pylist()}
    assert set(by_user) == {one, text_only}
    row = by_user[one]
    assert (row["mood_missing"], row["activity_missing"], row["sentiment_missing"]) == (0, 1, 1)
    assert row["coverage"] == pytest.approx(1 / 3) and row["coverage"] < settings.risk_low_coverage
    assert row["mood_mean_7"] == row["mood_mean_30"] == row["mood_last"] == 4
    assert (row["mood_trend_14"], row["mood_volatility_14"], row["mood_days_missing_14"]) == (
        0,
        0,
        13,
    )
    assert row["activity_vs_baseline"] == 1 and row["engagement_drop"] == 0
    assert row["activity_7"] == pytest.approx(1 / 7) and row["days_since_last_activity"] == 2
    assert row["sentiment_mean_14"] == 0 and row["negative_share_14"] == 0
    assert row["feature_set"] == FEATURE_SET_VERSION
    assert all(math.isfinite(row[k]) for k in MODEL_INPUTS)

    texts = by_user[text_only]  # texts and a baseline, never a mood score
    assert (texts["mood_missing"], texts["activity_missing"], texts["sentiment_missing"]) == (
        1,
        0,
        0,
    )
    assert texts["mood_mean_14"] == texts["mood_last"] == NEUTRAL_MOOD
    assert texts["mood_days_missing_14"] == 14
    assert texts["coverage"] == pytest.approx(2 / 3)
    assert texts["activity_vs_baseline"] == pytest.approx((1 / 7) / (1 / 28))


async def test_sentiment_and_crisis_hits_of_the_users_own_texts(settings: RiskSettings) -> None:
    ev = Events(settings)
    user = ev.user("texts")
    await set_consent({user: True}, RISK)
    mine = [
        "I feel hopeless and sad, nothing helps",
        "Had a wonderful afternoon with friends",
        "I want to kill myself",
        "I'd kill for a coffee right now",  # a figure of speech: no indicator
    ]
    day, chat = D - timedelta(days=3), {"conversation_id": "c"}
    add_at(ev, user, "journal-service", at(day, 1), text=mine[0], mood_score=3)
    add_at(ev, user, "chat-service", at(day, 2), message=mine[1], **chat)
    add_at(ev, user, "lyfbot-service", at(day, 3), prompt=mine[2], response="Please call 988.")
    add_at(ev, user, "chat-service", at(day, 4), message=mine[3], sender_role="user", **chat)
    # Not the user's chat or journal words: a therapist's message, the bot's reply above, a
    # mood check-in's note, and a journal entry older than the 14 days.
    therapist = "The suicide hotline is open all night."
    add_at(ev, user, "chat-service", at(day, 5), message=therapist, sender_role="therapist", **chat)
    add_at(ev, user, "mood-service", at(day, 6), score=5, note="I want to die")
    add_at(ev, user, "journal-service", at(D - timedelta(days=15)), text="I am suicidal")
    await ev.land()

    row = (await build(settings, [D])).to_pylist()[0]

    scores = [compound(t) for t in mine]
    assert scores[0] < -0.05 < scores[1]
    assert row["sentiment_mean_14"] == pytest.approx(sum(scores) / len(scores))
    assert row["sentiment_min_14"] == pytest.approx(min(scores))
    assert row["negative_share_14"] == pytest.approx(sum(s <= -0.05 for s in scores) / len(scores))
    assert row["crisis_hits_14"] == 1
    assert row["late_night_share_14"] == pytest.approx(4 / 6)  # 01:00-04:59 UTC, of 6 in 14 days
    assert row["journal_entries_14"] == 1


async def test_rewriting_a_day_replaces_its_rows(settings: RiskSettings) -> None:
    ev = Events(settings)
    stays, leaves = ev.user("stays"), ev.user("leaves")
    await set_consent({stays: True, leaves: True}, RISK)
    for user in (stays, leaves):
        add_at(ev, user, "mood-service", at(D - timedelta(days=1)), score=5)
    await ev.land()
    lake, days = Lake(settings), [D, D + timedelta(days=1)]
    assert read_features(lake, settings, D, D + timedelta(days=7)).num_rows == 0  # no table yet

    first = write_features(lake, settings, await build(settings, days))
    second = write_features(lake, settings, await build(settings, days))  # the same days again
    again = read_features(lake, settings, D, D + timedelta(days=7))
    assert second > first
    pairs = zip(again.column("day").to_pylist(), again.column("user_id").to_pylist(), strict=True)
    assert sorted(pairs) == sorted((d, u) for d in days for u in (stays, leaves))

    await set_consent({leaves: False}, RISK)
    write_features(lake, settings, await build(settings, [D]), days=[D])
    after = read_features(lake, settings, D, D + timedelta(days=7))
    assert rows_of(after, leaves).keys() == {D + timedelta(days=1)}  # only D was rewritten
    assert rows_of(after, stays).keys() == set(days)
    assert read_features(lake, settings, D, D).num_rows == 0  # [start, end): empty


async def test_an_erased_users_rows_are_skipped(settings: RiskSettings) -> None:
    ev = Events(settings)
    kept, erased = ev.user("kept"), ev.user("erased")
    await set_consent({kept: True, erased: True}, RISK)  # consent alone does not bring them back
    for user in (kept, erased):
        add_at(
            ev, user, "journal-service", at(D - timedelta(days=1)), text="a long walk", mood_score=6
        )
    await ev.land()
    await erase_key(settings, erased)

    table = await build(settings, [D])

    assert table.column("user_id").to_pylist() == [kept]


async def test_nothing_to_build_from_is_an_empty_table(settings: RiskSettings) -> None:
    assert (await build(settings, [D])).schema.equals(FEATURES_SCHEMA)  # no raw table yet
    assert (await build(settings, [D])).num_rows == 0
    ev = Events(settings)
    add_at(ev, ev.user("nobody"), "mood-service", at(D - timedelta(days=1)), score=5)
    await ev.land()
    for days in ([D], []):  # nobody consents; no days asked
        table = await build(settings, days)
        assert table.num_rows == 0 and table.schema.equals(FEATURES_SCHEMA)
    assert write_features(Lake(settings), settings, table) == 0  # creates the table, empty
    assert read_features(Lake(settings), settings, D, D + timedelta(days=1)).num_rows == 0
