"""Prompt/completion pairs from chat turns.

An entry with both a prompt and a response is a pair by itself (how lyfbot-service and
ai-service log a turn). Otherwise a conversation is read in time order (`conversation_id`,
else `session_id`, always within one user): a user prompt immediately followed by a bot
response makes a pair. Anything else (a prompt never answered, a response with no prompt, an
entry with neither, an unreadable body) is counted as incomplete.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Turn:
    event_id: str
    service: str
    user_id: str
    subject_key: str
    event_time: int  # microseconds since the epoch, UTC (Arrow's own; datetimes are slow)
    body: dict[str, Any] | None  # None: unreadable (e.g. the user's key is gone)


@dataclass(frozen=True, slots=True)
class Pair:
    prompt: str
    completion: str
    service: str
    user_id: str
    subject_key: str
    timestamp: int  # of the entry holding the completion, microseconds since the epoch
    intent: str | None
    event_ids: tuple[str, ...]


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _intent(body: dict[str, Any]) -> str | None:
    value = body.get("intent")
    return value if isinstance(value, str) else None


def pair_turns(turns: Iterable[Turn]) -> tuple[list[Pair], int]:
    """The pairs, and the number of turns that made none."""
    pairs: list[Pair] = []
    incomplete = 0
    # (user, conversation) -> its half turns
    halves: dict[tuple[str, str], list[Turn]] = defaultdict(list)
    for turn in turns:
        body = turn.body
        if body is None:
            incomplete += 1
            continue
        prompt, response = _text(body, "prompt"), _text(body, "response")
        if prompt is not None and response is not None:
            pairs.append(
                Pair(
                    prompt,
                    response,
                    turn.service,
                    turn.user_id,
                    turn.subject_key,
                    turn.event_time,
                    _intent(body),
                    (turn.event_id,),
                )
            )
            continue
        thread = body.get("conversation_id") or body.get("session_id")
        if (prompt is None and response is None) or not isinstance(thread, str):
            incomplete += 1
            continue
        halves[(turn.user_id, thread)].append(turn)
    for key in sorted(halves):
        made, left = _pair_thread(halves[key])
        pairs.extend(made)
        incomplete += left
    return pairs, incomplete


def _pair_thread(turns: list[Turn]) -> tuple[list[Pair], int]:
    turns.sort(key=lambda t: (t.event_time, t.event_id))
    pairs: list[Pair] = []
    used = 0
    i = 0
    while i < len(turns) - 1:
        first, second = turns[i], turns[i + 1]
        assert first.body is not None and second.body is not None
        prompt, response = _text(first.body, "prompt"), _text(second.body, "response")
        if prompt is not None and response is not None and _text(second.body, "prompt") is None:
            pairs.append(
                Pair(
                    prompt,
                    response,
                    second.service,
                    second.user_id,
                    second.subject_key,
                    second.event_time,
                    _intent(second.body) or _intent(first.body),
                    (first.event_id, second.event_id),
                )
            )
            used += 2
            i += 2
        else:
            i += 1
    return pairs, len(turns) - used
