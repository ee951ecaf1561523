"""PII detection and anonymization: validated patterns, the user's own identifiers, the
anonymization methods, edges. Quality on the labelled corpora and person names: test_pii.py.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

import pytest

from bench.pii_eval import make_corpus
from libs.common.pii import (
    Finding,
    PIIScrubber,
    ScrubResult,
    anonymize_value,
    get_scrubber,
    resolve_overlaps,
)
from tests.common.pii_support import entities, make_settings

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
