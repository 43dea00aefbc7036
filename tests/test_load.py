"""A real server under steady load while its model is reloaded and bad
requests come in: no good request fails, every bad one gets its documented
status, and memory levels off.

Run alone with its figures printed:
    python -m pytest tests/test_load.py -s
DECLUTTER_LOAD_SECONDS (default 15) sets how long the load runs, and
DECLUTTER_LOAD_RELOADS (default 4) how many good reloads happen in it.
"""

from __future__ import annotations

import collections
import itertools
import os
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import grpc
import pytest

from classifier.model import DEFAULT_MODEL_PATH, checksum_path
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc

from conftest import free_port
from modelfiles import install, install_truncated, resave
from test_process import spawn, wait_serving  # noqa: F401  (spawn is a fixture)
from test_server import ARTICLE

LOAD_SECONDS = float(os.environ.get("DECLUTTER_LOAD_SECONDS", "15"))
RELOADS = int(os.environ.get("DECLUTTER_LOAD_RELOADS", "4"))
CLIENTS = 6
BAD_EVERY = 10                 # one request in ten is a bad one
MAX_MESSAGE_BYTES = 1 << 20    # the server's --max-message-bytes for this test
MAX_LINE_CHARS = 2000          # the server's --max-line-chars
CALL_TIMEOUT = 60.0
RSS_EVERY = 0.25               # seconds between memory samples
WARM_UP = 2.0                  # seconds of load before memory is compared
# Memory may rise while the model is swapped (two models held for a moment);
# it must not climb steadily.
RSS_MARGIN_FACTOR = 1.25
RSS_MARGIN_KB = 30 * 1024

HTML_ARTICLE = "<html><body><nav><a href='/'>Home</a> <a href='/world'>World</a></nav>" + "".join(
    f"<p>{line}</p>" for line in ARTICLE.splitlines() if line.strip()) + "</body></html>"

GOOD = [pb.Document(format=pb.Document.PLAIN_TEXT, content=ARTICLE),
        pb.Document(format=pb.Document.HTML, content=HTML_ARTICLE)]


def bad_documents(rng: random.Random):
    """(kind, document, codes its answer may have): the documented errors."""
    ok = grpc.StatusCode.OK
    return [
        ("format unspecified", pb.Document(content=ARTICLE), {grpc.StatusCode.INVALID_ARGUMENT}),
        ("oversized", pb.Document(format=pb.Document.PLAIN_TEXT,
                                  content="word " * (MAX_MESSAGE_BYTES // 5 + 100)),
         {grpc.StatusCode.RESOURCE_EXHAUSTED}),
        ("line too long", pb.Document(format=pb.Document.PLAIN_TEXT,
                                      content="Title\n" + "x" * (MAX_LINE_CHARS + 1)),
         {grpc.StatusCode.RESOURCE_EXHAUSTED}),
        ("binary junk as HTML", pb.Document(format=pb.Document.HTML, raw=rng.randbytes(MAX_LINE_CHARS // 2)),
         {ok, grpc.StatusCode.INVALID_ARGUMENT}),
    ]


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.good_ok = 0
        self.good_failed: list[str] = []
        self.versions: collections.Counter = collections.Counter()
        self.bad: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.bad_unexpected: list[str] = []


def client(address: str, seed: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(seed)
    bad = bad_documents(rng)
    bad_cycle = itertools.cycle(range(len(bad)))
    with grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES)]) as channel:
        stub = pb_grpc.DeclutterStub(channel)
        for n in itertools.count(seed):
            if stop.is_set():
                return
            if n % BAD_EVERY == BAD_EVERY - 1:
                kind, document, expected = bad[next(bad_cycle)]
                try:
                    stub.Clean(pb.CleanRequest(document=document), timeout=CALL_TIMEOUT)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as exc:
                    code = exc.code()
                with tally.lock:
                    tally.bad[kind][code.name] += 1
                    if code not in expected:
                        tally.bad_unexpected.append(f"{kind}: {code.name}")
                continue
            document = GOOD[n % len(GOOD)]
            try:
                response = stub.Clean(pb.CleanRequest(document=document), timeout=CALL_TIMEOUT)
            except grpc.RpcError as exc:
                with tally.lock:
                    tally.good_failed.append(f"{exc.code().name}: {exc.details()}")
                continue
            with tally.lock:
                tally.good_ok += 1
                tally.versions[response.model_version] += 1


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def sample_rss(pid: int, stop: threading.Event, samples: list) -> None:
    start = time.monotonic()
    while not stop.wait(RSS_EVERY):
        samples.append((time.monotonic() - start, rss_kb(pid)))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """a.joblib: the shipped model; b.joblib: the same under another version."""
    folder = tmp_path_factory.mktemp("load-models")
    a = folder / "a.joblib"
    shutil.copyfile(DEFAULT_MODEL_PATH, a)
    shutil.copyfile(checksum_path(DEFAULT_MODEL_PATH), checksum_path(a))
    b = resave(a, folder / "b.joblib", "load-test-b")
    return a, b


def test_load_with_reloads_and_bad_requests(spawn, model_files, tmp_path):  # noqa: F811
    a, b = model_files
    live = tmp_path / "live.joblib"
    install(a, live)
    port = free_port()
    address = f"127.0.0.1:{port}"
    server = spawn("--port", str(port), "--model", str(live), "--threads", "8",
                   "--max-message-bytes", str(MAX_MESSAGE_BYTES),
                   "--max-line-chars", str(MAX_LINE_CHARS), "--grace-seconds", "10")
    version_a = server.wait_for(r"serving model version=(\S+)").group(1)
    wait_serving(address)
    version_b = "load-test-b"

    tally = Tally()
    stop = threading.Event()
    rss: list[tuple[float, int]] = []
    threads = [threading.Thread(target=client, args=(address, i, stop, tally), daemon=True)
               for i in range(CLIENTS)]
    threads.append(threading.Thread(target=sample_rss, args=(server.proc.pid, stop, rss),
                                    daemon=True))
    started = time.monotonic()
    for t in threads:
        t.start()

    # Reloads spread over the run, alternating B and A, with a half-written
    # file (refused) after the first two.
    plan = [(b, version_b) if i % 2 == 0 else (a, version_a) for i in range(RELOADS)]
    plan.insert(min(2, len(plan)), (None, None))
    reloads = rejected = 0
    serving = version_a
    with grpc.insecure_channel(address) as channel:
        info_stub = pb_grpc.DeclutterStub(channel)
        for step, (source, version) in enumerate(plan, start=1):
            time.sleep(max(0.0, started + step * LOAD_SECONDS / (len(plan) + 1) - time.monotonic()))
            if source is None:
                install_truncated(b, live)
                server.proc.send_signal(signal.SIGHUP)
                server.wait_for(r"reload rejected: .*does not match its checksum.*"
                                rf"still serving version={serving} ")
                rejected += 1
            else:
                sha = install(source, live)
                server.proc.send_signal(signal.SIGHUP)
                server.wait_for(rf"reloaded model version={version} sha256={sha}")
                reloads += 1
                serving = version
            info = info_stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
            assert info.version == serving
            if source is not None:
                assert info.sha256 == sha
        time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(timeout=CALL_TIMEOUT + 5)
        assert not t.is_alive()
    elapsed = time.monotonic() - started

    bad_total = sum(sum(c.values()) for c in tally.bad.values())
    done = tally.good_ok + len(tally.good_failed) + bad_total
    measured = [kb for t, kb in rss if t >= WARM_UP]
    half = len(measured) // 2
    first, second = measured[:half], measured[half:]
    print(f"\nload test: {CLIENTS} clients for {elapsed:.1f}s: {done} requests "
          f"({done / elapsed:.1f}/s), {tally.good_ok} good ok, {len(tally.good_failed)} good "
          f"failed, {bad_total} bad: {dict((k, dict(v)) for k, v in tally.bad.items())}")
    print(f"model versions answered: {dict(tally.versions)}; reloads {reloads}, "
          f"rejected {rejected}")
    print(f"server RSS (MiB): first {rss[0][1] / 1024:.0f}, after warm-up {measured[0] / 1024:.0f}, "
          f"last {measured[-1] / 1024:.0f}, peak {max(kb for _, kb in rss) / 1024:.0f}; "
          f"peak first half {max(first) / 1024:.0f}, second half {max(second) / 1024:.0f} "
          f"({len(rss)} samples)")

    assert tally.good_failed == []
    assert tally.good_ok > 0
    assert tally.bad_unexpected == []
    assert set(tally.bad) == {kind for kind, _, _ in bad_documents(random.Random(0))}
    assert set(tally.versions) == ({version_a, version_b} if RELOADS else {version_a})
    assert (reloads, rejected) == (RELOADS, 1)
    assert len(first) >= 4
    assert max(second) <= max(first) * RSS_MARGIN_FACTOR + RSS_MARGIN_KB, \
        "server memory kept growing under load"

    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
