import pytest

from classifier.bodyscore import BodyScores, score_page, shingles
from classifier.peers import lm_line_filter


def test_shingles_are_runs_of_four_unicode_words():
    assert shingles("a b c d e") == {("a", "b", "c", "d"): 1, ("b", "c", "d", "e"): 1}
    assert shingles("Grüße, aus") == {("Grüße", "aus"): 1}   # fewer than 4: one shingle
    assert shingles("...") == {}


def test_page_scores_count_multisets():
    gold = "one two three four five six"
    perfect = score_page(gold, gold)
    assert perfect.precision == 1.0 and perfect.recall == 1.0
    half = score_page("one two three four five six seven eight nine", gold)
    assert half.recall == 1.0 and half.precision == pytest.approx(3 / 6)
    empty = score_page("", gold)
    assert empty.precision is None and empty.recall == 0.0


def test_precision_averages_over_pages_with_output_recall_over_all():
    scores = BodyScores()
    scores.add(score_page("a b c d", "a b c d"))
    scores.add(score_page("", "e f g h"))
    summary = scores.summary()
    assert summary["precision"] == 1.0
    assert summary["recall"] == 0.5
    assert summary["f1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert summary["empty_output_share"] == 0.5


def test_snippet_checks_ignore_spacing():
    s = score_page("The  quick brown\nfox jumps", "x", must_contain=["quick brown fox"],
                   must_not_contain=["Sign in"])
    assert not s.must_contain_missed and not s.must_not_contain_present
    s = score_page("Sign in to read", "x", must_contain=["absent"], must_not_contain=["Sign in"])
    assert s.must_contain_missed and s.must_not_contain_present


def test_lm_line_filter_keeps_sentences_of_five_words():
    text = "Home\nThe council met on Tuesday.\nToo short.\nFive words but no end"
    assert lm_line_filter(text) == "The council met on Tuesday."
