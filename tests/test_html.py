from pathlib import Path

import pytest

from classifier import html
from classifier.html import html_to_page

# Whether html_to_page walks in compiled code, before the fixture below sets it.
COMPILED_WALK = html.COMPILED_WALK


@pytest.fixture(scope="module", autouse=True, params=["compiled", "python"])
def walk(request):
    """Every test here runs on both walks: the compiled one (classifier._walk)
    and the Python fallback that defines it."""
    if request.param == "compiled" and not COMPILED_WALK:
        pytest.skip("classifier._walk is not built or not for this lxml")
    saved = html.COMPILED_WALK
    html.COMPILED_WALK = request.param == "compiled"
    yield request.param
    html.COMPILED_WALK = saved

PAGE = """<!doctype html><html><head><title>Site title</title>
<style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
<body>
<nav class="site-nav" id="top"><ul><li><a href="/">Home</a></li><li><a href="/w">World</a></li></ul></nav>
<article>
<h1>Bridge reopens after repairs</h1>
<p>The bridge reopened on <b>Monday</b> after <a href="/r">three months</a> of work.<br>Traffic is light.</p>
<div hidden>Hidden text</div><div style="display: none">Also hidden</div>
<p aria-hidden="true">Screen-reader-hidden</p>
<table><tr><td>Cell one</td><td>Cell two</td></tr></table>
<!-- a comment -->
<p>Caf&eacute; &amp; bar &#8212; open</p>
</article>
<footer><p>&copy; 2026 Example</p></footer>
</body></html>"""


def test_blocks_in_document_order_without_scripts_styles_or_head():
    page = html_to_page(PAGE)
    assert page.texts == [
        "Home", "World", "Bridge reopens after repairs",
        "The bridge reopened on Monday after three months of work.", "Traffic is light.",
        "Hidden text", "Also hidden", "Screen-reader-hidden",
        "Cell one", "Cell two", "Café & bar — open", "© 2026 Example",
    ]
    assert page.numbers == list(range(1, 13))


def test_hidden_text_is_kept_and_marked():
    page = html_to_page(PAGE.replace(
        "</body>", "<noscript><p>Posts for readers without scripts</p></noscript></body>"))
    hidden = [t for t, r in zip(page.texts, page.structure.regions) if "hidden" in r]
    assert hidden == ["Hidden text", "Also hidden", "Screen-reader-hidden",
                      "Posts for readers without scripts"]


def test_structure_records_tags_regions_tokens_and_links():
    page = html_to_page(PAGE)
    s = page.structure
    assert s.tags[0] == "li" and s.tags[2] == "h1" and s.tags[8] == "td"
    assert "nav" in s.regions[0] and not s.regions[2]
    assert "footer" in s.regions[-1]
    assert "site" in s.tokens[0].split() and "top" in s.tokens[0].split()
    assert s.link_density[0] == 1.0
    assert 0 < s.link_density[3] < 0.5
    assert s.link_density[2] == 0.0
    assert s.paths[2].split()[-2:] == ["article", "h1"]
    assert all(d > 0 for d in s.depth)


def test_empty_and_textless_pages_give_no_lines():
    for content in ("", "   ", b"", "<html><body><script>x()</script></body></html>"):
        assert html_to_page(content).texts == []


def test_xml_declaration_in_a_string_is_accepted():
    page = html_to_page('<?xml version="1.0" encoding="utf-8"?><html><body><p>Hi</p></body></html>')
    assert page.texts == ["Hi"]


def test_deep_nesting_does_not_recurse():
    depth = 1500  # past libxml2's default limit of 256 and Python's recursion limit
    page = html_to_page("<div>" * depth + "deep" + "</div>" * depth)
    assert page.texts == ["deep"]


def test_nesting_past_the_parser_limit_is_read_flattened_not_truncated():
    page = html_to_page("<p>start</p>" + "<div>" * 3000 + "deep" + "</div>" * 3000 + "<p>end</p>")
    assert page.texts == ["start", "deep", "end"]


def test_nesting_the_parser_cannot_follow_even_flattened_is_an_error_not_a_truncated_page():
    import pytest

    from classifier.errors import DocumentError
    # libxml2 keeps each <div> open past the </span> that a tag count would close it with.
    with pytest.raises(DocumentError, match="deeper than 2048 levels"):
        html_to_page("<p>start</p>" + "<span><div>x</span>" * 3000 + "<p>end</p>")


# --- The fast walk against the per-element walk it replaced -------------------------------
#
# html_to_page keeps its output from before it was made fast (the shipped model
# was trained on it). The walk below is the earlier one, kept as the oracle: it
# builds every element's structure as it descends and cuts lines with a regular
# expression. Generated markup stresses what the fast walk handles differently:
# structure built only where lines end, lines that start at their first visible
# text, link characters counted piece by piece, skipped subtrees, <head>, <br>,
# tag-name case and class/id tokens.

import re  # noqa: E402

from hypothesis import HealthCheck, example, given, settings, strategies as st  # noqa: E402
from lxml import etree  # noqa: E402

from classifier import html as fast  # noqa: E402
from classifier.lines import Structure  # noqa: E402

_ORACLE_SPACE = re.compile(r"\s+")
_ORACLE_TOKEN_SPLIT = re.compile(r"[\s_\-]+")


def _oracle_tokens(element):
    raw = f"{element.get('class', '')} {element.get('id', '')}".lower()
    return [t for t in _ORACLE_TOKEN_SPLIT.split(raw) if t][:fast.MAX_TOKENS_PER_ELEMENT]


def _oracle_hidden(element):
    if element.tag == "noscript":
        return True
    attrib = element.attrib
    if "hidden" in attrib or attrib.get("aria-hidden") == "true":
        return True
    style = attrib.get("style")
    return bool(style and fast._HIDDEN_STYLE.search(style))


def oracle_page(content):
    """(texts, structure) as the per-element walk made them."""
    root = fast.parse(content)
    texts, s = [], Structure()
    s.chains = []   # per line: the elements from the root to the one it ends in
    parts, link_chars = [], [0]

    def add(text, in_link):
        if text:
            parts.append(text)
            if in_link:
                link_chars[0] += len(text.strip())

    def flush(stack, regions):
        text = _ORACLE_SPACE.sub(" ", "".join(parts)).strip()
        chars, link_chars[0] = link_chars[0], 0
        parts.clear()
        if not text:
            return
        texts.append(text)
        s.tags.append(next((tag for tag, _, _ in reversed(stack) if tag in fast.BLOCK_TAGS), "body"))
        s.paths.append(" ".join(tag for tag, _, _ in stack))
        s.tokens.append(" ".join(t for _, tokens, _ in stack for t in tokens))
        s.regions.append(regions)
        s.link_density.append(min(1.0, chars / max(1, len(text))))
        s.depth.append(len(stack))
        s.chains.append(tuple(element for _, _, element in stack))

    if root is None:
        return texts, s
    stack, region_stack, link_depth, skip_depth = [], [frozenset()], 0, 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if skip_depth or not tag or tag.lower() in fast.INVISIBLE_TAGS:
                skip_depth += 1
                continue
            tag = tag.lower()
            if tag == "head":
                tag = "body"
            if tag in fast.BLOCK_TAGS or tag in fast.LINE_BREAK_TAGS:
                flush(stack, region_stack[-1])
            regions = region_stack[-1]
            if tag in fast.REGION_TAGS:
                regions = regions | {tag}
            if fast.HIDDEN_REGION not in regions and _oracle_hidden(element):
                regions = regions | {fast.HIDDEN_REGION}
            stack.append((tag, _oracle_tokens(element), element))
            region_stack.append(regions)
            if tag == "a":
                link_depth += 1
            add(element.text, link_depth > 0)
        else:
            if skip_depth:
                skip_depth -= 1
                if skip_depth == 0 and stack:
                    add(element.tail, link_depth > 0)
                continue
            tag = tag.lower()
            if tag in fast.BLOCK_TAGS or tag == "head":
                flush(stack, region_stack[-1])
            stack.pop()
            region_stack.pop()
            if tag == "a":
                link_depth -= 1
            if stack:
                add(element.tail, link_depth > 0)
    flush(stack, region_stack[-1])
    return texts, s


def assert_same_as_oracle(content):
    page = html_to_page(content)
    texts, s = oracle_page(content)
    assert page.texts == texts
    assert page.numbers == list(range(1, len(texts) + 1)) and page.gap_before == [False] * len(texts)
    got = page.structure
    for field in ("tags", "paths", "tokens", "regions", "link_density", "depth"):
        assert getattr(got, field) == getattr(s, field), field
    assert_same_elements(got, s.chains)


def assert_same_elements(got, chains):
    """Each line's element numbers, followed up through `parents`, name the
    same elements as the oracle's stack: one number per element, always."""
    assert len(got.elements) == len(chains)
    assert all(got.parents[e] < e for e in range(1, len(got.parents))) and got.parents[:1] in ([], [-1])
    number_of = {}
    for element, chain in zip(got.elements, chains):
        numbers = []
        while element > 0:
            numbers.append(element)
            element = got.parents[element]
        assert len(numbers) == len(chain)
        for number, oracle_element in zip(reversed(numbers), chain):
            assert number_of.setdefault(oracle_element, number) == number
    assert len(set(number_of.values())) == len(number_of)


TAGS = ["div", "p", "span", "a", "li", "ul", "td", "tr", "table", "nav", "header", "footer",
        "aside", "form", "section", "article", "h2", "b", "em", "noscript", "pre", "main",
        "DIV", "A", "Nav", "x-widget", "font", "label", "button"]
ATTRIBUTES = ["", ' class="menu-item top_nav"', ' id="Main-Content"', " hidden",
              ' aria-hidden="true"', ' aria-hidden="false"', ' style="display: none"',
              ' style="color: red"', ' style="VISIBILITY:hidden"',
              ' class="a b c d e f g h i j k"', ' class="\u00a0x\u2003y\x1cz"', ' class=""',
              ' id="_-_"']
SPACES = [" ", "\n", "\t", "  \n  ", "\u00a0", "\u2003", "\x1c", "\u3000", "\x85", "\u200b"]
WORDS = ["Home", "World news", "The council voted.", "© 2026", "a", "Read more ", " x "]
VOIDS = ["<br>", "<BR/>", "<img src=x>", "<hr>", "<input value=v>", "<wbr>"]
SKIPPED = ["<script>var p = '<p>no</p>';</script>", "<style>p{}</style>",
           "<svg><text>svg text</text><g><a>svg link</a></g></svg>", "<select><option>opt</option></select>",
           "<template><p>tpl</p></template>", "<iframe>frame</iframe>", "<!-- comment -->",
           "<?pi x?>", "<title>t</title>", "<SCRIPT>x()</SCRIPT>", "<math><mi>m</mi></math>"]
PAGE_PARTS = ["<html>", "<head>", "</head>", "<body>", "</body>", "</html>", "<!DOCTYPE html>",
              "<head><nav>head nav</nav>", "&amp;", "&nbsp;", "&#8212;", "&bogus;"]


def _open_tag(tag, attributes):
    return f"<{tag}{attributes}>"


markup_pieces = st.one_of(
    st.builds(_open_tag, st.sampled_from(TAGS), st.sampled_from(ATTRIBUTES)),
    st.sampled_from(TAGS).map(lambda tag: f"</{tag}>"),
    st.sampled_from(SPACES), st.sampled_from(WORDS), st.sampled_from(VOIDS),
    st.sampled_from(SKIPPED), st.sampled_from(PAGE_PARTS), st.text(max_size=8),
)
documents = st.lists(markup_pieces, max_size=60).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents)
@example(document='<a href="/"> Home <b> page </b> <img src=x> now </a> <p>x</p>')
@example(document="<div><span class=outer><p>inside</p> tail <br> after</span></div>")
@example(document="<head><nav class=n>head nav</nav><x-widget>w</x-widget></head><body><p>b</p>")
@example(document="<nav><ul><li><a>One</a></li><li hidden><a>Two</a></li></ul></nav><footer>F</footer>")
@example(document="<table><tr><td>1</td><td> <a>2</a> </td></tr></table>text<br><br>more")
@example(document="<a>x<script>s()</script> y</a><a> <svg><a>z</a></svg>w</a>")
def test_the_fast_walk_gives_what_the_per_element_walk_gave(document):
    assert_same_as_oracle(document)
    assert_same_as_oracle(document.encode("utf-8"))


def test_the_oracle_comparison_can_fail():
    # The comparison sees a change in any structure field, not only in the text.
    page = html_to_page("<div class=x><p>one</p></div>")
    texts, s = oracle_page("<div class=y><p>one</p></div>")
    assert page.texts == texts and page.structure.tokens != s.tokens


def test_structure_of_nested_links_lists_tables_and_breaks():
    page = html_to_page(
        '<body><ul class="menu main_nav"><li><a href="/a">Alpha <b>beta</b></a> gamma</li></ul>'
        '<table id="grid"><tr><td>cell <a>link</a><br>next</td></tr></table>'
        '<div style="display:none"><span><p>deep hidden</p></span></div></body>')
    s = page.structure
    assert page.texts == ["Alpha beta gamma", "cell link", "next", "deep hidden"]
    assert s.tags == ["li", "td", "td", "p"]
    assert s.paths == ["html body ul li", "html body table tr td",
                       "html body table tr td", "html body div span p"]
    assert s.tokens == ["menu main nav", "grid", "grid", ""]
    # Each piece of link text is stripped before it is counted: "Alpha " and "beta".
    assert s.link_density[0] == len("Alphabeta") / len("Alpha beta gamma")
    assert s.link_density[1] == len("link") / len("cell link") and s.link_density[2] == 0.0
    assert s.regions[:3] == [frozenset()] * 3 and s.regions[3] == {"hidden"}
    assert s.depth == [4, 5, 5, 5]


def test_a_line_ends_in_the_element_it_was_cut_in():
    # A block's start ends the line before it in the block's parent, whose
    # inline ancestors (the span) are part of the line's path and tokens.
    page = html_to_page('<div class=box><span class=lead>before<p>para</p>after</span></div>')
    s = page.structure
    assert page.texts == ["before", "para", "after"]
    assert s.tags == ["div", "p", "div"]
    assert s.paths == ["html body div span", "html body div span p", "html body div"]
    assert s.tokens == ["box lead", "box lead", "box"]
    assert s.depth == [4, 5, 3]


def test_regions_nest_and_content_libxml2_puts_in_head_reads_as_body():
    page = html_to_page('<head><nav id=top>Menu</nav></head><body><header><form><p>Search</p>'
                        '</form></header><aside><noscript><p>No script</p></noscript></aside></body>')
    s = page.structure
    assert page.texts == ["Menu", "Search", "No script"]
    assert s.paths[0] == "html body nav" and s.tokens[0] == "top"
    assert s.regions == [{"nav"}, {"header", "form"}, {"aside", "hidden"}]


def test_tag_case_and_class_tokens():
    page = html_to_page('<DIV CLASS="Top_Bar  main-NAV a b c d e f g h" ID=X><P>t</P></DIV>')
    s = page.structure
    assert s.paths == ["html body div p"] and s.tags == ["p"]
    assert s.tokens == ["top bar main nav a b c d"]   # at most 8 tokens per element, id cut


@given(class_value=st.one_of(st.none(), st.text(alphabet=st.sampled_from(
           list("aB_-\u0130\u212a \n\u00a0\u2003\x1c\u3000\x85\u200b")), max_size=30)),
       id_value=st.one_of(st.none(), st.text(max_size=12)))
@settings(max_examples=300, deadline=None)
def test_tokens_split_as_the_regular_expression_did(class_value, id_value):
    raw = f"{class_value or ''} {id_value or ''}".lower()
    expected = [t for t in _ORACLE_TOKEN_SPLIT.split(raw) if t][:fast.MAX_TOKENS_PER_ELEMENT]
    assert fast._tokens(class_value, id_value) == " ".join(expected)


# ASCII values the compiled walk splits itself, and a few that it leaves to _tokens.
ASCII_CLASS = st.text(alphabet=st.sampled_from(list("aZ09_- \t\n\x0b\x0c\r\x1c\x1f!.:") + ["\u00e9"]),
                      max_size=40)


@given(class_value=ASCII_CLASS, id_value=st.one_of(st.none(), ASCII_CLASS))
@settings(max_examples=300, deadline=None)
def test_the_compiled_walk_splits_class_tokens_as_tokens_does(walk, class_value, id_value):
    if walk != "compiled":
        pytest.skip("compares the compiled walk with the Python one")
    attributes = f'class="{class_value}"' + (f' id="{id_value}"' if id_value is not None else "")
    page = f"<div {attributes}><p>t</p></div>"
    assert html_to_page(page, compiled=True) == html_to_page(page, compiled=False)


def test_str_whitespace_is_every_whitespace_character():
    import sys
    every = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert set(fast.STR_WHITESPACE) == every
    assert every == {chr(c) for c in range(sys.maxunicode + 1) if re.fullmatch(r"\s", chr(c))}


END_PIECES = ["</html", "</HTML", "</HtMl", "</htm", ">", "/", " ", "x", "é", "<", "</html>",
              "\u00a0", "\u2028", "\u3000", "\x1c", "\x85", "\u200b", "\u0130", "\u212a", "a=\">\""]


@given(pieces=st.lists(st.sampled_from(END_PIECES), max_size=20))
@settings(max_examples=500, deadline=None)
def test_end_tags_found_in_utf8_bytes_are_those_found_in_the_str(pieces):
    text = "".join(pieces)
    expected = fast._HTML_END.sub("", text).encode("utf-8")
    assert fast._without_end_tags(fast._HTML_END_UTF8, text.encode("utf-8")) == expected


def test_end_tags_are_removed_from_bytes_as_from_str():
    page = "<p>one</p></html><p>two</p></HTML\u00a0x><p>three</p></html\n>"
    assert html_to_page(page).texts == ["one", "two", "three"]
    # In bytes only ASCII white space ends the tag name, as before.
    assert fast._without_end_tags(fast._HTML_END_BYTES, "</HTML\u00a0x>".encode()) == "</HTML\u00a0x>".encode()


def test_a_lone_surrogate_in_an_end_tag_is_removed_with_it():
    assert html_to_page("<p>kept</p></html \ud800>").texts == ["kept"]
    with pytest.raises(UnicodeEncodeError):
        html_to_page("<p>kept \ud800</p>")


def test_deep_pages_get_their_structure_without_recursion():
    # Contexts are built up a chain of 1,500 ancestors, past Python's recursion limit.
    assert_same_as_oracle('<div class="d x">' * 1500 + "deep<p>para</p>tail" + "</div>" * 1500)
    assert html_to_page('<div class="d">' * 1500 + "deep" + "</div>" * 1500).structure.depth == [1502]


# --- The compiled walk ---------------------------------------------------------------------

def test_the_compiled_walk_is_built_and_used():
    # pip install builds it wherever there is a C compiler (CI, the image).
    assert html._walk is not None and COMPILED_WALK


FUZZ_PAGES = sorted((Path(__file__).parent.parent / "fuzz" / "corpus" / "html").iterdir())


@pytest.mark.parametrize("path", FUZZ_PAGES, ids=lambda p: p.name)
def test_the_compiled_walk_gives_the_python_walks_page(path, walk):
    if walk != "compiled":
        pytest.skip("compares the compiled walk with the Python one")
    content = path.read_bytes()
    try:
        expected = html_to_page(content, compiled=False)
    except Exception as error:  # the page is refused: the same way
        with pytest.raises(type(error)):
            html_to_page(content, compiled=True)
    else:
        assert html_to_page(content, compiled=True) == expected


def test_the_compiled_reader_checks_its_arguments_and_passes_errors_on(walk):
    if walk != "compiled":
        pytest.skip("the compiled reader's own checks")
    args = (html._facts, html._tokens, html._hidden_style, "body", 32, 8, html.MAX_NESTING)
    read = html._walk.read_page
    with pytest.raises(TypeError):
        read("<p>x</p>", "utf-8", *args)           # bytes, not str
    with pytest.raises(TypeError, match="facts"):
        read(b"<p>x</p>", "utf-8", lambda tag: (1, 2), *args[1:])
    with pytest.raises(TypeError, match="must give a str"):  # asked of values not all ASCII
        read("<p class=\u00e9>x</p>".encode(), "utf-8", html._facts, lambda c, i: 7, *args[2:])
    with pytest.raises(ValueError, match="max_tokens"):
        read(b"<p>x</p>", "utf-8", *args[:-2], -1, html.MAX_NESTING)

    def fails(style):
        raise RuntimeError("from hidden_style")
    with pytest.raises(RuntimeError, match="from hidden_style"):
        read(b"<p style=x>x</p><p>y</p>", "utf-8", html._facts, html._tokens, fails, *args[3:])
    # A failed read leaves nothing behind that the next one would see.
    assert read(b"<p>x</p>", "utf-8", *args)[0] == ["x"]


def test_the_compiled_reader_stops_where_lxml_stops_nesting(walk):
    """The tree lxml builds has room for MAX_NESTING levels; the compiled
    reader, which builds none, stops at the same depth, and both then read
    the page flattened."""
    if walk != "compiled":
        pytest.skip("compares the compiled reader with lxml")
    args = (html._facts, html._tokens, html._hidden_style, "body", 32, 8, html.MAX_NESTING)
    for depth in range(html.MAX_NESTING - 4, html.MAX_NESTING + 2):
        page = ("<span>" * depth + "deep text").encode()
        lxml_too_deep = html._parse(page, "utf-8") is html._TOO_DEEP
        assert (html._walk.read_page(page, "utf-8", *args) is None) == lxml_too_deep, depth
    page = "<div>" * (html.MAX_NESTING + 10) + "deep text"
    assert html_to_page(page, compiled=True) == html_to_page(page, compiled=False)
