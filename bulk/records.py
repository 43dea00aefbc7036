"""One input document in, one output row out; a bad document becomes an error row.

An input document is an object with an `id` and its text in exactly one of
`content` or `html`:

    {"id": "a-1", "content": "plain text ...", "format": "plain_text"}
    {"id": "a-2", "html": "<html>...</html>"}

`format` ("plain_text" or "html") is optional: `html` means HTML, `content`
means the job's default format. Other fields are ignored. `id` is a string,
or an integer written out as a string. Text may also be bytes (a Parquet
binary column), decoded like the server decodes bytes.

The output row has `id`, `body` and `error`/`error_type`, which are null
unless the document could not be cleaned; then `body` is null and the
partition goes on. With labels, also `lines` and `labels`, one label per line.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable, Iterator

from classifier.errors import DocumentError
from classifier.limits import LimitExceeded, Limits
from classifier.pipeline import Format, label_pages, read_page

TEXT_FIELDS = ("content", "html")
# error_type values
INVALID_RECORD = "invalid_record"        # not a document this reader understands
INVALID_DOCUMENT = "invalid_document"    # a document the cleaner cannot read
LIMIT_EXCEEDED = "limit_exceeded"        # a document over one of the limits

OUTPUT_FIELDS = ("id", "body", "error", "error_type")
LABEL_FIELDS = ("lines", "labels")


class RecordError(ValueError):
    """An input record that is not a document: says which field is wrong and how."""

    def __init__(self, message: str, doc_id: str | None = None) -> None:
        super().__init__(message)
        self.doc_id = doc_id


def _utf8(value: str, what: str, doc_id: str | None) -> str:
    # JSON can carry lone surrogates ("\ud800"), which no UTF-8 writer (or
    # parser) accepts; refuse them here rather than fail the partition later.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RecordError(f"{what} is not valid Unicode ({exc.reason} at "
                          f"character {exc.start})", doc_id) from None
    return value


class Unreadable:
    """Stands for an input line that is not even JSON, so the reader can go on."""

    def __init__(self, message: str) -> None:
        self.message = message


def parse_record(record: Any, default_format: Format) -> tuple[str, Format, str | bytes]:
    """(id, format, text) of an input record, or RecordError."""
    if isinstance(record, Unreadable):
        raise RecordError(record.message)
    if not isinstance(record, dict):
        raise RecordError(f"a document must be an object, got {type(record).__name__}")
    doc_id = record.get("id")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id:
        raise RecordError("'id' must be a non-empty string or an integer")
    doc_id = _utf8(doc_id, "'id'", None)
    given = [name for name in TEXT_FIELDS if record.get(name) is not None]
    if len(given) != 1:
        raise RecordError("give the text in exactly one of 'content' or 'html'"
                          + (", not both" if given else ""), doc_id)
    field = given[0]
    text = record[field]
    if isinstance(text, str):
        text = _utf8(text, f"'{field}'", doc_id)
    elif not isinstance(text, bytes):
        raise RecordError(f"'{field}' must be a string, got {type(text).__name__}", doc_id)
    declared = record.get("format")
    if declared is None:
        fmt = Format.HTML if field == "html" else default_format
    else:
        try:
            fmt = Format(declared)
        except ValueError:
            raise RecordError(f"'format' is {declared!r}; use one of "
                              f"{[f.value for f in Format]}", doc_id) from None
        if field == "html" and fmt is not Format.HTML:
            raise RecordError("'html' holds HTML, but 'format' says plain_text; "
                              "put plain text in 'content'", doc_id)
    return doc_id, fmt, text


def error_row(doc_id: str | None, error_type: str, message: str, with_labels: bool) -> dict:
    row = {"id": doc_id, "body": None, "error": message, "error_type": error_type}
    if with_labels:
        row.update(lines=None, labels=None)
    return row


BATCH_DOCUMENTS = 64  # documents labelled with one model call per stage


def clean_record(model, record: Any, default_format: Format, limits: Limits,
                 with_labels: bool = False) -> dict:
    """The output row for one input record; never raises for a bad document."""
    return next(clean_records(model, [record], default_format, limits, with_labels))


def clean_records(model, records: Iterable[Any], default_format: Format, limits: Limits,
                  with_labels: bool = False) -> Iterator[dict]:
    """Output rows in input order. Documents are read one by one (a bad one
    becomes an error row) and labelled BATCH_DOCUMENTS at a time."""
    records = iter(records)
    while chunk := list(islice(records, BATCH_DOCUMENTS)):
        rows: list[dict | None] = []
        pages, waiting = [], []
        for record in chunk:
            try:
                doc_id, fmt, text = parse_record(record, default_format)
                pages.append(read_page(text, fmt, limits))
            except RecordError as exc:
                rows.append(error_row(exc.doc_id, INVALID_RECORD, str(exc), with_labels))
            except LimitExceeded as exc:
                rows.append(error_row(doc_id, LIMIT_EXCEEDED, str(exc), with_labels))
            except DocumentError as exc:
                rows.append(error_row(doc_id, INVALID_DOCUMENT, str(exc), with_labels))
            else:
                waiting.append((len(rows), doc_id))
                rows.append(None)
        for (slot, doc_id), cleaned in zip(waiting, label_pages(model, pages)):
            row = {"id": doc_id, "body": cleaned.body, "error": None, "error_type": None}
            if with_labels:
                row.update(lines=list(cleaned.page.texts), labels=list(cleaned.labels))
            rows[slot] = row
        yield from rows
