"""Lines to features: what the model sees of each line and its neighbours.

Two kinds, computed for a whole page at once:
- sparse hashed text: the line's words and character n-grams, its neighbours'
  words, and (for HTML) its ancestors' tags and class/id tokens. Hashing keeps
  the model free of any training text and its size fixed.
- dense shape: length, punctuation, capitalisation, digits, cue-phrase hits,
  function-word share, position, blank lines around it, link density and
  regions (HTML), and the same for the lines around it, since clutter comes
  in runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from classifier.distinct import index_distinct
from classifier.lines import Page
from classifier.hashing import (MARKUP_PREFIXES, MARKUP_SEED, PATH_TOKENS, SEEDS,
                                char_ngram_features, hashed_counts, markup_token_features,
                                ranges, row_pointers, word_features)
from classifier.joined import Joined, compiled_features
from classifier.shape import SHAPE_COLUMNS, line_shapes

NEIGHBOUR_OFFSETS = (-2, -1, 1, 2)     # lines whose shape a line also sees
RUN_WINDOW = 5                         # lines each side averaged into "the run around it"
# Character n-grams are taken from short lines only: there they tell menu
# items, buttons and glued headlines apart, where words are few; in long
# lines the words say enough, and the n-grams would cost most of the time.
CHAR_NGRAM_MAX_CHARS = 80
CHAR_NGRAM_SIZES = (3, 4)
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
TAG_GROUPS = (HEADING_TAGS, {"p"}, {"li"}, {"td", "th"}, {"figcaption", "caption"},
              {"blockquote", "pre"}, {"div", "section", "article", "main", "body"})
REGIONS = ("nav", "header", "footer", "aside", "form", "hidden")

# Names of the dense columns of one line, in order; the model's dense block is
# these for the line, then NEIGHBOUR_COLUMNS for each neighbour, then the run.
PAGE_COLUMNS = (
    "position", "log_page_lines", "first", "last", "gap_before", "gap_after",
    "page_gap_share", "chars_vs_longest", "chars_vs_median",
)
MARKUP_COLUMNS = (
    ("is_html", "link_density", "depth")
    + tuple(f"in_{r}" for r in REGIONS)
    + tuple(f"tag_group_{i}" for i in range(len(TAG_GROUPS)))
)
NEIGHBOUR_COLUMNS = SHAPE_COLUMNS + ("gap_before", "link_density")
RUN_COLUMNS = ("ends_terminal", "function_share", "log_chars", "link_density")
DENSE_COLUMNS: tuple[str, ...] = (
    SHAPE_COLUMNS + PAGE_COLUMNS + MARKUP_COLUMNS
    + tuple(f"{c}@{o:+d}" for o in NEIGHBOUR_OFFSETS for c in NEIGHBOUR_COLUMNS)
    + tuple(f"run_{c}" for c in RUN_COLUMNS))
_LINK_DENSITY = MARKUP_COLUMNS.index("link_density")


def _fold(matrix: sp.csr_matrix, n_features: int) -> sp.csr_matrix:
    """The matrix hashed into n_features columns (a power of two dividing its
    own width, so a token lands where a vectorizer that size would put it)."""
    # Copies: summing duplicates rewrites the arrays in place.
    folded = sp.csr_matrix((matrix.data.copy(), matrix.indices % n_features, matrix.indptr.copy()),
                           shape=(matrix.shape[0], n_features))
    folded.sum_duplicates()
    return folded


def _fold_entries(entries, shape: tuple[int, int], n_features: int):
    """_fold of the matrix with these (rows, columns, values) (through
    scipy's sum of duplicates: its float32 sums in its order)."""
    rows, columns, values = entries
    n_rows = shape[0]
    folded = _fold(sp.csr_matrix((values, columns, row_pointers(rows, n_rows)), shape=shape),
                   n_features)
    return np.repeat(np.arange(n_rows), np.diff(folded.indptr)), folded.indices, folded.data


def _shift_entries(entries, bounds: _Bounds, offset: int):
    """The entries moved so row i holds row i+offset of its own page (rows
    past the page's ends dropped)."""
    rows, columns, values = entries
    moved = rows - offset
    first, end = bounds.first[rows], bounds.end[rows]
    keep = (moved >= first) & (moved < end)
    return moved[keep], columns[keep], values[keep]


def text_product(matrix: sp.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """matrix @ weights as a dense float64 array (zeros for no entries)."""
    if not matrix.nnz:
        return np.zeros((matrix.shape[0], weights.shape[1]))
    return np.asarray(matrix @ weights, dtype=np.float64)


def _median(values: np.ndarray) -> float:
    """np.median of a non-empty float64 array, the same float, without its
    generic machinery (which costs more than a page's sort)."""
    ordered = np.sort(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[half])
    return float((ordered[half - 1] + ordered[half]) / 2)


def _run_mean(matrix: np.ndarray, window: int) -> np.ndarray:
    """Mean of each row's +-window neighbourhood, the row itself included."""
    n = len(matrix)
    cumulative = np.vstack([np.zeros((1, matrix.shape[1])), np.cumsum(matrix, axis=0)])
    lo = np.clip(np.arange(n) - window, 0, n)
    hi = np.clip(np.arange(n) + window + 1, 0, n)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


@dataclass
class _Bounds:
    """Where each page's lines are among all pages' lines."""

    starts: np.ndarray  # per page
    first: np.ndarray   # per line: its page's first line
    end: np.ndarray     # per line: one past its page's last line
    spans: list[tuple[int, int]]  # (first, end) of each page with lines

    @classmethod
    def of(cls, sizes: list[int]) -> _Bounds:
        sizes = np.asarray(sizes, dtype=np.intp)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        spans = [(int(a), int(b)) for a, b in zip(starts, ends) if b > a]
        return cls(starts, np.repeat(starts, sizes), np.repeat(ends, sizes), spans)

    @property
    def size(self) -> np.ndarray:
        return self.end - self.first

    def shift(self, matrix: np.ndarray, offset: int) -> np.ndarray:
        """Rows moved so row i holds row i+offset of its page (zeros past its ends)."""
        source = np.arange(len(matrix)) + offset
        inside = (source >= self.first) & (source < self.end)
        out = np.zeros_like(matrix)
        out[inside] = matrix[source[inside]]
        return out


@dataclass
class PageFeatures:
    """A page's features: sparse text features and dense shape features.

    Asked for with text weights, the text block comes as its product with
    them (`text_scores`) and `text` is None: that is all a linear model needs
    of it, and the compiled features make it without making the matrix."""

    text: sp.csr_matrix | None
    dense: np.ndarray
    text_scores: np.ndarray | None = None


class Featurizer:
    """Computes the features of every line of a page at once."""

    def __init__(self, word_features: int, char_features: int,
                 context_features: int, markup_features: int) -> None:
        sizes = dict(word_features=word_features, char_features=char_features,
                     context_features=context_features, markup_features=markup_features)
        for name, size in sizes.items():
            if size < 1 or size & (size - 1):
                raise ValueError(f"{name} must be a power of two, got {size}")
        if context_features > word_features:
            raise ValueError("context_features must not exceed word_features")
        self.word_features = word_features
        self.char_features = char_features
        # The neighbours' words and word pairs, folded into a smaller space.
        self.context_features = context_features
        self.markup_features = markup_features

    @property
    def n_text_features(self) -> int:
        return (self.word_features + self.char_features + 2 * self.context_features
                + self.markup_features)

    @property
    def dense_columns(self) -> tuple[str, ...]:
        return DENSE_COLUMNS

    def page(self, page: Page) -> PageFeatures:
        return self.pages([page])

    def pages(self, pages: Sequence[Page], text_weights: np.ndarray | None = None) -> PageFeatures:
        """Features of the lines of several pages, page after page: the same
        rows as vstack of `page` for each, computed together (the fixed cost
        of each array operation is paid once for all of them). Whatever is
        about a line's page (its position, neighbours, runs, page means and
        medians) stays within its own page.

        With text_weights (n_text_features x k, float64), the text block
        comes as `text_scores`, its product with them (see PageFeatures)."""
        texts = list(chain.from_iterable(map(str.strip, page.texts) for page in pages))
        joined = Joined.of(texts)
        if texts:
            bounds = _Bounds.of([len(page) for page in pages])
            dense = self._dense(pages, joined, bounds)
            text = self._text(pages, joined, bounds, text_weights)
        else:
            dense = np.zeros((0, len(self.dense_columns)), dtype=np.float32)
            text = sp.csr_matrix((0, self.n_text_features), dtype=np.float32)
            if text_weights is not None:
                text = text_product(text, text_weights)
        if text_weights is None:
            return PageFeatures(text=text, dense=dense)
        return PageFeatures(text=None, dense=dense, text_scores=text)

    def _text(self, pages: Sequence[Page], joined: Joined, bounds: _Bounds,
              weights: np.ndarray | None = None) -> sp.csr_matrix | np.ndarray:
        """hstack([words, chars, context of line-1, context of line+1, markup]),
        assembled from (row, column, value) entries in one step; or, given
        weights, its product with them."""
        if weights is not None and weights.shape[0] != self.n_text_features:
            raise ValueError(f"text weights need {self.n_text_features} rows, got {weights.shape}")
        n = len(joined)
        markup = None
        if any(page.structure is not None for page in pages):
            keys, kinds = self._markup_kinds(pages, bounds)
            markup = (kinds, *self._markup_block(keys))
        compiled = compiled_features()
        if compiled is not None:
            args = (joined.lowered, joined.starts, joined.lengths, bounds.first, bounds.end,
                    (self.word_features, self.char_features, self.context_features),
                    CHAR_NGRAM_SIZES, CHAR_NGRAM_MAX_CHARS, SEEDS, markup)
            if weights is not None:
                k = weights.shape[1]
                flat = np.ascontiguousarray(weights, dtype=np.float64).ravel()
                return np.frombuffer(compiled.text_block(*args, flat, k),
                                     dtype=np.float64).reshape(n, k)
            indptr, columns, values = compiled.text_block(*args)
            return sp.csr_matrix((np.frombuffer(values, dtype=np.float64),
                                  np.frombuffer(columns, dtype=np.int64),
                                  np.frombuffer(indptr, dtype=np.int64)),
                                 shape=(n, self.n_text_features))
        words = hashed_counts(*word_features(joined), n, self.word_features)
        chars = hashed_counts(*char_ngram_features(joined, CHAR_NGRAM_SIZES,
                                                   CHAR_NGRAM_MAX_CHARS), n, self.char_features)
        context = _fold_entries(words, (n, self.word_features), self.context_features)
        blocks = [words, chars, _shift_entries(context, bounds, -1),
                  _shift_entries(context, bounds, 1)]
        if markup is not None:
            blocks.append(self._markup_entries(markup[0], markup[1:]))
        widths = (self.word_features, self.char_features, self.context_features,
                  self.context_features)
        offsets = np.cumsum((0,) + widths)
        rows = np.concatenate([b[0] for b in blocks])
        columns = np.concatenate([b[1] + offset for b, offset in zip(blocks, offsets)])
        # float64 as the old assembly made it; the values are float32's.
        values = np.concatenate([b[2] for b in blocks]).astype(np.float64)
        # Each block is in row order and the blocks in column order, so a
        # stable sort by row gives sorted columns within each row.
        order = np.argsort(rows, kind="stable")
        matrix = sp.csr_matrix((values[order], columns[order], row_pointers(rows, n)),
                               shape=(n, self.n_text_features))
        return matrix if weights is None else text_product(matrix, weights)

    def _markup_kinds(self, pages: Sequence[Page], bounds: _Bounds):
        """The distinct (tag, path, tokens) keys of the pages' HTML lines, and
        the key of each line (-1 for lines of plain-text pages). Lines of one
        block or list share their key, so each is hashed once."""
        kinds = np.full(len(bounds.first), -1, dtype=np.int64)  # one per line
        html = [(int(start), page) for page, start in zip(pages, bounds.starts)
                if page.structure is not None and len(page)]
        keys, which = index_distinct(chain.from_iterable(
            zip(p.structure.tags, p.structure.paths, p.structure.tokens) for _, p in html))
        lines = [np.arange(start, start + len(p)) for start, p in html]
        if len(which) != sum(map(len, lines)):
            raise ValueError("a page's structure must have one tag, path and tokens per line")
        if lines:
            kinds[np.concatenate(lines)] = which
        return keys, kinds

    def _markup_block(self, keys: list[tuple[str, str, str]]):
        """(indptr, columns, values) of the markup features of each key: one
        CSR row per key."""
        compiled = compiled_features()
        if compiled is not None:
            indptr, columns, values = compiled.markup_block(
                keys, self.markup_features, MARKUP_SEED, MARKUP_PREFIXES, PATH_TOKENS)
            return (np.frombuffer(indptr, dtype=np.int64), np.frombuffer(columns, dtype=np.int64),
                    np.frombuffer(values, dtype=np.float32))
        rows, columns, values = hashed_counts(*markup_token_features(keys), len(keys),
                                              self.markup_features)
        return row_pointers(rows, len(keys)), columns, values

    def _markup_entries(self, kinds: np.ndarray, block):
        """The markup block's (row, column, value) entries: each line gets
        its key's row."""
        indptr, columns, values = block
        lines = np.flatnonzero(kinds >= 0)
        owner, picked = ranges(indptr[kinds[lines]], np.diff(indptr)[kinds[lines]])
        return lines[owner], columns[picked], values[picked]

    def _dense(self, pages: Sequence[Page], joined: Joined, bounds: _Bounds) -> np.ndarray:
        n = len(joined)
        shape = line_shapes(joined)
        gap_before = np.fromiter(chain.from_iterable(page.gap_before for page in pages),
                                 dtype=np.float64, count=n)
        markup = self._markup_columns(pages, n)
        compiled = compiled_features()
        if compiled is not None:
            block = compiled.dense_block(shape.ravel(), joined.lengths, np.log1p(bounds.size),
                                         gap_before, markup.ravel(), bounds.first, bounds.end,
                                         NEIGHBOUR_OFFSETS, RUN_WINDOW, _LINK_DENSITY)
            return np.frombuffer(block, dtype=np.float32).reshape(n, len(self.dense_columns))
        gap_after = bounds.shift(gap_before[:, None], 1)[:, 0]
        chars = joined.lengths.astype(np.float64)
        size = bounds.size
        local = np.arange(n) - bounds.first
        positions = local / np.maximum(1, size - 1)
        # Means and medians one page at a time: the same float sums as alone.
        gap_share = np.empty(n)
        longest = np.empty(n)
        median = np.empty(n)
        for a, b in bounds.spans:
            gap_share[a:b] = gap_before[a:b].mean()
            longest[a:b] = chars[a:b].max()
            median[a:b] = max(1.0, _median(chars[a:b]))
        page_cols = np.column_stack([
            positions,
            np.log1p(size),
            positions == 0,
            local == size - 1,
            gap_before,
            gap_after,
            gap_share,
            chars / longest,
            np.minimum(5.0, chars / median) / 5,
        ])
        link_density = markup[:, _LINK_DENSITY:_LINK_DENSITY + 1]
        neighbour_base = np.hstack([shape, gap_before[:, None], link_density])
        neighbours = [bounds.shift(neighbour_base, o) for o in NEIGHBOUR_OFFSETS]
        run_base = np.column_stack([shape[:, SHAPE_COLUMNS.index("ends_terminal")],
                                    shape[:, SHAPE_COLUMNS.index("function_share")],
                                    shape[:, 0], link_density[:, 0]])
        run = np.empty_like(run_base)
        for a, b in bounds.spans:
            run[a:b] = _run_mean(run_base[a:b], RUN_WINDOW)
        return np.hstack([shape, page_cols, markup, *neighbours, run]).astype(np.float32)

    def _markup_columns(self, pages: Sequence[Page], n: int) -> np.ndarray:
        out = np.zeros((n, len(MARKUP_COLUMNS)))
        start = 0
        for page in pages:
            s = page.structure
            if s is not None and len(page):
                block = out[start:start + len(page)]
                block[:, 0] = 1.0
                block[:, 1] = s.link_density
                block[:, 2] = np.minimum(np.array(s.depth, dtype=np.float64), 50) / 50
                base = 3 + len(REGIONS)
                block[:, 3:base] = _flags(s.regions, lambda r: [name in r for name in REGIONS])
                block[:, base:] = _flags(s.tags, lambda tag: [tag in g for g in TAG_GROUPS])
            start += len(page)
        return out


def _flags(values: list, flags_of) -> np.ndarray:
    """flags_of(value) for each value, as rows of a float array. A page's
    lines share a few tags and region sets, so each distinct one is asked
    once."""
    distinct, which = index_distinct(values)
    return np.array([flags_of(v) for v in distinct], dtype=np.float64)[which]
