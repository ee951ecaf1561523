"""PII detection: quality on the labelled corpora, then person names (rules, gazetteer, data).

Validated patterns, the user's own identifiers, anonymization and edges are in
test_pii_patterns.py; the scrubbers (spaCy load, ~1-2 s) are conftest.py's, built once per
module; the whole file runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.pii_eval import STRUCTURED, Report, evaluate, make_corpus, make_realistic
from bench.pii_eval.names import write_name_data
from libs.common.pii import PIIScrubber, ScrubResult
from libs.common.pii.gazetteer import Gazetteer, Kind
from libs.common.pii.ner import NER_ONLY, SPACY_MODEL
from tests.common.pii_support import make_settings


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
