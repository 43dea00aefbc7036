"""Line shapes are computed for a whole page at once; check them line by line."""

import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from classifier.joined import Joined
from classifier.shape import SHAPE_COLUMNS, line_shapes

# Every test here runs on the compiled features and on the numpy code.
pytestmark = pytest.mark.usefixtures("feature_path")


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


# The array versions of the pattern counts must count what the patterns find.
TRICKY = ["", "a", "Ab.", "x.)", 'He said "go."', "Wait…", "Really?!  Yes.", "end.''", "a.b.c",
          "aBcDeF", "İstanbul İİ aB", "😀.", "1) one", "» Home « ©", "sign up for the newsletter",
          "Read more » | Share", "price: 5% off. (c) 2026", "…'", "'.'", "x .\u00a0y", ".\u2003z",
          "ho me", "homehome", "sign in/log in", "A\u0130b", "1) one", "12. x", "123. x", "- a",
          "-\u00a0x", "–\tx", "１. x", "𝟏. x", "𝟏𝟐) x", "1.", "-", "http://x", "HTTP://x", "www.x",
          "a@b.c", "@.x", "mail@x", "https:/x", "see https://a.b and www.c.d", "@@a.b"]
ALPHABET = list("aAbBzZ .!?…'\"”’)\u00a0\t©»«|/>:%(-*1@") + ["İ", "😀", "se", "home", "sign up", "ad",
                                                            "http", "://", "www.", "12", "𝟏"]


def _random_lines(seed, count=40):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(ALPHABET, rng.integers(0, 25))) for _ in range(count)]


@pytest.mark.parametrize("texts", [TRICKY] + [_random_lines(seed) for seed in range(30)])
def test_array_counts_match_the_patterns(texts):
    from classifier import shape as s

    joined = Joined.of([t.strip() for t in texts])
    sentence_ends, terminal = s._sentence_ends(joined)
    assert sentence_ends.tolist() == joined.matches_per_line(s._SENTENCE_END).tolist()
    assert terminal.tolist() == joined.matches_per_line(s._TERMINAL).tolist()
    assert s._glued(joined).tolist() == joined.matches_per_line(s._GLUED).tolist()
    assert s._bullets(joined).tolist() == (joined.matches_per_line(s._BULLET) > 0).tolist()
    assert s._urls(joined).tolist() == (joined.matches_per_line(s._URL) > 0).tolist()
    expected = np.zeros((len(joined), len(s.CUE_LABELS)))
    for m in s._CUES.finditer(joined.lowered):
        expected[joined.line_of([m.start()])[0], s._CUE_LABEL_INDEX[m.group()]] += 1
    assert s._cue_hits(joined).tolist() == expected.tolist()


def test_character_table_matches_the_str_methods():
    from classifier.joined import _BMP, _char_table, _classes_of

    table = _char_table()
    assert table.shape == (_BMP, 9)
    expected = np.array([_classes_of(chr(code)) for code in range(_BMP)], dtype=np.uint8)
    assert np.array_equal(table, expected)


# Words: found, hashed and looked up for a whole page at once; each must be
# what the pattern, zlib and the function-word set give word by word.
WORD_TRICKY = ["İstanbul İİ aB", "straße ǅ ﬁne", "x_y 1½ ⅷ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀", "\ud800 lone", "a" * 120,
               "The THE the and And ANDY an", "für où ça", ""]


def _assert_words_match_the_pattern(texts):
    from classifier import shape as s
    from classifier.joined import WORD

    joined = Joined.of(texts)
    matches = list(WORD.finditer(joined.lowered))
    words = [m.group() for m in matches]
    assert joined.word_crc32.tolist() == [zlib.crc32(w.encode()) for w in words]
    assert joined.word_lines.tolist() == joined.line_of([m.start() for m in matches]).tolist()
    assert s._function_words(joined).tolist() == [w in s._FUNCTION_WORDS for w in words]


def test_words_match_the_pattern_on_tricky_text():
    _assert_words_match_the_pattern(WORD_TRICKY)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=12))
def test_words_match_the_pattern_on_any_text(texts):
    _assert_words_match_the_pattern(texts)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.data())
def test_crc32_of_runs_is_zlibs(data, draw):
    from classifier.crc import crc32_runs

    runs = draw.draw(st.lists(st.tuples(st.integers(0, len(data)), st.integers(0, len(data))),
                              max_size=30))
    starts = [min(a, b) for a, b in runs]
    lengths = [abs(a - b) for a, b in runs]
    got = crc32_runs(np.frombuffer(data, dtype=np.uint8), starts, lengths)
    assert got.tolist() == [zlib.crc32(data[s:s + n]) for s, n in zip(starts, lengths)]
