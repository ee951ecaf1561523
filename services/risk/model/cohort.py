"""A SYNTHETIC cohort with a known signal, for the demo, the bench and the tests.

Every user is made up: ids are "synthetic-<n>" and every log entry carries `synthetic: true`
(an extra the ingest API keeps). A share of users drift toward an outcome over 14-28 days
(mood scores fall, check-ins and journaling thin out, activity moves late at night, their text
turns negative, with an occasional crisis phrase at the worst) and then get a clinical-service
outcome (PHQ-9 >= 15, a confirmed episode or a crisis escalation). Some others dip and recover
without an outcome, a few have an outcome out of the blue, and everyone else is noisy but
stable (with routine PHQ-9 screenings below 15). Nothing here is clinical knowledge: it is a
test signal a model should find and a rule baseline should find less well.

`simulate` draws the events once; `log_entries` turns them into ingest entries and
`synthetic_features.features_and_labels` computes the feature table from the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

SYNTHETIC_PREFIX = "synthetic-"

# Event kinds (columns of `Simulation.kind`).
MOOD, JOURNAL, BOT, CLINICAL = 0, 1, 2, 3
SERVICES = {
    MOOD: "mood-service",
    JOURNAL: "journal-service",
    BOT: "lyfbot-service",
    CLINICAL: "clinical-service",
}
OUTCOMES = ("phq9", "episode_confirmed", "crisis_escalation")

# Texts with the approximate VADER compound the direct feature path uses for them.
POSITIVE = (
    ("Had a good walk with a friend today, felt calm and happy.", 0.8),
    ("Work went well and I enjoyed dinner with my family.", 0.7),
    ("Slept well, feeling rested and hopeful about the week.", 0.7),
    ("Nice quiet evening, grateful for the little things.", 0.6),
)
NEUTRAL = (
    ("Busy day at work, some meetings, then groceries.", 0.0),
    ("Watched a film and went to bed early.", 0.0),
    ("Not much happened today, just the usual routine.", 0.0),
)
NEGATIVE = (
    ("I feel exhausted and sad, nothing seems to go right.", -0.7),
    ("Couldn't sleep again, I feel lonely and worthless.", -0.8),
    ("Everything feels heavy and hopeless lately.", -0.7),
    ("I cancelled plans again, I just feel empty and tired.", -0.6),
)
CRISIS = (
    ("I keep thinking about ending it all.", -0.6),
    ("Some nights I feel like I would be better off dead.", -0.8),
    ("I don't want to be here anymore.", -0.4),
)
REPLIES = (
    "Thank you for telling me. What has helped you on days like this before?",
    "That sounds hard. Would a short breathing exercise help right now?",
)
CRISIS_REPLY = (
    "I'm really glad you told me. You deserve support right now: if you might be in danger, "
    "please call or text 988 (the Suicide and Crisis Lifeline) or your local emergency number."
)


@dataclass(frozen=True)
class CohortSpec:
    users: int = 200
    days: int = 150
    end: date | None = None  # the first day after the cohort (default: today UTC)
    seed: int = 0
    at_risk_share: float = 0.25  # drift, then an outcome
    recover_share: float = 0.10  # drift partway, then recover: no outcome
    surprise_share: float = 0.03  # an outcome without any drift

    @property
    def last_day(self) -> date:
        return self.end or datetime.now(UTC).date()

    @property
    def start(self) -> date:
        return self.last_day - timedelta(days=self.days)


@dataclass
class Simulation:
    """The drawn events, one entry per event in each column (time-ordered per user)."""

    spec: CohortSpec
    user: np.ndarray  # user index
    day: np.ndarray  # day index (0 = spec.start)
    second: np.ndarray  # second of the day (UTC)
    kind: np.ndarray  # MOOD, JOURNAL, BOT, CLINICAL
    score: np.ndarray  # mood score 1-10 (mood check-ins, some journals), else nan
    text: np.ndarray  # index into `texts`, -1 for none
    outcome: np.ndarray  # index into OUTCOMES for clinical events, else -1
    phq9: np.ndarray  # PHQ-9 total for phq9 outcomes, else -1
    texts: list[tuple[str, float, bool]] = field(default_factory=list)  # (text, tone, crisis)
    groups: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))  # per user

    def user_id(self, index: int) -> str:
        return f"{SYNTHETIC_PREFIX}{index}"


# User groups.
STABLE, AT_RISK, RECOVER, SURPRISE = 0, 1, 2, 3


def _severity(rng: np.random.Generator, group: int, days: int) -> tuple[np.ndarray, int | None]:
    """Per day, how far the user has drifted (0-1), and the day of their outcome if any."""
    s = np.zeros(days)
    # Everyone has a few bad days now and then: noise the model must not take for a drift.
    for _ in range(rng.poisson(days / 40)):
        at = int(rng.integers(0, days))
        s[at : at + int(rng.integers(1, 4))] = rng.uniform(0.1, 0.35)
    if group == STABLE:
        return s, None
    outcome = int(rng.integers(40, days))
    if group == SURPRISE:
        return s, outcome
    length = int(rng.integers(14, 29))
    peak = 1.0 if group == AT_RISK else rng.uniform(0.4, 0.7)
    ramp = np.clip((np.arange(days) - (outcome - length)) / length, 0, 1) * peak
    after = np.arange(days) > outcome  # care starts: the drift fades within a week
    ramp[after] = np.clip(peak * (1 - (np.arange(days)[after] - outcome) / 7), 0, 1)
    return np.maximum(s, ramp), (outcome if group == AT_RISK else None)


def _text(rng: np.random.Generator, s: float, texts: dict[str, int], bank: list[Any]) -> int:
    """A text whose tone follows the drift: crisis phrases only near the worst."""
    if s > 0.6 and rng.random() < 0.25 * s * s:
        choice = CRISIS[int(rng.integers(len(CRISIS)))]
        crisis = True
    elif rng.random() < 0.12 + 0.75 * s:
        choice, crisis = NEGATIVE[int(rng.integers(len(NEGATIVE)))], False
    elif rng.random() < 0.5:
        choice, crisis = POSITIVE[int(rng.integers(len(POSITIVE)))], False
    else:
        choice, crisis = NEUTRAL[int(rng.integers(len(NEUTRAL)))], False
    if choice[0] not in texts:
        texts[choice[0]] = len(bank)
        bank.append((choice[0], choice[1], crisis))
    return texts[choice[0]]


def _second(rng: np.random.Generator, s: float) -> int:
    """A time of day: a drifting user is up late more often."""
    if rng.random() < 0.05 + 0.45 * s:
        return int(rng.integers(0, 5 * 3600))
    return int(rng.integers(7 * 3600, 24 * 3600))


def simulate(spec: CohortSpec) -> Simulation:
    """Draw the cohort's events (the same spec always draws the same events)."""
    rng = np.random.default_rng(spec.seed)
    shares = [spec.at_risk_share, spec.recover_share, spec.surprise_share]
    groups = rng.choice(4, size=spec.users, p=[1 - sum(shares), *shares]).astype(np.int8)
    cols: dict[str, list[Any]] = {k: [] for k in ("user", "day", "second", "kind", "score")}
    cols |= {"text": [], "outcome": [], "phq9": []}
    text_index: dict[str, int] = {}
    bank: list[tuple[str, float, bool]] = []

    def add(u: int, d: int, sec: int, kind: int, score: float = np.nan, **extra: int) -> None:
        for key, value in (("user", u), ("day", d), ("second", sec), ("kind", kind)):
            cols[key].append(value)
        cols["score"].append(score)
        for key in ("text", "outcome", "phq9"):
            cols[key].append(extra.get(key, -1))

    for u in range(spec.users):
        severity, outcome_day = _severity(rng, int(groups[u]), spec.days)
        mood_base = rng.uniform(5.5, 8.0)
        checkins, journals, chats = (
            rng.uniform(0.6, 1.6),
            rng.uniform(0.2, 0.8),
            rng.uniform(0.3, 1.5),
        )
        next_screening = int(rng.integers(0, 30))
        for d in range(spec.days):
            s = float(severity[d])
            for _ in range(rng.poisson(checkins * (1 - 0.65 * s))):
                score = np.clip(np.rint(rng.normal(mood_base - 4.5 * s, 1.0 + 0.6 * s)), 1, 10)
                add(u, d, _second(rng, s), MOOD, float(score))
            for _ in range(rng.poisson(journals * (1 - 0.5 * s))):
                score = np.clip(np.rint(rng.normal(mood_base - 4.5 * s, 1.2)), 1, 10)
                score = float(score) if rng.random() < 0.5 else np.nan
                add(u, d, _second(rng, s), JOURNAL, score, text=_text(rng, s, text_index, bank))
            for _ in range(rng.poisson(chats * (1 - 0.3 * s))):
                add(u, d, _second(rng, s), BOT, text=_text(rng, s, text_index, bank))
            if d == outcome_day:
                kind = int(rng.integers(len(OUTCOMES)))
                phq9 = int(rng.integers(15, 28)) if kind == 0 else -1
                add(u, d, int(rng.integers(9 * 3600, 17 * 3600)), CLINICAL, outcome=kind, phq9=phq9)
            elif d == next_screening:  # routine screening: below the outcome's 15
                phq9 = int(np.clip(rng.normal(5 + 8 * s, 3), 0, 14))
                add(u, d, int(rng.integers(9 * 3600, 17 * 3600)), CLINICAL, outcome=0, phq9=phq9)
            if d >= next_screening:
                next_screening = d + int(rng.integers(25, 40))

    arrays = {k: np.asarray(v) for k, v in cols.items()}
    order = np.lexsort((arrays["second"], arrays["day"], arrays["user"]))
    return Simulation(
        spec=spec,
        user=arrays["user"][order].astype(np.int64),
        day=arrays["day"][order].astype(np.int64),
        second=arrays["second"][order].astype(np.int64),
        kind=arrays["kind"][order].astype(np.int8),
        score=arrays["score"][order].astype(np.float64),
        text=arrays["text"][order].astype(np.int64),
        outcome=arrays["outcome"][order].astype(np.int64),
        phq9=arrays["phq9"][order].astype(np.int64),
        texts=bank,
        groups=groups,
    )


def event_time(sim: Simulation, i: int) -> datetime:
    start = datetime.combine(sim.spec.start, time(), UTC)
    return start + timedelta(days=int(sim.day[i]), seconds=int(sim.second[i]))


def log_entries(sim: Simulation) -> Iterator[dict[str, Any]]:
    """The events as the ingest API takes them (POST /v1/logs), marked synthetic."""
    for i in range(len(sim.user)):
        kind = int(sim.kind[i])
        entry: dict[str, Any] = {
            "event_id": f"synthetic-{sim.spec.seed}-{i}",
            "service": SERVICES[kind],
            "user_id": sim.user_id(int(sim.user[i])),
            "timestamp": event_time(sim, i).isoformat(),
            "synthetic": True,
        }
        text = sim.texts[int(sim.text[i])] if sim.text[i] >= 0 else None
        if kind == MOOD:
            entry |= {"event_type": "checkin", "score": int(sim.score[i])}
        elif kind == JOURNAL:
            assert text is not None
            entry |= {"event_type": "entry", "text": text[0]}
            if not np.isnan(sim.score[i]):
                entry["mood_score"] = int(sim.score[i])
        elif kind == BOT:
            assert text is not None
            entry |= {
                "event_type": "chat",
                "prompt": text[0],
                "response": CRISIS_REPLY if text[2] else REPLIES[i % len(REPLIES)],
                "intent": "crisis" if text[2] else "support",
            }
        else:
            outcome = OUTCOMES[int(sim.outcome[i])]
            entry |= {"event_type": outcome, "outcome": outcome}
            if outcome == "phq9":
                entry["phq9_score"] = int(sim.phq9[i])
        yield entry
