"""Line shapes are computed for a whole page at once; check them line by line."""

import numpy as np
import pytest

from classifier.joined import Joined
from classifier.shape import SHAPE_COLUMNS, line_shapes


def shape(texts, name):
    return line_shapes(Joined.of(texts))[:, SHAPE_COLUMNS.index(name)].tolist()


def test_counts_belong_to_their_own_line():
    texts = ["Home | World | Business", "The council met on Tuesday. It voted.", "©2026 Courier",
             "SportsLocal club wins", "1. First point here"]
    assert shape(texts, "log_words") == pytest.approx(np.log1p([3, 7, 2, 3, 4]).tolist())
    assert shape(texts, "separators") == [0.4, 0, 0, 0, 0]
    assert shape(texts, "ends_terminal") == [0, 1, 0, 0, 0]
    assert shape(texts, "log_sentences") == pytest.approx([0, np.log1p(2), 0, 0, np.log1p(1)])  # "1." counts
    assert shape(texts, "copyright_sign") == [0, 0, 1, 0, 0]
    assert shape(texts, "glued") == pytest.approx([0, 0, 0, 1 / 3, 0])
    assert shape(texts, "bullet") == [0, 0, 0, 0, 1]
    assert shape(texts, "cue_navigation")[0] > 0 and shape(texts, "cue_disclaimer")[2] > 0
    assert shape(texts, "function_share")[1] == pytest.approx(3 / 7)  # "the", "on", "it"


def test_characters_outside_the_basic_plane_and_case_changes_keep_lines_apart():
    texts = ["İSTANBUL ŞEHİR", "𝐁𝐨𝐥𝐝 😀 words here.", "a\x00b", "x:"]
    rows = line_shapes(Joined.of(texts))
    assert rows.shape == (4, len(SHAPE_COLUMNS))
    assert shape(texts, "all_caps") == [1, 0, 0, 0]
    assert shape(texts, "log_words") == pytest.approx(np.log1p([2, 3, 2, 1]).tolist())
    assert shape(texts, "ends_terminal") == [0, 1, 0, 0]
    assert shape(texts, "ends_colon") == [0, 0, 0, 1]


def test_no_lines_and_lines_holding_newlines():
    assert line_shapes(Joined.of([])).shape == (0, len(SHAPE_COLUMNS))
    rows = line_shapes(Joined.of(["one\ntwo.", "three"]))
    assert shape(["one\ntwo.", "three"], "log_words") == pytest.approx(np.log1p([2, 1]).tolist())
    assert rows[0, SHAPE_COLUMNS.index("ends_terminal")] == 1
