"""Faults: SIGTERM with calls in flight, and training killed while it writes
over the model being served."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from classifier.model import checksum_path, load_model
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc

from conftest import TINY_CORPUS, free_port
from test_process import spawn, wait_serving  # noqa: F401  (spawn is a fixture)
from test_server import ARTICLE

GRACE_SECONDS = 30  # far more than the calls need; the test ends when they do
EXIT_MARGIN = 5.0            # seconds past the grace period the process may take to exit
IN_FLIGHT = 4
# About a second of work each (64,000 lines, 3.7 MB: under gRPC's default 4 MB
# receive limit for the answer).
LARGE_DOCUMENT = "\n".join([ARTICLE] * 4000)


def clean_on_ready_channel(address: str, id: str, ready, start):
    """Connect first (so the call is not lost to connection set-up), then
    clean a large document once `start` is set."""
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        ready.release()
        start.wait(10)
        return pb_grpc.DeclutterStub(channel).Clean(pb.CleanRequest(document=pb.Document(
            format=pb.Document.PLAIN_TEXT, content=LARGE_DOCUMENT, id=id)), timeout=60)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_calls_in_flight_finish_and_refuses_new_ones(spawn, workers):  # noqa: F811
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = spawn("--port", str(port), "--workers", str(workers),
                   "--grace-seconds", str(GRACE_SECONDS))
    for _ in range(workers):
        server.wait_for(r"serving model version=")
    wait_serving(address)

    ready, start = threading.Semaphore(0), threading.Event()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        calls = [pool.submit(clean_on_ready_channel, address, f"large-{i}", ready, start)
                 for i in range(IN_FLIGHT)]
        for _ in range(IN_FLIGHT):
            assert ready.acquire(timeout=15)
        start.set()
        time.sleep(0.5)  # the calls reach the server
        assert not any(c.done() for c in calls), \
            f"calls ended before SIGTERM: {[c.result().id for c in calls if c.done()]}"
        server.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        server.wait_for(r"shutting down; in-flight calls get")
        time.sleep(0.3)
        with grpc.insecure_channel(address) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                pb_grpc.DeclutterStub(channel).Clean(pb.CleanRequest(document=pb.Document(
                    format=pb.Document.PLAIN_TEXT, content="Late\nA call after SIGTERM.")),
                    timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        still_running = sum(not c.done() for c in calls)
        responses = [c.result(timeout=GRACE_SECONDS + EXIT_MARGIN) for c in calls]
    assert [r.id for r in responses] == [f"large-{i}" for i in range(IN_FLIGHT)]
    assert all(r.body for r in responses)
    assert server.proc.wait(timeout=GRACE_SECONDS + EXIT_MARGIN - (time.monotonic() - sent)) == 0
    print(f"\n{workers} worker(s): {still_running} of {IN_FLIGHT} calls were still running when "
          f"a new call was refused; exit 0 {time.monotonic() - sent:.1f}s after SIGTERM")


# -- training killed while writing ---------------------------------------------

KILL_POLL = 0.0005   # seconds between looks at the model folder
# The save writes to hidden temporary names beside the model, then renames.
TEMP_NAME = re.compile(r"^\.model\.joblib(\.sha256)?\..+\.tmp$")


def start_training(out: Path, version: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "classifier.train", "--data", str(TINY_CORPUS),
                             "--out", str(out), "--version", version, "--holdout", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def temp_files(folder: Path) -> dict[str, int]:
    sizes = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".tmp"):
            try:
                sizes[entry.name] = entry.stat().st_size
            except FileNotFoundError:
                pass
    return sizes


def model_temp_written(folder: Path) -> bool:
    return any(size > 0 and ".sha256." not in name for name, size in temp_files(folder).items())


def checksum_temp_written(folder: Path) -> bool:
    return any(size > 0 and ".sha256." in name for name, size in temp_files(folder).items())


# When to kill: a fixed time after start (reading, training), or at a stage
# of the save seen in the folder, after an extra delay.
KILL_POINTS = [
    ("0.8s after start", None, 0.8),
    ("temp files created", lambda d: bool(temp_files(d)), 0.0),
    ("model being written", model_temp_written, 0.0),
    ("model written + 5ms", model_temp_written, 0.005),
    ("checksum being written", checksum_temp_written, 0.0),
    ("checksum written + 1ms", checksum_temp_written, 0.001),
]


def test_training_killed_while_writing_leaves_the_served_model_intact(tmp_path):
    folder = tmp_path / "models"
    out = folder / "model.joblib"
    first = start_training(out, "first")
    assert first.wait(timeout=120) == 0, first.stderr.read()
    model_bytes = out.read_bytes()
    version = "first"

    outcomes = []
    for what, stage, delay in KILL_POINTS:
        proc = start_training(out, "second")
        deadline = time.monotonic() + 120
        if stage is not None:
            while not stage(folder) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(KILL_POLL)
        time.sleep(delay)
        during_save = bool(temp_files(folder))
        proc.kill()
        code = proc.wait(timeout=30)
        if code != 0:
            assert code == -signal.SIGKILL, proc.stderr.read()
        if out.read_bytes() != model_bytes:
            # The new model was renamed into place before the kill (or the
            # run finished): it is whole, and its checksum file accepts it.
            model_bytes, version = out.read_bytes(), "second"
        # Either way the model in place loads: its checksum file names it.
        assert load_model(out).version == version
        strays = sorted(p.name for p in folder.iterdir()
                        if p.name not in (out.name, checksum_path(out).name))
        # Left-overs of a killed save keep their hidden temporary names; the
        # server loads only the path it is given.
        assert all(TEMP_NAME.match(name) for name in strays), strays
        outcomes.append((what, "killed" if code else "finished", during_save))
    print("\n" + "\n".join(f"{what}: {result}{' during the save' if saving else ''}"
                           for what, result, saving in outcomes))
    assert sum(result == "killed" and saving for _, result, saving in outcomes) >= 3, outcomes


def running(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_workers_stop_when_their_parent_is_killed(spawn):  # noqa: F811
    port = free_port()
    server = spawn("--port", str(port), "--workers", "2", "--grace-seconds", "2")
    pids = {int(server.wait_for(r"pid=(\d+) serving model version=").group(1)) for _ in range(2)}
    wait_serving(f"127.0.0.1:{port}")
    server.proc.kill()  # SIGKILL: the parent cannot pass anything on
    server.proc.wait(timeout=10)
    # The workers still write to the log the parent shared with them.
    for _ in range(2):
        server.watch.wait_for(r"parent process \d+ is gone; stopping", timeout=15)
    deadline = time.monotonic() + 15
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in pids if running(pid)] == []
