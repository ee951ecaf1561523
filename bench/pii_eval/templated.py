"""The Faker corpus: templated journal lines with Faker identifiers of every class.

Its names come from the Faker lists the name gazetteer is built from, so its PERSON recall
is an upper bound. `DECOYS` are numbers that look like identifiers but are not. Faker is a
dev dependency: it is imported only when a corpus is made.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from bench.pii_eval.scoring import CLASSES, Sample, Span
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
)

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
