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

import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from classifier.cues import CUES, FUNCTION_WORDS
from classifier.labels import AD, DISCLAIMER, NAVIGATION, RELATED_LINKS
from classifier.lines import Page

TOKEN_PATTERN = r"(?u)\w+"
NEIGHBOUR_OFFSETS = (-2, -1, 1, 2)     # lines whose shape a line also sees
RUN_WINDOW = 5                         # lines each side averaged into "the run around it"
HEADING_TAGS = frozenset("h1 h2 h3 h4 h5 h6".split())
TAG_GROUPS = (HEADING_TAGS, {"p"}, {"li"}, {"td", "th"}, {"figcaption", "caption"},
              {"blockquote", "pre"}, {"div", "section", "article", "main", "body"})
REGIONS = ("nav", "header", "footer", "aside", "form", "hidden")
CUE_LABELS = (NAVIGATION, AD, DISCLAIMER, RELATED_LINKS)

_WORD = re.compile(TOKEN_PATTERN)
_GLUED = re.compile(r"[a-z][A-Z]")
_SEPARATORS = re.compile(r"[|/>»·•]")
_BULLET = re.compile(r"^\s*(?:[-*•·–]|\d{1,2}[.)])\s")
_URL = re.compile(r"https?://|www\.|@\w+\.\w")
_SENTENCE_END = re.compile(r"[.!?…]['\"”’)]*(?:\s|$)")
_TERMINAL = re.compile(r"[.!?…]['\"”’)]*\s*$")

# Names of the dense columns of one line, in order; the model's dense block is
# these for the line, then NEIGHBOUR_COLUMNS for each neighbour, then the run.
SHAPE_COLUMNS = (
    "log_chars", "log_words", "mean_word_len", "upper_share", "title_share",
    "digit_share", "punct_share", "ends_terminal", "ends_colon", "function_share",
    "glued", "separators", "bullet", "copyright_sign", "log_sentences", "url",
    "all_caps",
) + tuple(f"cue_{label.lower()}" for label in CUE_LABELS)
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


def _line_shape(text: str) -> list[float]:
    s = text.strip()
    n_chars = len(s)
    words = _WORD.findall(s)
    n_words = len(words)
    letters = sum(c.isalpha() for c in s) or 1
    lower = s.lower()
    return [
        np.log1p(n_chars),
        np.log1p(n_words),
        min(20.0, sum(map(len, words)) / n_words) / 10 if n_words else 0.0,
        sum(c.isupper() for c in s) / letters,
        sum(w[0].isupper() for w in words) / n_words if n_words else 0.0,
        sum(c.isdigit() for c in s) / max(1, n_chars),
        sum((not c.isalnum()) and not c.isspace() for c in s) / max(1, n_chars),
        1.0 if _TERMINAL.search(s) else 0.0,
        1.0 if s.endswith(":") else 0.0,
        sum(w.lower() in FUNCTION_WORDS for w in words) / n_words if n_words else 0.0,
        min(3, len(_GLUED.findall(s))) / 3,
        min(5, len(_SEPARATORS.findall(s))) / 5,
        1.0 if _BULLET.match(s) else 0.0,
        1.0 if "©" in s else 0.0,
        np.log1p(len(_SENTENCE_END.findall(s))),
        1.0 if _URL.search(s) else 0.0,
        1.0 if letters > 3 and s.upper() == s and any(c.isalpha() for c in s) else 0.0,
    ] + [min(3, sum(cue in lower for cue in CUES[label])) / 3 for label in CUE_LABELS]


def _shift(matrix: np.ndarray, offset: int) -> np.ndarray:
    """Rows moved so row i holds row i+offset (zeros past the page's ends)."""
    out = np.zeros_like(matrix)
    n = len(matrix)
    if offset > 0 and offset < n:
        out[: n - offset] = matrix[offset:]
    elif offset < 0 and -offset < n:
        out[-offset:] = matrix[: n + offset]
    return out


def _shift_sparse(matrix: sp.csr_matrix, offset: int) -> sp.csr_matrix:
    n = matrix.shape[0]
    rows = np.arange(n) + offset
    valid = (rows >= 0) & (rows < n)
    picker = sp.csr_matrix(
        (np.ones(valid.sum()), (np.flatnonzero(valid), rows[valid])), shape=(n, n)
    )
    return picker @ matrix


def _run_mean(matrix: np.ndarray, window: int) -> np.ndarray:
    """Mean of each row's +-window neighbourhood, the row itself included."""
    n = len(matrix)
    cumulative = np.vstack([np.zeros((1, matrix.shape[1])), np.cumsum(matrix, axis=0)])
    lo = np.clip(np.arange(n) - window, 0, n)
    hi = np.clip(np.arange(n) + window + 1, 0, n)
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)[:, None]


@dataclass
class PageFeatures:
    """A page's features: sparse text features and dense shape features."""

    text: sp.csr_matrix
    dense: np.ndarray


class Featurizer:
    """Computes the features of every line of a page at once."""

    def __init__(self, word_features: int, char_features: int,
                 context_features: int, markup_features: int) -> None:
        common = dict(alternate_sign=False, dtype=np.float32)
        self.words = HashingVectorizer(
            n_features=word_features, token_pattern=TOKEN_PATTERN, ngram_range=(1, 2), **common)
        self.chars = HashingVectorizer(
            n_features=char_features, analyzer="char_wb", ngram_range=(3, 4), **common)
        self.context = HashingVectorizer(
            n_features=context_features, token_pattern=TOKEN_PATTERN, **common)
        self.markup = HashingVectorizer(
            n_features=markup_features, token_pattern=r"\S+", lowercase=False, **common)

    @property
    def n_text_features(self) -> int:
        return sum(v.n_features for v in (self.words, self.chars, self.context,
                                          self.context, self.markup))

    @property
    def dense_columns(self) -> tuple[str, ...]:
        own = SHAPE_COLUMNS + PAGE_COLUMNS + MARKUP_COLUMNS
        neighbours = tuple(f"{c}@{o:+d}" for o in NEIGHBOUR_OFFSETS for c in NEIGHBOUR_COLUMNS)
        run = tuple(f"run_{c}" for c in RUN_COLUMNS)
        return own + neighbours + run

    def page(self, page: Page) -> PageFeatures:
        texts = [t.strip() for t in page.texts]
        dense = self._dense(page, texts)
        if not texts:
            return PageFeatures(text=sp.csr_matrix((0, self.n_text_features), dtype=np.float32),
                                dense=dense)
        context = self.context.transform(texts)
        text = sp.hstack([
            self.words.transform(texts),
            self.chars.transform(texts),
            _shift_sparse(context, -1),
            _shift_sparse(context, 1),
            self.markup.transform(self._markup_tokens(page)),
        ], format="csr")
        return PageFeatures(text=text, dense=dense)

    def _markup_tokens(self, page: Page) -> list[str]:
        s = page.structure
        if s is None:
            return [""] * len(page)
        return [
            f"tag:{tag} " + " ".join(f"path:{t}" for t in path.split()[-4:])
            + " " + " ".join(f"cls:{t}" for t in tokens.split())
            for tag, path, tokens in zip(s.tags, s.paths, s.tokens)
        ]

    def _dense(self, page: Page, texts: list[str]) -> np.ndarray:
        n = len(texts)
        if n == 0:
            return np.zeros((0, len(self.dense_columns)), dtype=np.float32)
        shape = np.array([_line_shape(t) for t in texts], dtype=np.float64)
        gap_before = np.array(page.gap_before, dtype=np.float64)
        gap_after = np.append(gap_before[1:], 0.0)
        chars = np.array([len(t) for t in texts], dtype=np.float64)
        positions = np.arange(n) / max(1, n - 1)
        page_cols = np.column_stack([
            positions,
            np.full(n, np.log1p(n)),
            positions == 0,
            np.arange(n) == n - 1,
            gap_before,
            gap_after,
            np.full(n, gap_before.mean()),
            chars / chars.max(),
            np.minimum(5.0, chars / max(1.0, float(np.median(chars)))) / 5,
        ])
        markup = self._markup_columns(page, n)
        link_density = markup[:, 1:2]
        neighbour_base = np.hstack([shape, gap_before[:, None], link_density])
        neighbours = [_shift(neighbour_base, o) for o in NEIGHBOUR_OFFSETS]
        run_base = np.column_stack([shape[:, SHAPE_COLUMNS.index("ends_terminal")],
                                    shape[:, SHAPE_COLUMNS.index("function_share")],
                                    shape[:, 0], link_density[:, 0]])
        run = _run_mean(run_base, RUN_WINDOW)
        return np.hstack([shape, page_cols, markup, *neighbours, run]).astype(np.float32)

    def _markup_columns(self, page: Page, n: int) -> np.ndarray:
        out = np.zeros((n, len(MARKUP_COLUMNS)))
        s = page.structure
        if s is None:
            return out
        out[:, 0] = 1.0
        out[:, 1] = s.link_density
        out[:, 2] = np.minimum(np.array(s.depth, dtype=np.float64), 50) / 50
        for j, region in enumerate(REGIONS):
            out[:, 3 + j] = [region in r for r in s.regions]
        base = 3 + len(REGIONS)
        for j, group in enumerate(TAG_GROUPS):
            out[:, base + j] = [tag in group for tag in s.tags]
        return out
