"""Labelled corpora and precision/recall scoring, shared by tests and bench.

- `make_corpus`: templated journal lines with Faker identifiers of every class;
- `make_realistic`: journal/chat/bot text with hard negatives and hand-written names;
- `write_name_data`: freezes Faker's name lists into `_name_data.py` for the gazetteer
  (`python -m libs.common.pii.evaluation --write-names`).

Faker is a dev dependency: it is imported only when a Faker corpus or the name data is made.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from libs.common.pii.findings import (
    CREDIT_CARD,
    EMAIL_ADDRESS,
    IBAN_CODE,
    IP_ADDRESS,
    MEDICAL_ID,
    PERSON,
    PHONE_NUMBER,
    URL,
    US_SSN,
    Finding,
)

STRUCTURED = (
    EMAIL_ADDRESS,
    PHONE_NUMBER,
    US_SSN,
    CREDIT_CARD,
    IBAN_CODE,
    IP_ADDRESS,
    URL,
    MEDICAL_ID,
)
CLASSES = (*STRUCTURED, PERSON)

TEMPLATES = (
    "Had a rough night again. Texted {PERSON} at {PHONE_NUMBER} but nobody answered.",
    "My therapist {PERSON} said I can email her at {EMAIL_ADDRESS} before Monday.",
    "{PERSON} came over and we watched a movie; I felt calmer for once.",
    "Insurance asked for my SSN {US_SSN} again and my chest got tight.",
    "Paid the clinic with card {CREDIT_CARD} and then felt guilty about money.",
    "The refund goes to IBAN {IBAN_CODE}, hope it arrives before rent.",
    "Logged in from {IP_ADDRESS} at the library because home felt too loud.",
    "Found a helpful article on grounding at {URL} and saved it.",
    "My patient id is {MEDICAL_ID}, the nurse wrote it on the intake form.",
    "Called the crisis line at {PHONE_NUMBER} tonight. {PERSON} stayed on with me.",
    "Mom keeps writing to {EMAIL_ADDRESS}; I told {PERSON} I need space.",
    "Session with {PERSON} went ok. Next booking ref {MEDICAL_ID}.",
    "Walked with {PERSON} by the river and talked about the panic attacks.",
    "I miss {PERSON} so much today, everything reminds me of them.",
    "Note to self: pharmacy number {PHONE_NUMBER}, ask about the refill.",
    "Gave my old email {EMAIL_ADDRESS} to the support group organiser.",
    "Could not sleep, kept rereading {URL} about insomnia.",
    "The bank flagged card {CREDIT_CARD} and I spiralled for an hour.",
    "Set up the transfer from {IBAN_CODE} to pay for therapy.",
    "Router log showed {IP_ADDRESS} again, I think someone is checking on me.",
    "{PERSON} told me to breathe slowly and count to ten.",
    "Dinner with {PERSON} and {PERSON}, first time out in weeks.",
    "SSN {US_SSN} is on the disability form; reach me at {PHONE_NUMBER} if needed.",
    "Feeling low. Dr {PERSON} changed the dose, portal account {EMAIL_ADDRESS}.",
    "Asked {PERSON} whether journaling helps; she sent me {URL}.",
    "Work laptop is {IP_ADDRESS} and my manager {PERSON} can see everything.",
    "Good day overall! {PERSON} made me laugh at lunch.",
    "Wrote my card number {CREDIT_CARD} on a sticky note, which was silly.",
    "Mood 3/10. Emailed {EMAIL_ADDRESS} to cancel; medical record {MEDICAL_ID}.",
    "Therapy group tonight, {PERSON} shared her story and I cried.",
)
# Numbers that look like identifiers but are not: the precision side of the corpus.
DECOYS = (
    "Slept {HOURS} hours, mood {SCORE}/10, took {DOSE}mg sertraline at {TIME}.",
    "Appointment moved to {DATE}; copay was ${PRICE}.",
    "Walked {STEPS} steps today and drank {SCORE} glasses of water.",
    "Meditated for {HOURS} minutes after the {TIME} alarm, feeling a bit lighter.",
    "Order {ORDER} arrived late but the weighted blanket helps.",
    "Started Lexapro on Monday after the Zoom call with the Headspace coach.",
    "Spent Christmas in Chicago; the Netflix binge did not help my Sunday scaries.",
    "Read about CBT and DBT on the NHS page, then did the Calm breathing exercise.",
)


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int


@dataclass(frozen=True)
class Sample:
    text: str
    spans: tuple[Span, ...]


@dataclass
class Counts:
    gold: int = 0
    found: int = 0  # gold spans recalled
    predicted: int = 0
    correct: int = 0  # predictions that hit a gold span of their class

    @property
    def recall(self) -> float:
        return self.found / self.gold if self.gold else 1.0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 1.0


@dataclass
class Report:
    by_class: dict[str, Counts] = field(default_factory=dict)

    def total(self, classes: Sequence[str]) -> Counts:
        out = Counts()
        for c in classes:
            got = self.by_class.get(c, Counts())
            out.gold += got.gold
            out.found += got.found
            out.predicted += got.predicted
            out.correct += got.correct
        return out

    def table(self) -> str:
        rows = [f"{'class':<14}{'gold':>6}{'pred':>6}{'recall':>8}{'precision':>10}"]
        named = [(c, self.by_class.get(c, Counts())) for c in CLASSES]
        named.append(("STRUCTURED", self.total(STRUCTURED)))
        for name, c in named:
            rows.append(
                f"{name:<14}{c.gold:>6}{c.predicted:>6}{c.recall:>8.3f}{c.precision:>10.3f}"
            )
        return "\n".join(rows)


def _value_makers(seed: int) -> dict[str, Callable[[], str]]:
    from faker import Faker

    us, gb = Faker("en_US"), Faker("en_GB")
    banks = [Faker(loc) for loc in ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES", "it_IT")]
    for i, fk in enumerate([us, gb, *banks]):
        fk.seed_instance(seed + i)
    rnd = random.Random(seed)

    def person() -> str:
        fk = rnd.choice((us, gb))
        roll = rnd.random()
        if roll < 0.65:
            return f"{fk.first_name()} {fk.last_name()}"
        return fk.first_name() if roll < 0.9 else fk.name()

    def email() -> str:
        fk = rnd.choice((us, gb))
        return rnd.choice((fk.email, fk.free_email, fk.company_email))()

    def phone() -> str:
        return rnd.choice((us.phone_number, gb.phone_number, gb.cellphone_number))()

    def card() -> str:
        number: str = us.credit_card_number()
        if len(number) == 16 and rnd.random() < 0.4:
            sep = rnd.choice(" -")
            number = sep.join(number[i : i + 4] for i in range(0, 16, 4))
        return number

    def iban() -> str:
        value: str = rnd.choice(banks).iban()
        if rnd.random() < 0.4:
            value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def ip() -> str:
        return rnd.choice((us.ipv4, us.ipv4_public, us.ipv6))()

    def url() -> str:
        fk = rnd.choice((us, gb))
        return rnd.choice((fk.url, fk.uri, lambda: f"www.{fk.domain_name()}"))()

    return {
        PERSON: person,
        EMAIL_ADDRESS: email,
        PHONE_NUMBER: phone,
        US_SSN: us.ssn,
        CREDIT_CARD: card,
        IBAN_CODE: iban,
        IP_ADDRESS: ip,
        URL: url,
        MEDICAL_ID: lambda: f"MID-{rnd.randrange(10**6):06d}",
        "HOURS": lambda: str(rnd.randint(2, 12)),
        "SCORE": lambda: str(rnd.randint(1, 10)),
        "DOSE": lambda: str(rnd.choice((25, 50, 100, 150))),
        "TIME": lambda: us.time()[:5],
        "DATE": us.date,
        "PRICE": lambda: f"{rnd.uniform(5, 300):.2f}",
        "STEPS": lambda: f"{rnd.randint(1000, 25000):,}",
        "ORDER": lambda: str(rnd.randint(10**7, 10**8)),
    }


_SLOT = re.compile(r"\{([A-Z_]+)\}")


def make_corpus(n: int, *, seed: int = 7, decoy_share: float = 0.15) -> list[Sample]:
    """`n` short journal-like texts with identifiers at known offsets."""
    makers = _value_makers(seed)
    rnd = random.Random(seed)
    samples = []
    for i in range(n):
        pool = DECOYS if rnd.random() < decoy_share else TEMPLATES
        template = pool[i % len(pool)] if i < len(pool) else rnd.choice(pool)
        parts: list[str] = []
        spans: list[Span] = []
        pos = 0
        length = 0
        for m in _SLOT.finditer(template):
            parts.append(template[pos : m.start()])
            length += m.start() - pos
            value = makers[m.group(1)]()
            if m.group(1) in CLASSES:
                spans.append(Span(m.group(1), length, length + len(value)))
            parts.append(value)
            length += len(value)
            pos = m.end()
        parts.append(template[pos:])
        samples.append(Sample("".join(parts), tuple(spans)))
    return samples


def evaluate(samples: Sequence[Sample], predicted: Sequence[Sequence[Finding]]) -> Report:
    """Structured spans must be covered whole (a partial hit leaks digits); names overlapped."""
    report = Report({c: Counts() for c in CLASSES})
    for sample, preds in zip(samples, predicted, strict=True):
        for g in sample.spans:
            c = report.by_class[g.entity]
            c.gold += 1
            if any(_hits(f, g) for f in preds if f.entity == g.entity):
                c.found += 1
        for f in preds:
            if f.entity not in report.by_class:
                continue
            c = report.by_class[f.entity]
            c.predicted += 1
            if any(f.entity == g.entity and _overlaps(f, g) for g in sample.spans):
                c.correct += 1
    return report


def _overlaps(f: Finding, g: Span) -> bool:
    return f.start < g.end and g.start < f.end


def _hits(f: Finding, g: Span) -> bool:
    if g.entity == PERSON:
        return _overlaps(f, g)
    return f.start <= g.start and f.end >= g.end


# --- a realistic set: journal, chat and bot text with hard negatives ---------------------------
#
# The Faker corpus draws its names from the same Faker lists the gazetteer is built from, so its
# PERSON recall is an upper bound. This set's names are written out here, not drawn from Faker:
# common US/UK names, names from elsewhere (some in no list the gazetteer knows), and names that
# are also English words. Its negatives are the fragments that journal text is full of.

REAL_FIRST = (
    "Justin", "Marissa", "Ashley", "Connor", "Megan", "Tyler", "Brittany", "Kevin", "Heather",
    "Jordan", "Bailey", "Dennis", "Claudia", "Kristen", "Todd", "Cory", "Lauren", "Katrina",
    "Priya", "Oluwaseun", "Siobhan", "Tomasz", "Mei", "Aroha", "Thandiwe", "Joaquin", "Anh",
    "Kwame", "Yusuf", "Fatima", "Nikolai", "Ingrid", "Saoirse", "Ciaran", "Ngozi", "Dmitri",
    "Keanu", "Zainab", "Mateo", "Hiroshi", "Agnieszka", "Emeka", "Leilani", "Bartholomew",
)  # fmt: skip
# Names that are also words: tagged only where they are used as names.
REAL_WORD_NAMES = ("Grace", "Hope", "Will", "Mark", "Rose", "Joy", "Faith", "Bill", "Frank")
REAL_SURNAMES = (
    "Nguyen", "Okafor", "Kowalski", "Patel", "O'Brien", "Schmidt", "Haddad", "Fernandez",
    "Smith", "Johnson", "Adeyemi", "Lindqvist", "Takahashi", "Mwangi", "Reyes", "Brennan",
)  # fmt: skip

# {A} {B}: first names (a repeated slot is the same name), {W}: a word-name used as a name,
# {S}: a surname, {a}: a lower-case first name, {PHONE}, {EMAIL}.
REAL_TEMPLATES = (
    "Hard day. {A} cancelled our plans again and I ended up scrolling until 2am.",
    "Dinner with {A} and {B}. Laughed more than I have in months. Reminder: {A}'s new number "
    "is {PHONE}.",
    "{A} texted me out of the blue to ask how I am. It meant a lot.",
    "Note to self, {A}: you survived worse weeks than this one.",
    "talked to {a} for an hour, felt lighter after",
    "{A} {S} from group asked if I'm ok. I told {A} I'm fine, which is a lie.",
    "Dr {S} upped my dose to 20mg. {A} drove me to the appointment.",
    "Had coffee with {W} this morning; {W} really gets it.",
    "My sister {A} thinks I should take a break from social media.",
    "Reminder: call {A} {S} at {PHONE} about the lease.",
    "Mom and {A} argued again. I hid in my room.",
    "I miss {A}. Grief comes in waves.",
    "{A}'s birthday is next week and I have no energy to plan anything.",
    "Group tonight: {A} shared her story, {B} cried, I said nothing.",
    "Walked with {W} {S} by the river and talked about the panic attacks.",
    "meh. {A} says I should journal more, so here I am.",
    "If things get bad I can email {A} at {EMAIL}.",
    "ugh, {a} didn't show up again",
    "Can we move our session to Thursday? {A} has my car.",
    "Therapist said {A} is probably projecting. Maybe.",
    # Held out, as the negatives above.
    "Called my cousin {A} tonight, first time in months.",
    "{A} and {B} invited me to the lake house.",
    "Aunt {A} sent a card. Made me cry.",
    "Coach {S} said I can skip practice this week.",
    "my roommate {a} keeps leaving dishes everywhere",
    "Saw {A} {S} at the pharmacy and hid behind the shelves.",
    "Texted {A}. No reply. Texted {A} again.",
    "Nurse {S} was kind about the bloodwork.",
    "{A} says the group meets on Tuesdays now.",
    "Lunch with {W} went better than expected.",
)
# No identifier at all: fragments NER likes to tag, word-names used as words, months, brands,
# medications, places, organisations. Several are the simulator's own texts.
HARD_NEGATIVES = (
    "meh. tired",
    "meh",
    "Meh. Same as yesterday.",
    "Broken sleep is hard. A short wind-down routine can help; want to build one?",
    "Felt hopeless all afternoon.",
    "Grace period on the rent ends Friday.",
    "I will try the breathing thing again tomorrow.",
    "May was hard. June is already better.",
    "Hope is a strange thing, it keeps coming back.",
    "Joy feels far away lately.",
    "Faith in myself is low today.",
    "Rose early, walked to the park, felt okay.",
    "Mark the calendar: one week without a panic attack!",
    "Bill came in the mail and I panicked.",
    "Will I ever feel normal again?",
    "Frank talk with my manager about burnout.",
    "Summer makes my anxiety worse.",
    "Ugh. Another sleepless night.",
    "Numb. Just numb.",
    "Exhausted. Overwhelmed. Proud I got out of bed.",
    "Lonely, tired, hungry. HALT check says eat something.",
    "Crying in the car again. Whatever.",
    "Honestly? Scared. Lost. Hopeful maybe.",
    "Brain fog all day. Panic at the grocery store.",
    "Sober day 12. Cravings at 4pm, called my sponsor.",
    "Started Lexapro on Monday after the Zoom call with the Headspace coach.",
    "Spent Christmas in Chicago; the Netflix binge did not help my Sunday scaries.",
    "Read about CBT and DBT on the NHS page, then did the Calm breathing exercise.",
    "Zoloft makes me sleepy. Asked about switching to Wellbutrin.",
    "Kaiser Permanente finally approved the referral.",
    "Picked up the refill at Walgreens, then Trader Joe's for snacks.",
    "Christian music on the drive helped a bit.",
    "Amber alert on my phone scared me half to death.",
    "Crystal clear now that I need more rest.",
    "Major breakthrough in therapy today.",
    "Sleep: 4h. Mood: low. Meds: taken.",
    "Woke up anxious for no reason. Walked to the park, felt a little better by lunch.",
    "I woke up at 3am again and couldn't get back to sleep",
    "Anyone else find Sunday evenings the hardest?",
    "Day 30 without a panic attack. Small wins!",
    "Thanks for checking in. On a scale of 1 to 10, how are you feeling?",
    "Of course. Breathe in for 4, hold for 7, out for 8.",
    "Thank you for reaching out. Urges peak and pass; can you call your sponsor now?",
    "It's been a year since mom died and today feels heavy",
    "Today was actually good, I went for a walk with my sister",
    "Long day. Better after a walk. Couldn't sleep.",
    "Journal prompt: what would you tell a friend? Answer: be kind.",
    "Depressed again, skipped the gym. Dawn walks used to help.",
    "Chase flagged my card again and I spiralled.",
    "Summarize the feelings in this journal entry: meh. tired",
    # Written after the rules were tuned on the lines above, then measured once as held out.
    "Woke up at 5. Couldn't shake the dread.",
    "Panic attack in the Target parking lot. Breathed through it.",
    "Hopeful? Maybe. Tired? Definitely.",
    "Mood: flat. Energy: none. Appetite: meh.",
    "Skipped lunch again, Dr. appointment tomorrow.",
    "Ran into my ex at Starbucks and spiralled.",
    "Watched Friends reruns until midnight.",
    "Therapist recommended the book Feeling Good.",
    "Went to the AA meeting at St. Mary's church.",
    "Booked a session through BetterHelp.",
    "Patience is running thin with everyone.",
    "Sunny Sunday, finally some light.",
    "Rain all week. Misty mornings make it worse.",
    "Autumn always makes me sad.",
    "Christmas with family is stressful.",
    "Lost. Angry. Then calm after the walk.",
    "Spent Easter alone this year.",
    "Overwhelmed by the Amazon returns pile.",
    "Happy? Not really. Okay? Kind of.",
    "Jealous of everyone on Instagram.",
    "Drew a picture instead of doom scrolling.",
    "Penny saved is a penny earned, but I spent it all.",
    "Will power is low today.",
    "Grateful for the Crisis Text Line volunteers.",
    "Angry at myself. Again.",
    "Faithful to my routine this week: meds, walk, water.",
    "Dusty shelves, messy room, messy head.",
    "Sandy beach trip planned for June.",
    "Hunter green sweater, comfiest thing I own.",
)
_REAL_SLOT = re.compile(r"\{(A|B|W|S|a|PHONE|EMAIL)\}")


def make_realistic(n: int, *, seed: int = 3, negative_share: float = 0.5) -> list[Sample]:
    """`n` labelled texts: every negative and template once (shuffled), then random draws,
    a `negative_share` of them hard negatives."""
    rnd = random.Random(seed)
    order = [*HARD_NEGATIVES, *REAL_TEMPLATES]
    rnd.shuffle(order)
    samples: list[Sample] = []
    for i in range(n):
        if i < len(order):
            template = order[i]
        else:
            pool = HARD_NEGATIVES if rnd.random() < negative_share else REAL_TEMPLATES
            template = rnd.choice(pool)
        samples.append(_fill_real(template, rnd))
    return samples


def _fill_real(template: str, rnd: random.Random) -> Sample:
    first, second = rnd.sample(REAL_FIRST, 2)
    surname = rnd.choice(REAL_SURNAMES)
    values = {
        "A": first,
        "B": second,
        "W": rnd.choice(REAL_WORD_NAMES),
        "S": surname,
        "a": first.lower(),
        "PHONE": f"({rnd.randint(200, 999)}) {rnd.randint(200, 999)}-{rnd.randint(0, 9999):04d}",
        "EMAIL": f"{first.lower()}.{surname.lower().replace(chr(39), '')}{rnd.randint(1, 97)}"
        f"@{rnd.choice(('gmail.com', 'yahoo.com', 'hotmail.com', 'outlook.com'))}",
    }
    entity = {"PHONE": PHONE_NUMBER, "EMAIL": EMAIL_ADDRESS}
    parts: list[str] = []
    spans: list[Span] = []
    pos = length = 0
    for m in _REAL_SLOT.finditer(template):
        parts.append(template[pos : m.start()])
        length += m.start() - pos
        value = values[m.group(1)]
        spans.append(Span(entity.get(m.group(1), PERSON), length, length + len(value)))
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    # "{W} {S}" and "{A} {S}" are one name: merge adjacent PERSON spans.
    merged: list[Span] = []
    for s in spans:
        if merged and s.entity == PERSON == merged[-1].entity and s.start == merged[-1].end + 1:
            merged[-1] = Span(PERSON, merged[-1].start, s.end)
        else:
            merged.append(s)
    return Sample("".join(parts), tuple(merged))


# --- the gazetteer's data ----------------------------------------------------------------------

# English-speaking locales, then the languages of the largest immigrant groups in the US and UK.
NAME_LOCALES = (
    *("en", "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_KE", "en_NG", "en_PK"),
    *("es_MX", "es_ES", "pt_BR", "pl_PL", "de_DE", "it_IT", "fr_FR"),
)
FREQUENT_LOCALES = ("en_US", "en_GB")  # their lists hold the most given names only
NAME_DATA = Path(__file__).resolve().parent / "_name_data.py"


def write_name_data(path: Path = NAME_DATA) -> str:
    """Freeze Faker's person names into `_name_data.py` (what `gazetteer` reads)."""
    import importlib

    import faker

    first: set[str] = set()
    last: set[str] = set()
    frequent: set[str] = set()
    for loc in NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first.update(_tokens(getattr(provider, "first_names", ())))
        last.update(_tokens(getattr(provider, "last_names", ())))
        if loc in FREQUENT_LOCALES:
            frequent.update(_tokens(getattr(provider, "first_names", ())))

    def block(name: str, values: set[str]) -> str:
        lines, line = [], ""
        for v in sorted(values):
            if line and len(line) + len(v) > 88:
                lines.append(line)
                line = ""
            line += v + " "
        lines.append(line)
        body = "\n".join(f"    {x!r}" for x in lines)
        return f"{name} = (\n{body}\n)\n"

    path.write_text(
        f'"""Person names for `gazetteer`, from Faker {faker.VERSION}\'s person providers:\n'
        f"{', '.join(NAME_LOCALES[:8])},\n{', '.join(NAME_LOCALES[8:])}.\n\n"
        'Generated by `python -m libs.common.pii.evaluation --write-names`; do not edit."""\n\n'
        "# fmt: off\n"
        + block("FIRST_NAMES", first)
        + "\n"
        + block("SURNAMES", last)
        + "\n"
        + block("FREQUENT_FIRST_NAMES", frequent)
    )
    return f"{path}: {len(first)} first names ({len(frequent)} frequent), {len(last)} surnames"


def _tokens(names: Iterable[str]) -> set[str]:
    """The tokens spaCy makes of listed names: "Mary-Jane" is "Mary" and "Jane"."""
    out = set()
    for name in names:
        for part in name.replace("-", " ").split():
            if len(part) > 1 and part[0].isupper() and part.replace("'", "").isalpha():
                out.add(part)
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="PII evaluation data")
    parser.add_argument("--write-names", action="store_true", help="regenerate _name_data.py")
    if parser.parse_args().write_names:
        print(write_name_data())  # noqa: T201
