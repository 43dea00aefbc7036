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

The walk runs for every element of every page, so it does little per
element: one lookup decides what a tag does, a line is under way only once it
has visible text, and the structure (path, tokens, regions) is worked out only
for the elements lines end in and their ancestors, once each.
tests/test_html.py checks its output against the per-element walk it replaced.

Where the C extension `classifier._walk` is built (see setup.py), the same
walk runs in compiled code on the events of libxml2's HTML parser (lxml's
copy, with the options below) as it reads the page, so no tree is built,
asking this module what each tag does; `_lines` and `_contexts` below, over
the tree lxml builds, are the fallback and the definition of what it computes.
"""

from __future__ import annotations

import re

from lxml import etree

try:
    from classifier import _walk
except ImportError:  # installed without a C compiler: the walk runs in Python
    _walk = None

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
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
# libxml2 ends the document at </html>: what follows becomes a second root
# element, which the tree builder drops without a word. Browsers read such
# content into the body, so the end tag is removed before parsing.
_HTML_END = re.compile(r"</html(?:[\s/][^>]*)?>", re.I)
_HTML_END_BYTES = re.compile(_HTML_END.pattern.encode("ascii"), re.I)
# Every character a str pattern's \s matches (str.isspace; none is past
# U+3000), so that _HTML_END_UTF8 finds in a str's UTF-8 bytes exactly what
# _HTML_END finds in the str: searching bytes is about twice as fast.
STR_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace())
_HTML_END_UTF8 = re.compile(
    rb"</html(?:(?:/|" + b"|".join(re.escape(c.encode("utf-8")) for c in STR_WHITESPACE)
    + rb")[^>]*)?>", re.I)
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
    return _read(content, _parse)


# What a reader of the page's bytes gives when libxml2 stopped at its nesting limit.
_TOO_DEEP = object()


def _read(content: str | bytes, reader):
    """reader(data, encoding) of the page, read again flattened (see _flatten)
    when it nests too deep; None when there is nothing to parse."""
    data, encoding = _page_bytes(content)
    if data is None:
        return None
    result = reader(data, encoding)
    if result is _TOO_DEEP:
        text = data.decode("utf-8") if isinstance(content, str) else decode(data)
        result = reader(_flatten(text).encode("utf-8"), "utf-8")
    if result is _TOO_DEEP:
        # Parsing stopped part-way even without the deepest elements; cleaning
        # what was read would silently drop the rest of the page.
        raise DocumentError(
            f"the HTML nests elements deeper than {MAX_NESTING} levels (its tags do not close "
            "in an order the parser can follow), past which it cannot be read; flatten the "
            "page or send its text as PLAIN_TEXT")
    return result


def _page_bytes(content: str | bytes) -> tuple[bytes | None, str | None]:
    """The bytes to parse (None when there is nothing to parse) and their
    encoding (None: the parser finds it)."""
    if isinstance(content, str):
        try:
            data = _without_end_tags(_HTML_END_UTF8, content.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate, which only encodes if it sat in an end tag.
            data = _HTML_END.sub("", content).encode("utf-8")
    else:
        data = _without_end_tags(_HTML_END_BYTES, content)
    if not data or data.isspace():      # (strip() would copy the page)
        return None, None
    return data, "utf-8" if isinstance(content, str) else None


def _without_end_tags(pattern: re.Pattern[bytes], data: bytes) -> bytes:
    """data with pattern's matches removed, copied only when there is one.

    Pages have their </html> near the end: the page is scanned once up to it
    and only what follows is searched again.
    """
    match = pattern.search(data)
    if match is None:
        return data
    return data[:match.start()] + pattern.sub(b"", data[match.end():])


def _parse(data: bytes, encoding: str | None) -> etree._Element | None | object:
    """The parsed tree (None: no element), or _TOO_DEEP when the parser
    stopped at its nesting limit."""
    # A parser per call: lxml parsers are not safe to share between threads.
    # etree's parser, not lxml.html's: the tree is the same, but lxml.html
    # calls back into Python to pick a class for every element the walk meets.
    parser = etree.HTMLParser(encoding=encoding, **_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.ParserError:
        return None
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        return _TOO_DEEP
    return root


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


def _hidden_style(style: str | None) -> bool:
    return bool(style and _HIDDEN_STYLE.search(style))


def _tokens(class_value: str | None, id_value: str | None) -> str:
    """The class and id tokens of an element, space-separated."""
    # Split at runs of white space, "_" and "-"; str.split's white space is
    # the same as a str pattern's \s.
    raw = f"{class_value or ''} {id_value or ''}".lower().replace("_", " ").replace("-", " ")
    return " ".join(raw.split()[:MAX_TOKENS_PER_ELEMENT])


# What the walk does at an element, as bits, decided once per tag name.
_SKIP = 1          # holds no reader's text: neither it nor its content is read
_BREAK_BEFORE = 2  # the line before it ends where it starts
_BREAK_AFTER = 4   # its own line ends where it ends
_LINK = 8

# Tag names are chosen by the page, so what is cached about them is bounded;
# past the bound they are worked out each time.
_CACHE_SIZE = 4096
_ACTIONS: dict[object, int] = {}
_NAMES: dict[str, str] = {}


def _action(tag: object) -> int:
    if not isinstance(tag, str):                 # comments, processing instructions, entities
        return _SKIP
    name = tag.lower()
    if name in INVISIBLE_TAGS:
        return _SKIP
    return ((_BREAK_BEFORE if _name(tag) in BLOCK_TAGS or name in LINE_BREAK_TAGS else 0)
            | (_BREAK_AFTER if name in BLOCK_TAGS or name == "head" else 0)
            | (_LINK if name == "a" else 0))


def _name(tag: str) -> str:
    """The tag as paths record it."""
    name = tag.lower()
    # libxml2 leaves elements it does not know as body content (<nav>,
    # <section>, custom elements) inside <head> when they come before the body
    # starts; browsers put them in the body.
    return "body" if name == "head" else name


# Where a line sits, shared by every line that ends inside one element:
# (block tag, path, tokens, regions, depth, the element's number).
_Context = tuple[str, str, str, frozenset, int, int]
_TOP: _Context = ("body", "", "", frozenset(), 0, 0)   # outside the root element


def _contexts(elements: list[etree._Element | None]) -> tuple[list[_Context], list[int]]:
    """The context of each element, built from its ancestors' (each worked out
    once), and the parent of every element met, by number (see Structure)."""
    known: dict[etree._Element | None, _Context] = {None: _TOP}
    parents = [-1]
    page_tokens: dict[tuple[str | None, str | None], str] = {}   # pages repeat their classes
    names = _NAMES
    out = []
    for element in elements:
        context = known.get(element)
        if context is None:
            # A loop up the ancestors, not recursion: pages nest deeper than
            # Python's recursion limit.
            chain = []
            while (context := known.get(element)) is None:
                chain.append(element)
                element = element.getparent()
            for element in reversed(chain):
                block_tag, path, tokens, regions, depth, parent = context
                tag = element.tag
                name = names.get(tag)
                if name is None:
                    name = _name(tag)
                    if len(names) < _CACHE_SIZE:
                        names[tag] = name
                if name in BLOCK_TAGS:
                    block_tag = name
                path = f"{path} {name}" if path else name
                get = element.get
                key = (get("class"), get("id"))
                if key != (None, None):
                    own = page_tokens.get(key)
                    if own is None:
                        own = page_tokens[key] = _tokens(*key)
                    if own:
                        tokens = f"{tokens} {own}" if tokens else own
                if name in REGION_TAGS:
                    regions = regions | {name}
                if HIDDEN_REGION not in regions and (
                        tag == "noscript" or get("hidden") is not None
                        or get("aria-hidden") == "true" or _hidden_style(get("style"))):
                    regions = regions | {HIDDEN_REGION}
                context = (block_tag, path, tokens, regions, depth + 1, len(parents))
                parents.append(parent)
                known[element] = context
        out.append(context)
    return out, parents


# The compiled walk hands libxml2 (lxml's copy) a table of its handlers, laid
# out as in the headers it was built with: it runs only with that libxml2 release.
COMPILED_WALK = _walk is not None and (
    (_walk.LIBXML_VERSION // 10000, _walk.LIBXML_VERSION // 100 % 100) == etree.LIBXML_VERSION[:2])

# Regions as bits of an int in the compiled walk, and each set of them.
_REGION_BIT = {region: 1 << i for i, region in enumerate(sorted(REGION_TAGS) + [HIDDEN_REGION])}
_REGION_SETS = [frozenset(r for r, bit in _REGION_BIT.items() if mask & bit)
                for mask in range(1 << len(_REGION_BIT))]
_FACTS: dict[str, tuple[int, str, bool, bool, int]] = {}


def _facts(tag: str) -> tuple[int, str, bool, bool, int]:
    """What the compiled walk needs to know of a tag: its action, its name
    in paths, whether it is a block, whether it hides its content, and the
    region bits it adds."""
    facts = _FACTS.get(tag)
    if facts is None:
        name = _name(tag)
        facts = (_action(tag), name, name in BLOCK_TAGS, tag == "noscript",
                 _REGION_BIT[name] if name in REGION_TAGS else 0)
        if len(_FACTS) < _CACHE_SIZE:
            _FACTS[tag] = facts
    return facts


def html_to_page(content: str | bytes, compiled: bool | None = None) -> Page:
    """Turn an HTML page into numbered lines with their structure.

    compiled: whether to read the page in compiled code (default: where it is built)."""
    if compiled and _walk is None:
        raise RuntimeError("classifier._walk is not built: reinstall (pip install .) where a C compiler and Python's headers are present")
    texts: list[str] = []
    structure = Structure()
    if COMPILED_WALK if compiled is None else compiled:
        read = _read(content, _read_events)
        if read is not None and read[0]:
            (texts, link_density, elements, tags, paths, tokens, regions, depths,
             parents) = read
            # Each element's context, spread to its lines (map: no Python loop per line).
            structure.tags = list(map(tags.__getitem__, elements))
            structure.paths = list(map(paths.__getitem__, elements))
            structure.tokens = list(map(tokens.__getitem__, elements))
            structure.regions = list(map(_REGION_SETS.__getitem__,
                                         map(regions.__getitem__, elements)))
            structure.depth = list(map(depths.__getitem__, elements))
            structure.elements = elements
            structure.parents = parents
            structure.link_density = link_density
    else:
        root = parse(content)
        texts, ends, link_chars = _lines(root) if root is not None else ([], [], [])
        if texts:
            contexts, structure.parents = _contexts(ends)
            (structure.tags, structure.paths, structure.tokens, structure.regions,
             structure.depth, structure.elements) = map(list, zip(*contexts))
            structure.link_density = _link_density(link_chars, texts)
    n = len(texts)
    return Page(
        texts=texts,
        numbers=list(range(1, n + 1)),
        gap_before=[False] * n,
        structure=structure,
    )


def _read_events(data: bytes, encoding: str | None) -> tuple | object:
    """_walk.read_page's lines and contexts of the page's bytes, or _TOO_DEEP."""
    read = _walk.read_page(data, encoding, _facts, _tokens, _hidden_style, _TOP[0],
                           _REGION_BIT[HIDDEN_REGION], MAX_TOKENS_PER_ELEMENT, MAX_NESTING)
    return _TOO_DEEP if read is None else read


def _link_density(link_chars: list[int], texts: list[str]) -> list[float]:
    """Each line's share of characters inside links, at most 1."""
    return [min(1.0, chars / max(1, len(text))) for chars, text in zip(link_chars, texts)]


def _lines(root: etree._Element) -> tuple[list[str], list[etree._Element | None], list[int]]:
    """The text under root cut into lines: each line's text, the element it ends in, its link characters.

    A line ends where a block-level element (or <br>) starts, in the block's
    parent, and where a block ends, in the block. Link characters are those
    of the line's text inside <a>, each piece of text stripped. The walk does
    as little as it can per element: it runs for every element of the page.
    """
    texts: list[str] = []
    ends: list[etree._Element | None] = []
    link_counts: list[int] = []
    # The pieces of text of the line being read. A line never starts with
    # white space (it would be stripped; inside a link it counts for
    # nothing), so a line is under way only once it has something to show.
    parts: list[str] = []
    link_chars = link_depth = 0
    actions = _ACTIONS
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = element.tag
        action = actions.get(tag)
        if action is None:
            action = _action(tag)
            if len(actions) < _CACHE_SIZE:
                actions[tag] = action
        if event == "start":
            if action:
                if action & _SKIP:
                    walker.skip_subtree()
                    continue
                if action & _BREAK_BEFORE and parts:
                    texts.append(" ".join("".join(parts).split()))
                    ends.append(element.getparent())
                    link_counts.append(link_chars)
                    parts = []
                    link_chars = 0
                if action & _LINK:
                    link_depth += 1
            text = element.text
        else:
            if action:
                if action & _BREAK_AFTER and parts:
                    texts.append(" ".join("".join(parts).split()))
                    ends.append(element)
                    link_counts.append(link_chars)
                    parts = []
                    link_chars = 0
                if action & _LINK:
                    link_depth -= 1
            text = element.tail if element is not root else None
        if text and (parts or not text.isspace()):
            parts.append(text)
            if link_depth:
                link_chars += len(text.strip())
    if parts:
        texts.append(" ".join("".join(parts).split()))
        ends.append(None)
        link_counts.append(link_chars)
    return texts, ends, link_counts
