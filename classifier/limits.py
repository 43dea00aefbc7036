"""How much one document may ask of the cleaner, checked before heavy work."""

from __future__ import annotations

from dataclasses import dataclass

from classifier.errors import DocumentError

DEFAULT_MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
DEFAULT_MAX_LINES = 200_000
DEFAULT_MAX_LINE_CHARS = 1024 * 1024


class LimitExceeded(DocumentError):
    """A document over one of the limits; names the limit, the value and the maximum."""

    def __init__(self, limit: str, value: int, maximum: int, what: str) -> None:
        super().__init__(f"the document has {value:,} {what}, over the {limit} limit of {maximum:,}")
        self.limit = limit
        self.value = value
        self.maximum = maximum


@dataclass(frozen=True)
class Limits:
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_lines: int = DEFAULT_MAX_LINES
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS

    def check_size(self, content: str | bytes) -> None:
        # Text is measured in characters, without encoding it; its UTF-8 form can
        # be up to 4 times larger (over gRPC the message size limit bounds the bytes).
        size = len(content)
        if size > self.max_document_bytes:
            raise LimitExceeded("max_document_bytes", size, self.max_document_bytes,
                                "bytes" if isinstance(content, bytes) else "characters")

    def check_lines(self, texts: list[str]) -> None:
        if len(texts) > self.max_lines:
            raise LimitExceeded("max_lines", len(texts), self.max_lines, "non-blank lines")
        longest = max(map(len, texts), default=0)
        if longest > self.max_line_chars:
            raise LimitExceeded("max_line_chars", longest, self.max_line_chars,
                                "characters in its longest line")

