import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from classifier.features import (NEIGHBOUR_COLUMNS, NEIGHBOUR_OFFSETS, SHAPE_COLUMNS, Featurizer,
                                 _fold, _median)
from classifier.hashing import to_matrix, word_features
from classifier.html import html_to_page
from classifier.joined import Joined, _lower_in_place
from classifier.lines import split_text

# Every test here runs on the compiled features and on the numpy code.
pytestmark = pytest.mark.usefixtures("feature_path")

TEXT = ("Home / World / Business\n\nCouncil approves ferry route\n"
        "The council voted on Tuesday to approve a new ferry route to the islands.\n"
        "© 2026 Harbour Courier. All rights reserved.\nSportsLocal club wins cup final")


def featurizer():
    return Featurizer(2**12, 2**10, 2**9, 2**9)


def column(f, name):
    return f.dense_columns.index(name)


def test_one_row_per_line_and_one_name_per_dense_column():
    f = featurizer()
    feats = f.page(split_text(TEXT))
    assert feats.text.shape == (5, f.n_text_features)
    assert feats.dense.shape == (5, len(f.dense_columns))
    assert len(set(f.dense_columns)) == len(f.dense_columns)


def test_shape_features_say_what_they_name():
    f = featurizer()
    dense = f.page(split_text(TEXT)).dense
    assert dense[2, column(f, "ends_terminal")] == 1.0
    assert dense[0, column(f, "ends_terminal")] == 0.0
    assert dense[0, column(f, "separators")] > 0
    assert dense[3, column(f, "copyright_sign")] == 1.0
    assert dense[3, column(f, "cue_disclaimer")] > 0
    assert dense[4, column(f, "glued")] > 0
    assert dense[2, column(f, "function_share")] > dense[0, column(f, "function_share")]
    assert dense[1, column(f, "gap_before")] == 1.0 and dense[2, column(f, "gap_before")] == 0.0
    assert dense[0, column(f, "position")] == 0.0 and dense[4, column(f, "position")] == 1.0
    assert dense[:, column(f, "is_html")].sum() == 0


def test_neighbour_columns_repeat_the_neighbours_own_values():
    f = featurizer()
    dense = f.page(split_text(TEXT)).dense
    for offset in NEIGHBOUR_OFFSETS:
        for name in ("log_chars", "ends_terminal"):
            col = column(f, f"{name}@{offset:+d}")
            own = column(f, name)
            for i in range(5):
                j = i + offset
                expected = dense[j, own] if 0 <= j < 5 else 0.0
                assert dense[i, col] == expected
    assert len(NEIGHBOUR_COLUMNS) > len(SHAPE_COLUMNS)


def test_context_words_come_from_the_neighbouring_lines():
    f = featurizer()
    text = f.page(split_text("alpha\nbeta\ngamma")).text.toarray()
    words, chars, ctx = 2**12, 2**10, 2**9
    prev_block = text[:, words + chars: words + chars + ctx]
    next_block = text[:, words + chars + ctx: words + chars + 2 * ctx]
    beta = _fold(to_matrix(*word_features(Joined.of(["beta"])), 1, words), ctx).toarray()[0]
    assert beta.any()
    assert np.array_equal(prev_block[2], beta) and np.array_equal(next_block[0], beta)
    assert not prev_block[0].any() and not next_block[2].any()


def test_html_lines_get_markup_features():
    f = featurizer()
    page = html_to_page("<nav><a href='/'>Home</a></nav><article><p>Story text here.</p></article>")
    dense = f.page(page).dense
    assert dense[:, column(f, "is_html")].tolist() == [1.0, 1.0]
    assert dense[0, column(f, "in_nav")] == 1.0 and dense[1, column(f, "in_nav")] == 0.0
    assert dense[0, column(f, "link_density")] == 1.0


def test_same_input_same_features_and_empty_page():
    f = featurizer()
    a, b = f.page(split_text(TEXT)), f.page(split_text(TEXT))
    assert (a.text != b.text).nnz == 0 and np.array_equal(a.dense, b.dense)
    empty = f.page(split_text(""))
    assert empty.text.shape[0] == 0 and empty.dense.shape[0] == 0


def test_a_lines_words_are_its_own_and_survive_the_context_fold():
    f = featurizer()
    page = split_text("alpha beta alpha\ngamma\nbeta beta delta")
    words = 2**12
    own = f.page(page).text[:, :words].toarray()
    for i, line in enumerate(page.texts):
        alone = to_matrix(*word_features(Joined.of([line])), 1, words).toarray()[0]
        assert np.allclose(own[i], alone)


def _reference_text(f, page):
    """The text block as first written: one matrix per kind, a matrix
    product per context shift, then hstack (what the model was trained on)."""
    from classifier.hashing import char_ngram_features, token_features
    from classifier.features import CHAR_NGRAM_MAX_CHARS, CHAR_NGRAM_SIZES
    import scipy.sparse as sp

    joined = Joined.of([t.strip() for t in page.texts])
    n = len(joined)

    def shift(matrix, offset):
        rows = np.arange(n) + offset
        valid = (rows >= 0) & (rows < n)
        picker = sp.csr_matrix((np.ones(valid.sum()), (np.flatnonzero(valid), rows[valid])),
                               shape=(n, n))
        return picker @ matrix

    words = to_matrix(*word_features(joined), n, f.word_features)
    context = _fold(words, f.context_features)
    s = page.structure
    if s is None:
        markup = sp.csr_matrix((n, f.markup_features), dtype=np.float32)
    else:
        tokens = [[f"tag:{tag}"] + [f"path:{t}" for t in path.split()[-4:]]
                  + [f"cls:{t}" for t in classes.split()]
                  for tag, path, classes in zip(s.tags, s.paths, s.tokens)]
        markup = to_matrix(*token_features(tokens), n, f.markup_features)
    chars = char_ngram_features(joined, CHAR_NGRAM_SIZES, CHAR_NGRAM_MAX_CHARS)
    return sp.hstack([words, to_matrix(*chars, n, f.char_features), shift(context, -1),
                      shift(context, 1), markup], format="csr")


def test_text_block_equals_the_matrix_assembly():
    f = featurizer()
    html = ("<nav><ul><li><a href='/'>Home</a></li><li><a href='/w'>World</a></li>"
            "<li><a href='/s'>Sport</a></li></ul></nav><article class='story main'>"
            "<h1>Ferry returns</h1><p>The ferry is back on the northern route today.</p>"
            "<p>Crossings resume at six.</p><div class='ad ad-slot'>Advertisement</div>"
            "<p>Residents welcomed it.</p></article><footer>© 2026 Courier</footer>")
    rng = np.random.default_rng(5)
    vocabulary = "alpha beta gamma delta Home | © sign in ÉTÉ 😀 x".split()
    random_text = "\n".join(" ".join(rng.choice(vocabulary, rng.integers(0, 30)))
                            for _ in range(60))
    for page in (split_text(TEXT), html_to_page(html), split_text(random_text),
                 split_text("one line"), split_text(" \n".join(["same words again"] * 20))):
        got = f.page(page).text
        expected = _reference_text(f, page)
        assert got.shape == expected.shape
        assert abs(got - expected).max() == 0
        assert got.nnz == expected.nnz


def test_pages_together_equal_each_page_alone():
    import scipy.sparse as sp

    f = featurizer()
    html = ("<nav><a href='/'>Home</a> <a href='/w'>World</a></nav><article><h1>Ferry returns</h1>"
            "<p>The ferry is back.</p><p>Crossings resume at six. Residents welcomed it.</p>"
            "</article><aside class='related'><a href='/x'>More stories</a></aside>")
    pages = [split_text(TEXT), html_to_page(html), split_text(""), split_text("one line only."),
             html_to_page(html), split_text("\n".join(f"item {i} | Home" for i in range(30))),
             split_text("a\nb")]
    together = f.pages(pages)
    alone = [f.page(p) for p in pages]
    assert np.array_equal(together.dense, np.vstack([a.dense for a in alone]))
    stacked = sp.vstack([a.text for a in alone], format="csr")
    assert together.text.shape == stacked.shape
    assert abs(together.text - stacked).max() == 0 and together.text.nnz == stacked.nnz
    assert f.pages([]).dense.shape == (0, len(f.dense_columns))


def test_text_weights_give_the_text_blocks_product_without_the_matrix():
    f = featurizer()
    html = ("<nav><a href='/'>Home</a></nav><article><p>The ferry is back.</p>"
            "<p>Crossings resume at six.</p></article>")
    pages = [split_text(TEXT), html_to_page(html), split_text("")]
    weights = np.random.default_rng(0).normal(size=(f.n_text_features, 5))
    scored = f.pages(pages, text_weights=weights)
    plain = f.pages(pages)
    assert scored.text is None and np.array_equal(scored.dense, plain.dense)
    assert scored.text_scores.shape == (plain.dense.shape[0], 5)
    np.testing.assert_array_equal(scored.text_scores, plain.text @ weights)
    assert f.pages([split_text("")], text_weights=weights).text_scores.shape == (0, 5)
    with pytest.raises(ValueError, match="rows"):
        f.pages(pages, text_weights=weights[:-1])


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_median_is_numpys(values):
    values = np.array(values)
    assert _median(values) == float(np.median(values))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAİiIıΣσς ẞßx.-\u0345") + ["😀", "𐐀", "\ud800"]),
               max_size=40))
def test_lower_casing_keeps_every_character_in_place(text):
    # The definition: characters whose lower case is longer stay as they are,
    # every other one is lower-cased (as the whole text where none is present).
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    assert _lower_in_place(text) == lowered
