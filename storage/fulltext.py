"""What a text query asks of the transcript's full-text index, and how each backend spells it.

A query is words and "quoted phrases". Words are alternatives: a line matching more of them,
or rarer ones, ranks higher (the usual ranked retrieval, so a spoken sentence typed as a query
still finds the line that says part of it). A phrase must appear, its words in that order.
Both backends reduce words to English stems (``falling`` finds ``falls`` and ``fall``) and fold
case; common English words (PostgreSQL's ``english`` stop list) are left out of the bare words,
so "the" does not match every line, but kept inside phrases. A bare word whose stem has at
least ``PREFIX_MIN`` letters also finds longer words that begin with that stem (``rain`` finds
``rainy`` and ``rainfall``, ``snow`` finds ``snowman``, ``expected`` is "expect" and finds
``expectation``): speech recognition often hears a word with another ending or joined to the
next, and typed queries shorten words too. The stem is each backend's own, read from it
(``storage.stems``: Porter on SQLite, Snowball on PostgreSQL, which differ on some words), and
the same rule counts its letters on both; a shorter stem is matched exactly, as a whole stem
(``died`` is "di" to Porter and "die" to Snowball: it finds "died" and "dies", not "diagnosed"
on SQLite nor "diet" on PostgreSQL), as its longer words would mostly be unrelated ones
(``benchmarks.stem_families``). A number word and its numeral find each other (``four`` and
``4``, ``twenty`` and ``20``, up to ``hundred``): Whisper writes most numbers as digits,
subtitles and people either way. Phrases match their words exactly (as stems).

The user's text never reaches either query language as syntax: SQLite gets every word quoted
as an FTS5 string, PostgreSQL gets each word and phrase as a bound parameter of
``plainto_tsquery``/``phraseto_tsquery``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import reduce
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # SQLAlchemy only for PostgreSQL: a SQLite search parses queries without it
    from sqlalchemy import ColumnElement

# FTS5's unicode61 tokenizer: a token is a run of letters, digits (and private-use characters);
# everything else, the underscore included, separates tokens.
_TOKEN = re.compile(r"[^\W_]+")
_PHRASE = re.compile(r'"([^"]*)"')
# PostgreSQL's english.stop (tsearch_data), so that both backends drop the same words.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)
# Bare words (of letters only) whose backend stem has at least this many letters match as stem
# prefixes; shorter stems ("new" of news, "di" of died, "car" of cars) would find too many
# unrelated words (benchmarks/stem_families.py counts them by stem length).
PREFIX_MIN = 4
# Number words and their numerals, which match each other as bare words (compounds such as
# "two hundred" for "200" do not).
_SMALL = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_TENS = {"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
NUMBERS = {word: str(n) for n, word in enumerate(_SMALL.split(" "))} | {
    word: str(n) for word, n in (_TENS | {"ninety": 90, "hundred": 100}).items()
}
_NUMERALS = {numeral: word for word, numeral in NUMBERS.items()}
# FTS5's tokenizer for transcript lines (migration 0004 spells the same inline, as migrations
# do not import the code that changes after them).
FTS5_TOKENIZE = "porter unicode61"


def pg_config() -> ColumnElement:
    """The text-search configuration, written as a literal so that the query's expression is
    the one migration 0004 indexed (a bound parameter would hide the index from the planner)."""
    from sqlalchemy import literal_column

    return literal_column("'english'")


@dataclass(frozen=True)
class FullTextQuery:
    """Phrases that must match (each a tuple of tokens) and words that may; with ``among``
    (some of the words), only lines that have one of those match, all the words still rank.
    The spellings of words in ``prefixes`` (set by ``stemmed`` from the backend's stems) also
    match as prefixes of their stem, unless their word is in ``exact`` (common words)."""

    phrases: tuple[tuple[str, ...], ...]
    words: tuple[str, ...]
    among: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()

    def single(self, word: str) -> FullTextQuery:
        """The query of ``word`` alone, matched as in this query."""
        return FullTextQuery(
            (),
            (word,),
            exact=(word,) if word in self.exact else (),
            prefixes=tuple(w for w in spellings(word) if w in self.prefixes),
        )

    def to_stem(self) -> tuple[str, ...]:
        """The spellings of the bare words that may match as prefixes, whose stems ``stemmed``
        needs (a stem is never longer than its word)."""
        spelled = (w for word in self.words for w in spellings(word))
        return tuple(dict.fromkeys(w for w in spelled if len(w) >= PREFIX_MIN and w.isalpha()))

    def stemmed(self, stems: Mapping[str, str]) -> FullTextQuery:
        """This query with ``prefixes`` decided by ``stems`` ({spelling: the backend's stem},
        for ``to_stem``'s spellings; see ``is_prefix``)."""
        prefixes = tuple(w for w in self.to_stem() if is_prefix(w, stems.get(w, "")))
        return replace(self, prefixes=prefixes)

    def __bool__(self) -> bool:
        return bool(self.phrases or self.words)


def parse_query(text: str) -> FullTextQuery:
    """Split ``text`` into quoted phrases and bare words (lower case, stop words left out).

    An unpaired quote is ignored. A quoted single word is a word that must match.
    """
    phrases: list[tuple[str, ...]] = []
    for quoted in _PHRASE.findall(text):
        tokens = tuple(t.lower() for t in _TOKEN.findall(quoted))
        if tokens and tokens not in phrases:
            phrases.append(tokens)
    rest = _PHRASE.sub(" ", text)
    words: list[str] = []
    for token in _TOKEN.findall(rest):
        word = token.lower()
        if word not in STOP_WORDS and word not in words:
            words.append(word)
    return FullTextQuery(tuple(phrases), tuple(words))


def tokens(text: str) -> list[str]:
    """Every token of ``text`` as the tokenizer splits it, lower case, stop words kept (quotes
    and other punctuation are separators)."""
    return [t.lower() for t in _TOKEN.findall(text)]


def spellings(word: str) -> tuple[str, ...]:
    """``word`` and the other spelling that matches it: a number word's numeral or a numeral's
    word (``four``: ``4``), else nothing more."""
    other = NUMBERS.get(word) or _NUMERALS.get(word)
    return (word, other) if other else (word,)


def longest_run(query: list[str], line: list[str]) -> int:
    """The length of the longest run of consecutive ``query`` tokens that ``line`` says in a
    row (stop words count: "him to drink more" is a run of 4 where only "drink" is a word; a
    number word and its numeral are the same token)."""
    query = [NUMBERS.get(t, t) for t in query]
    at: dict[str, list[int]] = {}  # where the line says each token
    for j, token in enumerate(line):
        at.setdefault(NUMBERS.get(token, token), []).append(j)
    best = 0
    previous: dict[int, int] = {}  # line position: length of the run ending there
    for q in query:
        current = {j: previous.get(j - 1, 0) + 1 for j in at.get(q, ())}
        best = max(best, *current.values()) if current else best
        previous = current
    return best


def is_prefix(word: str, stem: str) -> bool:
    """Whether the bare ``word``, whose stem on the backend is ``stem``, also matches longer
    words that begin with that stem: a word of letters whose stem has ``PREFIX_MIN`` letters
    or more (unless the query lists the word as ``exact``: ``storage.transcripts`` does so for
    common words, whose long families of longer words would cost much to merge and add
    little). A shorter stem is matched exactly (as a stem: ``died`` finds "dies")."""
    return len(stem) >= PREFIX_MIN and word.isalpha()


def _fts5_string(tokens: tuple[str, ...]) -> str:
    # Tokens hold no quotes (see _TOKEN), so quoting them makes a plain FTS5 string: never an
    # operator (AND, NEAR), a column filter or a prefix query.
    return '"' + " ".join(tokens) + '"'


def _fts5_word(word: str, query: FullTextQuery) -> str:
    # A quoted string followed by * is FTS5's prefix query; the porter tokenizer stems the
    # string first ("expected" * is expect*).
    prefix = word not in query.exact
    terms = [
        _fts5_string((w,)) + (" *" if prefix and w in query.prefixes else "")
        for w in spellings(word)
    ]
    return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"


def fts5_expression(query: FullTextQuery) -> str:
    """The FTS5 MATCH expression: every phrase AND (any phrase or word), for bm25 to rank.

    Repeating the phrases inside the alternatives keeps a line that has the phrases but none of
    the words, while bm25 (which scores every phrase of the expression) still ranks lines that
    also have the words above it.
    """
    required = [_fts5_string(p) for p in query.phrases]
    if query.among:
        required.append("(" + " OR ".join(_fts5_word(w, query) for w in query.among) + ")")
    optional = [_fts5_string(p) for p in query.phrases]
    optional += [_fts5_word(w, query) for w in query.words]
    if not required:
        return " OR ".join(optional)
    if not query.words:
        return " AND ".join(required)
    return " AND ".join([*required, "(" + " OR ".join(optional) + ")"])


def pg_tsquery(query: FullTextQuery) -> ColumnElement:
    """The same query as a PostgreSQL tsquery expression (``&&`` and ``||`` of bound parts)."""
    from sqlalchemy import func

    config = pg_config()
    required = [func.phraseto_tsquery(config, " ".join(p)) for p in query.phrases]
    optional = required + [_pg_word(w, query) for w in query.words]
    if query.among:
        among = [_pg_word(w, query) for w in query.among]
        required.append(reduce(lambda a, b: a.op("||")(b), among))
    if not required:
        return reduce(lambda a, b: a.op("||")(b), optional)
    combined = reduce(lambda a, b: a.op("&&")(b), required)
    if query.words:
        combined = combined.op("&&")(reduce(lambda a, b: a.op("||")(b), optional))
    return combined


def _pg_word(word: str, query: FullTextQuery) -> ColumnElement:
    prefix = word not in query.exact
    terms = [_pg_term(w, prefix and w in query.prefixes) for w in spellings(word)]
    return reduce(lambda a, b: a.op("||")(b), terms)


def _pg_term(word: str, prefix: bool) -> ColumnElement:
    from sqlalchemy import func

    if prefix:
        # A word of letters only is one lexeme to to_tsquery, never an operator; ":*" makes it a
        # prefix of the stem ("expected:*" is 'expect':*), as FTS5's "expected" *.
        return func.to_tsquery(pg_config(), word + ":*")
    return func.plainto_tsquery(pg_config(), word)
