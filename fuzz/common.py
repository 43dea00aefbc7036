"""What every fuzz harness checks about a page, and how it runs the model when asked.

A harness input is cleaned or refused with a DocumentError (LimitExceeded is
one); anything else raised is a finding. A page's lines must be non-empty,
valid Unicode (they go into protobuf strings), numbered as documented, and
have one structure entry each (HTML).
"""

from __future__ import annotations

import os

from classifier.lines import Page

# DECLUTTER_FUZZ_MODEL=1 also labels each page with the shipped model: much
# slower per input, but it fuzzes the features and the model's input handling.
WITH_MODEL = os.environ.get("DECLUTTER_FUZZ_MODEL") == "1"
# Small enough that the fuzzer reaches every limit check quickly.
MAX_INPUT_BYTES = 64 * 1024

_model = None


def label(page: Page) -> None:
    global _model
    if not WITH_MODEL:
        return
    from classifier.model import DEFAULT_MODEL_PATH, load_model
    from classifier.pipeline import label_page
    if _model is None:
        _model = load_model(DEFAULT_MODEL_PATH)
    cleaned = label_page(_model, page)
    assert len(cleaned.labels) == len(page.texts) == len(cleaned.confidences)


def check_page(page: Page, html: bool) -> None:
    n = len(page.texts)
    assert len(page.numbers) == len(page.gap_before) == n
    for text in page.texts:
        assert text.strip(), repr(text)
        text.encode("utf-8")
    if html:
        assert page.numbers == list(range(1, n + 1))
        s = page.structure
        assert s is not None
        assert (len(s.tags) == len(s.paths) == len(s.tokens) == len(s.regions)
                == len(s.link_density) == len(s.depth) == n)
        assert all("\n" not in t and t == t.strip() for t in page.texts)
    else:
        assert page.numbers == sorted(set(page.numbers))
