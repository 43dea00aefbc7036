"""Labeled training documents: reading and checking the JSON Lines format.

One document per line:

    {"id": "doc-1", "format": "plain_text", "site": "example.com",
     "lines": [{"text": "Home / World", "label": "NAVIGATION"},
               {"text": ""},
               {"text": "Council approves ferry route", "label": "BODY"}]}

`lines` are the document's lines in order; a blank `text` is a blank line
and carries no label; every other line has one of the five labels. `id` is
required and unique; `format` is "plain_text" (the default); `site`
(optional) groups documents that must stay on the same side of a
train/evaluation split (documents without it are their own group).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from classifier.labels import LABELS
from classifier.lines import Page, is_blank, page_from_lines

DOCUMENT_KEYS = frozenset({"id", "format", "site", "url", "lines"})
LINE_KEYS = frozenset({"text", "label"})
FORMATS = ("plain_text",)
DEFAULT_CORPUS = Path(__file__).parent / "corpus" / "train"


class CorpusError(ValueError):
    """A training file that breaks the format; the message says where and how."""


@dataclass
class LabeledPage:
    id: str
    group: str
    page: Page
    labels: list[str]  # one per non-blank line of `page`
    # Whether training may also use the document laid out with and without
    # blank lines (documents already rendered in several styles say no).
    relayout: bool = True
    weight: float = 1.0  # how much each of its lines counts in training


def default_corpus_files() -> list[Path]:
    return sorted(DEFAULT_CORPUS.glob("*.jsonl"))


def read_corpus(paths: Iterable[str | Path]) -> list[LabeledPage]:
    """Read and check every document of the given files."""
    documents: list[LabeledPage] = []
    seen: dict[str, str] = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise CorpusError(f"{path}: no such file")
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                where = f"{path}:{number}"
                doc = _parse_document(raw, where)
                if doc.id in seen:
                    raise CorpusError(f"{where}: id {doc.id!r} already used at {seen[doc.id]}")
                seen[doc.id] = where
                documents.append(doc)
    if not documents:
        raise CorpusError("no documents in " + ", ".join(map(str, paths)))
    return documents


def _parse_document(raw: str, where: str) -> LabeledPage:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: a document must be a JSON object, got {type(record).__name__}")
    extra = sorted(set(record) - DOCUMENT_KEYS)
    if extra:
        raise CorpusError(f"{where}: unknown field(s) {extra}; allowed: {sorted(DOCUMENT_KEYS)}")
    doc_id = record.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise CorpusError(f"{where}: 'id' must be a non-empty string")
    fmt = record.get("format", "plain_text")
    if fmt not in FORMATS:
        raise CorpusError(f"{where}: 'format' is {fmt!r}; supported: {list(FORMATS)}")
    site = record.get("site", doc_id)
    if not isinstance(site, str):
        raise CorpusError(f"{where}: 'site' must be a string")
    lines = record.get("lines")
    if not isinstance(lines, list) or not lines:
        raise CorpusError(f"{where}: 'lines' must be a non-empty list of {{\"text\", \"label\"}} objects")
    texts: list[str] = []
    labels: list[str] = []
    for i, line in enumerate(lines, start=1):
        at = f"{where}: line {i} of document {doc_id!r}"
        if not isinstance(line, dict):
            raise CorpusError(f"{at}: must be an object with 'text' and 'label'")
        extra = sorted(set(line) - LINE_KEYS)
        if extra:
            raise CorpusError(f"{at}: unknown field(s) {extra}; allowed: {sorted(LINE_KEYS)}")
        text = line.get("text")
        if not isinstance(text, str):
            raise CorpusError(f"{at}: 'text' must be a string")
        if "\n" in text or "\r" in text:
            raise CorpusError(f"{at}: 'text' contains a line break; give each line its own entry")
        label = line.get("label")
        if is_blank(text):
            if label is not None:
                raise CorpusError(f"{at}: a blank line takes no label (got {label!r})")
        elif label not in LABELS:
            got = "no label" if label is None else f"label {label!r}"
            raise CorpusError(f"{at}: {got}; a non-blank line needs one of {list(LABELS)}")
        else:
            labels.append(label)
        texts.append(text)
    if not labels:
        raise CorpusError(f"{where}: document {doc_id!r} has only blank lines")
    return LabeledPage(id=doc_id, group=site, page=page_from_lines(texts), labels=labels)
