"""A realistic day of platform logs from the simulated source services.

`generate_day(day, users, seed)` returns the entries in arrival order: N users with personas
sign up or log in (names, emails, phones, IPs from a seeded Faker), talk to the chat bot,
write journal entries that sometimes name themselves or a friend or give an email or phone
(so PII scrubbing has something to do), check in their mood, chat with a therapist or a peer,
post in community groups and pay; the mobile app's Segment SDK reports screens, a few tracked
events and an identify on signup (service `segment`). Timestamps follow a diurnal curve over
the day. About 1% of entries are resent with the same `event_id` (dedup) and a handful are
deliberately invalid (their event ids start with `INVALID_PREFIX`) to show rejections.

The same (day, users, seed) always gives the same entries, event ids included. The personas
and their texts are in scripts/simulate_content.py.

    python -m scripts.simulate --users 50 --out var/day.jsonl
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
from faker import Faker

from scripts.simulate_content import (
    APP_EVENTS,
    APP_SCREENS,
    AREA_CODES,
    BOT,
    CHAT_OTHER,
    CHAT_USER,
    COMMUNITY,
    GROUPS,
    JOURNAL,
    JOURNAL_CONTACT,
    MOOD_FACTORS,
    PERSONAS,
    PLANS,
    User,
)

INVALID_PREFIX = "bad_"
DUPLICATE_RATE = 0.01


class _Day:
    """Builds one day's entries; all randomness comes from `rng` and the seeded `fake`."""

    def __init__(self, day: date, seed: int) -> None:
        self.day = day
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.start = datetime.combine(day, time(0), tzinfo=UTC)
        self.entries: list[tuple[datetime, dict[str, Any]]] = []  # (arrival time, entry)
        # App analytics draw from their own generator, so the other entries stay as they were.
        self.app_rng = random.Random(seed + 1)
        self.app_entries: list[tuple[datetime, dict[str, Any]]] = []

    def event_id(self) -> str:
        return f"evt_{self.day:%Y%m%d}_{self.rng.getrandbits(64):016x}"

    def phone(self) -> str:
        area = self.rng.choice(AREA_CODES)
        return f"({area}) {self.rng.randint(200, 999)}-{self.rng.randint(0, 9999):04d}"

    def user(self, index: int) -> User:
        persona = self.rng.choices(PERSONAS, weights=[p.weight for p in PERSONAS])[0]
        first, last = self.fake.first_name(), self.fake.last_name()
        domain = self.fake.free_email_domain()
        return User(
            user_id=f"u_{self.rng.getrandbits(48):012x}",
            persona=persona,
            first=first,
            name=f"{first} {last}",
            email=f"{first}.{last}{index % 97}@{domain}".lower(),
            phone=self.phone(),
            ip=self.fake.ipv4_public(),
            user_agent=self.fake.user_agent(),
            friends=[self.fake.first_name() for _ in range(3)],
            plan=self.rng.choice(list(PLANS)) if self.rng.random() < persona.subscriber else None,
            is_new=self.rng.random() < 0.08,
        )

    def emit(self, user: User, at: datetime, service: str, event_type: str, **body: Any) -> None:
        at = min(at, self.start + timedelta(days=1, seconds=-1))
        entry = {
            "event_id": self.event_id(),
            "service": service,
            "user_id": user.user_id,
            "timestamp": at.isoformat(),
            "event_type": event_type,
            **body,
        }
        self.entries.append((at, entry))

    def session(self, user: User, at: datetime, session_no: int) -> None:
        rng, p = self.rng, user.persona

        def step(lo: int = 5, hi: int = 90) -> timedelta:
            return timedelta(seconds=rng.randint(lo, hi))

        session_id = f"s_{rng.getrandbits(40):010x}"
        self.app(user, at, signup=user.is_new and session_no == 0)
        auth = {"email": user.email, "ip_address": user.ip, "user_agent": user.user_agent}
        if user.is_new and session_no == 0:
            self.emit(
                user,
                at,
                "auth-service",
                "signup",
                action="signup",
                name=user.name,
                phone=user.phone,
                **auth,
            )
        else:
            if rng.random() < 0.04:
                self.emit(
                    user,
                    at,
                    "auth-service",
                    "login_failed",
                    action="login_failed",
                    success=False,
                    **auth,
                )
                at += step()
            self.emit(user, at, "auth-service", "login", action="login", **auth)
        if rng.random() < 0.5:
            at += step(10, 60)
            score = max(1, min(10, round(rng.gauss(p.mood, 1.8))))
            labels = ["awful", "low", "okay", "good", "great"]
            note = rng.choice([None, None, "Long day.", "Better after a walk.", "Couldn't sleep."])
            self.emit(
                user,
                at,
                "mood-service",
                "mood_checkin",
                score=score,
                mood=labels[min(4, (score - 1) // 2)],
                note=note,
                factors=rng.sample(MOOD_FACTORS, rng.randint(0, 3)),
            )
        for _ in range(self.count(p.bot)):
            at = self.conversation(user, at + step(), session_id)
        if rng.random() < p.journal:
            at += step(60, 600)
            self.journal(user, at)
        if rng.random() < p.chat:
            at = self.chat(user, at)
        if rng.random() < p.community:
            at = self.community(user, at + step(30, 300))
        if rng.random() < 0.4:
            self.emit(user, at + step(60, 900), "auth-service", "logout", action="logout")

    def app(self, user: User, at: datetime, *, signup: bool) -> None:
        """What the mobile app's Segment SDK sends in a session."""
        rng = self.app_rng
        calls: list[dict[str, Any]] = []
        if signup:
            traits = {"email": user.email, "name": user.name, "plan": user.plan or "free"}
            calls.append({"type": "identify", "traits": traits})
        calls.append({"type": "screen", "name": rng.choice(APP_SCREENS)})
        if rng.random() < 0.5:
            source = rng.choice(["home", "reminder", "deep_link"])
            calls.append(
                {"type": "track", "event": rng.choice(APP_EVENTS), "properties": {"source": source}}
            )
        context = {"library": {"name": "analytics-swift", "version": "1.5.9"}, "ip": user.ip}
        for call in calls:
            at = min(
                at + timedelta(seconds=rng.randint(1, 30)),
                self.start + timedelta(days=1, seconds=-1),
            )
            entry = {
                "event_id": f"seg_{self.day:%Y%m%d}_{rng.getrandbits(64):016x}",
                "service": "segment",
                "user_id": user.user_id,
                "timestamp": at.isoformat(),
                "context": context,
                **call,
            }
            self.app_entries.append((at, entry))

    def chat(self, user: User, at: datetime) -> datetime:
        rng = self.rng
        other = rng.choice(["therapist", "peer"])
        conversation = f"c_{user.user_id}_{other}"
        for turn in range(rng.randint(2, 6)):
            at += timedelta(seconds=rng.randint(20, 240))
            role = "user" if turn % 2 == 0 else other
            text = rng.choice(CHAT_USER if role == "user" else CHAT_OTHER)
            if role == "user" and rng.random() < 0.05:
                text += f" You can call me at {user.phone}."
            self.emit(
                user,
                at,
                "chat-service",
                "chat_message",
                conversation_id=conversation,
                message_id=f"m_{rng.getrandbits(40):010x}",
                sender_role=role,
                message=text,
            )
        return at

    def community(self, user: User, at: datetime) -> datetime:
        rng = self.rng
        action = rng.choice(["post", "comment", "comment", "reaction", "reaction", "join"])
        body: dict[str, Any] = {"action": action, "group_id": rng.choice(GROUPS)}
        if action in ("post", "comment", "reaction"):
            body["post_id"] = f"p_{rng.getrandbits(32):08x}"
        if action in ("post", "comment"):
            body["content"] = rng.choice(COMMUNITY)
        self.emit(user, at, "community-service", f"community_{action}", **body)
        return at

    def conversation(self, user: User, at: datetime, session_id: str) -> datetime:
        rng = self.rng
        intent = rng.choice(user.persona.intents)
        conversation_id = f"conv_{rng.getrandbits(48):012x}"
        for _ in range(rng.randint(1, 5)):
            prompt, response = rng.choice(BOT[intent])
            latency = rng.randint(300, 2500)
            self.emit(
                user,
                at,
                "lyfbot-service",
                "conversation_turn",
                interaction_type="message",
                prompt=prompt,
                response=response,
                model="lyfbot-gpt-4o",
                session_id=session_id,
                conversation_id=conversation_id,
                intent=intent,
                confidence_score=round(rng.uniform(0.55, 0.99), 3),
                latency_ms=latency,
            )
            at += timedelta(milliseconds=latency) + timedelta(seconds=rng.randint(8, 120))
        return at

    def journal(self, user: User, at: datetime) -> None:
        rng = self.rng
        friend, friend2 = rng.sample(user.friends, 2)
        fill = {"me": user.first, "friend": friend, "friend2": friend2, "email": None}
        text = rng.choice(JOURNAL)
        if rng.random() < 0.15:
            text += rng.choice(JOURNAL_CONTACT)
            fill["email"] = f"{self.fake.first_name().lower()}@counseling-{rng.randint(1, 9)}.org"
        fill["phone"] = self.phone()
        text = text.format(**fill)
        entry_id = f"j_{rng.getrandbits(40):010x}"
        mood = rng.choice(["anxious", "calm", "sad", "hopeful", "tired", "grateful"])
        self.emit(
            user,
            at,
            "journal-service",
            "journal_entry",
            entry_id=entry_id,
            title=rng.choice([None, "Tonight", "Morning pages", "Therapy notes"]),
            text=text,
            mood=mood,
            tags=[mood],
        )
        if rng.random() < 0.6:  # the AI service writes an insight for the entry
            prompt_tokens = len(text.split()) * 2 + 40
            self.emit(
                user,
                at + timedelta(seconds=rng.randint(2, 20)),
                "ai-service",
                "journal_insight",
                interaction_type="summarize",
                model="gpt-4o-mini",
                prompt=f"Summarize the feelings in this journal entry: {text}",
                response=f"The writer seems {mood} and reflective.",
                intent="journal_insight",
                prompt_tokens=prompt_tokens,
                completion_tokens=rng.randint(12, 60),
                latency_ms=rng.randint(400, 3000),
                conversation_id=entry_id,
            )

    def payments(self, user: User) -> None:
        rng = self.rng
        if user.plan is None or rng.random() > (0.5 if user.is_new else 0.05):
            return
        at = self.start + timedelta(seconds=rng.randint(0, 86_399))
        action = (
            "subscription_start"
            if user.is_new
            else rng.choice(["charge"] * 12 + ["failed", "refund", "subscription_cancel"])
        )
        self.emit(
            user,
            at,
            "payment-service",
            f"payment_{action}",
            action=action,
            amount=PLANS[user.plan],
            currency=rng.choice(["USD"] * 6 + ["EUR", "GBP"]),
            plan=user.plan,
            payment_id=f"pay_{rng.getrandbits(48):012x}",
            description=f"MindLake {user.plan.replace('_', ' ')} plan",
        )

    def count(self, mean: float) -> int:
        return int(mean) + (1 if self.rng.random() < mean - int(mean) else 0)

    def invalid(self, users: list[User]) -> None:
        """A few entries the ingest API must reject, one per kind of mistake."""
        noon = self.start + timedelta(hours=12)
        user = users[0]
        bad: list[dict[str, Any]] = [
            {"service": "mood-service", "score": 11, "mood": "great"},
            {"service": "telemetry-service", "metric": "cpu", "value": 0.93},
            {"service": "journal-service", "title": "no text"},
            {"service": "payment-service", "action": "charge", "amount": "9.99", "currency": "US$"},
            {
                "service": "chat-service",
                "conversation_id": "c1",
                "message": "hi",
                "sender_role": "bot",
            },
            {"service": "mood-service", "score": 5, "user_id": "not a valid id!"},
        ]
        for i, body in enumerate(bad * (1 + len(users) // 100)):
            entry = {
                "event_id": f"{INVALID_PREFIX}{self.day:%Y%m%d}_{self.rng.getrandbits(32):08x}",
                "user_id": user.user_id,
                "timestamp": noon.isoformat(),
                "event_type": "log",
                **body,
            }
            self.entries.append((noon + timedelta(minutes=7 * i), entry))


def generate_day(day: date | None = None, users: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """Every entry of one simulated day (default: yesterday UTC), in arrival order."""
    day = day or (datetime.now(UTC) - timedelta(days=1)).date()
    sim = _Day(day, seed)
    people = [sim.user(i) for i in range(users)]
    for user in people:
        hours = sim.rng.choices(
            range(24), weights=user.persona.hours, k=sim.rng.randint(*user.persona.sessions)
        )
        starts = sorted(
            sim.start + timedelta(hours=h, seconds=sim.rng.randint(0, 3599)) for h in hours
        )
        for n, at in enumerate(starts):
            sim.session(user, at, n)
        sim.payments(user)
    sim.invalid(people)
    originals = [e for e in sim.entries if not e[1]["event_id"].startswith(INVALID_PREFIX)]
    for at, entry in sim.rng.sample(originals, int(len(originals) * DUPLICATE_RATE)):
        # A client that timed out resends the same entry seconds to minutes later.
        sim.entries.append((at + timedelta(seconds=sim.rng.randint(1, 600)), dict(entry)))
    sim.entries.extend(sim.app_entries)
    sim.entries.sort(key=lambda pair: pair[0])
    return [entry for _, entry in sim.entries]


def batches(entries: list[dict[str, Any]], size: int = 100) -> Iterator[list[dict[str, Any]]]:
    """Consecutive slices of at most `size` entries (the API takes up to 1,000 a request)."""
    for i in range(0, len(entries), size):
        yield entries[i : i + size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--day", type=date.fromisoformat, default=None, help="YYYY-MM-DD")
    parser.add_argument("--out", type=Path, help="write JSON lines here")
    args = parser.parse_args()
    entries = generate_day(args.day, args.users, args.seed)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    for service, n in sorted(Counter(e["service"] for e in entries).items()):
        print(f"{service:20} {n:6}")
    print(f"{'total':20} {len(entries):6}")


if __name__ == "__main__":
    main()
