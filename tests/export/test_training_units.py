"""The training export's pure parts: each quality criterion, the crisis list (and what it must
not catch), pairing, dedupe, the split, tags and byte-stable writing."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pytest

from services.export.training import crisis, quality
from services.export.training.bodies import body_fields
from services.export.training.dedupe import Deduper, exact_key, normalize
from services.export.training.pairs import pair_rows
from services.export.training.rescan import useful
from services.export.training.split import bucket, is_validation
from services.export.training.tags import intent_tag, tags_for
from services.export.training.writer import Record, gzip_jsonl, parquet_bytes

GOOD_PROMPT = "I keep worrying that everyone is judging me"
GOOD = (
    "That sounds exhausting. Worries like that are common; would you like to try a grounding "
    "exercise?"
)


# --- quality -------------------------------------------------------------------------------
def test_length_appropriate() -> None:
    assert quality.length_appropriate(GOOD_PROMPT, GOOD)
    assert not quality.length_appropriate(GOOD_PROMPT, "ok sure")  # a grunt
    assert not quality.length_appropriate("hi", GOOD)  # one-word prompt
    assert not quality.length_appropriate(GOOD_PROMPT, "word " * 400)  # a wall of text


def test_helpful_language() -> None:
    assert quality.helpful_language(GOOD)
    assert quality.helpful_language("I hear you. Let's take this one step at a time.")
    assert not quality.helpful_language("The meeting is at noon on Tuesday in room four.")


def test_avoids_unhelpful() -> None:
    assert quality.avoids_unhelpful(GOOD)
    assert not quality.avoids_unhelpful("I don't know what to tell you.")
    assert not quality.avoids_unhelpful("As an AI, I cannot have feelings about this.")
    assert not quality.avoids_unhelpful("Sorry, I can't help with that.")


def test_vocabulary_diverse() -> None:
    assert quality.vocabulary_diverse(GOOD)
    assert not quality.vocabulary_diverse("okay okay okay okay okay okay okay")
    assert not quality.vocabulary_diverse("yes fine")  # too short to judge: no point


def test_mental_health_appropriate() -> None:
    assert quality.mental_health_appropriate(GOOD)
    assert not quality.mental_health_appropriate("Just get over it, everyone has bad days.")
    assert not quality.mental_health_appropriate("Honestly that sounds crazy.")
    assert not quality.mental_health_appropriate("You have bipolar disorder, clearly.")
    assert not quality.mental_health_appropriate("Take 50mg of something and sleep.")


def test_score_is_base_plus_a_tenth_per_criterion() -> None:
    assert quality.score(GOOD_PROMPT, GOOD) == 1.0
    # fails: length, helpful, diversity -> base + unhelpful-free + appropriate
    assert quality.score("hi", "okay okay okay") == 0.7
    # fails everything it can: a refusal, dismissive, repetitive, too short
    assert quality.score("hi", "whatever " * 6 + "get over it") == 0.5


# --- crisis --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "I want to kill myself",
        "sometimes I think about ending it all",
        "I've been cutting myself again",
        "I have suicidal thoughts most nights",
        "everyone would be better off without me",
        "I don\u2019t want to be alive anymore",
        "I don't see the point of anything anymore",
        "If you are in danger, please call or text 988 now.",
        "I took an overdose last year",
        "thinking about self-harm",
    ],
)
def test_crisis_indicators(text: str) -> None:
    assert crisis.has_indicator(text)
    assert crisis.is_crisis(text, "I'm here with you.")
    assert crisis.is_crisis("hello there", text)  # either side


@pytest.mark.parametrize(
    "text",
    [
        "I'd kill for a coffee right now",
        "this workout is killing me",
        "I'm dying to see the new film",
        "my phone died halfway through the call",
        "I nearly died laughing",
        "the deadline is killing my mood",
    ],
)
def test_not_crisis(text: str) -> None:
    assert not crisis.has_indicator(text)
    assert not crisis.is_crisis(text, GOOD)


def test_crisis_intent() -> None:
    assert crisis.is_crisis("hello", "hi there", intent="crisis_support")
    assert not crisis.is_crisis("hello", "hi there", intent="sleep")


# --- pairs ---------------------------------------------------------------------------------
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def turn(
    i: int, body: dict[str, object] | None, user: str = "u1", minutes: int = 0
) -> dict[str, object]:
    return {
        "event_id": f"e{i}",
        "service": "lyfbot-service",
        "user_id": user,
        "subject_key": f"sk-{user}",
        "event_time": T0 + timedelta(minutes=minutes),
        "body": None if body is None else orjson.dumps(body).decode(),
    }


def test_pairing() -> None:
    turns = [
        turn(1, {"prompt": "p1", "response": "r1", "conversation_id": "c1"}),  # whole
        # a split conversation, given out of order: p2 -> r2, then a dangling prompt
        turn(3, {"response": "r2", "conversation_id": "c2"}, minutes=2),
        turn(2, {"prompt": "p2", "conversation_id": "c2"}, minutes=1),
        turn(4, {"prompt": "p3", "conversation_id": "c2"}, minutes=3),
        # session id when no conversation id; another user's response never answers it
        turn(5, {"prompt": "p4", "session_id": "s1"}, minutes=4),
        turn(6, {"response": "r4", "session_id": "s1"}, user="u2", minutes=5),
        turn(7, {"intent": "x"}),  # neither
        turn(8, None),  # unreadable
        turn(9, {"prompt": "  ", "response": "r9"}),  # a blank prompt is none
    ]
    pairs, incomplete = pair_rows(pa.Table.from_pylist(turns))
    assert [(p.prompt, p.completion, p.event_ids) for p in pairs] == [
        ("p1", "r1", ("e1",)),  # in time order
        ("p2", "r2", ("e2", "e3")),
    ]
    assert pairs[1].timestamp == int((T0 + timedelta(minutes=2)).timestamp() * 1_000_000)
    assert incomplete == 6


def test_pairs_are_ordered_by_time_then_event_ids() -> None:
    rows = [turn(i, {"prompt": f"p{i}", "response": "r"}, minutes=5 - i % 2) for i in range(4)]
    pairs, _ = pair_rows(pa.Table.from_pylist(rows))
    assert [p.event_ids for p in pairs] == [("e1",), ("e3",), ("e0",), ("e2",)]


@pytest.mark.parametrize(
    ("odd", "kept"),
    [
        ('{"prompt": 5, "response": "r"}', {"response": "r"}),  # a field of another type
        ('{"prompt": "p",\n "response": "r"}', {"prompt": "p", "response": "r"}),  # a line break
        ("[1, 2]", {}),  # not an object
        ("", {}),  # empty
        ("not json", {}),
    ],
)
def test_body_fields_take_any_body(odd: str, kept: dict[str, str]) -> None:
    """One odd body sends its batch down the per-body path: the others still come out."""
    good = '{"prompt": "p", "response": "r", "intent": "sleep", "mood": 3}'
    fields = body_fields(pa.array([good, odd, None, good])).to_pylist()
    assert fields[0] == fields[3] == {
        "prompt": "p", "response": "r", "intent": "sleep", "conversation_id": None,
        "session_id": None,
    }  # fmt: skip
    assert fields[2] == dict.fromkeys(fields[2])  # a null body: all null
    assert {k: v for k, v in fields[1].items() if v is not None} == kept


# --- dedupe --------------------------------------------------------------------------------
def test_exact_duplicates_after_normalizing() -> None:
    assert normalize("I  feel SAD!") == "i feel sad"
    assert exact_key("I feel sad.", "OK") == exact_key("i feel  sad", "ok!")
    d = Deduper()
    assert d.check("I feel sad today", GOOD) is None
    assert d.check("i feel SAD today!", GOOD) == "duplicate"


def test_near_duplicates() -> None:
    d = Deduper()
    long = (
        "That sounds really uncomfortable and I am glad you told me about it. Shall we try a "
        "slow breathing exercise together, in for four and out for eight, three times over?"
    )
    assert d.check(GOOD_PROMPT, long) is None
    assert d.check(GOOD_PROMPT, long.replace("three times", "four times")) == "near_duplicate"
    assert d.check("My partner and I keep arguing about small things", GOOD) is None


# --- split and tags ------------------------------------------------------------------------
def test_split_is_by_user_and_stable() -> None:
    keys = [f"{i:032x}" for i in range(2000)]
    share = sum(is_validation(k, 0.2) for k in keys) / len(keys)
    assert 0.15 < share < 0.25
    assert [bucket(k) for k in keys] == [bucket(k) for k in keys]
    assert not any(is_validation(k, 0.0) for k in keys)


def test_tags() -> None:
    assert intent_tag("anxiety_support") == "anxiety-support"
    tags = tags_for("My chest gets tight before class", GOOD, "anxiety_support", "lyfbot")
    assert tags == sorted(tags)
    assert {"anxiety", "anxiety-support", "conversation", "study-stress"} <= set(tags)
    assert "conversation" not in tags_for("Summarize this journal", "calm", None, "ai")


def test_useful_after_scrub() -> None:
    assert not useful("<EMAIL_ADDRESS> <PHONE_NUMBER>")
    assert not useful("call <PERSON:0123abcd> ***-**-1234")
    assert useful("please call <PERSON> tomorrow")


# --- writer --------------------------------------------------------------------------------
def test_writing_is_byte_stable_and_in_the_source_format() -> None:
    records = [
        Record(GOOD_PROMPT, GOOD, "lyfbot", T0, 0.9, ("anxiety", "conversation")),
        Record("p", "c\u00e9", "ai", T0 + timedelta(seconds=1), 0.7, ()),
    ]
    data = gzip_jsonl(records)
    assert data == gzip_jsonl(list(records))
    assert data[4:8] == b"\0\0\0\0"  # gzip mtime
    lines = gzip.decompress(data).splitlines()
    first = orjson.loads(lines[0])
    assert list(first) == ["prompt", "completion", "metadata"]
    assert first["metadata"] == {
        "source": "lyfbot",
        "timestamp": "2026-03-02T09:00:00Z",
        "quality_score": 0.9,
        "tags": ["anxiety", "conversation"],
    }
    assert parquet_bytes(records) == parquet_bytes(records)
