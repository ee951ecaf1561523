"""Which capitalised tokens are person names, and which are English words.

Names: first names and surnames from Faker's person providers (the US Social Security list, the
English-speaking locales, and Spanish, Portuguese, Polish, German, Italian, French), frozen into
`_name_data.py` so scrubbing does not change with a Faker upgrade and Faker stays a dev
dependency. Regenerate with `python -m libs.common.pii.gazetteer`.

Words: the English lexicon the spaCy model already ships for its lemmatizer (WordNet lemmas with
the model's suffix rules and irregular forms), spaCy's stop words, and a short curated list of
journal-text words WordNet lacks (interjections, chat shorthand, weekdays). So "Broken", "Felt",
"meh" are words; "Justin" is a name and no word; "Grace", "Will", "May" are both (ambiguous).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property, lru_cache
from pathlib import Path

import spacy
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.lookups import Lookups

from libs.common.pii import _name_data

# Interjections, chat shorthand and mood words WordNet does not list (it lists "ok", "hi").
EXTRA_WORDS = frozenset(
    """
    meh ugh argh blah bleh hmm hmmm hm oof ooh oops ow ouch yay yikes wow woah whoa
    yeah yep yup nope nah okay ok k kk lol lmao lmfao rofl omg omfg idk idc tbh imo imho ngl
    smh fml ffs wtf brb btw jk ty thx pls plz xoxo xo haha hahaha hehe sigh ew eww ima
    anyways whatever gonna wanna gotta kinda sorta dunno alright tho thru cuz
    hopeless sleepless meds therapy journaling overthinking doomscrolling
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    mom mum dad mommy daddy grandma grandpa nana papa bro sis babe hun
    """.split()
)
# First names that are also common words, but name a person when capitalised mid-sentence
# ("had coffee with Grace"): tagged there, never at a sentence start ("Grace period ends").
WORD_NAMES = frozenset(
    """
    will grace hope joy faith rose mark bill frank dawn heather holly ivy iris lily violet
    jasmine ruby hazel daisy olive pearl penny sandy destiny harmony patience charity mercy
    trinity autumn hunter ginger brandy candy misty rusty dusty sunny angel precious sterling
    """.split()
)
# First names whose capitalised use is as often something else: months, seasons, places,
# titles, brands ("in May", "Christian music", "Burger King", "Chase flagged my card").
# Tagged only as part of a full name or after a title ("May Nguyen", "Dr Price").
CAPITALISED_WORDS = frozenset(
    """
    january april may june july august sunday summer winter spring christian king queen prince
    princess royal major general captain doctor judge park hall hill wood stone brown green
    white black gray grey chase amber crystal star sky river rock storm north west south east
    ford price page case long young early little strong true ever else hence less love unique
    genesis echo story journey reason lucky golden noble miracle justice
    """.split()
)
_OWN_DIR = Path(__file__).resolve().parent


class Kind(IntEnum):
    """How a title-case token reads on its own, from surest name to surest word."""

    NAME = 0  # a first name that is no English word: "Justin", "Marissa", "Priya"
    PROPER = 1  # a frequent first name that WordNet also lists: "John", "Jack", "Austin"
    WORD_NAME = 2  # a first name and a common word, a name mid-sentence: "Grace", "Will"
    AMBIGUOUS = 3  # a first name, more often a word or a place: "May", "Christian", "Else"
    SURNAME = 4  # a surname that is no first name: "Kowalski", "Patel"
    WORD = 5  # an English word that is no first name: "Broken", "Felt", "Meh", "Smith"
    UNKNOWN = 6  # neither: names from no list, brands, typos


@dataclass(frozen=True)
class Lexicon:
    """English words from the model's lemmatizer tables; falls back to stop words only."""

    model: str

    @cached_property
    def _tables(self) -> tuple[dict[str, frozenset[str]], dict[str, list[list[str]]]]:
        """Per part of speech: lemmas and irregular forms ("media", "felt"), suffix rules."""
        index: dict[str, frozenset[str]] = {}
        rules: dict[str, list[list[str]]] = {}
        lookups = _model_lookups(self.model)
        if lookups is not None:
            idx = lookups.get_table("lemma_index")
            rul = lookups.get_table("lemma_rules")
            exc = lookups.get_table("lemma_exc")
            for pos in ("noun", "verb", "adj", "adv"):
                index[pos] = frozenset(idx.get(pos, ())) | frozenset(exc.get(pos, {}))
                rules[pos] = list(rul.get(pos, ()))
        return index, rules

    def pos(self, word: str) -> frozenset[str]:
        """WordNet parts of speech of a lower-case word or of its inflection's lemma."""
        index, rules = self._tables
        found = set()
        for pos, lemmas in index.items():
            if word in lemmas:
                found.add(pos)
                continue
            for old, new in rules[pos]:
                if word.endswith(old) and word[: len(word) - len(old)] + new in lemmas:
                    found.add(pos)
                    break
        return frozenset(found)

    def is_word(self, word: str) -> bool:
        low = word.lower()
        return low in STOP_WORDS or low in EXTRA_WORDS or bool(self.pos(low))


def _model_lookups(model: str) -> Lookups | None:
    try:
        root = spacy.util.get_package_path(model)
    except (ImportError, ValueError):
        return None
    for folder in sorted(root.glob(f"{model}-*/lemmatizer/lookups")):
        return Lookups().from_disk(folder)
    return None


class Gazetteer:
    """Classifies title-case tokens; cached per token text, so a batch costs set look-ups."""

    def __init__(
        self, model: str, first: Iterable[str] | None = None, last: Iterable[str] | None = None
    ) -> None:
        self.lexicon = Lexicon(model)
        self.first = frozenset(first if first is not None else _name_data.FIRST_NAMES.split())
        self.last = frozenset(last if last is not None else _name_data.SURNAMES.split())
        self.frequent = frozenset(_name_data.FREQUENT_FIRST_NAMES.split()) & self.first
        self.kind = lru_cache(maxsize=65536)(self._kind)

    def _kind(self, token: str) -> Kind:
        low = token.lower()
        if token in self.first:
            if low in WORD_NAMES:
                return Kind.WORD_NAME
            if low in CAPITALISED_WORDS or low in STOP_WORDS or low in EXTRA_WORDS:
                return Kind.AMBIGUOUS
            if not self.lexicon.pos(low):
                return Kind.NAME
            # WordNet lists "jack" and "peter" as verbs, "john" and "austin" as nouns: a
            # frequent first name reads as a name; a rare one ("Friend", "Else") as the word.
            return Kind.PROPER if token in self.frequent else Kind.AMBIGUOUS
        if self.lexicon.is_word(token):
            return Kind.WORD
        if token in self.last:
            return Kind.SURNAME
        return Kind.UNKNOWN

    def proper_noun(self, token: str) -> bool:
        """A frequent first name WordNet knows only as a noun ("John", "Austin", "Tyler"), not as
        a verb or adjective ("Drew", "Sally", "Randy"): a name even at a sentence start."""
        return self.kind(token) == Kind.PROPER and self.lexicon.pos(token.lower()) == {"noun"}

    def is_name(self, token: str) -> bool:
        """A first name or surname, whatever else it also is."""
        return token in self.first or token in self.last


def generate(path: Path = _OWN_DIR / "_name_data.py") -> None:
    """Write `_name_data.py` from the installed Faker (dev dependency)."""
    import importlib

    # English-speaking locales, then the languages of the largest immigrant groups in the
    # US and the UK.
    locales = (
        *("en", "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "en_KE", "en_NG", "en_PK"),
        *("es_MX", "es_ES", "pt_BR", "pl_PL", "de_DE", "it_IT", "fr_FR"),
    )
    frequent_locales = ("en_US", "en_GB")  # the most given names, not the long SSA tail
    first: set[str] = set()
    last: set[str] = set()
    frequent: set[str] = set()
    for loc in locales:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        first.update(getattr(provider, "first_names", ()))
        last.update(getattr(provider, "last_names", ()))
        if loc in frequent_locales:
            frequent.update(getattr(provider, "first_names", ()))
    # One token each, letters (apostrophes and hyphens inside): what a tokenizer yields.
    first = {n for n in first if _token_like(n)}
    last = {n for n in last if _token_like(n)} - first
    frequent &= first

    def block(name: str, values: set[str]) -> str:
        lines, line = [], ""
        for v in sorted(values):
            if len(line) + len(v) + 1 > 90:
                lines.append(line)
                line = ""
            line += v + " "
        lines.append(line)
        body = "\n".join(f"    {x!r}" for x in lines)
        return f"{name} = (\n{body}\n)\n"

    faker_version = importlib.import_module("faker").VERSION
    path.write_text(
        f'"""Generated by `python -m libs.common.pii.gazetteer` from Faker {faker_version}'
        f" ({', '.join(locales)}).\n\nDo not edit by hand: first names and surnames, one"
        ' token each, space-separated."""\n\n'
        "# fmt: off\n"
        + block("FIRST_NAMES", first)
        + "\n"
        + block("SURNAMES", last)
        + "\n"
        + block("FREQUENT_FIRST_NAMES", frequent)
    )
    print(f"{path}: {len(first)} first names ({len(frequent)} frequent), {len(last)} surnames")


def _token_like(name: str) -> bool:
    # Hyphenated names are split by the tokenizer; their parts are listed on their own.
    return bool(name) and name[0].isupper() and name.replace("'", "").isalpha()


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else _OWN_DIR / "_name_data.py")
