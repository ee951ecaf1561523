"""PII scrubbing throughput and quality: PIIScrubber vs Presidio's default pipeline.

    python bench/pii.py [--n 2000] [--seed 7]

Both run in this process on the same Faker corpus (libs.common.pii.evaluation). The baseline
is Presidio's default: `AnalyzerEngine` with every default recognizer on the full
en_core_web_sm pipeline, then `AnonymizerEngine`, one text at a time. Load times are
excluded from throughput; the first text of each is a warm-up.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Sequence

import tldextract.tldextract as tld
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_anonymizer import AnonymizerEngine
from pydantic import SecretStr

from libs.common.pii import Finding, PIIScrubber, resolve_overlaps
from libs.common.pii.evaluation import CLASSES, STRUCTURED, Report, evaluate, make_corpus
from libs.common.pii.ner import SPACY_MODEL
from libs.common.settings import CommonSettings

# Presidio's email validation calls tldextract, whose default fetches the public suffix list
# over the network; point it at the bundled snapshot so the baseline runs offline.
tld.TLD_EXTRACTOR = tld.TLDExtract(suffix_list_urls=(), cache_dir=None)


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
    print(f"{label:<40}{rate:>10.0f} texts/s")
    return rate


def side_by_side(ours: Report, theirs: Report) -> None:
    print(
        f"\n{'class':<14}{'gold':>6}  {'recall ours/presidio':>22}  {'precision ours/presidio':>24}"
    )
    rows = [(c, ours.by_class[c], theirs.by_class[c]) for c in CLASSES]
    rows.append(("STRUCTURED", ours.total(STRUCTURED), theirs.total(STRUCTURED)))
    for name, a, b in rows:
        print(
            f"{name:<14}{a.gold:>6}  {a.recall:>11.3f} / {b.recall:<8.3f}"
            f"  {a.precision:>12.3f} / {b.precision:<9.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts in the corpus")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # spaCy/Presidio chatter; nothing here logs texts anyway

    samples = make_corpus(args.n, seed=args.seed)
    texts = [s.text for s in samples]
    avg = sum(map(len, texts)) / len(texts)
    print(f"corpus: {len(texts)} texts, {avg:.0f} chars on average, seed {args.seed}\n")

    t0 = time.perf_counter()
    analyzer, anonymizer = presidio_default()
    t1 = time.perf_counter()
    settings = CommonSettings(pii_hmac_key=SecretStr("bench-key"), pii_text_method="tag")
    scrubber = PIIScrubber(settings, ner=True)
    regex_only = PIIScrubber(settings, ner=False)
    t2 = time.perf_counter()
    print(f"load: presidio {t1 - t0:.1f}s, ours {t2 - t1:.1f}s\n")

    theirs_found: list[list[Finding]] = []

    def run_presidio(batch: Sequence[str]) -> None:
        theirs_found.clear()
        for text in batch:
            results = analyzer.analyze(text, language="en")
            anonymizer.anonymize(text, results)  # type: ignore[arg-type]
            # Only the classes we score, then overlaps resolved as ours are: Presidio's other
            # entities (DATE_TIME over a card number...) must not hide what it did find.
            theirs_found.append(
                resolve_overlaps(
                    Finding(r.entity_type, r.start, r.end, r.score)
                    for r in results
                    if r.entity_type in CLASSES
                )
            )

    ours_found: list[list[Finding]] = []

    def run_ours(batch: Sequence[str]) -> None:
        ours_found[:] = [list(r.findings) for r in scrubber.scrub_many(batch)]

    base = timed("presidio default (analyze+anonymize)", texts, run_presidio)
    ours = timed("PIIScrubber.scrub_many", texts, run_ours)
    timed("PIIScrubber.scrub, one text at a time", texts, lambda b: [scrubber.scrub(t) for t in b])
    timed("PIIScrubber.scrub_many, ner=False", texts, regex_only.scrub_many)
    print(f"\nratio ours/presidio: {ours / base:.1f}x")

    side_by_side(evaluate(samples, ours_found), evaluate(samples, theirs_found))
    print("\n(presidio has no MEDICAL_ID recognizer; its findings of other classes are ignored)")


if __name__ == "__main__":
    main()
