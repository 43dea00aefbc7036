from classifier.html import html_to_page

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
