"""Writes the seed corpus: one file per hostile shape, first byte 0 = text, 1 = bytes.

    python fuzz/make_seeds.py      # rewrites fuzz/corpus/{html,text}
"""

from pathlib import Path

ROOT = Path(__file__).parent / "corpus"
TEXT, RAW = b"\x00", b"\x01"

RUSSIAN = "Городской совет одобрил новый паромный маршрут к островам."
HTML_SEEDS = {
    "article": TEXT + b"<!doctype html><html><head><title>T</title><script>x()</script></head><body>"
               b"<nav><ul><li><a href=/>Home</a></ul></nav><article><h1>Bridge reopens</h1>"
               b"<p>The bridge reopened on <b>Monday</b>.<br>Traffic is light.</p></article>"
               b"<footer>&copy; 2026</footer></body></html>",
    "after-html": TEXT + b"<html><body><p>a</p></body></html><p>after</p>tail",
    "xxe": TEXT + b'<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
           b"<html><body><p>&xxe;</p></body></html>",
    "billion-laughs": TEXT + b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">'
                      b'<!ENTITY c "&b;&b;&b;&b;">]><p>&c;&c;</p>',
    "xhtml": TEXT + b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html PUBLIC '
             b'"-//W3C//DTD XHTML 1.0 Strict//EN" "http://127.0.0.1:9/x.dtd">'
             b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>x&nbsp;&eacute;</p></body></html>',
    "entities": TEXT + b"<p>&amp;amp; &lt;p&gt; &#0; &#xD800; &#99999999; &bogus; &amp &notit; &#x1F600;</p>",
    "deep": TEXT + b"<div>" * 2100 + b"deep" + b"</div>" * 2100 + b"<p>after</p>",
    "deep-font": TEXT + b"".join(b"<font size=2>post %d<br>" % i for i in range(2100)),
    "tangled": TEXT + b"<span><div>x</span>" * 2100,
    "head-content": TEXT + b"<script>x()</script><nav><p>menu</p></nav><x-widget>w</x-widget>",
    "raw-text": TEXT + b"<textarea><p>a</textarea><xmp><b></xmp><plaintext><p>rest",
    "comments": TEXT + b"<p>a<!-- <p>b</p> --><p>c<!-- unclosed <p>d",
    "frameset": TEXT + b"<frameset><frame src=x></frameset><noframes><p>nf</p></noframes><p>x</p>",
    "cp1251-declared-utf8": RAW + f"<meta charset='utf-8'><p>{RUSSIAN}</p>".encode("cp1251"),
    "unknown-charset": RAW + f"<meta charset='x-foo'><p>{RUSSIAN}</p>".encode("cp1251"),
    "zlib-charset": RAW + b'<meta charset="zlib"><p>caf\xe9</p>',
    "utf16-bom": RAW + "<p>שלום 你好</p>".encode("utf-16"),
    "nul": RAW + b"<p>a\x00b</p>\x00\x00<p>\xff\xfe</p>",
    "gzip": RAW + b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xb3)\xb0\x03\x00",
    "quotes": TEXT + b'<a title="x>y' + b"<a" * 50 + b'"<p>z',
}
TEXT_SEEDS = {
    "article": TEXT + b"Home / World\n\nHarbour council approves a ferry route\r\nBy Ana Ruiz\rAdvertisement\n",
    "separators": TEXT + "a\x0bb\x0cc\x1cd\x85e\u2028f\u2029g\r\n\r\nh".encode("utf-8"),
    "rtl-cjk": TEXT + "مرحبا بالعالم\n\u202eשלום\n你好，世界\n日本語".encode("utf-8"),
    "blank": TEXT + b" \t\n\r\n \r",
    "nul": TEXT + b"a\x00b\n\x00\n",
    "cp1251": RAW + f"{RUSSIAN}\n{RUSSIAN}".encode("cp1251"),
    "utf16": RAW + "line one\nline two".encode("utf-16"),
    "utf7-surrogates": RAW + b"+2D3cAA-\n" * 10,
    "binary": RAW + bytes(range(256)),
}

if __name__ == "__main__":
    for name, seeds in (("html", HTML_SEEDS), ("text", TEXT_SEEDS)):
        directory = ROOT / name
        directory.mkdir(parents=True, exist_ok=True)
        for stem, data in seeds.items():
            (directory / stem).write_bytes(data)
