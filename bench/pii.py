"""PII scrubbing throughput and quality: PIIScrubber vs Presidio's default pipeline.

    python bench/pii.py [--n 2000] [--seed 7] [--real 1000] [--ablation] [--no-presidio]

Three labelled sets (bench.pii_eval, scripts.simulate):
- faker: templated journal lines with Faker identifiers. Its names come from the lists the
  name gazetteer is built from, so its PERSON recall is an upper bound;
- realistic: journal/chat/bot text with hard negatives ("meh. tired", "Broken sleep",
  "Grace period", "May was hard") and names written out, some in no list;
- simulated day: `scripts.simulate`'s texts, the demo's, labelled by matching its templates.

The baseline is Presidio's default: `AnalyzerEngine` with every default recognizer on the full
en_core_web_sm pipeline, then `AnonymizerEngine`, one text at a time. "NER only" is our
scrubber without the name rules (filter, gazetteer, propagate): the scrubber as it was
before them. Load times are excluded from throughput; the first text of each is a warm-up.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import tldextract.tldextract as tld
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine
from pydantic import SecretStr

from libs.common.pii import Finding, PIIScrubber, resolve_overlaps
from libs.common.pii.findings import EMAIL_ADDRESS, PERSON, PHONE_NUMBER
from libs.common.pii.gazetteer import Gazetteer
from libs.common.pii.ner import NER_ONLY, SPACY_MODEL, NameRules
from libs.common.settings import CommonSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for bench.*, scripts.simulate
from bench.pii_eval import (
    CLASSES,
    STRUCTURED,
    Report,
    Sample,
    Span,
    evaluate,
    make_corpus,
    make_realistic,
)
from scripts import simulate

# Presidio's email validation calls tldextract, whose default fetches the public suffix list
# over the network; point it at the bundled snapshot so the baseline runs offline.
tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)

FREE_TEXT = ("prompt", "response", "title", "text", "note", "message", "content", "description")
ABLATION = {
    "NER only (before)": NER_ONLY,
    "+ filter": replace(NER_ONLY, filter=True),
    "+ gazetteer (capitalised)": replace(NER_ONLY, gazetteer=True),
    "+ propagate": replace(NER_ONLY, propagate=True),
    "all but filter": replace(NameRules(), filter=False),
    "all but gazetteer": replace(NameRules(), gazetteer=False),
    "all but lower_case": replace(NameRules(), lower_case=False),
    "all but sentence_start": replace(NameRules(), sentence_start=False),
    "all but shops": replace(NameRules(), shops=False),
    "all but propagate": replace(NameRules(), propagate=False),
    "all (now)": NameRules(),
}


def presidio_default() -> tuple[AnalyzerEngine, AnonymizerEngine]:
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": SPACY_MODEL}],
        }
    )
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    return analyzer, AnonymizerEngine()  # type: ignore[no-untyped-call]


def timed(label: str, texts: Sequence[str], run: Callable[[Sequence[str]], object]) -> float:
    run(texts[:1])
    started = time.perf_counter()
    run(texts)
    rate = len(texts) / (time.perf_counter() - started)
    print(f"{label:<44}{rate:>10.0f} texts/s")
    return rate


def simulated_day(users: int = 200, seed: int = 7) -> list[Sample]:
    """The demo's free texts, labelled by matching the simulator's journal and chat templates.

    Only journal entries (and the AI prompts that quote them) and chat messages embed names,
    emails and phones; every other text is labelled as holding none.
    """
    slot = re.compile(r"\{(me|friend|friend2|email|phone)\}")
    entity = {"email": EMAIL_ADDRESS, "phone": PHONE_NUMBER}
    value = {"email": r"[\w.+-]+@[\w.-]+\w", "phone": r"\(\d{3}\) \d{3}-\d{4}"}
    name = r"[A-Z][\w'-]*"
    patterns: list[tuple[re.Pattern[str], list[str]]] = []
    bodies = [j + c for j in simulate.JOURNAL for c in ("", *simulate.JOURNAL_CONTACT)]
    bodies += [u + " You can call me at {phone}." for u in simulate.CHAT_USER]
    for body in bodies:
        kinds = slot.findall(body)
        rx = "".join(
            re.escape(part) if i % 2 == 0 else f"({value.get(part, name)})"
            for i, part in enumerate(slot.split(body))
        )
        patterns.append(
            (re.compile(rf"(?:Summarize the feelings in this journal entry: )?{rx}"), kinds)
        )
    samples = []
    for entry in simulate.generate_day(date(2024, 5, 1), users, seed):
        for field in FREE_TEXT:
            text = entry.get(field)
            if not isinstance(text, str):
                continue
            spans: tuple[Span, ...] = ()
            for pattern, kinds in patterns:
                m = pattern.fullmatch(text)
                if m and kinds:
                    spans = tuple(
                        Span(entity.get(k, PERSON), m.start(g), m.end(g))
                        for g, k in enumerate(kinds, start=1)
                    )
                    break
            samples.append(Sample(text, spans))
    return samples


def run_ours(scrubber: PIIScrubber, samples: Sequence[Sample]) -> list[list[Finding]]:
    return [list(r.findings) for r in scrubber.scrub_many([s.text for s in samples])]


def run_presidio(
    engines: tuple[AnalyzerEngine, AnonymizerEngine], texts: Sequence[str]
) -> list[list[Finding]]:
    analyzer, anonymizer = engines
    found = []
    for text in texts:
        results = analyzer.analyze(text, language="en")
        anonymizer.anonymize(text, results)  # type: ignore[arg-type]
        # Only the classes we score, then overlaps resolved as ours are: Presidio's other
        # entities (DATE_TIME over a card number...) must not hide what it did find.
        found.append(
            resolve_overlaps(
                Finding(r.entity_type, r.start, r.end, r.score)
                for r in results
                if r.entity_type in CLASSES
            )
        )
    return found


def table(reports: dict[str, Report]) -> None:
    names = list(reports)
    head = "".join(f"{n:>22}" for n in names)
    print(f"{'class':<14}{'gold':>6}  recall / precision:{head}")
    rows = [(c, {n: r.by_class[c] for n, r in reports.items()}) for c in CLASSES]
    rows.append(("STRUCTURED", {n: r.total(STRUCTURED) for n, r in reports.items()}))
    for cls, by in rows:
        gold = next(iter(by.values())).gold
        if not gold and not any(c.predicted for c in by.values()):
            continue
        cells = "".join(f"{c.recall:>13.3f} / {c.precision:<6.3f}" for c in by.values())
        print(f"{cls:<14}{gold:>6}{'':<21}{cells}")


def person_errors(samples: Sequence[Sample], found: Sequence[Sequence[Finding]]) -> None:
    """The most frequent false-positive and missed PERSON strings."""
    fps: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    for s, preds in zip(samples, found, strict=True):
        gold = [g for g in s.spans if g.entity == PERSON]
        names = [f for f in preds if f.entity == PERSON]
        for f in names:
            if not any(f.start < g.end and g.start < f.end for g in gold):
                fps[s.text[f.start : f.end]] += 1
        for g in gold:
            if not any(f.start < g.end and g.start < f.end for f in names):
                misses[s.text[g.start : g.end]] += 1
    print(f"  false positives {sum(fps.values())}: {fps.most_common(8)}")
    print(f"  missed {sum(misses.values())}: {misses.most_common(8)}")


def listed_split(samples: Sequence[Sample], found: Sequence[Sequence[Finding]]) -> str:
    """PERSON recall on names the gazetteer lists vs names it does not."""
    gaz = Gazetteer(SPACY_MODEL)
    hit = {True: [0, 0], False: [0, 0]}
    for s, preds in zip(samples, found, strict=True):
        for g in s.spans:
            if g.entity != PERSON:
                continue
            listed = all(gaz.is_name(w.capitalize()) for w in s.text[g.start : g.end].split())
            hit[listed][0] += 1
            hit[listed][1] += any(
                f.entity == PERSON and f.start < g.end and g.start < f.end for f in preds
            )
    return "  ".join(
        f"{'listed' if k else 'unlisted'} {v[1]}/{v[0]} = {v[1] / max(v[0], 1):.3f}"
        for k, v in hit.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts in the Faker corpus")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--real", type=int, default=1000, help="texts in the realistic set")
    parser.add_argument("--ablation", action="store_true", help="PERSON P/R per name rule")
    parser.add_argument("--no-presidio", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # spaCy/Presidio chatter; nothing here logs texts anyway

    sets = {
        "faker": make_corpus(args.n, seed=args.seed),
        "realistic": make_realistic(args.real, seed=args.seed),
        "simulated day": simulated_day(seed=args.seed),
    }
    for label, samples in sets.items():
        texts = [s.text for s in samples]
        avg = sum(map(len, texts)) / len(texts)
        names = sum(g.entity == PERSON for s in samples for g in s.spans)
        print(f"{label}: {len(texts)} texts, {avg:.0f} chars on average, {names} names")

    t0 = time.perf_counter()
    presidio = None if args.no_presidio else presidio_default()
    t1 = time.perf_counter()
    settings = CommonSettings(pii_hmac_key=SecretStr("bench-key"), pii_text_method="tag")
    scrubber = PIIScrubber(settings, ner=True)
    before = PIIScrubber(settings, ner=True, name_rules=NER_ONLY)
    regex_only = PIIScrubber(settings, ner=False)
    t2 = time.perf_counter()
    print(f"\nload: presidio {t1 - t0:.1f}s, ours {t2 - t1:.1f}s\n")

    texts = [s.text for s in sets["faker"]]
    base = 0.0
    if presidio is not None:
        base = timed(
            "presidio default (analyze+anonymize)", texts, lambda b: run_presidio(presidio, b)
        )
    ours = timed("PIIScrubber.scrub_many", texts, scrubber.scrub_many)
    timed("PIIScrubber.scrub_many, NER only (before)", texts, before.scrub_many)
    timed("PIIScrubber.scrub, one text at a time", texts, lambda b: [scrubber.scrub(t) for t in b])
    timed("PIIScrubber.scrub_many, ner=False", texts, regex_only.scrub_many)
    real = [s.text for s in sets["realistic"]]
    timed("PIIScrubber.scrub_many, realistic set", real, scrubber.scrub_many)
    timed("  NER only (before), realistic set", real, before.scrub_many)
    if base:
        print(f"\nratio ours/presidio: {ours / base:.1f}x")

    for label, samples in sets.items():
        print(f"\n== {label}")
        reports = {}
        ours_found = run_ours(scrubber, samples)
        reports["ours"] = evaluate(samples, ours_found)
        reports["NER only (before)"] = evaluate(samples, run_ours(before, samples))
        if presidio is not None:
            reports["presidio"] = evaluate(
                samples, run_presidio(presidio, [s.text for s in samples])
            )
        table(reports)
        print(f"  ours, PERSON recall by gazetteer listing: {listed_split(samples, ours_found)}")
        person_errors(samples, ours_found)
    print("\n(presidio has no MEDICAL_ID recognizer; its findings of other classes are ignored)")

    if args.ablation:
        print(f"\n{'PERSON recall / precision':<26}" + "".join(f"{k:>20}" for k in sets))
        for name, rules in ABLATION.items():
            variant = PIIScrubber(settings, ner=True, name_rules=rules)
            cells = ""
            for samples in sets.values():
                c = evaluate(samples, run_ours(variant, samples)).by_class[PERSON]
                cells += f"{c.recall:>11.3f} / {c.precision:.3f}"
            print(f"{name:<26}{cells}")


if __name__ == "__main__":
    main()
