"""Bytes to text: declared, mis-declared, undeclared and undecodable documents."""

import codecs
import os

import pytest

from classifier.decode import declared_charset, decode

RUSSIAN = ("Городской совет одобрил новый паромный маршрут к островам. Жители добивались "
           "этого решения десять лет, и теперь дорога в больницу займёт меньше часа.")
GERMAN = "Der Stadtrat hat die neue Fährverbindung zu den Inseln genehmigt. Größere Schiffe folgen."


@pytest.mark.parametrize("text, encoding", [
    (GERMAN, "utf-8-sig"), (GERMAN, "utf-16"), (GERMAN, "utf-32"), (RUSSIAN, "utf-16"),
])
def test_a_byte_order_mark_decides(text, encoding):
    assert decode(text.encode(encoding)) == text


def test_a_declared_charset_is_used_when_the_bytes_fit_it():
    page = f"<meta charset='windows-1251'><p>{RUSSIAN}</p>"
    assert decode(page.encode("cp1251")) == page
    xml = f'<?xml version="1.0" encoding="koi8-r"?><p>{RUSSIAN}</p>'
    assert decode(xml.encode("koi8-r")) == xml


def test_latin1_declarations_read_as_windows_1252_as_browsers_do():
    page = "<meta charset=iso-8859-1><p>“Quoted” – café</p>"
    assert decode(page.encode("cp1252")) == page


@pytest.mark.parametrize("label", ["utf-8", "x-foo", "zlib", "base64", "rot13", "hex",
                                   "utf-7", "unicode-escape", "idna", "punycode", "utf-16"])
def test_wrong_unknown_or_non_text_declarations_fall_back_to_detection(label):
    page = f'<meta charset="{label}"><p>{RUSSIAN}</p>'
    assert decode(page.encode("cp1251")) == page
    assert declared_charset(page.encode("cp1251")) in (None, "utf-8", "utf-16")


def test_mixed_encodings_never_raise_and_keep_the_utf8_part_readable_or_replaced():
    data = GERMAN.encode("utf-8") + b" " + GERMAN.encode("cp1252")
    text = decode(data)
    assert "Stadtrat" in text and len(text) >= len(GERMAN)


@pytest.mark.parametrize("data", [
    b"", b"\x00" * 100, b"\xff\xfe", b"\xfe\xff\x00", b"\xef\xbb\xbf\xff\xff", b"\x80\x81\x8d\x8f\x90\x9d",
    b"\xff\xfe\x00\xd8" + b"a\x00" * 10,                       # UTF-16 with a lone surrogate
    b'<meta charset="shift_jis">\x82\xa0\x82\xa2\xff\xff\xfe',  # declared, then bytes that do not fit
    b"+2D3cAA-" * 100,                                          # UTF-7 that would decode to surrogates
    os.urandom(64 * 1024),
])
def test_undecodable_bytes_never_raise_and_give_valid_unicode(data):
    text = decode(data)
    text.encode("utf-8")  # no lone surrogates: the text can go into a protobuf string


def test_declaration_is_read_only_near_the_start():
    late = b" " * 5000 + b"<meta charset=koi8-r>"
    assert declared_charset(late) is None
    assert codecs.lookup(declared_charset(b"<meta charset=KOI8-R>")).name == "koi8-r"
