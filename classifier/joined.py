"""A page's lines joined into one string, with arrays that place every
character and word on its line.

Features are computed for a whole page at once: one pass of a compiled
pattern or one array operation over the joined text, then attribution to
lines by position, instead of Python work per line or per character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from classifier.crc import crc32_runs

try:  # built from _features.c at install; optional
    from classifier import _features
except ImportError:
    _features = None
# Whether the features are computed by classifier._features. The numpy code
# in shape.py and hashing.py defines them and runs when it is not built; the
# tests switch this off to run both.
COMPILED_FEATURES = _features is not None

# The words of the word features and the shape's counts: what Joined.word_spans
# finds with the character table (the tests hold it to this pattern).
WORD = re.compile(r"\w+")
SEPARATOR_CHARS = "|/>»·•"
COPYRIGHT_CHAR = "©"

# Character classes, one column each in the lookup table.
ALPHA, UPPER, LOWER, DIGIT, SPACE, WORDCHAR, PUNCT, SEPARATOR, COPYRIGHT = range(9)
_BMP = 0x10000  # characters past the Basic Multilingual Plane are classed one by one


def _classes_of(c: str) -> tuple[bool, ...]:
    alnum = c.isalnum()
    return (c.isalpha(), c.isupper(), c.islower(), c.isdigit(), c.isspace(),
            alnum or c == "_", not alnum and not c.isspace(), c in SEPARATOR_CHARS, c == COPYRIGHT_CHAR)


@lru_cache(maxsize=1)
def _char_table() -> np.ndarray:
    """Classes of every BMP character, as _classes_of gives them (numpy's
    string predicates are the str methods, run over all characters at once:
    a few hundredths of a second at start-up instead of a Python loop)."""
    chars = np.array([chr(code) for code in range(_BMP)])
    strings = np.strings
    alnum = strings.isalnum(chars)
    space = strings.isspace(chars)
    return np.column_stack([
        strings.isalpha(chars), strings.isupper(chars), strings.islower(chars),
        strings.isdigit(chars), space, alnum | (chars == "_"), ~alnum & ~space,
        np.isin(chars, list(SEPARATOR_CHARS)), chars == COPYRIGHT_CHAR,
    ]).astype(np.uint8)


@lru_cache(maxsize=1)
def _word_table() -> np.ndarray:
    """Whether each BMP character is a \\w character, as int8."""
    return np.ascontiguousarray(_char_table()[:, WORDCHAR]).astype(np.int8)


def compiled_features():
    """classifier._features when it is built and switched on, else None."""
    return _features if COMPILED_FEATURES else None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_CAPITAL_SIGMA = "\u03a3"  # the one character str.lower() lower-cases by its context


def _lower_in_place(text: str) -> str:
    """Lower-cased text with every character where it was: a few characters
    (like "İ") lower-case to two, and stay as they are; where one of them is
    present, every other character is lower-cased on its own."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    if _CAPITAL_SIGMA in text:
        return "".join(c if len(low := c.lower()) != 1 else low for c in text)
    # Without a sigma, lower-casing runs of characters is lower-casing each one.
    keep = [c for c in set(_NON_ASCII.findall(text)) if len(c.lower()) != 1]
    parts = re.split(f"([{''.join(map(re.escape, keep))}])", text)
    parts[::2] = [part.lower() for part in parts[::2]]
    return "".join(parts)


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@dataclass
class Joined:
    """Lines joined by "\\n", each starting at `starts[i]` and `lengths[i]` long.

    A newline also follows the last line, so every line (even an empty last
    one) has a place to start and the array of codes a sentinel at its end.
    """

    text: str
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def of(cls, texts: list[str]) -> Joined:
        n = len(texts)
        text = "\n".join(texts) + "\n"
        # Lines never hold "\n" in practice; replacing keeps positions if one does.
        if text.count("\n") != n:
            text = "\n".join(t.replace("\n", " ") for t in texts) + "\n"
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
        starts = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(lengths[:-1] + 1, out=starts[1:])
        return cls(text, starts, lengths)

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def ends(self) -> np.ndarray:
        return self.starts + self.lengths

    def line_of(self, positions) -> np.ndarray:
        """The line each character position falls on."""
        return np.searchsorted(self.starts, positions, side="right") - 1

    @cached_property
    def codes(self) -> np.ndarray:
        return _codes(self.text)

    @cached_property
    def lowered(self) -> str:
        return _lower_in_place(self.text)

    @cached_property
    def lowered_codes(self) -> np.ndarray:
        return _codes(self.lowered)

    @cached_property
    def classes(self) -> np.ndarray:
        """(characters x classes) 0/1 table."""
        codes = self.codes
        classes = _char_table()[np.minimum(codes, _BMP - 1)]
        for i in np.flatnonzero(codes >= _BMP):  # rare: emoji, historic scripts
            classes[i] = _classes_of(chr(codes[i]))
        return classes

    @cached_property
    def word_starts(self) -> np.ndarray:
        """Positions where a word (a run of \\w characters) starts."""
        is_word = self.classes[:, WORDCHAR].astype(bool)
        start = is_word.copy()
        start[1:] &= ~is_word[:-1]
        return np.flatnonzero(start)

    @cached_property
    def word_spans(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of every word of the lower-cased text, in order: the
        matches of WORD there (lower-casing can change a character's class)."""
        codes = self.lowered_codes
        is_word = _word_table()[np.minimum(codes, _BMP - 1)]
        for i in np.flatnonzero(codes >= _BMP):
            is_word[i] = _classes_of(chr(codes[i]))[WORDCHAR]
        edges = np.diff(is_word, prepend=np.int8(0), append=np.int8(0))
        return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)

    @cached_property
    def word_lines(self) -> np.ndarray:
        """The line of each word."""
        return self.line_of(self.word_spans[0])

    @cached_property
    def word_bytes(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, length) of every word in `lowered_utf8`."""
        starts, ends = self.word_spans
        codes = self.lowered_codes
        if len(self.lowered_utf8) == len(codes):  # ASCII: a byte a character
            return starts, ends - starts
        # UTF-8 takes 1 to 4 bytes a character (a lone surrogate, never in a word, 3).
        sizes = (1 + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000)).astype(np.intp)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        return offsets[starts], offsets[ends] - offsets[starts]

    @cached_property
    def word_crc32(self) -> np.ndarray:
        """zlib.crc32 of each lower-cased word's UTF-8 bytes, as uint32."""
        return crc32_runs(self.lowered_utf8, *self.word_bytes)

    @cached_property
    def lowered_utf8(self) -> np.ndarray:
        """The lower-cased text's UTF-8 bytes."""
        return np.frombuffer(self.lowered.encode("utf-8", "surrogatepass"), dtype=np.uint8)

    def per_line(self, per_char: np.ndarray) -> np.ndarray:
        """Sums of per-character values over each line (and the newline after it)."""
        if not len(self):
            return np.zeros((0,) + per_char.shape[1:])
        return np.add.reduceat(per_char, self.starts, axis=0, dtype=np.int64).astype(np.float64)

    def matches_per_line(self, pattern: re.Pattern) -> np.ndarray:
        """How many matches of `pattern` start on each line."""
        positions = [m.start() for m in pattern.finditer(self.text)]
        if not positions:
            return np.zeros(len(self))
        return np.bincount(self.line_of(positions), minlength=len(self)).astype(np.float64)
