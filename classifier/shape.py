"""The shape of every line of a page, computed for the whole page at once.

Shape is what a line looks like regardless of its words: length, case,
digits, punctuation, how it ends, how much of it is function words, which
cue phrases it holds. Each measure is one pass over the page's joined lines
(a character-class table for counts, compiled patterns for the rest), see
`classifier.joined`.
"""

from __future__ import annotations

import re
import zlib

import numpy as np

from classifier.cues import CUES, FUNCTION_WORDS
from classifier.joined import (ALPHA, COPYRIGHT, DIGIT, LOWER, PUNCT, SEPARATOR, SPACE, UPPER,
                               WORDCHAR, Joined)
from classifier.labels import AD, DISCLAIMER, NAVIGATION, RELATED_LINKS

CUE_LABELS = (NAVIGATION, AD, DISCLAIMER, RELATED_LINKS)
MAX_MEAN_WORD_LEN = 20   # longer "words" are URLs or glued junk; cap their pull
MAX_GLUED = 3            # lowerUpper joins counted per line, at most
MAX_SEPARATORS = 5
MAX_CUES = 3
MIN_LETTERS_ALL_CAPS = 4  # "OK" is not shouting; "BREAKING NEWS" is

# Names of the columns `line_shapes` returns, in order.
SHAPE_COLUMNS = (
    "log_chars", "log_words", "mean_word_len", "upper_share", "title_share",
    "digit_share", "punct_share", "ends_terminal", "ends_colon", "function_share",
    "glued", "separators", "bullet", "copyright_sign", "log_sentences", "url",
    "all_caps",
) + tuple(f"cue_{label.lower()}" for label in CUE_LABELS)

_GLUED = re.compile(r"[a-z][A-Z]")  # the patterns say what the array versions below count
_BULLET = re.compile(r"^(?:[-*•·–]|\d{1,2}[.)])[^\S\n]", re.MULTILINE)
_URL = re.compile(r"https?://|www\.|@\w+\.\w")
_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*(?=\s|$)", re.MULTILINE)
_TERMINAL = re.compile(r"[.!?…]['\"”’)]*$", re.MULTILINE)
_TERMINAL_CHARS = ".!?…"
_CLOSING_CHARS = "'\"”’)"
_FUNCTION_WORDS = frozenset(w.lower() for w in FUNCTION_WORDS)


def _function_word_table() -> tuple[np.ndarray, np.ndarray]:
    """Keys (CRC-32 and length of the UTF-8 bytes) of the function words,
    sorted, and each one's bytes, zero-padded."""
    encoded = [w.encode() for w in _FUNCTION_WORDS]
    keys = np.array([(zlib.crc32(b) << 8) | len(b) for b in encoded], dtype=np.uint64)
    if len(set(keys.tolist())) != len(keys):
        raise ValueError("two function words share a CRC-32 and a length")
    width = max(map(len, encoded))
    rows = np.array([list(b.ljust(width, b"\0")) for b in encoded], dtype=np.uint8)
    order = np.argsort(keys)
    return keys[order], rows[order]


_FUNCTION_KEYS, _FUNCTION_ROWS = _function_word_table()


def _trie(phrases) -> str:
    """A regex for literal phrases, shaped as their prefix tree: the matcher
    then tests a place's first character once instead of once per phrase.
    Longer phrases win over their prefixes, so each place counts once."""
    tree: dict = {}
    for phrase in phrases:
        node = tree
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict) -> str:
        ends_here = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        if len(branches) == 1 and not ends_here:
            return branches[0]
        body = f"(?:{'|'.join(branches)})"
        return body + "?" if ends_here else body

    return render(tree)


# Every cue phrase in one pattern, matched against lower-cased text; a hit
# finds its label by the phrase it matched.
_CUE_LABEL_INDEX = {phrase.lower(): i for i, label in enumerate(CUE_LABELS)
                    for phrase in CUES[label]}
# The look-ahead lets the matcher skip places no phrase can start at.
_CUES = re.compile(f"(?=[{re.escape(''.join(sorted({p[0] for p in _CUE_LABEL_INDEX})))}])"
                   + _trie(_CUE_LABEL_INDEX))


_BMP = 0x10000


def _cue_prefix_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables saying where a cue phrase can start: (id of each BMP
    character that occurs in some phrase, else 0; which id triples begin a
    phrase of 3+ characters; which ids are a whole shorter phrase's start)."""
    alphabet = sorted({c for phrase in _CUE_LABEL_INDEX for c in phrase})
    ids = np.zeros(_BMP + 1, dtype=np.intp)  # the last for every code past the BMP
    for i, char in enumerate(alphabet, start=1):
        ids[ord(char)] = i
    size = len(alphabet) + 1
    triples = np.zeros((size, size, size), dtype=bool)
    short = np.zeros(size, dtype=bool)
    for phrase in _CUE_LABEL_INDEX:
        first = [ids[ord(c)] for c in phrase[:3]]
        if len(first) == 3:
            triples[tuple(first)] = True
        else:
            short[first[0]] = True
    return ids, triples, short


_CUE_IDS, _CUE_TRIPLES, _CUE_SHORT = _cue_prefix_tables()


def _cue_starts(joined: Joined) -> np.ndarray:
    """Positions where some cue phrase could start, by its first three
    characters: every place a match can begin, and few others."""
    codes = joined.lowered_codes
    size = len(_CUE_SHORT)
    ids = np.zeros(len(codes) + 2, dtype=np.intp)
    ids[:len(codes)] = _CUE_IDS[np.minimum(codes, _BMP)]
    first = ids[:-2]
    triple = (first * size + ids[1:-1]) * size + ids[2:]
    return np.flatnonzero(_CUE_TRIPLES.ravel()[triple] | _CUE_SHORT[first])


def _cue_hits(joined: Joined) -> np.ndarray:
    """(lines x CUE_LABELS) counts of cue phrases found on each line.

    The matches finditer would give: the pattern tried at each possible start
    left to right, a match's end the next place to look from."""
    text = joined.lowered
    match = _CUES.match
    positions, labels = [], []
    end = 0
    for start in _cue_starts(joined).tolist():
        if start < end:
            continue
        m = match(text, start)
        if m:
            positions.append(start)
            labels.append(_CUE_LABEL_INDEX[m.group()])
            end = m.end()
    out = np.zeros((len(joined), len(CUE_LABELS)))
    if positions:
        np.add.at(out, (joined.line_of(positions), labels), 1)
    return out


def _any_of(codes: np.ndarray, chars: str) -> np.ndarray:
    out = np.zeros(len(codes), dtype=bool)
    for c in chars:
        out |= codes == ord(c)
    return out


def _glued(joined: Joined) -> np.ndarray:
    """Matches of _GLUED per line: an ASCII lower-case letter before an
    upper-case one (two such pairs never overlap)."""
    codes = joined.codes
    lower = (codes >= ord("a")) & (codes <= ord("z"))
    upper = (codes >= ord("A")) & (codes <= ord("Z"))
    at = np.flatnonzero(lower[:-1] & upper[1:])
    return np.bincount(joined.line_of(at), minlength=len(joined)).astype(np.float64)


def _sentence_ends(joined: Joined) -> tuple[np.ndarray, np.ndarray]:
    """Matches of _SENTENCE_END and of _TERMINAL per line: a terminal mark,
    closing quotes or brackets, then a space (or the line's end, for
    _TERMINAL only the line's end). Closers are never terminal marks, so
    matches never overlap."""
    codes = joined.codes
    n_chars = len(codes)
    closing = _any_of(codes, _CLOSING_CHARS)
    # First position at or after each one that is not a closer (the joined
    # text ends with a newline, so there is always one).
    after = np.where(closing, n_chars, np.arange(n_chars))
    after = np.minimum.accumulate(after[::-1])[::-1]
    marks = np.flatnonzero(_any_of(codes[:-1], _TERMINAL_CHARS))
    follower = after[marks + 1]
    lines = joined.line_of(marks)
    spaced = joined.classes[follower, SPACE].astype(bool)
    ends_line = codes[follower] == ord("\n")
    n = len(joined)
    return (np.bincount(lines[spaced], minlength=n).astype(np.float64),
            np.bincount(lines[ends_line], minlength=n).astype(np.float64))


def _function_words(joined: Joined) -> np.ndarray:
    """Whether each word is in FUNCTION_WORDS: words whose CRC-32 and length
    match one's are compared with it byte by byte."""
    starts, lengths = joined.word_bytes
    out = np.zeros(len(starts), dtype=bool)
    width = _FUNCTION_ROWS.shape[1]
    short = np.flatnonzero(lengths <= width)
    keys = (joined.word_crc32[short].astype(np.uint64) << np.uint64(8)) | lengths[short].astype(np.uint64)
    at = np.minimum(np.searchsorted(_FUNCTION_KEYS, keys), len(_FUNCTION_KEYS) - 1)
    hit = _FUNCTION_KEYS[at] == keys
    found, at = short[hit], at[hit]
    data = joined.lowered_utf8
    columns = np.arange(width)
    got = data[np.minimum(starts[found, None] + columns, len(data) - 1)]
    got[columns >= lengths[found, None]] = 0
    out[found] = (got == _FUNCTION_ROWS[at]).all(axis=1)
    return out


def line_shapes(joined: Joined) -> np.ndarray:
    """(lines x SHAPE_COLUMNS) for a page's stripped, non-empty lines."""
    n = len(joined)
    if n == 0:
        return np.zeros((0, len(SHAPE_COLUMNS)))
    classes = joined.classes
    upper_word_start = np.zeros(len(classes), dtype=np.uint8)
    upper_word_start[joined.word_starts] = classes[joined.word_starts, UPPER]
    counts = joined.per_line(np.column_stack([classes, upper_word_start]))
    title_words = counts[:, -1]

    chars = joined.lengths.astype(np.float64)
    n_words = np.bincount(joined.word_lines, minlength=n)[:n].astype(np.float64)
    some_words = np.maximum(n_words, 1)
    letters = counts[:, ALPHA]
    is_function = _function_words(joined)
    function_words = np.bincount(joined.word_lines, weights=is_function, minlength=n)[:n]
    last = joined.codes[np.maximum(joined.ends - 1, 0)]
    sentence_ends, terminal = _sentence_ends(joined)
    columns = [
        np.log1p(chars),
        np.log1p(n_words),
        np.minimum(MAX_MEAN_WORD_LEN, counts[:, WORDCHAR] / some_words) / 10 * (n_words > 0),
        counts[:, UPPER] / np.maximum(letters, 1),
        title_words / some_words,
        counts[:, DIGIT] / np.maximum(chars, 1),
        counts[:, PUNCT] / np.maximum(chars, 1),
        np.minimum(1, terminal),
        (last == ord(":")) & (joined.lengths > 0),
        function_words / some_words,
        np.minimum(MAX_GLUED, _glued(joined)) / MAX_GLUED,
        np.minimum(MAX_SEPARATORS, counts[:, SEPARATOR]) / MAX_SEPARATORS,
        np.minimum(1, joined.matches_per_line(_BULLET)),
        np.minimum(1, counts[:, COPYRIGHT]),
        np.log1p(sentence_ends),
        np.minimum(1, joined.matches_per_line(_URL)),
        (letters >= MIN_LETTERS_ALL_CAPS) & (counts[:, LOWER] == 0),
    ]
    cues = np.minimum(MAX_CUES, _cue_hits(joined)) / MAX_CUES
    return np.column_stack(columns + [cues]).astype(np.float64)
