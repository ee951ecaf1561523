"""Prompt/completion pairs from chat turns.

An entry with both a prompt and a response is a pair by itself (how lyfbot-service and
ai-service log a turn). Otherwise a conversation is read in time order (`conversation_id`,
else `session_id`, always within one user): a user prompt immediately followed by a bot
response makes a pair. Anything else (a prompt never answered, a response with no prompt, an
entry with neither, an unreadable body) is counted as incomplete.

Whole turns (nearly all of them) are found, ordered and cut out with Arrow kernels; only
the half turns are paired in Python, conversation by conversation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from services.export.training.bodies import body_fields

# rows -> pairs: the columns a pair is made of, in `Pair` order, then its event ids
_PAIR_SCHEMA = pa.schema(
    [
        ("prompt", pa.string()),
        ("completion", pa.string()),
        ("service", pa.string()),
        ("subject_key", pa.string()),
        ("timestamp", pa.int64()),
        ("intent", pa.string()),
        ("first_event", pa.string()),
        ("second_event", pa.string()),
    ]
)


class Turn(NamedTuple):
    """Half a turn (a prompt or a response), waiting for its other half."""

    event_id: str
    service: str
    user_id: str
    subject_key: str
    event_time: int  # microseconds since the epoch, UTC (Arrow's own; datetimes are slow)
    prompt: str | None
    response: str | None
    intent: str | None


_TURN_COLUMNS = (*Turn._fields, "thread")


class Pair(NamedTuple):
    prompt: str
    completion: str
    service: str
    subject_key: str
    timestamp: int  # of the entry holding the completion, microseconds since the epoch
    intent: str | None
    event_ids: tuple[str, ...]


def pair_rows(rows: pa.Table) -> tuple[list[Pair], int]:
    """The pairs of `rows` (event_id, service, user_id, subject_key, event_time, and the
    decrypted body: null when unreadable) in (time, event ids) order, and the number of
    rows that made none."""
    fields = body_fields(rows.column("body"))
    has_prompt = pc.is_valid(fields.column("prompt"))
    has_response = pc.is_valid(fields.column("response"))
    thread = pc.coalesce(fields.column("conversation_id"), fields.column("session_id"))
    turns = pa.table(
        {
            "event_id": rows.column("event_id"),
            "service": rows.column("service"),
            "user_id": rows.column("user_id"),
            "subject_key": rows.column("subject_key"),
            "event_time": rows.column("event_time").cast(pa.int64()),
            "prompt": fields.column("prompt"),
            "response": fields.column("response"),
            "intent": fields.column("intent"),
            "thread": thread,
        }
    )
    whole = turns.filter(pc.and_(has_prompt, has_response))
    whole = pa.table(
        [
            whole.column("prompt"),
            whole.column("response"),
            whole.column("service"),
            whole.column("subject_key"),
            whole.column("event_time"),
            whole.column("intent"),
            whole.column("event_id"),
            pa.nulls(whole.num_rows, pa.string()),
        ],
        schema=_PAIR_SCHEMA,
    )
    halves = turns.filter(pc.and_(pc.xor(has_prompt, has_response), pc.is_valid(thread)))
    threaded = _pair_halves(halves)
    table = pa.concat_tables([whole, threaded])
    # Nulls first in second_event: (a,) sorts before (a, b), as tuples do.
    order = pc.sort_indices(
        table,
        sort_keys=[
            ("timestamp", "ascending", "at_start"),
            ("first_event", "ascending", "at_start"),
            ("second_event", "ascending", "at_start"),
        ],
    )
    table = table.take(order)
    ids = [
        (first,) if second is None else (first, second)
        for first, second in zip(
            table.column("first_event").to_pylist(),
            table.column("second_event").to_pylist(),
            strict=True,
        )
    ]
    columns = [table.column(i).to_pylist() for i in range(6)]
    pairs = list(map(Pair._make, zip(*columns, ids, strict=True)))
    return pairs, rows.num_rows - whole.num_rows - 2 * threaded.num_rows


def _pair_halves(halves: pa.Table) -> pa.Table:
    """Half turns paired within each (user, conversation), as a table of `_PAIR_SCHEMA`."""
    threads: dict[tuple[str, str], list[Turn]] = defaultdict(list)
    for values in zip(*(halves.column(n).to_pylist() for n in _TURN_COLUMNS), strict=True):
        turn = Turn._make(values[:-1])
        threads[(turn.user_id, values[-1])].append(turn)
    pairs = [pair for key in sorted(threads) for pair in _pair_thread(threads[key])]
    return pa.table(
        {
            "prompt": [p.prompt for p in pairs],
            "completion": [p.completion for p in pairs],
            "service": [p.service for p in pairs],
            "subject_key": [p.subject_key for p in pairs],
            "timestamp": [p.timestamp for p in pairs],
            "intent": [p.intent for p in pairs],
            "first_event": [p.event_ids[0] for p in pairs],
            "second_event": [p.event_ids[1] for p in pairs],
        },
        schema=_PAIR_SCHEMA,
    )


def _pair_thread(turns: list[Turn]) -> list[Pair]:
    turns.sort(key=lambda t: (t.event_time, t.event_id))
    pairs: list[Pair] = []
    i = 0
    while i < len(turns) - 1:
        first, second = turns[i], turns[i + 1]
        if first.prompt is not None and second.response is not None:
            pairs.append(
                Pair(
                    first.prompt,
                    second.response,
                    second.service,
                    second.subject_key,
                    second.event_time,
                    second.intent or first.intent,
                    (first.event_id, second.event_id),
                )
            )
            i += 2
        else:
            i += 1
    return pairs
