"""From a document to its body: input -> lines -> features -> model -> labels -> body.

This is the one path every caller (server, CLI, evaluation) cleans through.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from classifier.decode import decode
from classifier.html import html_to_page
from classifier.labels import BODY
from classifier.limits import Limits
from classifier.lines import Page, split_text
from classifier.model import Model


class Format(enum.Enum):
    PLAIN_TEXT = "plain_text"
    HTML = "html"


@dataclass
class Cleaned:
    """A labelled document: its lines, a label and confidence each, and the body."""

    page: Page
    labels: list[str]
    confidences: np.ndarray

    @property
    def body(self) -> str:
        return body_of(self.page.texts, self.labels)


def body_of(texts: Sequence[str], labels: Sequence[str]) -> str:
    """The body: the BODY lines, one per line."""
    return "\n".join(t for t, label in zip(texts, labels, strict=True) if label == BODY)


DEFAULT_LIMITS = Limits()


def read_page(content: str | bytes, fmt: Format, limits: Limits = DEFAULT_LIMITS) -> Page:
    """Input -> lines. Bytes are decoded by their declared or detected charset.

    The size is checked before anything else and the line count and lengths
    before any features are computed (LimitExceeded)."""
    limits.check_size(content)
    if isinstance(content, bytes):
        content = decode(content)
    page = html_to_page(content) if fmt is Format.HTML else split_text(content)
    limits.check_lines(page.texts)
    return page


def label_page(model: Model, page: Page) -> Cleaned:
    """Lines -> features -> model -> labels."""
    return label_pages(model, [page])[0]


def label_pages(model: Model, pages: list[Page]) -> list[Cleaned]:
    """label_page for many pages, with one model call per stage for them all
    (the way to clean many short documents fast)."""
    # Label names as Python strs once: a numpy str per line was about 3% of a short text's time.
    names = [str(c) for c in model.estimator.classes_]
    cleaned = []
    for page, probs in zip(pages, model.estimator.pages_proba(pages)):
        best = np.argmax(probs, axis=1)
        cleaned.append(Cleaned(page=page, labels=[names[i] for i in best.tolist()],
                               confidences=probs[np.arange(len(best)), best]))
    return cleaned


def clean(model: Model, content: str | bytes, fmt: Format,
          limits: Limits = DEFAULT_LIMITS,
          checkpoint: Callable[[], None] | None = None) -> Cleaned:
    """`checkpoint`, if given, is called between the stages; it raises to
    stop work nobody is waiting for any more (say, a caller's passed deadline)."""
    check = checkpoint or (lambda: None)
    page = read_page(content, fmt, limits)
    check()
    cleaned = label_page(model, page)
    check()
    return cleaned
