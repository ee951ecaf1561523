"""PII detection and anonymization: quality on a labelled Faker corpus, then behaviours.

The scrubber (spaCy load, ~1-2 s) is built once per module; the whole file runs in seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from bench.pii_eval import STRUCTURED, Report, evaluate, make_corpus, make_realistic
from bench.pii_eval.names import write_name_data
from libs.common.pii import (
    Finding,
    PIIScrubber,
    ScrubResult,
    anonymize_value,
    get_scrubber,
    resolve_overlaps,
)
from libs.common.pii.gazetteer import Gazetteer, Kind
from libs.common.pii.ner import NER_ONLY, SPACY_MODEL
from libs.common.settings import CommonSettings

KEY = "unit-test-key-one"


def make_settings(key: str = KEY) -> CommonSettings:
    return CommonSettings(
        environment="test",
        pii_hmac_key=SecretStr(key),
        pii_text_method="tag",
        pii_ner_enabled=True,
        pii_score_threshold=0.5,
        pii_custom_patterns={"employee_id": r"\bEMP-\d{5}\b"},
    )


@pytest.fixture(scope="module")
def scrubber() -> PIIScrubber:
    return PIIScrubber(make_settings())


@pytest.fixture(scope="module")
def regex_only() -> PIIScrubber:
    return PIIScrubber(make_settings(), ner=False)


@pytest.fixture(scope="module")
def corpus_run(scrubber: PIIScrubber) -> tuple[list[str], list[ScrubResult], Report]:
    samples = make_corpus(400, seed=11)
    texts = [s.text for s in samples]
    results = scrubber.scrub_many(texts)
    report = evaluate(samples, [r.findings for r in results])
    print("\n" + report.table())
    return texts, results, report


@pytest.fixture(scope="module")
def realistic_run(scrubber: PIIScrubber) -> Report:
    samples = make_realistic(400, seed=11)
    report = evaluate(samples, [r.findings for r in scrubber.scrub_many([s.text for s in samples])])
    print("\n" + report.table())
    return report


def entities(found: list[Finding], text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in found]


# --- quality on the labelled corpus ----------------------------------------------------------


def test_structured_identifiers_are_found(
    corpus_run: tuple[list[str], list[ScrubResult], Report],
) -> None:
    report = corpus_run[2]
    total = report.total(STRUCTURED)
    assert total.recall >= 0.95 and total.precision >= 0.8
    for name in STRUCTURED:
        counts = report.by_class[name]
        assert counts.gold >= 10, name
        assert counts.recall >= 0.95, (name, counts)
        assert counts.precision >= 0.8, (name, counts)


def test_person_names_are_found(corpus_run: tuple[list[str], list[ScrubResult], Report]) -> None:
    person = corpus_run[2].by_class["PERSON"]
    assert person.gold >= 100
    assert person.recall >= 0.85, person
    assert person.precision >= 0.9, person


def test_realistic_text_names_and_hard_negatives(realistic_run: Report) -> None:
    # Journal/chat text: fragments such as "meh. tired", "Broken sleep", "Grace period", names
    # that are words ("with Will"), lower-case names, names in no list. NER alone scored recall
    # 0.59 and precision 0.78 on this set.
    person = realistic_run.by_class["PERSON"]
    assert person.gold >= 150
    assert person.precision >= 0.9, person
    assert person.recall >= 0.85, person
    structured = realistic_run.total(STRUCTURED)
    assert structured.gold >= 10
    assert structured.recall >= 0.95 and structured.precision >= 0.9, structured


def test_scrubbed_text_keeps_no_identifier(
    corpus_run: tuple[list[str], list[ScrubResult], Report],
) -> None:
    texts, results, _ = corpus_run
    for text, res in zip(texts, results, strict=True):
        for f in res.findings:
            assert f"<{f.entity}>" in res.text
            assert text[f.start : f.end] not in res.text


# --- person names: regressions from the demo, hard negatives, the rules ---------------------


def persons_in(scrubber: PIIScrubber, text: str, known: list[str] | None = None) -> list[str]:
    return [
        text[f.start : f.end] for f in scrubber.detect(text, known or []) if f.entity == "PERSON"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "meh. tired",
        "Meh. Same as yesterday.",
        "Broken sleep is hard. A short wind-down routine can help; want to build one?",
        "Summarize the feelings in this journal entry: meh. tired",
        "Felt hopeless all afternoon.",
        "Grace period on the rent ends Friday.",
        "I will try the breathing thing again tomorrow.",
        "May was hard. June is already better.",
        "Hope is a strange thing, it keeps coming back.",
        "Will I ever feel normal again?",
        "Mark the calendar: one week without a panic attack!",
        "Read about CBT on the NHS page, then did the Calm breathing exercise.",
        "Picked up the refill at Walgreens, then Trader Joe's for snacks.",
        "Went to the AA meeting at St. Mary's church.",
        "Sunny Sunday, finally some light.",
    ],
)
def test_journal_fragments_are_not_names(scrubber: PIIScrubber, text: str) -> None:
    assert persons_in(scrubber, text) == []


def test_every_occurrence_of_a_name_is_tagged(scrubber: PIIScrubber) -> None:
    # The demo left "Justin" in both places (NER labels it ORG) while "Marissa" was tagged.
    text = (
        "Dinner with Justin and Marissa. Laughed more than I have in months. "
        "Reminder: Justin's new number is (415) 555-0137."
    )
    res = scrubber.scrub(text)
    assert res.text == (
        "Dinner with <PERSON> and <PERSON>. Laughed more than I have in months. "
        "Reminder: <PERSON>'s new number is <PHONE_NUMBER>."
    )


def test_a_name_ner_finds_once_is_tagged_everywhere(scrubber: PIIScrubber) -> None:
    # "Oluwaseun" is in no name list; whichever occurrence NER finds, the others follow.
    text = "Oluwaseun Adeyemi from group asked if I'm ok. I told Oluwaseun I'm fine."
    assert persons_in(scrubber, text) == ["Oluwaseun Adeyemi", "Oluwaseun"]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Had coffee with Grace this morning; Grace really gets it.", ["Grace", "Grace"]),
        ("Lunch with Will went better than expected.", ["Will"]),
        ("talked to tyler for an hour, felt lighter after", ["tyler"]),
        ("Todd texted me out of the blue to ask how I am.", ["Todd"]),
        ("Dr Patel upped my dose. Aunt Rose drove me.", ["Patel", "Rose"]),
        ("Saw May Nguyen at the pharmacy and hid.", ["May Nguyen"]),
    ],
)
def test_names_that_ner_alone_misses(scrubber: PIIScrubber, text: str, names: list[str]) -> None:
    assert persons_in(scrubber, text) == names


def test_known_identifiers_count_whatever_the_name_rules(scrubber: PIIScrubber) -> None:
    # A user called May Grace: their own name is theirs even where the rules see a word.
    text = "May here. Grace period ends soon, feeling low."
    assert persons_in(scrubber, text) == []
    assert persons_in(scrubber, text, known=["May Grace"]) == ["May", "Grace"]


def test_name_rules_can_be_switched_off() -> None:
    before = PIIScrubber(make_settings(), name_rules=NER_ONLY)
    text = "Dinner with Justin and Marissa."
    assert "Justin" not in persons_in(before, text)  # the model's own miss, kept for benches


def test_gazetteer_kinds() -> None:
    gaz = Gazetteer(SPACY_MODEL)
    assert gaz.kind("Justin") == Kind.NAME
    assert gaz.kind("John") == Kind.PROPER
    assert gaz.kind("Grace") == Kind.WORD_NAME
    assert gaz.kind("May") == Kind.AMBIGUOUS
    assert gaz.kind("Broken") == Kind.WORD
    assert gaz.kind("Felt") == Kind.WORD  # an inflection: the lemmatizer's rules
    assert gaz.kind("Meh") == Kind.WORD
    assert gaz.kind("Nguyen") == Kind.SURNAME
    assert gaz.kind("Oluwaseun") == Kind.UNKNOWN


def test_name_data_regenerates_from_faker(tmp_path: Path) -> None:
    summary = write_name_data(tmp_path / "names.py")
    namespace: dict[str, str] = {}
    exec((tmp_path / "names.py").read_text(), namespace)
    first = set(namespace["FIRST_NAMES"].split())
    assert {"Justin", "Marissa", "Siobhan", "Tomasz"} <= first, summary
    assert len(first) > 5000 and len(namespace["SURNAMES"].split()) > 5000


# --- validated patterns -----------------------------------------------------------------------


def test_luhn_decides_credit_cards(regex_only: PIIScrubber) -> None:
    valid = "Paid with 4111 1111 1111 1111 today"
    assert entities(regex_only.detect(valid), valid) == [("CREDIT_CARD", "4111 1111 1111 1111")]
    assert regex_only.detect("Paid with 4111 1111 1111 1112 today") == []
    assert regex_only.detect("card 5555555555554445") == []  # Luhn off by one
    text = "card 5555555555554444"
    assert entities(regex_only.detect(text), text) == [("CREDIT_CARD", "5555555555554444")]


def test_iban_checksum(regex_only: PIIScrubber) -> None:
    text = "IBAN GB82 WEST 1234 5698 7654 32 and DE89370400440532013000"
    assert entities(regex_only.detect(text), text) == [
        ("IBAN_CODE", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN_CODE", "DE89370400440532013000"),
    ]
    assert regex_only.detect("IBAN GB83 WEST 1234 5698 7654 32 and DE88370400440532013000") == []


def test_ssn_rules(regex_only: PIIScrubber) -> None:
    assert regex_only.detect("codes 000-12-3456 666-12-3456 900-12-3456 123-00-4567") == []
    text = "SSN 536-22-8471, and again: my ssn is 536228471"
    assert entities(regex_only.detect(text), text) == [
        ("US_SSN", "536-22-8471"),
        ("US_SSN", "536228471"),
    ]


@pytest.mark.parametrize(
    "phone",
    [
        "(415) 555-0137",
        "415.555.0137",
        "4155550137",
        "+1-415-555-0137x123",
        "001-415-555-0137",
        "+44 20 7946 0958",
        "020 7946 0958",
        "+44(0)113 496 0123",
        "(0161) 496 0123",
        "07700 900123",
        "+447700900123",
    ],
)
def test_phone_formats(regex_only: PIIScrubber, phone: str) -> None:
    text = f"call me on {phone} tonight"
    assert entities(regex_only.detect(text), text) == [("PHONE_NUMBER", phone)]


def test_numbers_that_are_not_identifiers(regex_only: PIIScrubber) -> None:
    text = "Slept 7 hours on 2024-03-05, mood 6/10 at 10:30, walked 12,345 steps, paid $45.99"
    assert regex_only.detect(text) == []


def test_other_structured_entities(regex_only: PIIScrubber) -> None:
    text = (
        "Mail a.b@example.org from 10.0.0.1 or 2001:db8::1, see https://x.org/a?b=1. Id MID-123456"
    )
    assert entities(regex_only.detect(text), text) == [
        ("EMAIL_ADDRESS", "a.b@example.org"),
        ("IP_ADDRESS", "10.0.0.1"),
        ("IP_ADDRESS", "2001:db8::1"),
        ("URL", "https://x.org/a?b=1"),
        ("MEDICAL_ID", "MID-123456"),
    ]


def test_custom_pattern_from_settings(regex_only: PIIScrubber) -> None:
    res = regex_only.scrub("badge EMP-12345 at the door")
    assert res.text == "badge <EMPLOYEE_ID> at the door"


def test_invalid_custom_pattern_is_refused() -> None:
    settings = make_settings().model_copy(update={"pii_custom_patterns": {"broken": "(["}})
    with pytest.raises(ValueError, match="broken"):
        PIIScrubber(settings, ner=False)


# --- the user's own identifiers ---------------------------------------------------------------


def test_known_identifiers_found_where_ner_misses(scrubber: PIIScrubber) -> None:
    text = "quillfeather here, feeling low. Thaddeus says write to TQ@Example.NET or (415) 555 0137"
    # The rare surname, lower-cased, is in no name list: only the known identifiers find it.
    assert "quillfeather" not in [text[f.start : f.end] for f in scrubber.detect(text)]
    known = ["Thaddeus Quillfeather", "tq@example.net", "415-555-0137"]
    res = scrubber.scrub(text, known=known)
    assert res.text == (
        "<PERSON> here, feeling low. <PERSON> says write to <EMAIL_ADDRESS> or <PHONE_NUMBER>"
    )


def test_known_name_parts_skip_short_and_common_words(regex_only: PIIScrubber) -> None:
    # "Al" and "Jo" are too short to match alone; "will" is a common word, so only "Will" counts.
    text = "I will call Al. Will Stone said stone cold, then Will left with Al Jo"
    found = entities(regex_only.detect(text, known=["Will Stone", "Al Jo"]), text)
    assert found == [
        ("PERSON", "Will Stone"),
        ("PERSON", "stone"),
        ("PERSON", "Will"),
        ("PERSON", "Al Jo"),
    ]


def test_known_are_per_text_in_batches(regex_only: PIIScrubber) -> None:
    texts = ["zebulon is sad", "zebulon is sad", ""]
    out = regex_only.scrub_many(texts, known=[["Zebulon Pike"], [], ["Zebulon Pike"]])
    assert [r.text for r in out] == ["<PERSON> is sad", "zebulon is sad", ""]


# --- anonymization methods --------------------------------------------------------------------


def test_methods_on_text(regex_only: PIIScrubber) -> None:
    text = "write to jane.doe@example.org now"
    assert regex_only.scrub(text, method="redact").text == "write to  now"
    assert regex_only.scrub(text, method="tag").text == "write to <EMAIL_ADDRESS> now"
    assert re.fullmatch(
        r"write to <EMAIL_ADDRESS:[0-9a-f]{16}> now", regex_only.scrub(text, method="hash").text
    )
    assert regex_only.scrub(text, method="mask").text == "write to " + "*" * 16 + ".org now"


def test_anonymize_value_methods() -> None:
    s = make_settings()
    assert (
        anonymize_value("415-555-0137", "mask", entity="PHONE_NUMBER", settings=s) == "********0137"
    )
    assert (
        anonymize_value("Ann", "mask", entity="PERSON", settings=s) == "***"
    )  # too short to keep 4
    assert anonymize_value("a@b.io", "tag", entity="EMAIL_ADDRESS", settings=s) == "<EMAIL_ADDRESS>"
    assert anonymize_value("a@b.io", "redact", entity="EMAIL_ADDRESS", settings=s) == ""
    assert anonymize_value("", "hash", entity="EMAIL_ADDRESS", settings=s) == ""


def test_hash_is_keyed_and_deterministic() -> None:
    one, two = make_settings("key-one"), make_settings("key-two")
    email = "jane.doe@example.org"
    a = anonymize_value(email, "hash", entity="EMAIL_ADDRESS", settings=one)
    assert a == anonymize_value(email, "hash", entity="EMAIL_ADDRESS", settings=one)
    assert a == anonymize_value(
        "Jane.Doe@Example.org", "hash", entity="EMAIL_ADDRESS", settings=one
    )
    assert a != anonymize_value(email, "hash", entity="EMAIL_ADDRESS", settings=two)
    expected = hmac.new(b"key-one", email.encode(), hashlib.sha256).hexdigest()[:16]
    assert a == f"<EMAIL_ADDRESS:{expected}>"
    assert hashlib.sha256(email.encode()).hexdigest()[:16] not in a
    # A field and the same value inside free text get the same token, so joins still work.
    text = PIIScrubber(one, ner=False).scrub(f"mail {email}", method="hash").text
    assert text == f"mail {a}"


# --- edges ------------------------------------------------------------------------------------


def test_empty_and_none(scrubber: PIIScrubber) -> None:
    assert scrubber.scrub("") == ScrubResult("", ())
    assert scrubber.detect("") == []
    assert scrubber.scrub_many([]) == []
    out = scrubber.scrub_many(["", None, "   "])  # type: ignore[list-item]
    assert [r.text for r in out] == ["", "", "   "]
    with pytest.raises(ValueError):
        scrubber.scrub_many(["a", "b"], known=[[]])


def test_batch_equals_one_by_one(scrubber: PIIScrubber) -> None:
    texts = [s.text for s in make_corpus(40, seed=5)]
    assert scrubber.scrub_many(texts) == [scrubber.scrub(t) for t in texts]


def test_overlaps_keep_longest_then_highest_score() -> None:
    found = resolve_overlaps(
        [
            Finding("URL", 5, 16, 0.6),
            Finding("EMAIL_ADDRESS", 0, 16, 1.0),
            Finding("PHONE_NUMBER", 20, 30, 0.75),
            Finding("CREDIT_CARD", 20, 30, 1.0),
            Finding("PERSON", 40, 45, 0.85),
        ]
    )
    assert [f.entity for f in found] == ["EMAIL_ADDRESS", "CREDIT_CARD", "PERSON"]


def test_no_personal_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    s = PIIScrubber(make_settings())
    s.scrub_many(["Ring Maria Kowalski at maria.k@example.org"], known=[["Maria Kowalski"]])
    assert "Kowalski" not in caplog.text and "maria.k" not in caplog.text


def test_get_scrubber_is_cached() -> None:
    assert get_scrubber() is get_scrubber()
