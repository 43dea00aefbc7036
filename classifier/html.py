"""HTML to lines: one line per block-level element, with its structure.

The page is parsed with lxml's HTML parser (no network, no entity loading),
scripts, styles and other parts that hold no reader's text are dropped, and
the text is cut into blocks at block-level tags and <br>. Each block keeps
what the model needs to know about where it sat: its tag, its ancestors'
tags and class/id tokens, the regions (nav, header, footer, aside, form)
around it, whether it is hidden, its link density and depth.

Hidden elements (hidden, aria-hidden, display:none) and <noscript> are kept,
marked as such: pages often hide their article until a script reveals it,
and forum software serves its posts to non-script readers in <noscript>.
The model, not the converter, decides what such text is.
"""

from __future__ import annotations

import re

from lxml import etree, html as lxml_html

from classifier.decode import decode
from classifier.errors import DocumentError
from classifier.lines import Page, Structure

# Elements that hold no text meant for a reader.
INVISIBLE_TAGS = frozenset(
    "script style template svg math iframe object embed canvas "
    "title meta link select datalist".split()
)

# Elements that start and end a line of their own.
BLOCK_TAGS = frozenset(
    "address article aside blockquote body caption dd details dialog div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr "
    "html legend li main menu nav ol p pre section summary table tbody td tfoot "
    "th thead tr ul".split()
)

# Elements that mark a region of site furniture around their content.
REGION_TAGS = frozenset("nav header footer aside form".split())
HIDDEN_REGION = "hidden"   # the region of hidden elements and <noscript>

LINE_BREAK_TAGS = frozenset(("br",))
MAX_TOKENS_PER_ELEMENT = 8

# libxml2 stops parsing at this depth even with huge_tree, dropping the rest.
MAX_NESTING = 2048
# A page nested past MAX_NESTING is read again with the elements below this
# depth unwrapped (see _flatten).
FLATTEN_DEPTH = 256

# Elements whose content the tokenizer reads as raw text, up to their end tag.
RAW_TEXT_TAGS = frozenset("script style textarea title xmp iframe noembed noframes".split())
# Elements that never hold content, so never nest.
VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())

_SPACE = re.compile(r"\s+")
_TOKEN_SPLIT = re.compile(r"[\s_\-]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# libxml2 ends the document at </html>: what follows becomes a second root
# element, which the tree builder drops without a word. Browsers read such
# content into the body, so the end tag is removed before parsing.
_HTML_END = re.compile(r"</html(?:[\s/][^>]*)?>", re.I)
_HTML_END_BYTES = re.compile(_HTML_END.pattern.encode("ascii"), re.I)
# A comment, or a start or end tag with its attributes (quoted values may hold
# ">"). Possessive quantifiers and unquoted parts that stop at "<" keep a
# failed match from backtracking or rescanning past the next tag, so the
# search stays linear on hostile input.
_MARKUP = re.compile(r"""<!--.*?(?:-->|\Z)|<(/?)([A-Za-z][^\s/<>]*+)((?:[^<>"']++|"[^"]*+"|'[^']*+')*+)>""",
                     re.S)

# The HTML parser reads no DTD and expands no entities but HTML's own named
# ones: libxml2's HTML mode has no option to load DTDs or external entities,
# and no_network forbids fetching anything. huge_tree lifts libxml2's default
# nesting limit (256) to 2048 levels and allows text nodes over 10 MB; real
# pages nest deeper than 256. decompress=False: gzip bytes are not inflated.
_PARSER_OPTIONS = dict(remove_comments=True, remove_pis=True, no_network=True,
                       recover=True, default_doctype=False, huge_tree=True,
                       decompress=False, collect_ids=False)


def parse(content: str | bytes) -> etree._Element | None:
    """Parse a page; None when there is nothing to parse."""
    # One scan of the page in C (about 2% of the conversion); the page is only
    # copied when an end tag is found.
    if isinstance(content, str):
        if _HTML_END.search(content):
            content = _HTML_END.sub("", content)
        data = content.encode("utf-8")
    else:
        data = _HTML_END_BYTES.sub(b"", content) if _HTML_END_BYTES.search(content) else content
    if not data.strip():
        return None
    encoding = "utf-8" if isinstance(content, str) else None
    root, too_deep = _parse(data, encoding)
    if too_deep:
        text = content if isinstance(content, str) else decode(data)
        root, too_deep = _parse(_flatten(text).encode("utf-8"), "utf-8")
    if too_deep:
        # Parsing stopped part-way even without the deepest elements; cleaning
        # what was read would silently drop the rest of the page.
        raise DocumentError(
            f"the HTML nests elements deeper than {MAX_NESTING} levels (its tags do not close "
            "in an order the parser can follow), past which it cannot be read; flatten the "
            "page or send its text as PLAIN_TEXT")
    return root


def _parse(data: bytes, encoding: str | None) -> tuple[etree._Element | None, bool]:
    """The parsed tree, and whether the parser stopped at its nesting limit."""
    # A parser per call: lxml parsers are not safe to share between threads.
    parser = lxml_html.HTMLParser(encoding=encoding, **_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.ParserError:
        return None, False
    return root, any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)


def _flatten(text: str) -> str:
    """The page with the elements below FLATTEN_DEPTH unwrapped: their tags go, their text stays.

    Nesting that deep is nearly always an unclosed inline tag (<font>, <b>,
    <span>) repeated down the page; browsers show such pages, so they get a
    result, not an error. Depth is counted from the tags as written (an end
    tag closes up to its start tag), which can only count deeper than the
    parser does for well-formed nesting. Unwrapped block tags become <br>, so
    their text still makes lines of its own; an unwrapped element that holds
    no reader's text (svg, select, ...) is dropped with its content, as the
    parser would.
    """
    out: list[str] = []
    stack: list[str] = []
    open_count: dict[str, int] = {}       # how many of the stack have each name
    unwrapped: dict[str, int] = {}
    pos = 0
    while (match := _MARKUP.search(text, pos)) is not None:
        start, end = match.span()
        closing, name = match.group(1), match.group(2)
        out.append(text[pos:start])
        pos = end
        if name is None:                      # a comment
            out.append(match.group(0))
            continue
        name = name.lower()
        replacement = match.group(0)
        if closing:
            if unwrapped.get(name):
                unwrapped[name] -= 1
                replacement = "<br>" if name in BLOCK_TAGS else ""
            elif open_count.get(name):
                while (popped := stack.pop()) != name:
                    open_count[popped] -= 1
                open_count[name] -= 1
        elif name in RAW_TEXT_TAGS:
            # Its content is text up to its end tag, whatever it looks like.
            close = re.compile(rf"</{re.escape(name)}[\s/>]", re.I).search(text, end)
            pos = close.start() if close else len(text)
            out.append(match.group(0))
            out.append(text[end:pos])
            continue
        elif name in VOID_TAGS or match.group(3).rstrip().endswith("/"):
            pass
        elif len(stack) < FLATTEN_DEPTH:
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
        elif name in INVISIBLE_TAGS:
            pos = _element_end(text, name, end)
            replacement = ""
        else:
            unwrapped[name] = unwrapped.get(name, 0) + 1
            replacement = "<br>" if name in BLOCK_TAGS else ""
        out.append(replacement)
    out.append(text[pos:])
    return "".join(out)


def _element_end(text: str, name: str, pos: int) -> int:
    """Where the element whose start tag ends at pos ends, counting same-named tags inside."""
    tags = re.compile(rf"<(/?){re.escape(name)}(?:[\s/][^>]*)?>", re.I)
    depth = 1
    while (match := tags.search(text, pos)) is not None:
        pos = match.end()
        depth += -1 if match.group(1) else 1
        if depth == 0:
            return pos
    return len(text)


def _is_hidden(element: etree._Element) -> bool:
    if element.tag == "noscript":
        return True
    attrib = element.attrib
    if "hidden" in attrib or attrib.get("aria-hidden") == "true":
        return True
    style = attrib.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _element_tokens(element: etree._Element) -> list[str]:
    raw = f"{element.get('class', '')} {element.get('id', '')}".lower()
    return [t for t in _TOKEN_SPLIT.split(raw) if t][:MAX_TOKENS_PER_ELEMENT]


class _Collector:
    """Accumulates text into blocks while the tree is walked."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.structure = Structure()
        self._parts: list[str] = []
        self._link_chars = 0

    def add(self, text: str | None, in_link: bool) -> None:
        if text:
            self._parts.append(text)
            if in_link:
                self._link_chars += len(text.strip())

    def flush(self, stack: list[tuple[str, list[str]]], regions: frozenset[str]) -> None:
        text = _SPACE.sub(" ", "".join(self._parts)).strip()
        link_chars, self._parts, self._link_chars = self._link_chars, [], 0
        if not text:
            return
        block_tag = next((tag for tag, _ in reversed(stack) if tag in BLOCK_TAGS), "body")
        self.texts.append(text)
        s = self.structure
        s.tags.append(block_tag)
        s.paths.append(" ".join(tag for tag, _ in stack))
        s.tokens.append(" ".join(t for _, tokens in stack for t in tokens))
        s.regions.append(regions)
        s.link_density.append(min(1.0, link_chars / max(1, len(text))))
        s.depth.append(len(stack))


def html_to_page(content: str | bytes) -> Page:
    """Turn an HTML page into numbered lines with their structure."""
    root = parse(content)
    collector = _Collector()
    if root is not None:
        _walk(root, collector)
    n = len(collector.texts)
    return Page(
        texts=collector.texts,
        numbers=list(range(1, n + 1)),
        gap_before=[False] * n,
        structure=collector.structure,
    )


def _walk(root: etree._Element, out: _Collector) -> None:
    # An explicit stack instead of recursion: pages nest deeper than Python's
    # recursion limit.
    stack: list[tuple[str, list[str]]] = []
    region_stack: list[frozenset[str]] = [frozenset()]
    link_depth = 0
    skip_depth = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if skip_depth or not tag or tag.lower() in INVISIBLE_TAGS:
                skip_depth += 1
                continue
            tag = tag.lower()
            if tag == "head":
                # libxml2 leaves elements it does not know as body content
                # (<nav>, <section>, custom elements) inside <head> when they
                # come before the body starts; browsers put them in the body.
                tag = "body"
            if tag in BLOCK_TAGS or tag in LINE_BREAK_TAGS:
                out.flush(stack, region_stack[-1])
            regions = region_stack[-1]
            if tag in REGION_TAGS:
                regions = regions | {tag}
            if HIDDEN_REGION not in regions and _is_hidden(element):
                regions = regions | {HIDDEN_REGION}
            stack.append((tag, _element_tokens(element)))
            region_stack.append(regions)
            if tag == "a":
                link_depth += 1
            out.add(element.text, link_depth > 0)
        else:
            if skip_depth:
                skip_depth -= 1
                if skip_depth == 0 and stack:
                    out.add(element.tail, link_depth > 0)
                continue
            tag = tag.lower()
            if tag in BLOCK_TAGS or tag == "head":
                out.flush(stack, region_stack[-1])
            stack.pop()
            region_stack.pop()
            if tag == "a":
                link_depth -= 1
            if stack:
                out.add(element.tail, link_depth > 0)
    out.flush(stack, region_stack[-1])
