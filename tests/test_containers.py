"""Container columns (classifier.containers) against a direct reading of the tree."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from classifier import joined
from classifier.containers import CONTAINER_COLUMNS, MAIN_MARGIN, NO_STRUCTURE, container_columns
from classifier.html import html_to_page
from classifier.lines import Structure, split_text

pytestmark = pytest.mark.usefixtures("feature_path")  # compiled sums and the Python loop

COLUMN = {name: i for i, name in enumerate(CONTAINER_COLUMNS)}


def _ancestors(parents, element):
    """element, its parent, ..., up to 0."""
    out = [element]
    while element > 0:
        element = parents[element]
        out.append(element)
    return out


def reference(parents, elements, body, words):
    """Each column worked out from its definition, element by element."""
    weight = np.asarray(words, dtype=float) + 1.0
    under = [[i for i, e in enumerate(elements) if node in _ancestors(parents, e)]
             for node in range(len(parents))]
    mass = [sum(weight[i] * body[i] for i in lines) for lines in under]
    total = [sum(weight[i] for i in lines) for lines in under]
    scores = [m - MAIN_MARGIN * t for m, t in zip(mass, total)]
    main = scores.index(max(scores))
    rows = []
    for e in elements:
        parent = max(parents[e], 0)
        grand = max(parents[parent], 0)
        rows.append([
            mass[parent] / max(total[parent], 1e-9), mass[grand] / max(total[grand], 1e-9),
            mass[parent] / max(mass[0], 1e-9), mass[grand] / max(mass[0], 1e-9),
            np.log1p(len(under[parent])), float(main in _ancestors(parents, e)),
            mass[main] / max(mass[0], 1e-9), total[main] / max(total[0], 1e-9),
        ])
    return np.array(rows)


@st.composite
def trees(draw):
    size = draw(st.integers(1, 30))
    parents = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, size)]
    n = draw(st.integers(1, 25))
    elements = draw(st.lists(st.integers(0, size - 1), min_size=n, max_size=n))
    body = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    words = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    return parents, elements, body, words


@settings(max_examples=200, deadline=None)
@given(trees())
def test_columns_match_their_definitions_on_any_tree(tree):
    parents, elements, body, words = tree
    structure = Structure(elements=elements, parents=parents)
    got = container_columns(structure, np.array(body), np.array(words))
    np.testing.assert_allclose(got, reference(*tree), rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(joined._features is None, reason="classifier._features is not built")
@settings(max_examples=200, deadline=None)
@given(trees())
def test_the_compiled_sums_are_the_loops_number_for_number(feature_path, tree):
    if feature_path != "compiled":
        pytest.skip("runs both ways itself, once")
    parents, elements, body, words = tree
    structure = Structure(elements=elements, parents=parents)
    saved = joined.COMPILED_FEATURES
    try:
        columns = []
        for compiled in (True, False):
            joined.COMPILED_FEATURES = compiled
            columns.append(container_columns(structure, np.array(body), np.array(words)))
    finally:
        joined.COMPILED_FEATURES = saved
    assert columns[0].tobytes() == columns[1].tobytes()


def test_a_short_line_of_the_article_is_in_the_main_container_and_the_menu_is_not():
    page = html_to_page(
        "<html><body><nav><ul><li><a>Home</a></li><li><a>World</a></li></ul></nav>"
        "<article><h1>Council votes</h1><p>The council voted on the budget today, after a "
        "long debate.</p><h2>Reaction</h2><p>Residents said the vote came late, and asked "
        "for a second hearing.</p></article>"
        "<footer><p>Contact us</p></footer></body></html>")
    assert page.texts == ["Home", "World", "Council votes",
                          "The council voted on the budget today, after a long debate.",
                          "Reaction", "Residents said the vote came late, and asked for a second hearing.",
                          "Contact us"]
    # Stage 1 unsure of the short lines, sure of the paragraphs.
    body = np.array([0.1, 0.1, 0.4, 0.95, 0.3, 0.95, 0.1])
    words = np.array([len(t.split()) for t in page.texts])
    got = container_columns(page.structure, body, words)
    in_main = got[:, COLUMN["in_main"]].tolist()
    assert in_main == [0, 0, 1, 1, 1, 1, 0]
    # The subheading's container is the article, whose lines are mostly body.
    assert got[4, COLUMN["parent_body"]] > 0.8 > got[0, COLUMN["grandparent_body"]]
    assert got[0, COLUMN["main_body_share"]] > 0.9


def test_pages_without_structure_get_the_placeholder_in_every_column():
    page = split_text("Home | World\nThe council voted on the budget today.")
    got = container_columns(page.structure, np.array([0.1, 0.9]), np.array([3, 7]))
    assert got.shape == (2, len(CONTAINER_COLUMNS)) and (got == NO_STRUCTURE).all()
    assert container_columns(None, None, np.zeros(0)).shape == (0, len(CONTAINER_COLUMNS))
