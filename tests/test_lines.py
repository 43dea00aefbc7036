import re

from hypothesis import given, settings, strategies as st

from classifier.lines import page_from_lines, relayout, split_text


def test_numbers_count_every_input_line_including_blank_ones():
    page = split_text("first\n\n  \nsecond\r\nthird\rfourth")
    assert page.texts == ["first", "second", "third", "fourth"]
    assert page.numbers == [1, 4, 5, 6]
    assert page.gap_before == [False, True, False, False]


def test_lines_are_kept_as_given():
    page = split_text("  indented line \t\nnext")
    assert page.texts == ["  indented line \t", "next"]


def test_only_newline_cr_and_crlf_split_lines():
    page = split_text("a\x0cb\u2028c\x0bd\x85e\nf")
    assert page.texts == ["a\x0cb\u2028c\x0bd\x85e", "f"]
    assert page.numbers == [1, 2]


def test_empty_and_blank_documents_have_no_lines():
    assert split_text("").texts == []
    assert split_text("\n \r\n\t\r").texts == []


def test_trailing_newline_adds_no_line():
    page = split_text("one\ntwo\n")
    assert page.numbers == [1, 2]


def test_relayout_switches_between_layouts():
    page = page_from_lines(["a", "", "b", "c"])
    assert relayout(page, blank_lines=False).gap_before == [False, False, False]
    spaced = relayout(page, blank_lines=True)
    assert spaced.gap_before == [False, True, True]
    assert spaced.numbers == [1, 3, 5]
    assert spaced.texts == page.texts


def test_limits_name_the_limit_and_the_value():
    import pytest

    from classifier.limits import LimitExceeded, Limits
    limits = Limits(max_document_bytes=100, max_lines=3, max_line_chars=10)
    with pytest.raises(LimitExceeded, match="101 bytes, over the max_document_bytes limit of 100"):
        limits.check_size(b"x" * 101)
    with pytest.raises(LimitExceeded, match="4 non-blank lines, over the max_lines limit of 3"):
        limits.check_lines(["a", "b", "c", "d"])
    with pytest.raises(LimitExceeded, match="11 characters in its longest line"):
        limits.check_lines(["x" * 11])
    limits.check_lines(["a", "b", "x" * 10])  # at the limits is fine


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", " ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c",
                                 "\u2028", "\u3000", "\x85", "é", "x y"]), max_size=40))
def test_split_text_is_the_line_ends_split_without_blank_lines(pieces):
    content = "".join(pieces)
    expected_texts, expected_numbers, expected_gaps, gap = [], [], [], False
    for number, text in enumerate(re.split(r"\r\n|\r|\n", content), start=1):
        if not text.strip():
            gap = True
            continue
        expected_texts.append(text)
        expected_numbers.append(number)
        expected_gaps.append(gap)
        gap = False
    page = split_text(content)
    assert (page.texts, page.numbers, page.gap_before) == (expected_texts, expected_numbers,
                                                          expected_gaps)
