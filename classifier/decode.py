"""Bytes to text: decode a fetched document by its declared or detected charset.

Order of trust: a byte-order mark; valid UTF-8 (pages that declare another
charset but are UTF-8 are common, the reverse is rare); the charset the page
declares, if the bytes decode under it; detection; and last windows-1252 with
replacement characters, which always succeeds, so no document is refused for
its encoding.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

DECLARATION_WINDOW = 4096
FALLBACK_ENCODING = "windows-1252"

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_DECLARED = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page or XML prolog names near its start, if known."""
    head = data[:DECLARATION_WINDOW]
    match = _DECLARED.search(head) or re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", head)
    if not match:
        return None
    name = match.group(1).decode("ascii", "replace")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode(data: bytes) -> str:
    """Decode a document's bytes to text; never fails."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = declared_charset(data)
    if declared and declared not in ("utf-8", "utf-16", "utf-32"):
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best)
    return data.decode(FALLBACK_ENCODING, errors="replace")
