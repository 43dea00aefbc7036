"""Model reload while serving, and work stopped for callers that are gone."""

import logging
import os
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from classifier.model import Model, checksum_path, file_sha256, library_versions, save_model
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import Settings, parse_settings
from server.worker import Server
from server.servicer import DeclutterServicer, ModelHolder

from conftest import free_port
from estimators import RecordingEstimator
from modelfiles import install, install_truncated, resave
from test_process import spawn, wait_serving  # noqa: F401  (spawn is a fixture)

TEXT = "Home / News\nThe council approved the new ferry route on Tuesday evening after a long debate."


def request(content=TEXT, id="doc"):
    return pb.CleanRequest(document=pb.Document(format=pb.Document.PLAIN_TEXT, content=content, id=id))


class Aborted(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class FakeContext:
    """A servicer context whose deadline and liveness the test sets: is_active
    answers True for the first `active_checks` calls, then False."""

    def __init__(self, remaining=None, active_checks=10**9):
        self.remaining = remaining
        self.active_checks = active_checks

    def time_remaining(self):
        return self.remaining

    def is_active(self):
        self.active_checks -= 1
        return self.active_checks >= 0

    def add_callback(self, callback):
        return True  # registered; a fake call never ends by itself

    def abort(self, code, message):
        raise Aborted(code, message)


@pytest.fixture()
def models_dir(tmp_path, tiny_estimator):
    """live.joblib (served, version tiny-1) and v2.joblib (tiny-2) beside it."""
    live = tmp_path / "live.joblib"
    save_model(Model(estimator=tiny_estimator,
                     metadata={"version": "tiny-1", "libraries": library_versions()}), live)
    resave(live, tmp_path / "v2.joblib", "tiny-2")
    return tmp_path


def start_server(model_path, **settings):
    server = Server(Settings(host="127.0.0.1", port=0, model=str(model_path), **settings))
    server.start()
    return server


@pytest.fixture()
def served(models_dir):
    server = start_server(models_dir / "live.joblib")
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield server, pb_grpc.DeclutterStub(channel)
    server.stop(grace=1)


def model_info(stub):
    return stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)


# -- reload -------------------------------------------------------------------

def test_reload_serves_the_new_model_and_says_which(served, models_dir, caplog):
    server, stub = served
    live = models_dir / "live.joblib"
    assert model_info(stub).version == "tiny-1"
    sha = install(models_dir / "v2.joblib", live)
    with caplog.at_level(logging.INFO, logger="declutter.server"):
        assert server.reload()
    info = model_info(stub)
    assert (info.version, info.sha256) == ("tiny-2", sha)
    assert f"reloaded model version=tiny-2 sha256={sha}" in caplog.text
    assert stub.Clean(request(), timeout=10).model_version == "tiny-2"


def _garbage_with_its_checksum(live):
    live.write_bytes(b"not a model, but its checksum file matches")
    checksum_path(live).write_text(f"{file_sha256(live)}  {live.name}\n")


BROKEN_FILES = {
    "half-written": (lambda d: install_truncated(d / "v2.joblib", d / "live.joblib"),
                     "does not match its checksum"),
    "checksum mismatch": (lambda d: shutil.copyfile(d / "v2.joblib", d / "live.joblib"),
                          "does not match its checksum"),
    "checksum file missing": (lambda d: checksum_path(d / "live.joblib").unlink(),
                              "has no checksum file"),
    "not a model": (lambda d: _garbage_with_its_checksum(d / "live.joblib"), "could not be read"),
    "file removed": (lambda d: (d / "live.joblib").unlink(), "does not exist"),
}


@pytest.mark.parametrize("breakage", BROKEN_FILES, ids=list(BROKEN_FILES))
def test_a_bad_model_file_is_rejected_and_the_old_model_keeps_serving(served, models_dir,
                                                                      caplog, breakage):
    server, stub = served
    before = model_info(stub)
    spoil, reason = BROKEN_FILES[breakage]
    spoil(models_dir)
    with caplog.at_level(logging.INFO, logger="declutter.server"):
        assert not server.reload()
    assert "reload rejected: " in caplog.text and reason in caplog.text
    assert f"still serving version=tiny-1 sha256={before.sha256}" in caplog.text
    assert model_info(stub) == before
    assert stub.Clean(request(), timeout=10).model_version == "tiny-1"
    # A good file afterwards is taken.
    install(models_dir / "v2.joblib", models_dir / "live.joblib")
    assert server.reload() and model_info(stub).version == "tiny-2"


def test_a_call_in_flight_finishes_on_the_model_it_started_with(tiny_estimator):
    gate = threading.Event()
    old = Model(estimator=RecordingEstimator(tiny_estimator, gate=gate), metadata={"version": "old"})
    holder = ModelHolder()
    holder.set(old)
    servicer = DeclutterServicer(holder)
    with ThreadPoolExecutor(2) as pool:
        in_flight = pool.submit(servicer.Clean, request(id="first"), FakeContext())
        assert old.estimator.entered.wait(10)
        holder.set(Model(estimator=tiny_estimator, metadata={"version": "new"}))
        # One thread labels: the later call waits for the first call's batch.
        later = pool.submit(servicer.Clean, request(id="second"), FakeContext())
        gate.set()
        assert in_flight.result(timeout=10).model_version == "old"
        assert later.result(timeout=10).model_version == "new"


def test_watching_reloads_a_replaced_model(models_dir):
    server = start_server(models_dir / "live.joblib", watch_model_seconds=0.1)
    try:
        sha = install(models_dir / "v2.joblib", models_dir / "live.joblib")
        deadline = time.monotonic() + 10
        while server.models.get().sha256 != sha and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.models.get().version == "tiny-2"
    finally:
        server.stop(grace=1)


def wait_for_version(server, version, timeout=10.0):
    deadline = time.monotonic() + timeout
    while server.models.get().version != version and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.models.get().version


def test_watching_waits_for_a_model_and_its_checksum_to_settle(models_dir, caplog):
    live = models_dir / "live.joblib"
    server = start_server(live, watch_model_seconds=0.3)
    try:
        with caplog.at_level(logging.INFO, logger="declutter.server"):
            # The two renames of a new model, a moment apart: one reload.
            shutil.copyfile(models_dir / "v2.joblib", models_dir / ".next")
            shutil.copyfile(checksum_path(models_dir / "v2.joblib"), models_dir / ".next.sum")
            os.replace(models_dir / ".next", live)
            time.sleep(0.02)
            os.replace(models_dir / ".next.sum", checksum_path(live))
            assert wait_for_version(server, "tiny-2") == "tiny-2"
        assert "reload rejected" not in caplog.text
        assert caplog.text.count("reloaded model version=tiny-2") == 1
    finally:
        server.stop(grace=1)


def test_watching_retries_a_half_copied_model_once_it_is_complete(models_dir, caplog):
    live = models_dir / "live.joblib"
    server = start_server(live, watch_model_seconds=0.1)
    try:
        with caplog.at_level(logging.INFO, logger="declutter.server"):
            install_truncated(models_dir / "v2.joblib", live)
            deadline = time.monotonic() + 10
            while "reload rejected" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "reload rejected" in caplog.text
            assert server.models.get().version == "tiny-1"
            install(models_dir / "v2.joblib", live)
            assert wait_for_version(server, "tiny-2") == "tiny-2"
    finally:
        server.stop(grace=1)


def test_watching_is_off_unless_asked_and_its_setting_is_checked(served, models_dir):
    server, stub = served
    install(models_dir / "v2.joblib", models_dir / "live.joblib")
    time.sleep(0.5)
    assert model_info(stub).version == "tiny-1"
    assert parse_settings([], {"DECLUTTER_WATCH_MODEL_SECONDS": "2.5"}).watch_model_seconds == 2.5
    with pytest.raises(SystemExit):
        parse_settings(["--watch-model-seconds", "-1"], {})


def test_sighup_reloads_every_worker(spawn, models_dir):  # noqa: F811
    port = free_port()
    live = models_dir / "live.joblib"
    server = spawn("--port", str(port), "--workers", "2", "--model", str(live))
    pids = {server.wait_for(r"pid=(\d+) serving model version=tiny-1").group(1) for _ in range(2)}
    assert len(pids) == 2
    address = f"127.0.0.1:{port}"
    wait_serving(address)
    sha = install(models_dir / "v2.joblib", live)
    server.proc.send_signal(signal.SIGHUP)
    reloaded = {server.wait_for(rf"pid=(\d+) reloaded model version=tiny-2 sha256={sha}").group(1)
                for _ in range(2)}
    assert reloaded == pids
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.DeclutterStub(channel)
        for _ in range(4):
            assert stub.Clean(request(), timeout=10).model_version == "tiny-2"
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0


# -- deadlines and cancellation -------------------------------------------------

def test_a_passed_deadline_stops_before_any_work(tiny_estimator):
    estimator = RecordingEstimator(tiny_estimator)
    holder = ModelHolder()
    holder.set(Model(estimator=estimator, metadata={"version": "v"}))
    with pytest.raises(Aborted) as caught:
        DeclutterServicer(holder).Clean(request(), FakeContext(remaining=0))
    assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert not estimator.calls


def test_a_call_cancelled_while_reading_is_not_labelled(tiny_estimator):
    estimator = RecordingEstimator(tiny_estimator)
    holder = ModelHolder()
    holder.set(Model(estimator=estimator, metadata={"version": "v"}))
    # Active at the first check (before work), cancelled by the next one
    # (between reading the lines and labelling them).
    with pytest.raises(Aborted) as caught:
        DeclutterServicer(holder).Clean(request(), FakeContext(active_checks=1))
    assert caught.value.code == grpc.StatusCode.CANCELLED
    assert not estimator.calls


def test_a_call_past_its_deadline_is_stopped_and_the_server_keeps_serving(served, caplog,
                                                                        tiny_estimator):
    server, stub = served
    real = server.models.get()
    with caplog.at_level(logging.INFO, logger="declutter.server"):
        with pytest.raises(grpc.RpcError) as caught:
            stub.Clean(request(id="tiny-deadline"), timeout=0.001)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        # A deadline that passes while the model works: the server stops at
        # the next checkpoint and never builds the response.
        server.models.set(Model(estimator=RecordingEstimator(tiny_estimator, delay=0.6),
                                metadata={"version": "slow"}))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Clean(request(id="late"), timeout=0.2)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 5
        while "stopped id='late'" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "stopped id='late': the call's deadline passed" in caplog.text
    assert "cleaned id='late'" not in caplog.text
    server.models.set(real)
    assert stub.Clean(request(id="after"), timeout=10).model_version == "tiny-1"


def test_a_cancelled_stream_stops_being_processed(served, tiny_estimator):
    server, stub = served
    estimator = RecordingEstimator(tiny_estimator, delay=0.05)
    server.models.set(Model(estimator=estimator, metadata={"version": "slow"}))
    total = 200  # 10 s of work if the server went on

    def documents():
        for i in range(total):
            yield request(id=f"item-{i}")

    responses = stub.CleanStream(documents(), timeout=60)
    for _ in range(3):
        assert next(responses).model_version == "slow"
    responses.cancel()
    # The server may be inside a document or waiting to send; either way it
    # takes no further document. (It logs "stream stopped" only when it
    # notices the cancel itself, not when gRPC stops asking for responses.)
    time.sleep(1.0)
    processed = len(estimator.calls)
    time.sleep(1.0)
    assert len(estimator.calls) == processed  # nothing more after the stop
    assert processed <= 10, f"{processed} of {total} documents labelled after a cancel at 3"
