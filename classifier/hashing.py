"""Hashed text features of a page's lines, made with array operations.

Each feature (a word, a pair of neighbouring words, a character n-gram, a
markup token) becomes a 64-bit hash and then a column: the model sees
columns, never text, so it holds no training text and has a fixed size.
Words are hashed with CRC-32, all of a page's words at once (classifier.crc);
word pairs and character n-grams are combined from those and from character
codes with numpy, so the cost per page is a handful of array operations
rather than Python work per feature.
"""

from __future__ import annotations

import zlib
from itertools import chain, repeat
from operator import methodcaller

import numpy as np
import scipy.sparse as sp

from classifier.distinct import index_distinct
from classifier.joined import Joined

# Seeds keep the kinds of feature apart before they share a column space.
_WORD_SEED = np.uint64(0x5BD1E9955BD1E995)
_PAIR_SEED = np.uint64(0x27D4EB2F165667C5)
_CHAR_SEED = np.uint64(0x165667B19E3779F9)
_MARKUP_SEED = np.uint64(0x85EBCA77C2B2AE3D)
_MULTIPLIER = np.uint64(0x100000001B3)  # odd, so combining stays invertible
# The same, in the order classifier._features.text_block takes them.
SEEDS = tuple(int(s) for s in (_WORD_SEED, _PAIR_SEED, _CHAR_SEED, _MULTIPLIER))


def _mix(h: np.ndarray) -> np.ndarray:
    """Spread every input bit over the low bits that pick the column."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * np.uint64(0xBF58476D1CE4E5B9)
        h = h ^ (h >> np.uint64(27))
        h = h * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def _crc32(tokens: list[str]) -> np.ndarray:
    try:
        encoded = map(str.encode, tokens)
        return np.fromiter(map(zlib.crc32, encoded), dtype=np.uint64, count=len(tokens))
    except UnicodeEncodeError:  # a lone surrogate
        encode = methodcaller("encode", "utf-8", "surrogatepass")
        return np.fromiter(map(zlib.crc32, map(encode, tokens)), dtype=np.uint64,
                           count=len(tokens))


def hashed_counts(lines: np.ndarray, hashes: np.ndarray, n_lines: int,
                  n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, columns, values) of to_matrix's matrix, row by row and column
    by column within a row, as plain arrays (no sparse matrix to build)."""
    mask = n_features - 1
    keys = np.asarray(lines, dtype=np.int64) * n_features + (hashes & np.uint64(mask)).astype(np.int64)
    keys, counts = _unique_counts(keys)
    rows = keys // n_features
    columns = keys & mask
    counts = counts.astype(np.float64)
    # As sklearn's l2 normalize of float32 counts: squares summed in float64
    # (exact for counts), the division in float64 rounded to float32.
    norms = np.sqrt(np.bincount(rows, weights=counts * counts, minlength=n_lines))
    return rows, columns, (counts / norms[rows]).astype(np.float32)


def _unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(keys, return_counts=True), faster: keys come in runs of
    one line each, which a stable sort (radix or merge) takes in its stride."""
    keys = np.sort(keys, kind="stable")
    if not len(keys):
        return keys, np.zeros(0, dtype=np.intp)
    firsts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[firsts], np.diff(np.append(firsts, len(keys)))


def to_matrix(lines: np.ndarray, hashes: np.ndarray, n_lines: int,
              n_features: int) -> sp.csr_matrix:
    """Counts of each hashed feature per line, rows scaled to unit length.
    n_features is a power of two, so the column is the hash's low bits."""
    rows, columns, values = hashed_counts(lines, hashes, n_lines, n_features)
    return sp.csr_matrix((values, columns, row_pointers(rows, n_lines)),
                         shape=(n_lines, n_features))


def row_pointers(rows: np.ndarray, n_rows: int) -> np.ndarray:
    """CSR indptr of entries sorted by row."""
    out = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=out[1:])
    return out


def word_features(joined: Joined) -> tuple[np.ndarray, np.ndarray]:
    """(line, hash) of every lower-cased word and every pair of neighbouring
    words on one line."""
    with np.errstate(over="ignore"):
        words = _mix(joined.word_crc32.astype(np.uint64) ^ _WORD_SEED)
        lines = joined.word_lines
        same_line = lines[1:] == lines[:-1]
        pairs = _mix((words[:-1][same_line] * _MULTIPLIER) ^ words[1:][same_line] ^ _PAIR_SEED)
    return np.concatenate([lines, lines[:-1][same_line]]), np.concatenate([words, pairs])


def char_ngram_features(joined: Joined, sizes: tuple[int, ...],
                        max_line_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """(line, hash) of every lower-cased character n-gram of the lines no
    longer than max_line_chars, the line's ends marked as a boundary."""
    # Boundary, line, boundary: the newline before each line (one is added
    # before the first) and the one after it.
    padded = np.concatenate([[ord("\n")], joined.lowered_codes]).astype(np.uint64)
    short = joined.lengths <= max_line_chars
    all_lines, all_hashes = [], []
    for size in sizes:
        counts = np.where(short, np.maximum(0, joined.lengths + 3 - size), 0)
        total = int(counts.sum())
        lines = np.repeat(np.arange(len(joined)), counts)
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        positions = joined.starts[lines] + offsets
        with np.errstate(over="ignore"):
            h = padded[positions]
            for k in range(1, size):
                h = h * _MULTIPLIER + padded[positions + k]
            all_hashes.append(_mix(h ^ (_CHAR_SEED + np.uint64(size))))
        all_lines.append(lines)
    return np.concatenate(all_lines), np.concatenate(all_hashes)


def ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) of every position in range(starts[i], starts[i] +
    counts[i]) for each i, in order."""
    counts = np.asarray(counts, dtype=np.intp)
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.asarray(starts, dtype=np.intp)[owner] + offsets


def _prefixed_crc32(prefix: str, tokens: list[str]) -> np.ndarray:
    """_crc32 of prefix + token for each token, without building the strings
    (crc32 continues from the prefix's)."""
    start = zlib.crc32(prefix.encode())
    try:
        encoded = map(str.encode, tokens)
        return np.fromiter(map(zlib.crc32, encoded, repeat(start)), dtype=np.uint64,
                           count=len(tokens))
    except UnicodeEncodeError:  # a lone surrogate
        encode = methodcaller("encode", "utf-8", "surrogatepass")
        return np.fromiter(map(zlib.crc32, map(encode, tokens), repeat(start)),
                           dtype=np.uint64, count=len(tokens))


def _split_hashes(prefix: str, token_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every list's tokens, flat, and where each list's start."""
    counts = np.fromiter(map(len, token_lists), dtype=np.intp, count=len(token_lists))
    hashes = _prefixed_crc32(prefix, list(chain.from_iterable(token_lists)))
    return hashes, np.cumsum(counts) - counts


# Markup tokens: a line's tag, its path's last PATH_TOKENS tags and its
# class/id tokens, each after its prefix.
MARKUP_PREFIXES = ("tag:", "path:", "cls:")
PATH_TOKENS = 4
MARKUP_SEED = int(_MARKUP_SEED)


def markup_token_features(keys: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """token_features of each (tag, path, classes) key's tokens: "tag:" and
    the tag, "path:" and each of the path's last four tags, "cls:" and each
    class/id token. Paths and class lists repeat across keys (a page's
    blocks share ancestors), so each distinct one is split and hashed once."""
    if not keys:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.uint64)
    tags, paths, classes = zip(*keys)
    tag_prefix, path_prefix, class_prefix = MARKUP_PREFIXES
    parts = [(np.arange(len(keys)), _prefixed_crc32(tag_prefix, list(tags)))]
    for prefix, values, split in ((path_prefix, paths, lambda p: p.split()[-PATH_TOKENS:]),
                                  (class_prefix, classes, str.split)):
        distinct, which = index_distinct(values)
        token_lists = [split(v) for v in distinct]
        hashes, starts = _split_hashes(prefix, token_lists)
        counts = np.fromiter(map(len, token_lists), dtype=np.intp, count=len(token_lists))
        owner, positions = ranges(starts[which], counts[which])
        parts.append((owner, hashes[positions]))
    lines = np.concatenate([p[0] for p in parts])
    with np.errstate(over="ignore"):
        hashes = _mix(np.concatenate([p[1] for p in parts]) ^ _MARKUP_SEED)
    return lines, hashes


def token_features(tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(line, hash) of every token in each line's list (markup: tags, classes)."""
    lines = np.repeat(np.arange(len(tokens)), [len(t) for t in tokens])
    with np.errstate(over="ignore"):
        hashes = _mix(_crc32(list(chain.from_iterable(tokens))) ^ _MARKUP_SEED)
    return lines, hashes
