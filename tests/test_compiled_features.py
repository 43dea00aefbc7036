"""The compiled features (classifier._features) must be the numpy code's,
number for number: the shipped model was trained on the numpy ones."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from classifier import joined
from classifier.features import CHAR_NGRAM_MAX_CHARS, CHAR_NGRAM_SIZES, Featurizer
from classifier.hashing import MARKUP_PREFIXES, MARKUP_SEED, PATH_TOKENS, SEEDS
from classifier.html import html_to_page
from classifier.joined import Joined
from classifier.lines import split_text
from classifier.shape import _CUE_LABEL_INDEX, _CUE_TRIE, COUNTS, CUE_LABELS, _cue_hits, line_counts

pytestmark = pytest.mark.skipif(joined._features is None, reason="classifier._features is not built")

FUZZ_PAGES = sorted((Path(__file__).parent.parent / "fuzz" / "corpus" / "html").iterdir())
# Small widths, so that hashes share columns and the context fold sums values.
FEATURIZER = Featurizer(2**10, 2**8, 2**6, 2**7)


def both(compute):
    """compute() with the compiled features, then with the numpy code."""
    saved = joined.COMPILED_FEATURES
    try:
        joined.COMPILED_FEATURES = True
        compiled = compute()
        joined.COMPILED_FEATURES = False
        return compiled, compute()
    finally:
        joined.COMPILED_FEATURES = saved


def assert_same_features(pages):
    """Same entries in the same order, and the same float bits, except where
    the context fold adds three or more float32 values into one column: scipy
    adds them in the order of an unstable sort, the compiled code in the
    order of the columns they came from, so the sums may round apart."""
    compiled, expected = both(lambda: FEATURIZER.pages(pages))
    assert compiled.text.indptr.tolist() == expected.text.indptr.tolist()
    assert compiled.text.indices.tolist() == expected.text.indices.tolist()
    f = FEATURIZER
    context = f.word_features + f.char_features
    folded = ((expected.text.indices >= context)
              & (expected.text.indices < context + 2 * f.context_features))
    assert compiled.text.data[~folded].tobytes() == expected.text.data[~folded].tobytes()
    np.testing.assert_allclose(compiled.text.data[folded], expected.text.data[folded],
                               rtol=1e-6, atol=0)
    assert compiled.dense.tobytes() == expected.dense.tobytes()
    # The text block's product with weights, made without the matrix, is the
    # sparse product number for number (scipy adds a row's terms in order).
    weights = np.random.default_rng(len(pages)).normal(size=(FEATURIZER.n_text_features, 5))
    scores, numpy_scores = both(lambda: FEATURIZER.pages(pages, text_weights=weights).text_scores)
    assert scores.tobytes() == (compiled.text @ weights).tobytes()
    assert numpy_scores.tobytes() == (expected.text @ weights).tobytes()


def test_the_compiled_features_are_built_and_used():
    # pip install builds them wherever there is a C compiler (CI, the image).
    assert joined.COMPILED_FEATURES and joined.compiled_features() is joined._features


# Characters whose classes, case or UTF-8 length make the counts differ: other
# scripts' digits and capitals, characters that lower-case to two, characters
# past the BMP, a lone surrogate, closers, bullets, URL and e-mail pieces.
ALPHABET = (list("aAzZ_ .!?…'\"”’)\u00a0\t\u2003©»|/>·•:%(-*–1@\x00") + ["İ", "Σ", "ß", "ǅ", "٣", "１",
            "𝟏", "😀", "𝐁", "\ud800", "http", "https://", "www.", "the", "and", "über",
            "naïve", "sign up", "read more", "advertisement", "x.y", "@b.c"])
TEXTS = st.lists(st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join), max_size=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_counts_are_the_numpy_counts(texts):
    texts = [t.strip() for t in texts]
    compiled, expected = both(lambda: line_counts(Joined.of(texts)))
    assert compiled.shape == (len(texts), len(COUNTS))
    assert compiled.tolist() == expected.tolist()


# Cue phrases, their prefixes, and phrases that overlap or hold one another
# ("sign up for" and "sign up", "more stories" and "stories", " / " and "/").
CUE_PIECES = sorted(_CUE_LABEL_INDEX)[::3] + ["sign up for", "sign", "sig", "more ", "storie",
                                               " /", "/ ", "»«", "©", "(c", "a", " ", "x", "İ",
                                               "😀", "\ud800"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(CUE_PIECES), max_size=12).map("".join), max_size=12))
def test_cue_hits_are_the_patterns_matches(texts):
    j = Joined.of([t.strip() for t in texts])
    compiled, expected = both(lambda: _cue_hits(j))
    assert compiled.shape == (len(texts), len(CUE_LABELS))
    assert compiled.tolist() == expected.tolist()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=3))
def test_text_features_are_the_numpy_ones(pages):
    assert_same_features([split_text("\n".join(texts)) for texts in pages])


@pytest.mark.parametrize("path", FUZZ_PAGES, ids=lambda p: p.name)
def test_html_page_features_are_the_numpy_ones(path):
    try:
        page = html_to_page(path.read_bytes())
    except Exception:  # a page the converter refuses has no features
        pytest.skip("the converter refuses this page")
    text = split_text("\n".join(page.texts))
    assert_same_features([page])
    assert_same_features([text, page, text])  # pages of both kinds in one call


def test_long_lines_and_many_shared_columns():
    # A long line fills rows past the short-row sort; repeats give counts above one.
    line = " ".join(f"w{i % 300} the" for i in range(4000))
    assert_same_features([split_text(f"{line}\nshort line\n{line.upper()}")])


def test_threads_computing_features_at_once_get_each_their_own():
    # The compiled loops run without the GIL, so threads really run them at
    # the same time: nothing of one call may leak into another's.
    pages = []
    for path in FUZZ_PAGES:
        try:
            pages.append(html_to_page(path.read_bytes()))
        except Exception:
            continue
    pages += [split_text("\n".join(p.texts)) for p in pages]
    assert len(pages) >= 4
    weights = np.random.default_rng(0).normal(size=(FEATURIZER.n_text_features, 5))

    def features(page):
        plain = FEATURIZER.pages([page])
        scores = FEATURIZER.pages([page], text_weights=weights).text_scores
        return (plain.text.indptr.tobytes(), plain.text.indices.tobytes(),
                plain.text.data.tobytes(), plain.dense.tobytes(), scores.tobytes())

    expected = [features(p) for p in pages]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            assert list(pool.map(features, pages)) == expected


# --- Refusals: the arguments are checked before anything is read ----------------------------

def _text_args(texts=("one two", "three")):
    j = Joined.of(list(texts))
    n = len(j)
    return [j.lowered, j.starts, j.lengths, np.zeros(n, dtype=np.int64),
            np.full(n, n, dtype=np.int64), (2**10, 2**8, 2**6), CHAR_NGRAM_SIZES,
            CHAR_NGRAM_MAX_CHARS, SEEDS, None]


def test_text_block_refuses_bounds_outside_the_text():
    args = _text_args()
    args[2] = np.array([7, 50], dtype=np.int64)  # the second line runs past the text
    with pytest.raises(ValueError, match="line bounds"):
        joined._features.text_block(*args)
    args = _text_args()
    args[4] = np.array([1, 1], dtype=np.int64)  # the second line's page ends before it
    with pytest.raises(ValueError, match="page bounds"):
        joined._features.text_block(*args)
    args = _text_args()
    args[1] = args[1].astype(np.int32)
    with pytest.raises(ValueError, match="8-byte"):
        joined._features.text_block(*args)


def test_text_block_refuses_bad_widths_and_markup():
    args = _text_args()
    args[5] = (1000, 2**8, 2**6)
    with pytest.raises(ValueError, match="powers of two"):
        joined._features.text_block(*args)
    args = _text_args()
    args[9] = (np.array([0, 1], dtype=np.int64), np.array([0, 1], dtype=np.int64),
               np.array([3], dtype=np.int64), np.array([1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="markup"):  # line 1 names kind 1; there is one kind
        joined._features.text_block(*args)
    args[9] = (np.array([0, 0], dtype=np.int64), np.array([0, 1], dtype=np.int64),
               np.array([3], dtype=np.int64), np.array([1.0], dtype=np.float64))
    with pytest.raises(ValueError, match="markup values"):
        joined._features.text_block(*args)


def test_markup_block_refuses_what_is_not_a_key():
    with pytest.raises(TypeError, match="tuple of str"):
        joined._features.markup_block([("p", "body p", 3)], 2**7, MARKUP_SEED, MARKUP_PREFIXES,
                                      PATH_TOKENS)
    with pytest.raises(TypeError, match="tuple of str"):
        joined._features.markup_block(["p"], 2**7, MARKUP_SEED, MARKUP_PREFIXES, PATH_TOKENS)


def test_shape_counts_refuse_texts_of_different_lengths():
    j = Joined.of(["one", "two"])
    with pytest.raises(ValueError, match="as long"):
        joined._features.shape_counts(j.text, j.lowered + "x", j.starts, j.lengths,
                                      np.zeros(1, dtype=np.uint64), "|", "©", ".", ")", "-")


def test_text_block_refuses_weights_that_do_not_fit():
    args = _text_args()
    with pytest.raises(ValueError, match="n_classes values"):
        joined._features.text_block(*args, np.zeros(7), 5)
    with pytest.raises(ValueError, match="n_classes"):
        joined._features.text_block(*args, np.zeros(10), 0)
    with pytest.raises(ValueError, match="past the weights"):  # fewer rows than features
        joined._features.text_block(*args, np.zeros(5 * 10), 5)
    with pytest.raises(ValueError, match="8-byte"):
        joined._features.text_block(*args, np.zeros(5 * 2**12, dtype=np.float32), 5)


def _trie_args(**changes):
    j = Joined.of(["sign up for the newsletter", "home"])
    trie = dict(zip(("label", "child_start", "child_char", "child_node"), _CUE_TRIE))
    trie.update(changes)
    return (j.lowered, j.starts, j.lengths, *trie.values(), len(CUE_LABELS))


def test_cue_hits_refuse_a_malformed_tree():
    label, child_start, child_char, child_node = _CUE_TRIE
    assert joined._features.cue_hits(*_trie_args())  # the real tree passes
    bad_label = label.copy()
    bad_label[1] = len(CUE_LABELS)
    with pytest.raises(ValueError, match="label is out of range"):
        joined._features.cue_hits(*_trie_args(label=bad_label))
    bad_node = child_node.copy()
    bad_node[0] = len(label)
    with pytest.raises(ValueError, match="names no node"):
        joined._features.cue_hits(*_trie_args(child_node=bad_node))
    bad_start = child_start.copy()
    bad_start[1], bad_start[2] = bad_start[2], bad_start[1]
    with pytest.raises(ValueError, match="decrease"):
        joined._features.cue_hits(*_trie_args(child_start=bad_start))
    with pytest.raises(ValueError, match="mismatched"):
        joined._features.cue_hits(*_trie_args(child_start=child_start[:-1]))
    with pytest.raises(ValueError, match="4-byte"):
        joined._features.cue_hits(*_trie_args(label=label.astype(np.int64)))
