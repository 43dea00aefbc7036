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
from classifier.joined import (COPYRIGHT_CHAR, SEPARATOR_CHARS, SPACE, UPPER, Joined,
                               compiled_features)
from classifier.labels import AD, DISCLAIMER, NAVIGATION, RELATED_LINKS

CUE_LABELS = (NAVIGATION, AD, DISCLAIMER, RELATED_LINKS)
MAX_MEAN_WORD_LEN = 20   # longer "words" are URLs or glued junk; cap their pull
MEAN_WORD_LEN_SCALE = 10
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


_PACKED_BYTES = 8  # function words are short: each one's bytes fit one uint64


def _packed(rows: np.ndarray) -> np.ndarray:
    """Rows of _PACKED_BYTES bytes (zero-padded) as one uint64 each."""
    return np.ascontiguousarray(rows, dtype=np.uint8).view("<u8").ravel()


def _function_word_keys() -> np.ndarray:
    """The function words' UTF-8 bytes, packed and sorted."""
    encoded = [w.encode() for w in _FUNCTION_WORDS]
    if max(map(len, encoded)) > _PACKED_BYTES:
        raise ValueError(f"function words must be at most {_PACKED_BYTES} bytes long")
    rows = [list(b.ljust(_PACKED_BYTES, b"\0")) for b in encoded]
    return np.sort(_packed(np.array(rows)))


_FUNCTION_KEYS = _function_word_keys()


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


def _cue_trie() -> tuple[np.ndarray, ...]:
    """The cue phrases as the prefix tree classifier._features.cue_hits
    walks, in int32 arrays: node 0 is the root; each node's label index (-1
    where no phrase ends), and each node's children sorted by character
    (their offsets, characters and nodes)."""
    children: list[dict[str, int]] = [{}]
    labels = [-1]
    for phrase, label in _CUE_LABEL_INDEX.items():
        if not phrase or "\n" in phrase:
            raise ValueError(f"cue phrase {phrase!r} in classifier/cues.py is empty or spans lines: "
                             "a cue is matched within one line, so give it as one non-empty line")
        node = 0
        for char in phrase:
            if char not in children[node]:
                children[node][char] = len(labels)
                children.append({})
                labels.append(-1)
            node = children[node][char]
        labels[node] = label
    ordered = [sorted((ord(c), child) for c, child in kids.items()) for kids in children]
    child_start = np.cumsum([0] + [len(kids) for kids in ordered]).astype(np.int32)
    pairs = np.array([pair for kids in ordered for pair in kids], dtype=np.int32).reshape(-1, 2)
    return (np.array(labels, dtype=np.int32), child_start,
            np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]))


_CUE_TRIE = _cue_trie()


def _cue_hits(joined: Joined) -> np.ndarray:
    """(lines x CUE_LABELS) counts of cue phrases found on each line.

    The matches finditer would give: the pattern tried at each possible start
    left to right, a match's end the next place to look from."""
    compiled = compiled_features()
    if compiled is not None:
        counts = compiled.cue_hits(joined.lowered, joined.starts, joined.lengths, *_CUE_TRIE,
                                   len(CUE_LABELS))
        return np.frombuffer(counts, dtype=np.float64).reshape(len(joined), len(CUE_LABELS))
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


_BULLET_MARKS = "-*•·–"


def _bullets(joined: Joined) -> np.ndarray:
    """Whether each line starts as _BULLET matches: a mark, or one or two
    decimal digits and "." or ")", then a space that is not a newline."""
    n = len(joined)
    # The first four characters of each line (a newline ends every line;
    # places past the text's end read as 0, which matches nothing).
    n_chars = len(joined.codes)
    at = joined.starts[:, None] + np.arange(4)
    inside = at < n_chars
    at = np.minimum(at, n_chars - 1)
    head = np.where(inside, joined.codes[at], 0)
    space = joined.classes[at[:, 1:], SPACE].astype(bool) & inside[:, 1:] \
        & (head[:, 1:] != ord("\n"))
    first_two = head[:, :2]
    decimal = (first_two >= ord("0")) & (first_two <= ord("9"))
    for i, j in zip(*np.nonzero(first_two > 127)):  # other scripts' digits: rare
        decimal[i, j] = chr(first_two[i, j]).isdecimal()
    closes = _any_of(head[:, 1:3].ravel(), ".)").reshape(n, 2)
    mark = _any_of(head[:, 0], _BULLET_MARKS)
    return ((mark & space[:, 0])
            | (decimal[:, 0] & closes[:, 0] & space[:, 1])
            | (decimal[:, 0] & decimal[:, 1] & closes[:, 1] & space[:, 2]))


def _urls(joined: Joined) -> np.ndarray:
    """Whether a match of _URL starts on each line. Every match starts with
    "http", "www." or "@", so the pattern is tried only where those are."""
    codes = joined.codes
    padded = np.concatenate([codes, np.zeros(3, dtype=codes.dtype)])
    starts = padded[:-3] == ord("@")
    for prefix in ("http", "www."):
        here = np.ones(len(codes), dtype=bool)
        for k, char in enumerate(prefix):
            here &= padded[k:len(codes) + k] == ord(char)
        starts |= here
    match = _URL.match
    text = joined.text
    found = [i for i in np.flatnonzero(starts).tolist() if match(text, i)]
    out = np.zeros(len(joined), dtype=bool)
    out[joined.line_of(found)] = True
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
    """Whether each word is in FUNCTION_WORDS: the bytes of each short word,
    packed as the function words are, looked up among theirs (a word never
    holds a zero byte, so padding cannot make two words alike)."""
    starts, lengths = joined.word_bytes
    out = np.zeros(len(starts), dtype=bool)
    short = np.flatnonzero(lengths <= _PACKED_BYTES)
    data = joined.lowered_utf8
    columns = np.arange(_PACKED_BYTES)
    rows = data[np.minimum(starts[short, None] + columns, len(data) - 1)]
    rows[columns >= lengths[short, None]] = 0
    keys = _packed(rows)
    at = np.minimum(np.searchsorted(_FUNCTION_KEYS, keys), len(_FUNCTION_KEYS) - 1)
    out[short] = _FUNCTION_KEYS[at] == keys
    return out


# Per-line counts the shape columns are made from, in the order
# classifier._features.shape_counts returns them (the character classes first,
# in classifier.joined's order).
COUNTS = ("alpha", "upper", "lower", "digit", "space", "wordchar", "punct", "separator",
          "copyright", "title_words", "words", "function_words", "glued", "sentence_ends",
          "terminal", "bullet", "url")
_COUNT = {name: i for i, name in enumerate(COUNTS)}


def line_counts(joined: Joined) -> np.ndarray:
    """(lines x COUNTS): each line's characters in each class (the newline
    after it included), words, title-case words, function words, glued pairs,
    sentence ends, terminal ends, and whether it starts with a bullet and
    holds a URL."""
    compiled = compiled_features()
    if compiled is not None:
        counts = compiled.shape_counts(joined.text, joined.lowered, joined.starts, joined.lengths,
                                       _FUNCTION_KEYS, SEPARATOR_CHARS, COPYRIGHT_CHAR,
                                       _TERMINAL_CHARS, _CLOSING_CHARS, _BULLET_MARKS)
        return np.frombuffer(counts, dtype=np.float64).reshape(len(joined), len(COUNTS))
    n = len(joined)
    classes = joined.classes
    upper_word_start = np.zeros(len(classes), dtype=np.uint8)
    upper_word_start[joined.word_starts] = classes[joined.word_starts, UPPER]
    counts = joined.per_line(np.column_stack([classes, upper_word_start]))
    words = np.bincount(joined.word_lines, minlength=n)[:n]
    function_words = np.bincount(joined.word_lines, weights=_function_words(joined), minlength=n)[:n]
    sentence_ends, terminal = _sentence_ends(joined)
    return np.column_stack([counts, words, function_words, _glued(joined), sentence_ends,
                            terminal, _bullets(joined), _urls(joined)]).astype(np.float64)


# The limits above, in the order classifier._features.shape_columns takes them.
_SHAPE_LIMITS = (MAX_MEAN_WORD_LEN, MEAN_WORD_LEN_SCALE, MAX_GLUED, MAX_SEPARATORS, MAX_CUES,
                 MIN_LETTERS_ALL_CAPS)


def line_shapes(joined: Joined) -> np.ndarray:
    """(lines x SHAPE_COLUMNS) for a page's stripped, non-empty lines."""
    n = len(joined)
    if n == 0:
        return np.zeros((0, len(SHAPE_COLUMNS)))
    counts = line_counts(joined)
    count = {name: counts[:, i] for name, i in _COUNT.items()}
    chars = joined.lengths.astype(np.float64)
    compiled = compiled_features()
    if compiled is not None:
        # numpy's log1p, as below: its SIMD version may differ from C's in the last bit.
        logs = np.column_stack([np.log1p(chars), np.log1p(count["words"]),
                                np.log1p(count["sentence_ends"])])
        columns = compiled.shape_columns(counts.ravel(), _cue_hits(joined).ravel(), logs.ravel(),
                                         joined.text, joined.starts, joined.lengths,
                                         _SHAPE_LIMITS)
        return np.frombuffer(columns, dtype=np.float64).reshape(n, len(SHAPE_COLUMNS))
    n_words = count["words"]
    some_words = np.maximum(n_words, 1)
    letters = count["alpha"]
    last = joined.codes[np.maximum(joined.ends - 1, 0)]
    columns = [
        np.log1p(chars),
        np.log1p(n_words),
        np.minimum(MAX_MEAN_WORD_LEN, count["wordchar"] / some_words) / MEAN_WORD_LEN_SCALE
        * (n_words > 0),
        count["upper"] / np.maximum(letters, 1),
        count["title_words"] / some_words,
        count["digit"] / np.maximum(chars, 1),
        count["punct"] / np.maximum(chars, 1),
        np.minimum(1, count["terminal"]),
        (last == ord(":")) & (joined.lengths > 0),
        count["function_words"] / some_words,
        np.minimum(MAX_GLUED, count["glued"]) / MAX_GLUED,
        np.minimum(MAX_SEPARATORS, count["separator"]) / MAX_SEPARATORS,
        count["bullet"],
        np.minimum(1, count["copyright"]),
        np.log1p(count["sentence_ends"]),
        count["url"],
        (letters >= MIN_LETTERS_ALL_CAPS) & (count["lower"] == 0),
    ]
    cues = np.minimum(MAX_CUES, _cue_hits(joined)) / MAX_CUES
    return np.column_stack(columns + [cues]).astype(np.float64)
