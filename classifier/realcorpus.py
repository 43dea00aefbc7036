"""Training documents made from real pages and their gold main text.

Each page of a training site (see classifier/datasets.py) becomes two
labelled documents: its HTML lines with labels derived from the gold text
(classifier/weaklabels.py), and the same lines rendered as plain text in one
scraper style chosen at random per page (classifier/textstyles.py), so the
text model sees every style without the corpus growing fourfold.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from classifier.corpus import LabeledPage
from classifier.errors import DocumentError
from classifier.datasets import READABILITY, WCXB, is_evaluation_site, read_pages
from classifier.html import html_to_page
from classifier.textstyles import STYLES, render
from classifier.weaklabels import derive_labels

SOURCES = (WCXB, READABILITY)


def training_pages(folder: Path, seed: int = 0) -> Iterator[LabeledPage]:
    """Labelled HTML and plain-text documents from the training sites in `folder`."""
    rng = random.Random(seed)
    for name in SOURCES:
        path = folder / name
        if not path.is_file():
            continue
        for gp in read_pages(path):
            if is_evaluation_site(gp.site):
                continue
            try:
                page = html_to_page(gp.html)
            except DocumentError:
                continue  # nested past what the parser reads: no trustworthy lines
            if not len(page):
                continue
            labels = derive_labels(page, gp.gold)
            yield LabeledPage(id=gp.id, group=gp.site, page=page, labels=labels, relayout=False)
            style = rng.choice(STYLES)
            text_page, text_labels = render(page, labels, style, seed=rng.randrange(1 << 30))
            yield LabeledPage(id=f"{gp.id}#{style}", group=gp.site, page=text_page,
                              labels=text_labels, relayout=False)
