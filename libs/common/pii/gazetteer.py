"""Which capitalised tokens are person names, and which are English words.

Names: first names and surnames from Faker's person providers (the US Social Security list, the
English-speaking locales, and Spanish, Portuguese, Polish, German, Italian, French), frozen into
`_name_data.py` so scrubbing does not change with a Faker upgrade and Faker stays a dev
dependency. Regenerate with `python -m bench.pii_eval.names --write-names`.

Words: the English lexicon the spaCy model already ships for its lemmatizer (WordNet lemmas with
the model's suffix rules and irregular forms), spaCy's stop words, and a short curated list of
journal-text words WordNet lacks (interjections, chat shorthand, weekdays). So "Broken", "Felt",
"meh" are words; "Justin" is a name and no word; "Grace", "Will", "May" are both (ambiguous).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property, lru_cache

import spacy
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.lookups import Lookups

from libs.common.pii import _name_data

log = logging.getLogger(__name__)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Interjections, chat shorthand and mood words WordNet does not list (it lists "ok", "hi").
EXTRA_WORDS = _word_set(
    """
    meh ugh argh blah bleh hmm hmmm hm oof ooh oops ow ouch yay yikes wow woah whoa
    yeah yep yup nope nah okay ok k kk lol lmao lmfao rofl omg omfg idk idc tbh imo imho ngl
    smh fml ffs wtf brb btw jk ty thx pls plz xoxo xo haha hahaha hehe sigh ew eww ima
    anyways whatever gonna wanna gotta kinda sorta dunno alright tho thru cuz
    hopeless sleepless meds therapy journaling overthinking doomscrolling
    monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november december
    mom mum dad mommy daddy grandma grandpa nana papa bro sis babe hun
    """
)
# First names that are also common words, but name a person when capitalised mid-sentence
# ("had coffee with Grace"): tagged there, never at a sentence start ("Grace period ends").
WORD_NAMES = _word_set(
    """
    will grace hope joy faith rose mark bill frank dawn sunny patience mercy destiny charity
    harmony autumn misty rusty dusty sandy ginger brandy candy penny angel precious hunter
    mason diamond cliff sherry jade robin
    """
)
# First names whose capitalised use is as often something else: months, seasons, places,
# titles, brands ("in May", "Christian music", "Burger King", "Chase flagged my card").
# Tagged only as part of a full name or after a title ("May Nguyen", "Dr Price").
CAPITALISED_WORDS = _word_set(
    """
    january april may june july august sunday summer winter spring christian king queen prince
    princess royal major general captain doctor judge park hall hill wood stone brown green
    white black gray grey chase amber crystal star sky river rock storm north west south east
    ford price page case long young early little strong true ever else hence less love unique
    genesis echo story journey reason lucky golden noble miracle justice
    """
)


class Kind(IntEnum):
    """How a title-case token reads on its own, from surest name to surest word."""

    NAME = 0  # a first name that is no English word: "Justin", "Marissa", "Priya"
    PROPER = 1  # a frequent first name that WordNet also lists: "John", "Jack", "Austin"
    WORD_NAME = 2  # a first name and a common word, a name mid-sentence: "Grace", "Will"
    AMBIGUOUS = 3  # a first name, more often a word or a place: "May", "Christian", "Else"
    SURNAME = 4  # a surname that is no first name and no word: "Nguyen", "Patel"
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
        if lookups is None:
            # Names would then pass for no word: more false positives, nothing fails.
            log.warning("pii gazetteer: no lemmatizer tables in %s; stop words only", self.model)
        else:
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

    def __init__(self, model: str) -> None:
        self.lexicon = Lexicon(model)
        self.first = frozenset(_name_data.FIRST_NAMES.split())
        self.last = frozenset(_name_data.SURNAMES.split())
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

    def noun_only(self, token: str) -> bool:
        """WordNet knows the word only as a noun, as it knows many names ("Mei", "Kaiser"); not
        as a verb, adjective or adverb ("Calm", "Broken"), nor as a stop word."""
        low = token.lower()
        if low in STOP_WORDS or low in EXTRA_WORDS:
            return False
        return self.lexicon.pos(low) == {"noun"}

    def proper_noun(self, token: str) -> bool:
        """A frequent first name WordNet knows only as a noun ("John", "Austin", "Tyler"), not as
        a verb or adjective ("Drew", "Sally", "Randy"): a name even at a sentence start."""
        return self.kind(token) == Kind.PROPER and self.noun_only(token)

    def is_name(self, token: str) -> bool:
        """A first name or surname, whatever else it also is."""
        return token in self.first or token in self.last
