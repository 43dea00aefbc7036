"""Five-class line labels derived from a page and its gold main text.

Public data sets say only which text is the main content; they do not say
what the rest is. This module labels every line of a page in three steps:

1. BODY: lines whose words belong to the gold text. A line of at least
   LONG_LINE_WORDS words is BODY when at least BODY_SHINGLE_SHARE of its
   word trigrams occur in the gold text. A shorter line is BODY when its
   words occur in the gold text in order (or it equals a gold block) and a
   line within SHORT_LINE_REACH lines is BODY already: a short line alone,
   like "Home" or a menu's course title, matches the gold text by chance.
2. For the rest, the first rule that fires: cookie and consent banners
   (CONSENT_TOKENS, CONSENT_TEXT) are NAVIGATION; then in the order
   DISCLAIMER, AD, RELATED_LINKS: a class/id token of the nearest ancestors
   (the last NEAR_TOKENS tokens) is one of the label's MARKUP_TOKENS, or
   the line's text matches one of the label's TEXT_PATTERNS (cues.py).
   Short link-dense lines take no label from their text nor from
   DISCLAIMER containers (a footer's "Privacy policy" link is a footer
   link, NAVIGATION); a long line with a © inside is a caption, not a
   credit.
   RELATED_LINKS also spreads down a list: a line of at least
   HEADLINE_MIN_WORDS words outside nav/header/footer/form within
   RELATED_REACH lines below a RELATED_LINKS line (the headlines and
   teasers of a "More stories" list under its heading), and a short line
   between two RELATED_LINKS lines (the section names on the cards).
3. Everything else is NAVIGATION (menus, footers, buttons, forms, comments).

The rules are cues, not truth: `python -m classifier.weaklabels --sample N`
prints a random sample for reading, and the model card reports how many of
a read sample were right per class.
"""

from __future__ import annotations

import re
from collections import Counter

from classifier.cues import (
    CONSENT_TEXT, CONSENT_TOKENS, FURNITURE_REGIONS, MARKUP_TOKENS, TEXT_PATTERNS,
)
from classifier.labels import AD, BODY, DISCLAIMER, NAVIGATION, RELATED_LINKS
from classifier.lines import Page

BODY_SHINGLE_SHARE = 0.5
LONG_LINE_WORDS = 8
SHORT_LINE_REACH = 2
HEADLINE_MIN_WORDS = 4
RELATED_REACH = 4
LINK_LINE_DENSITY = 0.8
LINK_LINE_MAX_WORDS = 6
NEAR_TOKENS = 12               # class/id tokens of the nearest ancestors that count
SHORT_CREDIT_WORDS = 12        # a © line longer than this is a caption, not a credit
RULE_ORDER = (DISCLAIMER, AD, RELATED_LINKS)

_WORD = re.compile(r"\w+")
_PATTERNS = {label: [re.compile(p, re.I) for p in patterns]
             for label, patterns in TEXT_PATTERNS.items()}


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _trigrams(words: list[str]) -> list[tuple[str, ...]]:
    return [tuple(words[i:i + 3]) for i in range(len(words) - 2)]


class GoldText:
    """The gold main text, indexed for fuzzy membership tests."""

    def __init__(self, gold: str) -> None:
        blocks = [_words(b) for b in gold.splitlines()]
        self.blocks = {" ".join(b) for b in blocks if b}
        words = [w for b in blocks for w in b]
        self.joined = " " + " ".join(words) + " "
        self.trigrams = Counter(_trigrams(words))

    def contains(self, words: list[str]) -> bool:
        if not words:
            return False
        if " ".join(words) in self.blocks:
            return True
        grams = _trigrams(words)
        if not grams:
            return False
        hits = sum(1 for g in grams if g in self.trigrams)
        return hits / len(grams) >= BODY_SHINGLE_SHARE

    def has_phrase(self, words: list[str]) -> bool:
        return bool(words) and f" {' '.join(words)} " in self.joined


_CONSENT = re.compile(CONSENT_TEXT, re.I)


def _rule_label(text: str, tokens: set[str], link_line: bool) -> str | None:
    """The clutter label the line's own text or nearest containers point to.

    A link line (short, mostly link text) takes no label from its text nor
    from DISCLAIMER containers: the links of a legal footer strip are footer
    links. Cookie and consent banners are NAVIGATION whatever they say.
    """
    if tokens & CONSENT_TOKENS or _CONSENT.search(text):
        return NAVIGATION
    for label in RULE_ORDER:
        if tokens & MARKUP_TOKENS[label] and not (link_line and label == DISCLAIMER):
            return label
        if not link_line and any(p.search(text) for p in _PATTERNS[label]):
            if label == DISCLAIMER and len(text.split()) > SHORT_CREDIT_WORDS \
                    and "©" in text and not text.lstrip().startswith("©"):
                continue
            return label
    return None


def derive_labels(page: Page, gold: str) -> list[str]:
    """One label per line of `page`, from the gold main text and cues."""
    index = GoldText(gold)
    n = len(page)
    words = [_words(t) for t in page.texts]
    labels: list[str | None] = [None] * n

    # 1. BODY: long lines first, then short lines beside them.
    short: list[int] = []
    for i, w in enumerate(words):
        if len(w) >= LONG_LINE_WORDS:
            if index.contains(w):
                labels[i] = BODY
        elif index.has_phrase(w) or " ".join(w) in index.blocks:
            short.append(i)
    for i in short:
        lo, hi = max(0, i - SHORT_LINE_REACH), min(n, i + SHORT_LINE_REACH + 1)
        if any(labels[j] == BODY for j in range(lo, hi)):
            labels[i] = BODY

    # 2. Cues for the rest, in document order so lists follow their heading.
    s = page.structure
    last_related = -RELATED_REACH - 1
    for i in range(n):
        if labels[i] == BODY:
            continue
        tokens = set(s.tokens[i].split()[-NEAR_TOKENS:]) if s else set()
        link_line = (s is not None and s.link_density[i] >= LINK_LINE_DENSITY
                     and len(words[i]) < LINK_LINE_MAX_WORDS)
        label = _rule_label(page.texts[i].strip(), tokens, link_line)
        furniture = bool(s.regions[i] & FURNITURE_REGIONS) if s else False
        if label is None and not furniture and i - last_related <= RELATED_REACH:
            if len(words[i]) >= HEADLINE_MIN_WORDS:
                label = RELATED_LINKS
            elif i + 1 < n and _rule_label(page.texts[i + 1], set(), False) is None \
                    and len(words[i + 1]) >= HEADLINE_MIN_WORDS and labels[i + 1] != BODY:
                label = RELATED_LINKS  # a card's section name above its headline
        if label == RELATED_LINKS:
            last_related = i
        elif label == NAVIGATION:
            last_related = -RELATED_REACH - 1  # a menu ends the list above it
        labels[i] = label or NAVIGATION
    return [label or NAVIGATION for label in labels]


def _sample_main(argv=None) -> int:
    """Print a random sample of derived labels, stratified by label, for reading."""
    import argparse
    import random
    import sys

    from classifier.datasets import WCXB, datasets_dir, read_pages
    from classifier.html import html_to_page
    from classifier.labels import LABELS

    parser = argparse.ArgumentParser(prog="python -m classifier.weaklabels",
                                     description=_sample_main.__doc__)
    parser.add_argument("--datasets", help="folder with wcxb-dev.jsonl.gz")
    parser.add_argument("--per-label", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pages", type=int, default=400, help="pages to draw lines from")
    args = parser.parse_args(argv)
    folder = datasets_dir(args.datasets)
    if folder is None:
        print("no datasets folder (set --datasets or DECLUTTER_DATASETS)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    pages = list(read_pages(folder / WCXB))
    rng.shuffle(pages)
    pool: dict[str, list] = {label: [] for label in LABELS}
    for gp in pages[: args.pages]:
        page = html_to_page(gp.html)
        for i, label in enumerate(derive_labels(page, gp.gold)):
            pool[label].append((gp, page, i))
    k = 0
    for label in LABELS:
        for gp, page, i in rng.sample(pool[label], min(args.per_label, len(pool[label]))):
            k += 1
            s = page.structure
            print(f"### {k} derived={label} page={gp.id} type={gp.page_type} url={gp.url}")
            print(f"    tag={s.tags[i]} regions={sorted(s.regions[i])} links={s.link_density[i]:.2f} "
                  f"classes={s.tokens[i][-120:]!r}")
            for j in range(max(0, i - 2), min(len(page), i + 3)):
                mark = ">>" if j == i else "  "
                print(f"  {mark} {page.texts[j][:300]}")
            print(f"    in gold: {page.texts[i][:60] in gp.gold}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_sample_main())
