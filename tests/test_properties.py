"""Properties of the cleaning path over generated documents, with the shipped model.

PLAIN_TEXT: every non-blank input line gets exactly one label, numbered as in
the input; the body is made of input lines in order; the same input gives the
same output; nothing raises but DocumentError (LimitExceeded is one).
HTML: arbitrary markup, text and bytes never raise anything else, every line
comes from the document's text, and there is one label per line.
"""

import html as stdlib_html

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st
from threadpoolctl import threadpool_limits

from classifier.errors import DocumentError
from classifier.html import html_to_page
from classifier.labels import BODY, LABELS
from classifier.limits import LimitExceeded, Limits
from classifier.model import DEFAULT_MODEL_PATH, load_model
from classifier.pipeline import Format, clean

# Bounded so the module runs in well under a minute on two cores.
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])

SMALL_LIMITS = Limits(max_document_bytes=20_000, max_lines=40, max_line_chars=300)


@pytest.fixture(scope="module")
def model():
    # One OpenMP thread, as in the server's request threads: on a busy machine
    # OpenMP's spin-waiting makes each tiny prediction take seconds.
    with threadpool_limits(1):
        yield load_model(DEFAULT_MODEL_PATH)


# Characters that stress line splitting and blank detection: the three line
# ends, whitespace str.splitlines would split on but PLAIN_TEXT must not, NUL,
# right-to-left and CJK text, and a character outside the BMP.
SPECIAL = ["\n", "\r", "\r\n", " ", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029",
           "\x00", "\u200f", "\u202e", "שלום", "مرحبا بالعالم", "你好，世界", "日本語のテキスト",
           "😀", "\ufeff", "\ufffd"]
WORDS = ["Home", "Advertisement", "The council voted on Tuesday to approve the route.",
         "© 2026 Courier", "Share this article", "Read more", "Menu"]
plain_texts = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(SPECIAL), st.sampled_from(WORDS), st.text(max_size=20)),
             max_size=60).map("".join),
)


def oracle_lines(content: str) -> list[tuple[int, str]]:
    """(number, text) of the non-blank lines, split by hand at \\r\\n, \\r and \\n only."""
    lines, current, i = [], [], 0
    while i < len(content):
        ch = content[i]
        if ch == "\r" or ch == "\n":
            lines.append("".join(current))
            current = []
            i += 2 if content.startswith("\r\n", i) else 1
            continue
        current.append(ch)
        i += 1
    lines.append("".join(current))
    return [(n, t) for n, t in enumerate(lines, start=1) if t.strip()]


def is_subsequence(items, sequence) -> bool:
    it = iter(sequence)
    return all(any(x == y for y in it) for x in items)


def clean_or_refuse(model, content, fmt, limits=Limits()):
    """The cleaned document, or None when it is refused with a DocumentError."""
    try:
        return clean(model, content, fmt, limits)
    except LimitExceeded as exc:
        assert exc.value > exc.maximum and exc.limit in str(exc)
        assert f"{exc.maximum:,}" in str(exc) and f"{exc.value:,}" in str(exc)
        return None
    except DocumentError as exc:
        assert str(exc)  # a refusal always says why
        return None


@PROPERTY_SETTINGS
@given(content=plain_texts)
@example(content="a\r\n\r\nb\rc\n\x0bd\x0ce\u2028f\x85g")
@example(content="")
@example(content="\u05e9\u05dc\u05d5\u05dd\n\n\u4f60\u597d")
def test_plain_text_lines_labels_and_body(model, content):
    cleaned = clean(model, content, Format.PLAIN_TEXT)
    expected = oracle_lines(content)
    page = cleaned.page
    assert list(zip(page.numbers, page.texts)) == expected
    assert len(cleaned.labels) == len(expected) == len(cleaned.confidences)
    assert all(label in LABELS for label in cleaned.labels)
    assert np.all((cleaned.confidences >= 0) & (cleaned.confidences <= 1))
    body = [t for t, label in zip(page.texts, cleaned.labels) if label == BODY]
    assert cleaned.body == "\n".join(body)
    assert is_subsequence(body, [t for _, t in expected])
    again = clean(model, content, Format.PLAIN_TEXT)
    assert again.labels == cleaned.labels and again.body == cleaned.body
    assert np.array_equal(again.confidences, cleaned.confidences)


@PROPERTY_SETTINGS
@given(content=st.one_of(plain_texts, plain_texts.map(lambda t: t * 20)))
def test_plain_text_over_small_limits_is_refused_naming_the_limit_or_cleaned(model, content):
    cleaned = clean_or_refuse(model, content, Format.PLAIN_TEXT, SMALL_LIMITS)
    if cleaned is not None:
        assert len(cleaned.labels) == len(oracle_lines(content)) <= SMALL_LIMITS.max_lines


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=2000), fmt=st.sampled_from(list(Format)))
@example(data=b"\xff\xfe\x00\xd8line\r\nline", fmt=Format.PLAIN_TEXT)
@example(data=b'<meta charset="zlib"><p>\xff\xfe</p>', fmt=Format.HTML)
def test_bytes_of_any_kind_are_cleaned_or_refused_and_give_valid_unicode(model, data, fmt):
    cleaned = clean_or_refuse(model, data, fmt)
    assert cleaned is not None  # under the default limits nothing this small is refused
    assert len(cleaned.labels) == len(cleaned.page.texts)
    for text in cleaned.page.texts:
        text.encode("utf-8")  # goes into a protobuf string


# Markup pieces: tags that open regions, blocks and inline runs, hidden and
# invisible elements, raw-text elements, entities (well-formed, legacy and
# bogus), comments, DTDs with entities, CDATA, PIs, stray and misplaced end
# tags, </html> followed by more content, attribute values holding markup.
TAGS = ["div", "p", "span", "a", "b", "font", "li", "ul", "table", "tr", "td", "nav", "footer",
        "article", "h1", "br", "noscript", "template", "svg", "select", "option", "textarea",
        "pre", "html", "body", "head", "title", "frameset", "iframe", "form", "button"]
MARKUP = ["<!-- comment -->", "<!--", "-->", "<![CDATA[ cdata ]]>", "<?php echo 1; ?>",
          "<!DOCTYPE html>", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;",
          "&amp;", "&lt;p&gt;", "&eacute;", "&nbsp;", "&#x1F600;", "&#0;", "&#xD800;",
          "&#99999999;", "&bogus;", "&amp", "&", "<", ">", "</", "</html>", "</HTML >",
          "</body>", "<script>var s = '</div><p>';</script>", "<style>p{}</style>",
          '<a href="x" title="a > b">', "<div hidden>", '<p style="display:none">',
          '<div class="nav menu" id="top">', "<br/>", "<img src=x>", "<p/>", "\x00", "\r\n"]
fragments = st.one_of(
    st.sampled_from(TAGS).map(lambda t: f"<{t}>"),
    st.sampled_from(TAGS).map(lambda t: f"</{t}>"),
    st.sampled_from(MARKUP),
    st.sampled_from(SPECIAL + WORDS),
    st.text(max_size=15),
)
html_texts = st.one_of(st.lists(fragments, max_size=80).map("".join), st.text(max_size=300))


def from_the_document(line: str, document: str) -> bool:
    """Whether a line's characters appear in order in the document, as written or unescaped.

    Whitespace is collapsed by the converter and U+FFFD stands for what the
    parser replaces (NUL, bad references), so neither is compared."""
    chars = [c for c in line if not c.isspace() and c != "\ufffd"]
    return any(is_subsequence(chars, (c for c in source if not c.isspace()))
               for source in (document, stdlib_html.unescape(document)))


@PROPERTY_SETTINGS
@given(document=html_texts)
@example(document="<html><body><p>kept</p></body></html><p>after the end</p> and text")
@example(document="<div>" * 2100 + "deep" + "</div>" * 2100 + "<p>after</p>")
@example(document='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><p>&e;</p>')
def test_html_of_any_shape_gives_lines_from_its_text_with_one_label_each(model, document):
    cleaned = clean_or_refuse(model, document, Format.HTML)
    if cleaned is None:
        return
    page = cleaned.page
    assert len(cleaned.labels) == len(page.texts) == len(cleaned.confidences)
    assert page.numbers == list(range(1, len(page.texts) + 1))
    for text in page.texts:
        assert text and text == text.strip() and "\n" not in text
        assert from_the_document(text, document), text
    body = [t for t, label in zip(page.texts, cleaned.labels) if label == BODY]
    assert cleaned.body == "\n".join(body)
    again = clean_or_refuse(model, document, Format.HTML)
    assert again.labels == cleaned.labels and again.page.texts == page.texts


# Markup that leaves nothing open that would swallow what follows (as an open
# comment, <textarea> or <script> would, in a browser too).
CLOSED_FRAGMENTS = ["<div>", "</div>", "<p>", "</p>", "<b>", "<span>", "</span>", "<ul><li>",
                    "<table><tr><td>", "</table>", "<nav>", "</body>", "<body>", "<html>",
                    "Some words", "&amp;", "<br>", "<!-- closed -->", "<script>x()</script>"]


@PROPERTY_SETTINGS
@given(before=st.lists(st.sampled_from(CLOSED_FRAGMENTS), max_size=30).map("".join),
       word=st.sampled_from(["Trailing", "Nachwort", "后记", "סוף"]),
       end=st.sampled_from(["</html>", "</body></html>", "</HTML>", "</html >\n<!-- x -->",
                            "</html></html><html><body>"]))
def test_text_after_the_end_of_the_page_is_kept(model, before, word, end):
    document = f"{before}{end}<p>{word} paragraph</p>{word} tail"
    cleaned = clean(model, document, Format.HTML)
    assert cleaned.page.texts[-2:] == [f"{word} paragraph", f"{word} tail"]


# Visible markup of every kind libxml2 might misplace: head content before
# body content, HTML5 and custom elements it does not know, tables, lists,
# framesets, repeated or misplaced html/head/body tags, page ends.
VISIBLE_FRAGMENTS = CLOSED_FRAGMENTS + [
    "<head>", "</head>", "<title>T</title>", "<meta charset=utf-8>", "<link rel=x>",
    "<style>p{}</style>", "<base href=/>", "<nav>", "</nav>", "<section>", "<article>",
    "<header>", "<footer>", "<main>", "<aside>", "<figure>", "<x-widget>", "</x-widget>",
    "<td>", "<tr>", "<th>", "<caption>", "</tr>", "</td>", "<li>", "</ul>", "<ol>", "<dl><dt>",
    "<dd>", "<h2>", "</h2>", "<pre>", "</pre>", "<frameset>", "</frameset>", "<font size=2>",
    "<center>", "<form>", "</form>", "<label>", "<button>", "</button>", "<noscript>",
    "</noscript>", "<div hidden>", "</html>", "</body></html>", "<a href=/>", "</a>", "<em>",
    "<blockquote>", "<hr>", "<wbr>", "<img alt=x>", "<abbr>", "<span>",
]


@PROPERTY_SETTINGS
@given(pieces=st.lists(st.sampled_from(VISIBLE_FRAGMENTS), max_size=40))
@example(pieces=["<script>x()</script>", "<nav>", "</html>"])
@example(pieces=["<head>", "<x-widget>", "</head>", "<frameset>", "</html>"])
def test_no_text_of_the_page_is_lost(pieces):
    # A distinct word after each piece; the page must give them all, in order.
    words = [f"w{i}x" for i in range(len(pieces) + 1)]
    document = "".join(f"{p} {w} " for p, w in zip(pieces, words[1:]))
    document = f"{words[0]} {document}"
    found = " ".join(html_to_page(document).texts).split()
    assert [w for w in found if w in words] == words
