"""Text to numbered lines: the unit the model labels.

A `Page` is a document reduced to its non-blank lines, each with its 1-based
number in the input and whether blank lines stood before it. Pages made from
HTML also carry the structure of each block (see `classifier.html`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# PLAIN_TEXT splits on exactly these line ends (not on form feeds, vertical
# tabs or Unicode separators, as str.splitlines would).
LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass
class Structure:
    """What the HTML said about each line; one entry per line of the page,
    except `parents`, which has one per element."""

    tags: list[str] = field(default_factory=list)          # the block's tag
    paths: list[str] = field(default_factory=list)         # ancestor tags, root first
    tokens: list[str] = field(default_factory=list)        # ancestors' class/id tokens
    regions: list[frozenset[str]] = field(default_factory=list)  # nav/header/footer/aside/form around it
    link_density: list[float] = field(default_factory=list)  # share of its text inside <a>
    depth: list[int] = field(default_factory=list)
    # The elements lines end in and their ancestors, numbered so that an
    # element comes after its parent; element 0 stands for outside the root.
    elements: list[int] = field(default_factory=list)      # the element the line ends in
    parents: list[int] = field(default_factory=list)       # per element: its parent's number (-1 for 0)


@dataclass
class Page:
    """A document as its non-blank lines."""

    texts: list[str]
    numbers: list[int]
    gap_before: list[bool]
    structure: Structure | None = None

    def __len__(self) -> int:
        return len(self.texts)


def is_blank(text: str) -> bool:
    return not text or text.isspace()  # as `not text.strip()`, without the copy


def split_text(content: str) -> Page:
    """Split PLAIN_TEXT into its non-blank lines, numbered as in the input."""
    texts: list[str] = []
    numbers: list[int] = []
    gap_before: list[bool] = []
    gap = False
    parts = LINE_END.split(content) if "\r" in content else content.split("\n")
    for number, text in enumerate(parts, start=1):
        if not text or text.isspace():  # is_blank, inlined: this loop runs per line
            gap = True
            continue
        texts.append(text)
        numbers.append(number)
        gap_before.append(gap)
        gap = False
    return Page(texts, numbers, gap_before)


def page_from_lines(texts: list[str]) -> Page:
    """A page from already-split lines, where "" stands for a blank line."""
    return split_text("\n".join(texts))


def relayout(page: Page, blank_lines: bool) -> Page:
    """The same lines laid out with (or without) a blank line between each."""
    texts: list[str] = []
    for text in page.texts:
        if blank_lines and texts:
            texts.append("")
        texts.append(text)
    return page_from_lines(texts)
