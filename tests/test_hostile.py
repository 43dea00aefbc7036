"""Hostile and broken documents, sent to a real server on 127.0.0.1.

Each case must get a result or its documented error (INVALID_ARGUMENT,
RESOURCE_EXHAUSTED naming the limit and the value) within a client deadline
(a stall fails), and the server must answer a normal request afterwards.
`python -m pytest tests/test_hostile.py -s` prints how long each case took.
"""

from __future__ import annotations

import http.server
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import grpc
import pytest

from classifier.lines import split_text
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import Settings
from server.worker import Server

HTML, TEXT = pb.Document.HTML, pb.Document.PLAIN_TEXT
OK = grpc.StatusCode.OK
# Generous for a loaded two-core machine; a case still running then has stalled.
CASE_DEADLINE_SECONDS = 90
MAX_LINES = 20_000
MAX_LINE_CHARS = 1024 * 1024
NORMAL = "Harbour council approves new ferry route to the islands.\nHome\nThe vote was on Tuesday."
RUSSIAN = ("Городской совет одобрил новый паромный маршрут к островам. Жители добивались "
           "этого решения десять лет.")
FRENCH = ("Le conseil a approuvé la nouvelle liaison maritime vers les îles : les habitants "
          "l'attendaient depuis des années, et le premier bateau partira à l'été.")
TIMINGS: dict[str, float] = {}


class CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        CountingHandler.hits.append(self.path)
        body = b'<!ENTITY e "FETCHED-OVER-HTTP">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def stub():
    settings = Settings(host="127.0.0.1", port=0, max_message_bytes=16 * 1024 * 1024,
                        max_lines=MAX_LINES, max_line_chars=MAX_LINE_CHARS)
    server = Server(settings)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}", options=[
            ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024)]) as channel:
        yield pb_grpc.DeclutterStub(channel)
    server.stop(grace=1)
    if TIMINGS:
        print("\nhostile case timings (s), slowest first:")
        for name, seconds in sorted(TIMINGS.items(), key=lambda kv: -kv[1]):
            print(f"  {seconds:7.2f}  {name}")


@dataclass
class Case:
    name: str
    fmt: int
    document: str | bytes | Callable[[], str | bytes]
    code: grpc.StatusCode = OK
    details: tuple[str, ...] = ()             # in the error message
    lines: Callable[[list[str]], bool] | None = None   # a check on the lines' texts
    absent: tuple[str, ...] = field(default=())  # never in any line

    def request(self) -> pb.CleanRequest:
        doc = self.document() if callable(self.document) else self.document
        source = {"raw": doc} if isinstance(doc, bytes) else {"content": doc}
        return pb.CleanRequest(document=pb.Document(format=self.fmt, id=self.name, **source),
                               include_lines=True)


def has(*texts: str) -> Callable[[list[str]], bool]:
    return lambda lines: all(any(t in line for line in lines) for t in texts)


def exactly(expected: list[str]) -> Callable[[list[str]], bool]:
    return lambda lines: lines == expected


def random_bytes(n: int) -> Callable[[], bytes]:
    return lambda: random.Random(n).randbytes(n)


MIXED = ("Grüße aus Köln. ".encode("utf-8") + "Grüße aus Köln. ".encode("cp1252")
         + "“quoted” – dash".encode("cp1252"))
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.replace("&lol0;", "&lol;")
                            for i in range(1, 10))
                  + ']><html><body><p>laughs: &lol9;</p></body></html>')
RTL_CJK = "مرحبا بالعالم، هذه مقالة.\n\u202eשלום עולם\n你好，世界。这是一篇文章。\n日本語のテキストです。"

CASES = [
    Case("malformed tags", HTML, "<p><b>unclosed <i>tags</p></div></span><<>>< p>&&&<//p><p>last",
         lines=has("unclosed tags", "last")),
    Case("nested 100,000 levels", HTML,
         lambda: "<p>start</p>" + "<div>" * 100_000 + "deep" + "</div>" * 100_000 + "<p>end</p>",
         lines=exactly(["start", "deep", "end"])),
    Case("nested 100,000 levels, never closed", HTML, lambda: "<p>start</p>" + "<div>" * 100_000 + "deep",
         lines=exactly(["start", "deep"])),
    Case("5,000 unclosed <font> tags", HTML,
         lambda: "".join(f"<font size=2>post {i}<br>" for i in range(5000)),
         lines=lambda lines: lines == [f"post {i}" for i in range(5000)]),
    Case("nesting the parser cannot follow", HTML, lambda: "<span><div>x</span>" * 3000,
         code=grpc.StatusCode.INVALID_ARGUMENT, details=("2048", "PLAIN_TEXT")),
    Case("huge HTML over the line limit", HTML,
         lambda: "<p>A short paragraph of the page.</p>" * (MAX_LINES * 10),
         code=grpc.StatusCode.RESOURCE_EXHAUSTED, details=("max_lines", f"{MAX_LINES * 10:,}")),
    Case("huge HTML, 1,500,000 empty elements", HTML, lambda: "<b></b>" * 1_500_000 + "<p>end</p>",
         lines=exactly(["end"])),
    Case("2.5 MB of entities", HTML, lambda: "<p>" + "&amp;" * 500_000 + "</p>",
         lines=exactly(["&" * 500_000])),
    Case("entities of every kind", HTML,
         "<p>&amp;amp; &lt;p&gt; &eacute; &#x1F600; &#0; &#xD800; &#99999999; &bogus; &amp &nbsp;.</p>",
         lines=has("&amp; <p> é 😀", "&bogus;")),
    Case("external entity to /etc/passwd", HTML,
         '<?xml version="1.0"?><!DOCTYPE html [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
         "<html><body><p>before &xxe; after</p></body></html>",
         lines=has("before &xxe; after"), absent=("root:",)),
    Case("billion laughs", HTML, BILLION_LAUGHS, lines=has("laughs: &lol9;"), absent=("lollol",)),
    Case("XHTML with XML declaration and a remote DTD", HTML,
         '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
         '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><html xmlns="http://www.w3.org/1999/xhtml">'
         "<body><p>Strict &amp; proper.</p></body></html>", lines=exactly(["Strict & proper."])),
    Case("text after </html>", HTML,
         "<html><body><p>Inside.</p></body></html><p>After the end.</p>Trailing text.",
         lines=exactly(["Inside.", "After the end.", "Trailing text."])),
    Case("content libxml2 puts in <head>", HTML,
         "<script>x()</script><nav><p>Menu</p></nav><x-widget>Widget text</x-widget>",
         lines=exactly(["Menu", "Widget text"])),
    Case("binary bytes as HTML", HTML, random_bytes(1_000_000)),
    Case("binary bytes as PLAIN_TEXT", TEXT, random_bytes(300_000)),
    Case("gzip bytes are not inflated", HTML, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(200),
         absent=("<p>",)),
    Case("mixed UTF-8 and windows-1252", TEXT, MIXED, lines=has("Grüße aus Köln.")),
    Case("declares UTF-8, is windows-1251", HTML,
         f"<meta charset='utf-8'><p>{RUSSIAN}</p>".encode("cp1251"), lines=exactly([RUSSIAN])),
    Case("declares an unknown charset", HTML,
         f"<meta charset='x-foo'><p>{RUSSIAN}</p>".encode("cp1251"), lines=exactly([RUSSIAN])),
    Case("declares a non-text codec", HTML, f'<meta charset="zlib"><p>{FRENCH}</p>'.encode("cp1252"),
         lines=exactly([FRENCH])),
    Case("UTF-16 with a BOM", HTML, "<p>שלום 你好</p>".encode("utf-16"), lines=exactly(["שלום 你好"])),
    Case("NUL characters in text", TEXT, "a\x00b\n\x00\nc", lines=exactly(["a\x00b", "\x00", "c"])),
    Case("NUL characters in HTML", HTML, "<p>a\x00b</p>\x00<p>c</p>", lines=has("c")),
    Case("right-to-left and CJK text", TEXT, RTL_CJK, lines=exactly(split_text(RTL_CJK).texts)),
    Case("right-to-left and CJK HTML", HTML, "<p dir=rtl>مرحبا بالعالم</p><p>你好，世界</p>",
         lines=exactly(["مرحبا بالعالم", "你好，世界"])),
    Case("a 1 MB line", TEXT, lambda: "word " * 200_000, lines=lambda lines: len(lines[0]) == 1_000_000),
    Case("a 1 MB paragraph", HTML, lambda: "<p>" + "word " * 200_000 + "</p>",
         lines=lambda lines: len(lines) == 1 and len(lines[0]) == 999_999),
    Case("a line over the line limit", TEXT, lambda: "x" * (MAX_LINE_CHARS + 1),
         code=grpc.StatusCode.RESOURCE_EXHAUSTED, details=("max_line_chars", f"{MAX_LINE_CHARS + 1:,}")),
    Case("more lines than the limit", TEXT, lambda: "line\n" * (MAX_LINES + 1),
         code=grpc.StatusCode.RESOURCE_EXHAUSTED, details=("max_lines", f"{MAX_LINES + 1:,}")),
    Case("empty HTML", HTML, "", lines=exactly([])),
    Case("empty text", TEXT, "", lines=exactly([])),
    Case("whitespace-only HTML", HTML, " \n\t\r\n \u00a0 ", lines=exactly([])),
    Case("whitespace-only text", TEXT, " \n\t\r\n \x0b\x0c ", lines=exactly([])),
    Case("unclosed comment and script", HTML, "<p>seen</p><!-- <p>hidden<script>never ends",
         lines=exactly(["seen"])),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_document_gets_a_result_or_its_error_and_the_server_keeps_serving(stub, case):
    request = case.request()
    started = time.perf_counter()
    try:
        response = stub.Clean(request, timeout=CASE_DEADLINE_SECONDS)
        code, details = OK, ""
    except grpc.RpcError as err:
        response, code, details = None, err.code(), err.details()
    TIMINGS[case.name] = time.perf_counter() - started
    assert code == case.code, details
    for text in case.details:
        assert text in details, details
    if response is not None:
        lines = [line.text for line in response.lines]
        assert all(line.label != pb.LABEL_UNSPECIFIED for line in response.lines)
        assert [line.number for line in response.lines] == sorted({line.number for line in response.lines})
        if case.lines is not None:
            assert case.lines(lines), lines[:5]
        for text in case.absent:
            assert not any(text in line for line in lines) and text not in response.body
    assert stub.Clean(pb.CleanRequest(document=pb.Document(format=TEXT, content=NORMAL)),
                      timeout=10).body


def test_pages_never_fetch_anything_or_read_local_files(stub, http_server, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("LOCAL-FILE-CONTENT")
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    page = (f'<?xml version="1.0"?><!DOCTYPE html SYSTEM "{base}/doctype.dtd" ['
            f'<!ENTITY % remote SYSTEM "{base}/param.dtd"> %remote;'
            f'<!ENTITY net SYSTEM "{base}/entity"><!ENTITY file SYSTEM "file://{secret}">]>'
            f'<html xmlns:xi="http://www.w3.org/2001/XInclude"><head>'
            f'<link rel=stylesheet href="{base}/style.css"><script src="{base}/app.js"></script></head>'
            f'<body><p>net=&net; file=&file;</p><img src="{base}/img.png">'
            f'<iframe src="{base}/frame"></iframe><xi:include href="{base}/xinclude"/>'
            f'<xi:include href="file://{secret}" parse="text"/></body></html>')
    CountingHandler.hits.clear()
    for fmt, source in ((HTML, {"content": page}), (HTML, {"raw": page.encode()})):
        response = stub.Clean(pb.CleanRequest(document=pb.Document(format=fmt, **source),
                                              include_lines=True), timeout=30)
        lines = [line.text for line in response.lines]
        assert "net=&net; file=&file;" in lines
        assert not any("LOCAL-FILE-CONTENT" in t or "FETCHED-OVER-HTTP" in t for t in lines)
    assert CountingHandler.hits == []
