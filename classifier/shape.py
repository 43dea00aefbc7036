"""The shape of every line of a page, computed for the whole page at once.

Shape is what a line looks like regardless of its words: length, case,
digits, punctuation, how it ends, how much of it is function words, which
cue phrases it holds. Each measure is one pass over the page's joined lines
(a character-class table for counts, compiled patterns for the rest), see
`classifier.joined`.
"""

from __future__ import annotations

import re

import numpy as np

from classifier.cues import CUES, FUNCTION_WORDS
from classifier.joined import (ALPHA, COPYRIGHT, DIGIT, LOWER, PUNCT, SEPARATOR, UPPER,
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

_GLUED = re.compile(r"[a-z][A-Z]")
_BULLET = re.compile(r"^(?:[-*•·–]|\d{1,2}[.)])[^\S\n]", re.MULTILINE)
_URL = re.compile(r"https?://|www\.|@\w+\.\w")
_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*(?=\s|$)", re.MULTILINE)
_TERMINAL = re.compile(r"[.!?…]['\"”’)]*$", re.MULTILINE)
_FUNCTION_WORDS = frozenset(w.lower() for w in FUNCTION_WORDS)


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

def _cue_hits(joined: Joined) -> np.ndarray:
    """(lines x CUE_LABELS) counts of cue phrases found on each line."""
    hits = [(m.start(), _CUE_LABEL_INDEX[m.group()]) for m in _CUES.finditer(joined.lowered)]
    out = np.zeros((len(joined), len(CUE_LABELS)))
    if hits:
        positions, labels = zip(*hits)
        np.add.at(out, (joined.line_of(positions), labels), 1)
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
    is_function = np.fromiter(map(_FUNCTION_WORDS.__contains__, joined.words), dtype=bool,
                              count=len(joined.words))
    function_words = np.bincount(joined.word_lines, weights=is_function, minlength=n)[:n]
    last = joined.codes[np.maximum(joined.ends - 1, 0)]
    columns = [
        np.log1p(chars),
        np.log1p(n_words),
        np.minimum(MAX_MEAN_WORD_LEN, counts[:, WORDCHAR] / some_words) / 10 * (n_words > 0),
        counts[:, UPPER] / np.maximum(letters, 1),
        title_words / some_words,
        counts[:, DIGIT] / np.maximum(chars, 1),
        counts[:, PUNCT] / np.maximum(chars, 1),
        np.minimum(1, joined.matches_per_line(_TERMINAL)),
        (last == ord(":")) & (joined.lengths > 0),
        function_words / some_words,
        np.minimum(MAX_GLUED, joined.matches_per_line(_GLUED)) / MAX_GLUED,
        np.minimum(MAX_SEPARATORS, counts[:, SEPARATOR]) / MAX_SEPARATORS,
        np.minimum(1, joined.matches_per_line(_BULLET)),
        np.minimum(1, counts[:, COPYRIGHT]),
        np.log1p(joined.matches_per_line(_SENTENCE_END)),
        np.minimum(1, joined.matches_per_line(_URL)),
        (letters >= MIN_LETTERS_ALL_CAPS) & (counts[:, LOWER] == 0),
    ]
    cues = np.minimum(MAX_CUES, _cue_hits(joined)) / MAX_CUES
    return np.column_stack(columns + [cues]).astype(np.float64)
