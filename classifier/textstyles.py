"""Plain text like scrapers make it, from a page's lines and their labels.

Users send text that some scraper already made from HTML. To train and test
the text model on more than one converter's habits, a labelled HTML page is
rendered in several styles:

- "lines": one block per line;
- "paragraphs": one block per line with a blank line between blocks;
- "glued": as "lines", but runs of short link lines of one label are glued
  into one line, with no space or with a space or separator as scrapers
  do ("HomeNewsSport", "News | Sport"), and a short section name is glued to
  the headline below it ("SportsLocal club wins cup final").
"""

from __future__ import annotations

import random

from classifier.labels import BODY
from classifier.lines import Page, page_from_lines

STYLES = ("lines", "paragraphs", "glued")
GLUE_MAX_WORDS = 5           # lines this short can be glued to a neighbour
GLUE_MIN_LINK_DENSITY = 0.5
SECTION_NAME_MAX_WORDS = 2
GLUE_JOINERS = ("", "", " ", " | ", " · ")


def render(page: Page, labels: list[str], style: str, seed: int = 0) -> tuple[Page, list[str]]:
    """The page as plain text in `style`, with one label per non-blank line."""
    if style == "lines":
        return page_from_lines(list(page.texts)), list(labels)
    if style == "paragraphs":
        texts: list[str] = []
        for text in page.texts:
            if texts:
                texts.append("")
            texts.append(text)
        return page_from_lines(texts), list(labels)
    if style == "glued":
        return _glued(page, labels, random.Random(seed))
    raise ValueError(f"unknown style {style!r}; choose from {STYLES}")


def _gluable(page: Page, i: int) -> bool:
    s = page.structure
    short = len(page.texts[i].split()) <= GLUE_MAX_WORDS
    linky = s is None or s.link_density[i] >= GLUE_MIN_LINK_DENSITY
    return short and linky


def _glued(page: Page, labels: list[str], rng: random.Random) -> tuple[Page, list[str]]:
    texts: list[str] = []
    out_labels: list[str] = []
    i, n = 0, len(page)
    while i < n:
        label = labels[i]
        text = page.texts[i]
        j = i + 1
        if label != BODY and _gluable(page, i):
            joiner = rng.choice(GLUE_JOINERS)
            while j < n and labels[j] == label and _gluable(page, j):
                text = text + joiner + page.texts[j]
                j += 1
            if (j == i + 1 and j < n and labels[j] == label
                    and len(page.texts[i].split()) <= SECTION_NAME_MAX_WORDS):
                text = text + page.texts[j]  # section name glued to its headline
                j += 1
        texts.append(text)
        out_labels.append(label)
        i = j
    return page_from_lines(texts), out_labels
