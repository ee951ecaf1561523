"""The simulated day of platform logs (scripts/simulate.py) that the demo replays."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from scripts.simulate import INVALID_PREFIX, batches, generate_day
from services.ingest.logs.schemas import ENTRY_ADAPTER, SERVICES

DAY = date(2026, 3, 14)


@pytest.fixture(scope="module")
def day() -> list[dict[str, object]]:
    return generate_day(DAY, users=60, seed=11)


def test_same_seed_same_day_same_entries(day: list[dict[str, object]]) -> None:
    assert generate_day(DAY, users=60, seed=11) == day
    other = generate_day(DAY, users=60, seed=12)
    assert {e["event_id"] for e in other}.isdisjoint({e["event_id"] for e in day})


def test_every_source_service_is_present(day: list[dict[str, object]]) -> None:
    # Clinical outcomes are not part of a simulated day: the risk service's synthetic cohort
    # (services/risk/model/cohort.py) makes them.
    assert set(SERVICES) - {"clinical-service"} <= {e["service"] for e in day}


def test_every_entry_but_the_deliberate_invalid_ones_validates(
    day: list[dict[str, object]],
) -> None:
    invalid = 0
    for entry in day:
        if str(entry["event_id"]).startswith(INVALID_PREFIX):
            invalid += 1
            with pytest.raises(ValidationError):
                ENTRY_ADAPTER.validate_python(entry)
        else:
            ENTRY_ADAPTER.validate_python(entry)
    assert 0 < invalid < len(day) * 0.05


def test_timestamps_cover_the_day_in_arrival_order(day: list[dict[str, object]]) -> None:
    times = [datetime.fromisoformat(str(e["timestamp"])) for e in day]
    assert {t.date() for t in times} == {DAY}
    assert all(t.tzinfo == UTC for t in times)
    by_hour = Counter(t.hour for t in times)
    assert by_hour[20] > by_hour[4]  # evenings are busier than the small hours


def test_resends_reuse_the_event_id(day: list[dict[str, object]]) -> None:
    counts = Counter(e["event_id"] for e in day)
    resent = [event_id for event_id, n in counts.items() if n > 1]
    assert resent
    for event_id in resent:
        copies = [e for e in day if e["event_id"] == event_id]
        assert all(c == copies[0] for c in copies)


def test_pii_shows_up_where_scrubbing_must_find_it() -> None:
    entries = generate_day(DAY, users=200, seed=11)
    signups = [e for e in entries if e["service"] == "auth-service" and e["action"] == "signup"]
    assert signups and all(e["email"] and e["name"] and e["phone"] for e in signups)
    texts = [str(e.get("text")) for e in entries if e["service"] == "journal-service"]
    assert any("@" in text for text in texts)  # an email address
    assert any(re.search(r"\(\d{3}\) \d{3}-\d{4}", text) for text in texts)  # a phone number
    first_names = {str(e["name"]).split()[0] for e in signups}
    assert any(name in text for text in texts for name in first_names) or len(signups) < 5


def test_batches_cover_every_entry_once(day: list[dict[str, object]]) -> None:
    parts = list(batches(day, 100))
    assert all(len(p) <= 100 for p in parts)
    assert [e for p in parts for e in p] == day
