"""Request logs and Prometheus metrics of a real server: one in this process,
and a --workers 2 process whose metrics the parent sums over its workers."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from types import SimpleNamespace

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import Settings, parse_settings
from server.logwatch import LogWatch
from server.worker import Server
from server.servicer import ModelHolder
from server.telemetry import CLEAN, CLEAN_STREAM, MAX_REQUEST_ID_CHARS, Telemetry, formatter

from conftest import free_port

SECRET = "The treasurer hid the ledger under the lighthouse stairs"
ARTICLE = f"Home / News\n{SECRET}.\nShe told nobody until the audit in March.\nAdvertisement"
HTML_DOC = "<p>A paragraph of the story from the café.</p>"  # not ASCII: bytes > characters
TIMEOUT = 10
SCRAPE_TIMEOUT = 5
CANCEL_ATTEMPTS = 8


def request(content=ARTICLE, fmt=pb.Document.PLAIN_TEXT, doc_id="doc-1"):
    return pb.CleanRequest(document=pb.Document(format=fmt, content=content, id=doc_id),
                           include_lines=True)


class Captured:
    """The request log as the server's JSON and text formatters write it."""

    def __init__(self):
        self.json, self.text = io.StringIO(), io.StringIO()
        self.handlers = []
        for stream, kind in ((self.json, "json"), (self.text, "text")):
            handler = logging.StreamHandler(stream)
            handler.setFormatter(formatter(kind))
            self.handlers.append(handler)

    def records(self):
        return [json.loads(line) for line in self.json.getvalue().splitlines()]

    def clear(self):
        for stream in (self.json, self.text):
            stream.seek(0)
            stream.truncate()


@pytest.fixture(scope="module")
def server():
    srv = Server(Settings(host="127.0.0.1", port=0, metrics_port=free_port(), max_lines=50))
    srv.start()
    yield srv
    srv.stop(grace=1)


@pytest.fixture()
def logs():
    captured = Captured()
    logger = logging.getLogger("declutter.requests")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    for handler in captured.handlers:
        logger.addHandler(handler)
    yield captured
    for handler in captured.handlers:
        logger.removeHandler(handler)
    logger.setLevel(old_level)


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.DeclutterStub(channel)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples, name, **labels):
    """The sum over the series of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def request_id(metadata):
    return dict(metadata)["x-request-id"]


def test_clean_logs_one_record_with_the_figures_and_never_the_text(stub, server, logs):
    response, call = stub.Clean.with_call(request(), metadata=[("x-request-id", "req-42")],
                                          timeout=TIMEOUT)
    assert request_id(call.trailing_metadata()) == "req-42"
    [record] = logs.records()
    assert record["message"] == "request" and record["level"] == "INFO"
    assert record["request_id"] == "req-42"
    assert record["method"] == CLEAN
    assert record["document_id"] == "doc-1"
    assert record["format"] == "PLAIN_TEXT"
    assert record["document_bytes"] == len(ARTICLE.encode())
    assert record["lines"] == len(response.lines) == 4
    assert record["body_lines"] == sum(line.label == pb.BODY for line in response.lines)
    assert record["latency_ms"] >= 0
    assert record["outcome"] == "OK"
    assert record["model_version"] == server.models.get().version
    text = logs.text.getvalue()
    assert "request_id=req-42 " in text and "lines=4 " in text and "outcome=OK" in text
    for output in (logs.json.getvalue(), text):
        assert "lighthouse" not in output and "audit" not in output


def test_a_refused_call_is_logged_with_its_status_and_a_generated_request_id(stub, logs):
    with pytest.raises(grpc.RpcError) as err:
        stub.Clean(request(fmt=pb.Document.FORMAT_UNSPECIFIED, doc_id="no-format"),
                   metadata=[("x-request-id", "x" * (MAX_REQUEST_ID_CHARS + 1))], timeout=TIMEOUT)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    generated = request_id(err.value.trailing_metadata())
    assert generated and generated != "x" * (MAX_REQUEST_ID_CHARS + 1)
    [record] = logs.records()
    assert record["request_id"] == generated
    assert record["outcome"] == "INVALID_ARGUMENT"
    assert record["document_id"] == "no-format" and record["format"] == "FORMAT_UNSPECIFIED"
    assert "lines" not in record  # never cleaned
    assert SECRET not in logs.json.getvalue()


def test_clean_stream_logs_one_record_per_document_and_one_for_the_stream(stub, logs):
    requests = [request(doc_id="s0"), request(fmt=pb.Document.FORMAT_UNSPECIFIED, doc_id="s1"),
                request(HTML_DOC, pb.Document.HTML, "s2")]
    call = stub.CleanStream(iter(requests), metadata=[("x-request-id", "stream-7")],
                            timeout=TIMEOUT)
    responses = list(call)
    assert request_id(call.trailing_metadata()) == "stream-7"
    records = logs.records()
    documents, [end] = records[:-1], records[-1:]
    assert [r["document_id"] for r in documents] == ["s0", "s1", "s2"]
    assert [r["stream_index"] for r in documents] == [0, 1, 2]
    assert [r["outcome"] for r in documents] == ["OK", "INVALID_ARGUMENT", "OK"]
    assert [r["format"] for r in documents] == ["PLAIN_TEXT", "FORMAT_UNSPECIFIED", "HTML"]
    assert documents[0]["lines"] == len(responses[0].lines)
    assert documents[2]["lines"] == len(responses[2].lines) == 1
    assert documents[2]["document_bytes"] == len(HTML_DOC.encode()) > len(HTML_DOC)
    assert all(r["request_id"] == "stream-7" and r["method"] == CLEAN_STREAM for r in records)
    assert end["documents"] == 3 and end["outcome"] == "OK" and "document_id" not in end
    assert SECRET not in logs.json.getvalue() and "paragraph" not in logs.json.getvalue()


def test_metrics_count_requests_errors_documents_lines_and_bytes(stub, server):
    port = server.settings.metrics_port
    before = scrape(port)
    good = [stub.Clean(request(doc_id=f"g{i}"), timeout=TIMEOUT) for i in range(3)]
    with pytest.raises(grpc.RpcError):
        stub.Clean(request(fmt=pb.Document.FORMAT_UNSPECIFIED), timeout=TIMEOUT)
    with pytest.raises(grpc.RpcError):  # over --max-lines 50
        stub.Clean(request("\n".join(f"line {i}" for i in range(60))), timeout=TIMEOUT)
    streamed = list(stub.CleanStream(iter([request(doc_id="t0"), request(
        fmt=pb.Document.FORMAT_UNSPECIFIED, doc_id="t1")]), timeout=TIMEOUT))
    after = scrape(port)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("declutter_requests_total", method=CLEAN, code="OK") == 3
    assert delta("declutter_requests_total", method=CLEAN, code="INVALID_ARGUMENT") == 1
    assert delta("declutter_requests_total", method=CLEAN, code="RESOURCE_EXHAUSTED") == 1
    assert delta("declutter_requests_total", method=CLEAN_STREAM, code="OK") == 1
    assert delta("declutter_errors_total", method=CLEAN) == 2
    assert delta("declutter_errors_total", method=CLEAN_STREAM, code="INVALID_ARGUMENT") == 1
    assert delta("declutter_request_duration_seconds_count", method=CLEAN) == 5
    assert delta("declutter_documents_total", outcome="OK") == 4
    assert delta("declutter_documents_total", outcome="INVALID_ARGUMENT") == 2
    cleaned = good + [streamed[0]]
    assert delta("declutter_lines_total", format="PLAIN_TEXT") == sum(len(r.lines) for r in cleaned)
    assert delta("declutter_body_lines_total", format="PLAIN_TEXT") == sum(
        line.label == pb.BODY for r in cleaned for line in r.lines)
    sizes = 4 * len(ARTICLE.encode()) + len("\n".join(f"line {i}" for i in range(60))) + \
        2 * len(ARTICLE.encode())
    assert delta("declutter_document_bytes_sum") == sizes
    assert delta("declutter_document_duration_seconds_count") == 7
    model = server.models.get()
    assert value(after, "declutter_model_info", version=model.version, sha256=model.sha256) == 1


def test_a_stream_the_client_cancels_is_counted_as_cancelled(stub, server):
    """gRPC can hand the server a cancel as the plain end of the requests
    (its request iterator stops before the call is marked cancelled); the
    server then has answered every document and ends the stream OK. So each
    cancelled stream must be counted once, as CANCELLED or OK, and within a
    few tries one must be counted CANCELLED."""
    registry = server.telemetry.metrics.registry

    def count(code):
        labels = {"method": CLEAN_STREAM, "code": code}
        return registry.get_sample_value("declutter_requests_total", labels) or 0

    for _ in range(CANCEL_ATTEMPTS):
        before = {code: count(code) for code in ("CANCELLED", "OK")}
        release = threading.Event()

        def requests():
            yield request(doc_id="c0")
            release.wait(TIMEOUT)  # the client sends nothing more until it cancels

        call = stub.CleanStream(requests(), timeout=TIMEOUT)
        try:
            assert next(call).id == "c0"
            call.cancel()
            deadline = time.monotonic() + TIMEOUT
            while all(count(code) == before[code] for code in before):
                assert time.monotonic() < deadline, "the cancelled stream was never counted"
                time.sleep(0.05)
        finally:
            release.set()
        counted = {code: count(code) - before[code] for code in before}
        assert sorted(counted.values()) == [0, 1], counted
        if counted["CANCELLED"]:
            return
    pytest.fail(f"none of {CANCEL_ATTEMPTS} cancelled streams was counted CANCELLED")


def test_the_model_metric_follows_every_model_set():
    telemetry = Telemetry()
    holder = ModelHolder(on_set=telemetry.model_loaded)
    info = "declutter_model_info"
    holder.set(SimpleNamespace(version="v1", sha256="aaa"))
    holder.set(SimpleNamespace(version="v2", sha256="bbb"))
    registry = telemetry.metrics.registry
    assert registry.get_sample_value(info, {"version": "v2", "sha256": "bbb"}) == 1
    assert registry.get_sample_value(info, {"version": "v1", "sha256": "aaa"}) is None


def test_metrics_of_two_workers_are_summed_by_the_parent(tmp_path):
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", str(port), "--workers", "2",
         "--metrics-port", str(metrics_port), "--log-format", "json"],
        stderr=subprocess.PIPE, text=True)
    watch = LogWatch(proc.stderr)
    alive = lambda: proc.poll() is None  # noqa: E731
    try:
        directory = json.loads(watch.wait_for(r'^\{.*metrics of all workers', TIMEOUT * 3,
                                              alive).string)["metrics_dir"]
        pids = {json.loads(watch.wait_for(r"serving model", TIMEOUT * 3, alive).string)["pid"]
                for _ in range(2)}
        assert len(pids) == 2 and os.path.isdir(directory)
        calls = 8
        for i in range(calls):  # a channel each: new connections spread over the workers
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                pb_grpc.DeclutterStub(channel).Clean(request(doc_id=f"w{i}"), timeout=TIMEOUT,
                                                     wait_for_ready=True)
        samples = scrape(metrics_port)
        records = [json.loads(watch.wait_for(r'"message": "request"', TIMEOUT, alive).string)
                   for _ in range(calls)]
        assert {r["pid"] for r in records} <= pids
        assert value(samples, "declutter_requests_total", method=CLEAN, code="OK") == calls
        assert value(samples, "declutter_documents_total", outcome="OK") == calls
        assert value(samples, "declutter_lines_total") == 4 * calls
        # One live model series per worker, told apart by pid.
        model_series = [labels for (name, labels), v in samples.items()
                        if name == "declutter_model_info" and v == 1]
        assert {dict(labels)["pid"] for labels in model_series} == {str(p) for p in pids}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not os.path.exists(directory)  # the parent cleans up after its workers
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_log_and_metrics_settings_are_checked():
    assert parse_settings([], {}).log_format == "text"
    assert parse_settings([], {}).metrics_port == 0
    assert parse_settings([], {"DECLUTTER_METRICS_PORT": "9464"}).metrics_port == 9464
    assert parse_settings(["--log-format", "json"], {}).log_format == "json"
    for argv in (["--log-format", "xml"], ["--metrics-port", "50051"],
                 ["--metrics-port", "70000"]):
        with pytest.raises(SystemExit):
            parse_settings(argv, {})
