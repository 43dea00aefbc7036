"""Bytes to text: decode a fetched document by its declared or detected charset.

Order of trust: a byte-order mark; valid UTF-8 (pages that declare another
charset but are UTF-8 are common, the reverse is rare); the charset the page
declares, if the bytes decode under it; detection; and last windows-1252 with
replacement characters, which always succeeds, so no document is refused for
its encoding.

A declaration is only a hint from the page's author: names Python does not
know ("x-foo"), codecs that are not text encodings ("zlib", "base64") and
encodings no browser reads a page in ("utf-7", "unicode-escape", which can
turn escapes into arbitrary characters, lone surrogates included) are
ignored, and detection decides.
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
_XML_DECLARED = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.I)

# Python codec names (as codecs.lookup spells them) that decode text but are
# not web encodings; a page naming one is decoded as if it named nothing.
NOT_WEB_ENCODINGS = frozenset({"utf-7", "unicode-escape", "raw-unicode-escape", "idna",
                               "punycode"})
# A declaration that can be read as ASCII is not in one of these, whatever it says.
WIDE_ENCODINGS = frozenset({"utf-16", "utf-32", "utf-16-le", "utf-16-be", "utf-32-le",
                            "utf-32-be"})
# Labels browsers read as another encoding (WHATWG Encoding Standard), and web
# labels Python spells differently.
WEB_LABELS = {"iso8859-1": "cp1252", "ascii": "cp1252", "latin-1": "cp1252",
              "windows-874": "cp874", "x-mac-cyrillic": "mac-cyrillic",
              "gb2312": "gb18030", "gbk": "gb18030", "x-sjis": "shift_jis"}


def _web_encoding(name: str) -> str | None:
    """The Python codec for an encoding label, or None when it is no web text encoding."""
    name = WEB_LABELS.get(name.lower(), name)
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    name = WEB_LABELS.get(info.name, info.name)
    if not info._is_text_encoding or name in NOT_WEB_ENCODINGS:
        return None
    return name


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page or XML prolog names near its start, if usable."""
    head = data[:DECLARATION_WINDOW]
    match = _DECLARED.search(head) or _XML_DECLARED.search(head)
    if not match:
        return None
    return _web_encoding(match.group(1).decode("ascii", "replace"))


# What detection may answer: the encodings browsers read (WHATWG), as
# charset_normalizer names them. Outside them it guesses rarities (hp_roman8
# for German) that no page is written in.
DETECTABLE_ENCODINGS = (
    "utf_8 cp866 iso8859_2 iso8859_3 iso8859_4 iso8859_5 iso8859_6 iso8859_7 iso8859_8 "
    "iso8859_10 iso8859_13 iso8859_14 iso8859_15 iso8859_16 koi8_r koi8_u mac_roman "
    "mac_cyrillic cp874 cp1250 cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 "
    "gb18030 big5 euc_jp iso2022_jp shift_jis euc_kr utf_16_le utf_16_be").split()


def _detected(data: bytes) -> str | None:
    matches = charset_normalizer.from_bytes(data, cp_isolation=DETECTABLE_ENCODINGS)
    best = matches.best()
    if best is None or _web_encoding(best.encoding) is None:
        return None
    # Short Western European text fits several single-byte encodings equally
    # well; windows-1252 is the one the web uses (French "à" is "ŕ" in windows-1250).
    best = next((m for m in matches if m.encoding == "cp1252" and m.chaos <= best.chaos
                 and m.coherence >= best.coherence), best)
    try:
        return str(best)
    except (UnicodeDecodeError, LookupError):
        # Detection samples the bytes; the rest may not decode.
        return data.decode(best.encoding, errors="replace")


def decode(data: bytes) -> str:
    """Decode a document's bytes to text; never fails, and the text is valid Unicode."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared = declared_charset(data)
    if declared and declared != "utf-8" and declared not in WIDE_ENCODINGS:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            pass
    detected = _detected(data)
    if detected is not None:
        return detected
    return data.decode(FALLBACK_ENCODING, errors="replace")
