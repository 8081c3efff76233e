"""EDA text augmentation for captions (Wei & Zou 2019), as the official training used through textaugment:
synonym replacement, random swap, random insertion, one word each, in that order.

The official code draws synonyms from NLTK WordNet; we ship a small table of synonyms for the words of
sound-event labels (`synonyms.json`), so no corpus download is needed. Each call takes its own
`random.Random`, so a caption's augmentation is reproducible from the sample's seed. (Official quirk not
reproduced: its random insertion fails after 10 tries without a synonym and then crashes the join.)

The auto recipe augments without ever touching the class name (`eda_keeping`): on small data the name is the
only text the zero-shot check asks about, and EDA's synonyms and swaps turned "dog bark" into "bark hound" often
enough to cost most of what was learned (issue 28: 0.13 with EDA, 0.40 without). A caption that *is* the class
name is put into a random template instead; a longer caption gets EDA on its other words, the name moving only
as one block.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

STOPWORDS = frozenset("a an the of and or in on at to from by with for is are was be being been it its this that "
                      "these those as into over under while during".split())
INSERT_TRIES = 10
NAME_TEMPLATES = ("{}", "the sound of {}", "the sound of a {}", "a recording of {}", "{} sound", "a clip of {}",
                  "{} heard up close", "{} in the distance", "the noise of {}", "listen to {}")
PLACEHOLDER = "\x00"  # one "word" standing for the class name while EDA runs: no synonyms, swapped whole


@cache
def synonym_table() -> dict[str, tuple[str, ...]]:
    """word -> synonyms, symmetric: every word of a group lists the others."""
    groups = json.loads(Path(__file__).with_name("synonyms.json").read_text())["groups"]
    table: dict[str, set[str]] = {}
    for group in groups:
        for word in group:
            table.setdefault(word, set()).update(w for w in group if w != word)
    return {word: tuple(sorted(others)) for word, others in table.items()}


def synonyms(word: str) -> tuple[str, ...]:
    return synonym_table().get(word.lower(), ())


def synonym_replacement(words: list[str], rng: random.Random, n: int = 1) -> list[str]:
    """Replace up to n non-stopwords that have synonyms by a random synonym each."""
    words = list(words)
    candidates = [i for i, w in enumerate(words) if w.lower() not in STOPWORDS and synonyms(w)]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        words[i] = rng.choice(synonyms(words[i]))
    return words


def random_swap(words: list[str], rng: random.Random, n: int = 1) -> list[str]:
    words = list(words)
    if len(words) < 2:
        return words
    for _ in range(n):
        i, j = rng.randrange(len(words)), rng.randrange(len(words))
        words[i], words[j] = words[j], words[i]
    return words


def random_insertion(words: list[str], rng: random.Random, n: int = 1) -> list[str]:
    """Insert a synonym of a random word at a random position, n times (skipped when none is found)."""
    words = list(words)
    for _ in range(n):
        for _ in range(INSERT_TRIES):
            options = synonyms(rng.choice(words)) if words else ()
            if options:
                words.insert(rng.randrange(len(words) + 1), rng.choice(options))
                break
    return words


def eda(caption: str, rng: random.Random) -> str:
    """The official VGGSound chain: synonym replacement, random swap, random insertion (n = 1 each)."""
    words = caption.split()
    if not words:
        return caption
    return " ".join(random_insertion(random_swap(synonym_replacement(words, rng), rng), rng))


def eda_keeping(caption: str, name: str, rng: random.Random) -> str:
    """An augmented caption that contains `name` verbatim: a template around it when the caption is the name,
    else EDA on the other words (the name swapped as one block); other captions (no name in them) get EDA."""
    if caption == name:
        return rng.choice(NAME_TEMPLATES).format(name)
    if not name or name not in caption:
        return eda(caption, rng)
    return eda(caption.replace(name, PLACEHOLDER, 1), rng).replace(PLACEHOLDER, name)
