"""Documents of concurrent calls labeled together: the batcher on its own,
and through a real server on 127.0.0.1.

Batches are made deterministic by holding the labeling thread inside the
model (a gate) while the other documents queue up behind it; nothing here
depends on timing.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
from grpc._server import _ServerStage  # to see that a stop has begun
import numpy as np
import pytest

from classifier.corpus import default_corpus_files, read_corpus
from classifier.lines import split_text
from classifier.model import Model
from classifier.pipeline import Format, clean, label_pages
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.batching import Batcher, Closed
from server.config import Settings, parse_settings
from server.worker import Server
from server.servicer import DeclutterServicer, ModelHolder, _ReadAhead

from estimators import RecordingEstimator

TIMEOUT = 30  # seconds any single wait in these tests may take at most
POISON = "POISON-PILL-LINE"


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def documents():
    """Many different real documents: every corpus document, whole and as
    its first half (so their first lines are not unique: ids tell them apart)."""
    texts = []
    for doc in read_corpus(default_corpus_files()):
        texts.append("\n".join(doc.page.texts))
        texts.append("\n".join(doc.page.texts[: len(doc.page.texts) // 2 + 1]))
    return texts


# -- the batcher on its own ------------------------------------------------------

def page(text):
    return split_text(text)


class FakeModel:
    """A stand-in model for the batcher, which only passes it on."""

    def __init__(self, name):
        self.name = name


def recording_labeler(gate=None, fail_on=None):
    """A label function for the batcher: returns each page's first line as
    its result and records the batches; raises on a batch holding `fail_on`."""
    calls, entered = [], threading.Event()

    def label(model, pages):
        calls.append((model.name, [p.texts[0] for p in pages]))
        entered.set()
        if gate is not None:
            assert gate.wait(TIMEOUT)
        if fail_on is not None and any(p.texts[0] == fail_on for p in pages):
            raise ValueError(f"cannot label {fail_on}")
        return [(model.name, p.texts[0]) for p in pages]

    label.calls, label.entered, label.gate = calls, entered, gate
    return label


def test_a_lone_document_is_labeled_at_once_and_batches_form_while_busy():
    gate = threading.Event()
    label = recording_labeler(gate)
    batcher = Batcher(max_documents=10, max_lines=1000, label=label)
    model = FakeModel("m")
    try:
        first = batcher.submit(model, page("first"))
        assert label.entered.wait(TIMEOUT)
        rest = [batcher.submit(model, page(f"doc {i}")) for i in range(5)]
        assert batcher.queued() == 5
        gate.set()
        assert first.result(TIMEOUT) == ("m", "first")
        assert [f.result(TIMEOUT) for f in rest] == [("m", f"doc {i}") for i in range(5)]
        assert label.calls == [("m", ["first"]), ("m", [f"doc {i}" for i in range(5)])]
    finally:
        gate.set()
        batcher.close(TIMEOUT)


def test_batches_keep_to_the_budgets_one_model_each_and_passed_over_documents_go_next():
    gate = threading.Event()
    label = recording_labeler(gate)
    batcher = Batcher(max_documents=3, max_lines=5, label=label)
    old, new = FakeModel("old"), FakeModel("new")
    big = "big\n" + "\n".join(f"line {i}" for i in range(9))  # 10 lines: over the budget alone
    try:
        futures = [batcher.submit(old, page("hold"))]
        assert label.entered.wait(TIMEOUT)
        for model, text in [(old, "a"), (new, "b"), (old, big), (old, "c"), (old, "d\ne"),
                            (old, "f"), (old, "g"), (new, "h")]:
            futures.append(batcher.submit(model, page(text)))
        gate.set()
        results = [f.result(TIMEOUT) for f in futures]
    finally:
        gate.set()
        batcher.close(TIMEOUT)
    assert results[1:] == [("old", "a"), ("new", "b"), ("old", "big"), ("old", "c"),
                           ("old", "d"), ("old", "f"), ("old", "g"), ("new", "h")]
    assert label.calls == [
        ("old", ["hold"]),
        ("old", ["a", "c", "d"]),     # three documents at most; b (other model) and big wait
        ("new", ["b", "h"]),          # the oldest waiting document leads the next batch
        ("old", ["big"]),             # over the lines budget: alone
        ("old", ["f", "g"]),
    ]


def test_a_failing_batch_is_labeled_one_by_one_so_only_the_bad_document_fails():
    label = recording_labeler(gate=threading.Event(), fail_on="bad")
    batcher = Batcher(max_documents=10, max_lines=1000, label=label)
    model = FakeModel("m")
    try:
        hold = batcher.submit(model, page("hold"))
        assert label.entered.wait(TIMEOUT)
        futures = [batcher.submit(model, page(t)) for t in ("one", "bad", "two")]
        label.gate.set()
        assert hold.result(TIMEOUT) == ("m", "hold")
        assert futures[0].result(TIMEOUT) == ("m", "one")
        assert futures[2].result(TIMEOUT) == ("m", "two")
        with pytest.raises(ValueError, match="cannot label bad"):
            futures[1].result(TIMEOUT)
    finally:
        label.gate.set()
        batcher.close(TIMEOUT)
    assert label.calls[1:] == [("m", ["one", "bad", "two"]), ("m", ["one"]), ("m", ["bad"]),
                               ("m", ["two"])]


def test_checkpoints_and_cancelled_futures_keep_documents_out_of_the_batch():
    gate = threading.Event()
    label = recording_labeler(gate)
    batcher = Batcher(max_documents=10, max_lines=1000, label=label)
    model = FakeModel("m")

    def gone():
        raise TimeoutError("the caller's deadline passed")

    try:
        hold = batcher.submit(model, page("hold"))
        assert label.entered.wait(TIMEOUT)
        late = batcher.submit(model, page("late"), checkpoint=gone)
        dropped = batcher.submit(model, page("dropped"))
        kept = batcher.submit(model, page("kept"), checkpoint=lambda: None)
        assert dropped.cancel()
        gate.set()
        assert hold.result(TIMEOUT) and kept.result(TIMEOUT) == ("m", "kept")
        with pytest.raises(TimeoutError):
            late.result(TIMEOUT)
    finally:
        gate.set()
        batcher.close(TIMEOUT)
    assert label.calls == [("m", ["hold"]), ("m", ["kept"])]


def test_close_labels_what_is_queued_stops_the_thread_and_refuses_more():
    gate = threading.Event()
    label = recording_labeler(gate)
    batcher = Batcher(max_documents=2, max_lines=1000, label=label)
    model = FakeModel("m")
    futures = [batcher.submit(model, page("hold"))]
    assert label.entered.wait(TIMEOUT)
    futures += [batcher.submit(model, page(f"q{i}")) for i in range(5)]
    closing = threading.Thread(target=batcher.close, args=(TIMEOUT,))
    closing.start()
    wait_until(lambda: batcher._closed, "the batcher is closing")
    with pytest.raises(Closed):
        batcher.submit(model, page("too late"))
    gate.set()
    closing.join(TIMEOUT)
    assert not closing.is_alive() and not batcher.running
    assert [f.result(0) for f in futures] == [("m", t) for t in
                                              ["hold", "q0", "q1", "q2", "q3", "q4"]]
    assert [len(pages) for _, pages in label.calls] == [1, 2, 2, 1]


def test_real_batches_label_like_one_document_at_a_time(documents):
    """label_pages over a batch gives every page what it gets alone."""
    from classifier.model import DEFAULT_MODEL_PATH, load_model
    model = load_model(DEFAULT_MODEL_PATH)
    batcher = Batcher(max_documents=64, max_lines=100_000)
    pages = [split_text(text) for text in documents[:40]]
    try:
        futures = [batcher.submit(model, p) for p in pages]
        batched = [f.result(TIMEOUT) for f in futures]
    finally:
        batcher.close(TIMEOUT)
    for p, got in zip(pages, batched):
        [alone] = label_pages(model, [p])
        assert got.labels == alone.labels
        np.testing.assert_allclose(got.confidences, alone.confidences, rtol=1e-9, atol=1e-12)


def gated_thread_labeler(gate):
    """A label function that records which thread labeled which batch and
    holds every call at `gate`; `entered` counts the calls inside."""
    calls, entered = [], threading.Semaphore(0)

    def label(model, pages):
        calls.append((threading.current_thread().name, [p.texts[0] for p in pages]))
        entered.release()
        assert gate.wait(TIMEOUT)
        return [(model.name, p.texts[0]) for p in pages]

    label.calls, label.entered = calls, entered
    return label


def long_document(name, lines):
    return "\n".join([name] + [f"{name} line {k}" for k in range(lines - 1)])


def test_a_helper_thread_takes_a_batch_only_when_a_full_batch_of_long_documents_waits():
    gate = threading.Event()
    label = gated_thread_labeler(gate)
    batcher = Batcher(max_documents=10, max_lines=20, label=label, threads=2, helper_min_lines=5)
    model = FakeModel("m")
    try:
        futures = [batcher.submit(model, page("hold"))]
        assert label.entered.acquire(timeout=TIMEOUT)  # the first thread is held inside
        # 24 one-line documents: a full batch by lines, but short ones.
        futures += [batcher.submit(model, page(f"short {i}")) for i in range(24)]
        time.sleep(0.3)
        assert len(label.calls) == 1, "a helper started on short documents"
        # Long documents behind them: the waiting documents now average 6 lines.
        futures += [batcher.submit(model, page(long_document(f"long {i}", 20))) for i in range(9)]
        assert label.entered.acquire(timeout=TIMEOUT), "no helper started on the backlog"
        assert label.calls[1][0] == "declutter-labeler-2"
        assert label.calls[1][1] == [f"short {i}" for i in range(10)]  # the oldest, in order
        gate.set()
        results = [f.result(TIMEOUT) for f in futures]
    finally:
        gate.set()
        batcher.close(TIMEOUT)
    assert not batcher.running
    expected = ["hold"] + [f"short {i}" for i in range(24)] + [f"long {i}" for i in range(9)]
    assert results == [("m", name) for name in expected]
    labeled = [name for _, names in label.calls for name in names]
    assert sorted(labeled) == sorted(expected)  # each document exactly once
    assert {thread for thread, _ in label.calls} == {"declutter-labeler", "declutter-labeler-2"}


def test_one_thread_never_starts_a_helper():
    gate = threading.Event()
    label = gated_thread_labeler(gate)
    batcher = Batcher(max_documents=4, max_lines=8, label=label, threads=1, helper_min_lines=1)
    model = FakeModel("m")
    try:
        futures = [batcher.submit(model, page(long_document(f"d{i}", 10))) for i in range(6)]
        assert label.entered.acquire(timeout=TIMEOUT)
        time.sleep(0.3)
        assert len(label.calls) == 1
        gate.set()
        assert [f.result(TIMEOUT) for f in futures] == [("m", f"d{i}") for i in range(6)]
    finally:
        gate.set()
        batcher.close(TIMEOUT)
    assert {thread for thread, _ in label.calls} == {"declutter-labeler"}
    with pytest.raises(ValueError):
        Batcher(threads=0)


def test_two_labeling_threads_give_every_document_what_it_gets_alone(documents):
    """The real model labeling batches on two threads at once (the features'
    and trees' loops run without the GIL) gives what label_pages gives alone."""
    from classifier.model import DEFAULT_MODEL_PATH, load_model
    model = load_model(DEFAULT_MODEL_PATH)
    batcher = Batcher(max_documents=4, max_lines=60, threads=2, helper_min_lines=1)
    pages = [split_text(text) for text in documents[:60]]
    labeled_by: set[str] = set()
    real_label = batcher._label

    def label(m, batch):
        labeled_by.add(threading.current_thread().name)
        return real_label(m, batch)

    batcher._label = label
    try:
        futures = [batcher.submit(model, p) for p in pages]
        batched = [f.result(TIMEOUT) for f in futures]
    finally:
        batcher.close(TIMEOUT)
    assert labeled_by == {"declutter-labeler", "declutter-labeler-2"}
    for p, got in zip(pages, batched):
        [alone] = label_pages(model, [p])
        assert got.labels == alone.labels
        np.testing.assert_allclose(got.confidences, alone.confidences, rtol=1e-9, atol=1e-12)


# -- through a real server -------------------------------------------------------

SERVER_THREADS = 64


@pytest.fixture(scope="module")
def server():
    srv = Server(Settings(host="127.0.0.1", port=0, threads=SERVER_THREADS, max_lines=400,
                          batch_max_documents=200, batch_max_lines=100_000,
                          stream_max_in_flight=64))
    srv.start()
    yield srv
    srv.stop(grace=1)


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.DeclutterStub(channel)


@pytest.fixture()
def recorder(server):
    """The served model wrapped in a gated RecordingEstimator, for one test."""
    real = server.models.get()
    recorder = RecordingEstimator(real.estimator, gate=threading.Event(), poison=POISON)
    recorder.served = real  # to compare with, without going through the recorder
    server.models.set(Model(estimator=recorder, metadata=dict(real.metadata), sha256=real.sha256))
    yield recorder
    recorder.gate.set()
    server.models.set(real)


def text_request(content, id, **kw):
    return pb.CleanRequest(document=pb.Document(format=pb.Document.PLAIN_TEXT, content=content,
                                                id=id), include_lines=True, **kw)


def assert_same_as_in_process(response, text, model):
    expected = clean(model, text, Format.PLAIN_TEXT)
    assert response.body == expected.body
    assert [line.text for line in response.lines] == expected.page.texts
    assert [pb.Label.Name(line.label) for line in response.lines] == expected.labels
    np.testing.assert_allclose([line.confidence for line in response.lines],
                               expected.confidences, rtol=1e-6)


def hold_labeler(stub, recorder, pool):
    """A call the labeler holds at the gate, so the next ones queue."""
    held = pool.submit(stub.Clean, text_request("Held first\nwhile others queue", "held"),
                       timeout=TIMEOUT)
    assert recorder.entered.wait(TIMEOUT)
    return held


def test_concurrent_calls_are_labeled_together_each_with_its_own_result(server, stub, recorder,
                                                                       documents):
    real = recorder.served
    texts = documents[:48]
    with ThreadPoolExecutor(len(texts) + 1) as pool:
        held = hold_labeler(stub, recorder, pool)
        calls = [pool.submit(stub.Clean, text_request(t, f"c{i}"), timeout=TIMEOUT)
                 for i, t in enumerate(texts)]
        wait_until(lambda: server.batcher.queued() == len(texts), "every call is queued")
        recorder.gate.set()
        responses = [c.result(TIMEOUT) for c in calls]
        assert held.result(TIMEOUT).id == "held"
    assert [len(call) for call in recorder.calls] == [1, len(texts)]  # one model call for all
    for i, (response, text) in enumerate(zip(responses, texts)):
        assert response.id == f"c{i}"
        assert_same_as_in_process(response, text, real)


def test_a_bad_document_in_a_concurrent_burst_fails_alone_with_its_code(server, stub, recorder,
                                                                        documents):
    real = recorder.served
    good = documents[:12]
    bad = {
        "no-format": (pb.CleanRequest(document=pb.Document(content="x", id="no-format")),
                      grpc.StatusCode.INVALID_ARGUMENT),
        "too-long": (text_request("\n".join(f"line {i}" for i in range(500)), "too-long"),
                     grpc.StatusCode.RESOURCE_EXHAUSTED),
        "poison": (text_request(f"Headline\n{POISON}\nA paragraph.", "poison"),
                   grpc.StatusCode.INTERNAL),
    }
    with ThreadPoolExecutor(len(good) + len(bad) + 1) as pool:
        held = hold_labeler(stub, recorder, pool)
        calls = [pool.submit(stub.Clean, text_request(t, f"g{i}"), timeout=TIMEOUT)
                 for i, t in enumerate(good[:6])]
        failing = {name: pool.submit(stub.Clean, request, timeout=TIMEOUT)
                   for name, (request, _) in bad.items()}
        calls += [pool.submit(stub.Clean, text_request(t, f"g{i + 6}"), timeout=TIMEOUT)
                  for i, t in enumerate(good[6:])]
        # The two refused while reading never reach the batcher.
        wait_until(lambda: server.batcher.queued() == len(good) + 1, "the burst is queued")
        recorder.gate.set()
        responses = [c.result(TIMEOUT) for c in calls]
        for name, (_, code) in bad.items():
            with pytest.raises(grpc.RpcError) as err:
                failing[name].result(TIMEOUT)
            assert err.value.code() == code, name
        assert held.result(TIMEOUT).id == "held"
    for i, (response, text) in enumerate(zip(responses, good)):
        assert response.id == f"g{i}"
        assert_same_as_in_process(response, text, real)
    # The batch with the poisoned page failed, then each was labeled alone.
    assert len(recorder.calls[1]) == len(good) + 1
    assert sorted(len(call) for call in recorder.calls[2:]) == [1] * (len(good) + 1)
    assert stub.Clean(text_request(good[0], "after"), timeout=TIMEOUT).body


def test_a_call_whose_deadline_passes_while_queued_is_not_labeled(server, stub, recorder, caplog):
    with caplog.at_level(logging.INFO, logger="declutter.server"), ThreadPoolExecutor(2) as pool:
        held = hold_labeler(stub, recorder, pool)
        with pytest.raises(grpc.RpcError) as err:
            stub.Clean(text_request("Queued too long\nits caller gave up", "late"), timeout=0.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert server.batcher.queued() == 1  # still queued when the caller gave up
        recorder.gate.set()
        assert held.result(TIMEOUT).id == "held"
        wait_until(lambda: server.batcher.queued() == 0, "the labeler reached the late call")
        wait_until(lambda: "stopped id='late'" in caplog.text, "the late call is logged")
    assert "Queued too long" not in recorder.seen()
    assert "stopped id='late': the call's deadline passed" in caplog.text


def test_a_cancelled_call_is_not_labeled(server, stub, recorder, caplog):
    with caplog.at_level(logging.INFO, logger="declutter.server"), ThreadPoolExecutor(1) as pool:
        held = hold_labeler(stub, recorder, pool)
        call = stub.Clean.future(text_request("Cancelled while queued\nx", "cancelled"),
                                 timeout=TIMEOUT)
        wait_until(lambda: server.batcher.queued() == 1, "the call is queued")
        call.cancel()
        # The server hears of the cancel on its own time; its call ends (and
        # logs) as soon as it does, while the labeler is still held.
        wait_until(lambda: "stopped id='cancelled'" in caplog.text, "the server saw the cancel")
        recorder.gate.set()
        assert held.result(TIMEOUT).id == "held"
        wait_until(lambda: server.batcher.queued() == 0, "the labeler reached the call")
        stub.Clean(text_request("After\nthe cancel", "after"), timeout=TIMEOUT)
    assert "Cancelled while queued" not in recorder.seen()
    assert "stopped id='cancelled': the call was cancelled" in caplog.text


def test_a_stream_is_labeled_in_batches_and_answered_in_order(server, stub, recorder, documents,
                                                            caplog):
    real = recorder.served
    registry = server.telemetry.metrics.registry

    def sample(name, **labels):
        return registry.get_sample_value(name, labels) or 0

    batches_before = sample("declutter_batch_documents_count")
    documents_before = sample("declutter_batch_documents_sum")
    lines_before = sample("declutter_lines_total", format="PLAIN_TEXT")
    texts = documents[:40]
    requests = [text_request(t, f"s{i}") for i, t in enumerate(texts)]
    requests.insert(7, pb.CleanRequest(document=pb.Document(content="no format", id="bad")))
    with ThreadPoolExecutor(2) as pool, caplog.at_level(logging.INFO, logger="declutter.requests"):
        held = hold_labeler(stub, recorder, pool)
        stream = pool.submit(lambda: list(stub.CleanStream(iter(requests), timeout=TIMEOUT)))
        wait_until(lambda: server.batcher.queued() == len(texts), "the stream's documents queue")
        recorder.gate.set()
        responses = stream.result(TIMEOUT)
        assert held.result(TIMEOUT).id == "held"
    assert [r.id for r in responses] == [r.document.id for r in requests]
    assert responses[7].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    good = responses[:7] + responses[8:]
    for response, text in zip(good, texts):
        assert not response.HasField("error")
        assert_same_as_in_process(response, text, real)
    assert [len(call) for call in recorder.calls] == [1, len(texts)]
    # Figures stay per document although the documents were labeled together.
    assert sample("declutter_batch_documents_count") - batches_before == 2
    assert sample("declutter_batch_documents_sum") - documents_before == 1 + len(texts)
    assert sample("declutter_lines_total", format="PLAIN_TEXT") - lines_before == \
        2 + sum(len(r.lines) for r in good)
    records = {r.document_id: r for r in caplog.records
               if r.getMessage() == "request" and getattr(r, "stream_index", None) is not None}
    for index, response in enumerate(responses):
        record = records[response.id]
        assert record.stream_index == index
        if response.HasField("error"):
            assert record.outcome == "INVALID_ARGUMENT" and not hasattr(record, "lines")
        else:
            assert record.lines == len(response.lines) and record.outcome == "OK"
            assert record.body_lines == sum(line.label == pb.BODY for line in response.lines)


def test_a_stream_whose_client_waits_for_each_answer_is_served(stub, documents):
    """The server reads on while it labels, but never waits for a document
    the client sends only after the previous answer."""
    answered = threading.Semaphore(0)
    texts = documents[:5]

    def one_at_a_time():
        for i, text in enumerate(texts):
            if i:
                assert answered.acquire(timeout=TIMEOUT)
            yield text_request(text, f"p{i}")

    ids = []
    for response in stub.CleanStream(one_at_a_time(), timeout=TIMEOUT):
        ids.append(response.id)
        answered.release()
    assert ids == [f"p{i}" for i in range(len(texts))]


def _blocked(room: _ReadAhead) -> tuple[threading.Thread, list]:
    """A reader waiting for room, and where its answer will go."""
    got: list = []
    reader = threading.Thread(target=lambda: got.append(room.wait()), daemon=True)
    reader.start()
    reader.join(0.2)
    return reader, got


def test_read_ahead_keeps_to_its_documents_and_bytes_but_always_admits_one():
    room = _ReadAhead(documents=3, content_bytes=100)
    assert room.wait()
    room.add(500)  # larger than the budget alone: admitted, as nothing was in flight
    reader, got = _blocked(room)
    assert reader.is_alive() and not got  # the bytes are spent
    room.answered()
    reader.join(TIMEOUT)
    assert got == [True]
    for _ in range(3):
        assert room.wait()
        room.add(10)
    reader, got = _blocked(room)
    assert reader.is_alive() and not got  # three documents unanswered
    room.answered()
    reader.join(TIMEOUT)
    assert got == [True]
    reader, got = _blocked(room)  # room for one more: it does not wait
    assert got == [True]
    room.add(95)  # 2 x 10 + 95 bytes in flight now
    reader, got = _blocked(room)
    assert reader.is_alive()
    room.close()
    reader.join(TIMEOUT)
    assert got == [False]


def test_a_stream_reads_ahead_only_within_its_bytes_budget(documents):
    text = "A document of a stream, long enough to count.\n" * 10
    size = text_request(text, "b00").ByteSize()
    srv = Server(Settings(host="127.0.0.1", port=0, threads=8, stream_max_in_flight=64,
                          stream_max_in_flight_bytes=3 * size))
    srv.start()
    real = srv.models.get()
    recorder = RecordingEstimator(real.estimator, gate=threading.Event())
    srv.models.set(Model(estimator=recorder, metadata=dict(real.metadata)))
    requests = [text_request(text, f"b{i:02d}") for i in range(12)]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel, \
                ThreadPoolExecutor(2) as pool:
            stub = pb_grpc.DeclutterStub(channel)
            held = hold_labeler(stub, recorder, pool)
            stream = pool.submit(lambda: list(stub.CleanStream(iter(requests), timeout=TIMEOUT)))
            wait_until(lambda: srv.batcher.queued() == 3, "three stream documents queue")
            time.sleep(0.3)  # time to read a fourth, were it allowed
            assert srv.batcher.queued() == 3
            recorder.gate.set()
            responses = stream.result(TIMEOUT)
            assert held.result(TIMEOUT).id == "held"
    finally:
        recorder.gate.set()
        srv.stop(grace=0)
    assert [r.id for r in responses] == [r.document.id for r in requests]
    for response in responses:
        assert_same_as_in_process(response, text, real)
    assert max(len(call) for call in recorder.calls) <= 3


def test_a_stream_past_its_deadline_while_queued_stops_and_labels_nothing_more(server, stub,
                                                                               recorder):
    requests = [text_request(f"Stream document {i}\nbody", f"d{i}") for i in range(10)]
    with ThreadPoolExecutor(1) as pool:
        held = hold_labeler(stub, recorder, pool)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.CleanStream(iter(requests), timeout=0.5))
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        recorder.gate.set()
        assert held.result(TIMEOUT).id == "held"
        wait_until(lambda: server.batcher.queued() == 0, "the queue is worked off")
        stub.Clean(text_request("After\nthe stream", "after"), timeout=TIMEOUT)
    assert not any(first.startswith("Stream document") for first in recorder.seen())


def test_shutdown_answers_the_queued_calls_and_stops_the_labeler(documents):
    srv = Server(Settings(host="127.0.0.1", port=0, threads=16))
    srv.start()
    real = srv.models.get()
    recorder = RecordingEstimator(real.estimator, gate=threading.Event(), poison=POISON)
    srv.models.set(Model(estimator=recorder, metadata=dict(real.metadata)))
    texts = documents[:8]
    try:
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel, \
                ThreadPoolExecutor(len(texts) + 2) as pool:
            stub = pb_grpc.DeclutterStub(channel)
            held = hold_labeler(stub, recorder, pool)
            calls = [pool.submit(stub.Clean, text_request(t, f"q{i}"), timeout=TIMEOUT)
                     for i, t in enumerate(texts)]
            wait_until(lambda: srv.batcher.queued() == len(texts), "the calls are queued")
            stopping = pool.submit(srv.stop, TIMEOUT)
            # gRPC takes no new calls from here on; the queued ones are in flight.
            wait_until(lambda: srv.grpc._state.stage is not _ServerStage.STARTED,
                       "the server is stopping")
            recorder.gate.set()
            responses = [c.result(TIMEOUT) for c in calls]
            assert held.result(TIMEOUT).id == "held"
            stopping.result(TIMEOUT)
    finally:
        recorder.gate.set()
        srv.stop(grace=0)
    assert not srv.batcher.running
    with pytest.raises(Closed):
        srv.batcher.submit(real, split_text("after the stop"))
    for i, (response, text) in enumerate(zip(responses, texts)):
        assert response.id == f"q{i}"
        assert_same_as_in_process(response, text, real)


def test_batch_settings_come_from_flags_and_environment():
    settings = parse_settings(["--batch-max-documents", "8"],
                              {"DECLUTTER_BATCH_MAX_LINES": "512",
                               "DECLUTTER_LABELING_THREADS": "3",
                               "DECLUTTER_STREAM_MAX_IN_FLIGHT": "4",
                               "DECLUTTER_STREAM_MAX_IN_FLIGHT_BYTES": "65536"})
    assert (settings.batch_max_documents, settings.batch_max_lines,
            settings.stream_max_in_flight, settings.stream_max_in_flight_bytes,
            settings.labeling_threads) == (8, 512, 4, 65536, 3)
    assert parse_settings([], {}).labeling_threads == 2
    for flag in ("--batch-max-documents", "--batch-max-lines", "--labeling-threads",
                 "--stream-max-in-flight",
                 "--stream-max-in-flight-bytes"):
        with pytest.raises(SystemExit):
            parse_settings([flag, "0"], {})


class AbortingContext:
    """Just enough of a servicer context for a call that never reaches the model."""

    def time_remaining(self):
        return None

    def is_active(self):
        return True

    def abort(self, code, message):
        raise grpc.RpcError(code, message)


def test_a_call_once_the_batcher_is_closed_is_unavailable():
    holder = ModelHolder()
    holder.set(Model(estimator=None, metadata={"version": "never-used"}))
    batcher = Batcher()
    batcher.close()
    servicer = DeclutterServicer(holder, batcher=batcher)
    with pytest.raises(grpc.RpcError) as err:
        servicer.Clean(text_request("A document\nfor a stopping server", "late"),
                       AbortingContext())
    code, message = err.value.args
    assert code == grpc.StatusCode.UNAVAILABLE and "stopping" in message
