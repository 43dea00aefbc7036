"""The real gRPC server on a loopback port, called through a real channel."""

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from classifier.lines import split_text
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import Settings
from server.worker import Server

ARTICLE = """Home / World / Business / Sport

Harbour council approves new ferry route to the islands

By Ana Ruiz, Transport Correspondent

The harbour council voted on Tuesday to approve a new ferry route linking the town to the three outer islands, ending a decade of campaigning by residents.
Advertisement
Councillors said the service would begin in the spring, with four crossings a day in summer and two in winter.
"This is the day islanders have waited for," said Mara Quinn, who led the campaign. "Getting to the hospital will no longer take a whole day."
Sign up for our morning briefing and get the day's news in your inbox
The operator will use a new hybrid vessel built at the town's own shipyard, which is expected to be delivered in February.
Share this article
More stories
SportsLocal rowing club wins regional cup final
BusinessShipyard hires forty apprentices
© 2026 Harbour Courier Ltd. All rights reserved."""


@pytest.fixture(scope="module")
def server():
    settings = Settings(host="127.0.0.1", port=0, max_message_bytes=2 * 1024 * 1024,
                        max_lines=50, max_line_chars=5000)
    srv = Server(settings)
    srv.start()
    yield srv
    srv.stop(grace=1)


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def stub(channel):
    return pb_grpc.DeclutterStub(channel)


def text_request(content, **kw):
    return pb.CleanRequest(document=pb.Document(format=pb.Document.PLAIN_TEXT, content=content,
                                                id=kw.pop("id", "doc-1")), **kw)


def test_clean_plain_text_lines_cover_every_non_blank_line(stub, server):
    response = stub.Clean(text_request(ARTICLE, include_lines=True), timeout=10)
    page = split_text(ARTICLE)
    assert [line.number for line in response.lines] == page.numbers
    assert [line.text for line in response.lines] == page.texts
    assert all(line.label != pb.LABEL_UNSPECIFIED for line in response.lines)
    assert all(0.0 <= line.confidence <= 1.0 for line in response.lines)
    body_lines = [line.text for line in response.lines if line.label == pb.BODY]
    assert response.body == "\n".join(body_lines)
    assert response.id == "doc-1"
    assert response.model_version == server.models.get().version


def test_default_model_keeps_the_story_and_drops_clutter(stub):
    body = stub.Clean(text_request(ARTICLE), timeout=10).body.split("\n")
    assert "Harbour council approves new ferry route to the islands" in body
    paragraphs = [t for t in split_text(ARTICLE).texts if len(t) > 90 and "inbox" not in t]
    assert all(p in body for p in paragraphs)
    clutter = ["Home / World / Business / Sport", "Advertisement", "Share this article",
               "More stories", "© 2026 Harbour Courier Ltd. All rights reserved."]
    assert sum(c in body for c in clutter) <= 1
    assert not response_lines_without_lines_flag(stub)


def response_lines_without_lines_flag(stub):
    return stub.Clean(text_request(ARTICLE), timeout=10).lines


def test_clean_html(stub):
    html = ("<html><head><script>track()</script></head><body><nav><ul><li><a href='/'>Home</a>"
            "<li><a href='/w'>World</a></ul></nav><article><h1>Ferry route approved</h1>"
            "<p>The council voted on Tuesday to approve a new ferry route to the islands.</p>"
            "</article><footer>© 2026 Courier</footer></body></html>")
    request = pb.CleanRequest(document=pb.Document(format=pb.Document.HTML, content=html),
                              include_lines=True)
    response = stub.Clean(request, timeout=10)
    assert [line.text for line in response.lines] == [
        "Home", "World", "Ferry route approved",
        "The council voted on Tuesday to approve a new ferry route to the islands.",
        "© 2026 Courier"]
    assert [line.number for line in response.lines] == [1, 2, 3, 4, 5]
    assert "track()" not in response.body
    assert "The council voted on Tuesday" in response.body


def test_raw_bytes_are_decoded_by_their_declared_charset(stub):
    html = "<html><head><meta charset='iso-8859-1'></head><body><p>Café à la carte, très bien.</p></body></html>"
    request = pb.CleanRequest(document=pb.Document(format=pb.Document.HTML,
                                                   raw=html.encode("iso-8859-1")), include_lines=True)
    response = stub.Clean(request, timeout=10)
    assert [line.text for line in response.lines] == ["Café à la carte, très bien."]
    text = pb.CleanRequest(document=pb.Document(format=pb.Document.PLAIN_TEXT,
                                                 raw="Grüße\nÜber".encode("utf-8")), include_lines=True)
    assert [line.text for line in stub.Clean(text, timeout=10).lines] == ["Grüße", "Über"]


@pytest.mark.parametrize("content, formats", [
    ("", (pb.Document.PLAIN_TEXT, pb.Document.HTML)),
    ("\n\n  \r\n", (pb.Document.PLAIN_TEXT, pb.Document.HTML)),
    ("<html><body><script>x()</script></body></html>", (pb.Document.HTML,)),
])
def test_documents_without_text_give_an_empty_body(stub, content, formats):
    for fmt in formats:
        request = pb.CleanRequest(document=pb.Document(format=fmt, content=content, id="e"),
                                  include_lines=True)
        response = stub.Clean(request, timeout=10)
        assert response.body == "" and len(response.lines) == 0 and response.id == "e"


def test_unspecified_format_is_invalid_argument(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(pb.CleanRequest(document=pb.Document(content="text")), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "PLAIN_TEXT or HTML" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(pb.CleanRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_message_over_the_limit_is_resource_exhausted(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(text_request("x" * (3 * 1024 * 1024)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_stream_answers_each_request_in_order(stub):
    requests = [text_request(f"Line {i} of a text.\nMenu", id=f"d{i}", include_lines=True)
                for i in range(20)]
    requests.insert(5, pb.CleanRequest(document=pb.Document(content="no format", id="bad")))
    responses = list(stub.CleanStream(iter(requests), timeout=30))
    assert [r.id for r in responses] == [r.document.id for r in requests]
    bad = responses[5]
    assert bad.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "PLAIN_TEXT or HTML" in bad.error.message
    good = [r for r in responses if r.id != "bad"]
    assert all(not r.HasField("error") and len(r.lines) == 2 for r in good)


def test_model_info(stub, server):
    info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    model = server.models.get()
    assert info.version == model.version
    assert info.sha256 == model.sha256
    assert list(info.labels) == [pb.BODY, pb.NAVIGATION, pb.AD, pb.DISCLAIMER, pb.RELATED_LINKS]
    assert info.trained_at.endswith("Z")
    assert "documents=" in info.training_data
    names = {m.name for m in info.metrics}
    assert {"macro_f1", "BODY.f1"} <= names


def test_health_is_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "declutter.v1.Declutter"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_and_describes_the_service(channel):
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="declutter.v1.Declutter")]
    listed, described = list(reflection.ServerReflectionInfo(iter(requests), timeout=5))
    names = {s.name for s in listed.list_services_response.service}
    assert {"declutter.v1.Declutter", "grpc.health.v1.Health"} <= names
    assert described.file_descriptor_response.file_descriptor_proto


def test_health_says_not_serving_and_calls_wait_until_the_model_is_loaded():
    srv = Server(Settings(host="127.0.0.1", port=0))
    srv.grpc.start()  # listening, model not loaded yet
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as err:
                pb_grpc.DeclutterStub(ch).Clean(text_request("hello"), timeout=5)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        srv.stop(grace=0)


def test_html_nested_too_deep_is_invalid_argument_and_the_server_keeps_serving(stub):
    html = "<span><div>deep</span>" * 3000
    request = pb.CleanRequest(document=pb.Document(format=pb.Document.HTML, content=html))
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(request, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "2048" in err.value.details() and "PLAIN_TEXT" in err.value.details()
    assert stub.Clean(text_request("Still serving after that."), timeout=10).body


@pytest.mark.parametrize("content, limit, flag", [
    ("\n".join(f"Line {i} of a long dump." for i in range(60)), "max_lines", "--max-lines"),
    ("word " * 2000, "max_line_chars", "--max-line-chars"),
])
def test_documents_over_a_limit_are_resource_exhausted_naming_it(stub, content, limit, flag):
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(text_request(content), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert limit in err.value.details() and flag in err.value.details()
    responses = list(stub.CleanStream(iter([text_request(content, id="big"),
                                            text_request("A short text.", id="small")]), timeout=10))
    assert responses[0].error.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert not responses[1].HasField("error")


def test_old_connections_are_closed_and_clients_reconnect():
    """With a maximum connection age the server closes a client's connection
    after it (so clients reach replicas added since), and the client's next
    call goes over a new connection without failing."""
    settings = Settings(host="127.0.0.1", port=0, max_connection_age_seconds=0.5,
                        grace_seconds=0.5)
    srv = Server(settings)
    srv.start()
    states = []
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
            channel.subscribe(states.append, try_to_connect=False)
            stub = pb_grpc.DeclutterStub(channel)
            assert stub.Clean(text_request(ARTICLE), timeout=10).body
            deadline = time.monotonic() + 10
            while grpc.ChannelConnectivity.IDLE not in states[1:] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert grpc.ChannelConnectivity.IDLE in states[1:], states  # the server closed it
            assert stub.Clean(text_request(ARTICLE), timeout=10).body
    finally:
        srv.stop(grace=1)
