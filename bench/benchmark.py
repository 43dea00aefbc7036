#!/usr/bin/env python3
"""Measure how fast declutter cleans, in process and over gRPC, and what the server costs.

    python bench/benchmark.py [--pages 200] [--datasets DIR | --synthetic] [--model PATH]
                              [--grpc-seconds 5] [--skip-grpc] [--skip-peers]
                              [--json bench-results/benchmark.json]

On the same article pages (WCXB dev from the datasets folder, or generated
synthetic articles when it is absent or with --synthetic), in one run:

1. in process, on one core (threadpool_limits(1), one thread): documents/s and
   lines/s for HTML, and for PLAIN_TEXT made from each page's lines;
2. lxml parsing alone (the floor), trafilatura and resiliparse (when
   installed), each as pages/s and as a ratio to declutter's HTML rate. Each
   tool cleans a slice of pages in a row (SLICE_PAGES), as it would on a
   stream of pages (a tool timed between the others' pages would find its
   tables evicted from the CPU caches by them), then the next tool the same
   slice; slice after slice, the order of the tools flips, so drift in the
   machine's speed, which on a shared machine comes and goes over seconds,
   weighs on every tool alike; all this is repeated `--rounds` times;
3. over gRPC on loopback against `python -m server` subprocesses: Clean
   requests/s and p50/p95/p99 latency at concurrency 1, 8 and 32, CleanStream
   documents/s, and Clean at concurrency 1, 8 and 32 against `--workers 2`;
4. the server's peak resident memory per worker (VmHWM), its model load time
   (from its log) and the time from process start to health SERVING.

It prints a table with the ratios and the speed targets, and writes JSON. It
measures; it never fails because a target is missed. Every phase is bounded in
time or count, and every server it starts is stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from a plain checkout
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from classifier.datasets import WCXB, datasets_dir, read_pages  # noqa: E402
from classifier.html import html_to_page  # noqa: E402
from classifier.model import DEFAULT_MODEL_PATH, load_model  # noqa: E402
from classifier.pipeline import Format, clean, label_pages, read_page  # noqa: E402
from server.logwatch import LogWatch  # noqa: E402

DEFAULT_JSON = "bench-results/benchmark.json"
CONCURRENCY_LEVELS = (1, 8, 32)
WORKERS_CONCURRENCY = 32
STREAM_WINDOW = 128          # CleanStream requests in flight at once (the server reads this far ahead)
REQUEST_TIMEOUT = 60.0       # seconds, per Clean call
SERVER_START_TIMEOUT = 60.0  # seconds to reach SERVING
SERVER_GRACE = 2.0           # --grace-seconds given to the servers
DEFAULT_ROUNDS = 2            # in-process passes over the pages per tool
SLICE_PAGES = 20              # pages each tool cleans in a row before the next tool's turn
FIVE_KB_BAND = (3.0, 7.0)    # text sizes (KB) counted as "~5 KB articles"
BATCH_DOCS = 64              # documents per model call in the batched PLAIN_TEXT figure
BATCH_PASSES = 3             # timed passes over them; the fastest counts
MIN_BAND_PAGES = 10

# The targets.
TARGET_HTML_VS_TRAFILATURA = 5.0
TARGET_HTML_VS_LXML = 0.4
TARGET_TEXT_DOCS_PER_S = 1000.0
TARGET_GRPC_REQ_PER_S = 500.0
TARGET_GRPC_P99_MS = 50.0
TARGET_STREAM_VS_UNARY = 1.5
TARGET_PEAK_MB = 300.0
TARGET_LOAD_S = 2.0
TARGET_SERVING_S = 5.0

MEASURED_PEERS = ("trafilatura", "resiliparse")


# --------------------------------------------------------------------------- pages

@dataclass
class BenchPage:
    id: str
    html: str
    text: str  # "\n".join of the page's lines, as read from the HTML


def load_pages(n: int, datasets: str | None, synthetic: bool) -> tuple[list[BenchPage], str]:
    """n article pages and where they came from."""
    folder = None if synthetic else datasets_dir(datasets)
    if folder is not None and (folder / WCXB).is_file():
        pages = []
        for page in read_pages(folder / WCXB):
            if page.page_type != "article" or not page.html.strip():
                continue
            pages.append(BenchPage(page.id, page.html, "\n".join(html_to_page(page.html).texts)))
            if len(pages) >= n:
                break
        return pages, f"{WCXB} article pages from {folder}"
    why = "--synthetic" if synthetic else "no datasets folder with " + WCXB
    pages = [BenchPage(f"synthetic:{i}", html, "\n".join(html_to_page(html).texts))
             for i, html in enumerate(synthetic_pages(n))]
    return pages, f"synthetic article pages ({why})"


# Invented material for synthetic article pages: sentences are assembled from
# these parts, so no real page's text is in the repository.
_SITES = ("The Harbour Courier", "Valley Ledger", "Northshore Gazette", "The Tidewater Post",
          "Lantern Street Journal", "Quarry Hill Herald")
_SECTIONS = ("World", "Region", "Business", "Science", "Culture", "Sport", "Opinion", "Travel")
_SUBJECTS = ("The harbour council", "Local growers", "The regional transit board",
             "A group of volunteers", "Researchers at the coastal institute", "The mayor's office",
             "Residents of the old quarter", "The ferry operator", "Two neighbouring villages",
             "The school governors", "A consortium of small breweries", "The water authority")
_VERBS = ("approved", "questioned", "postponed", "announced", "reviewed", "welcomed",
          "criticised", "funded", "redrew", "defended", "published", "rejected")
_OBJECTS = ("a plan to widen the northern pier", "the winter timetable for evening crossings",
            "a survey of the eroding dunes", "new rules for street markets",
            "the budget for the library extension", "a proposal to pedestrianise the square",
            "the findings of a two-year soil study", "a pilot scheme for electric buses",
            "the lease of the disused grain store", "an inquiry into the flooded underpass")
_TAILS = ("on Tuesday evening", "after a lengthy debate", "despite objections from several members",
          "ahead of the spring season", "following months of consultation",
          "in a vote that surprised observers", "without setting a date for the work",
          "while promising a further review next year")
_QUOTES = ("We have listened carefully and this is the fairest outcome",
           "Nobody expected the numbers to move this quickly",
           "It is a small step, but it is the right one",
           "The details still matter more than the headline")
_NAMES = ("Mira Okafor", "Tomas Lindqvist", "Anjali Rao", "Felix Bauer", "Ines Carvalho",
          "Owen Pritchard", "Yuki Tanabe", "Sofia Marin")


def _sentence(rng: random.Random) -> str:
    return (f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
            f"{rng.choice(_TAILS)}.")


def synthetic_pages(n: int, seed: int = 7) -> list[str]:
    """n article pages of about 5 KB of text, with the usual clutter around them."""
    rng = random.Random(seed)
    pages = []
    for i in range(n):
        site = rng.choice(_SITES)
        section = rng.choice(_SECTIONS)
        headline = _sentence(rng).rstrip(".")
        nav = "".join(f'<li><a href="/{s.lower()}">{s}</a></li>' for s in _SECTIONS)
        paragraphs = []
        for j in range(rng.randint(10, 14)):
            if j == 4:
                paragraphs.append('<div class="ad-slot"><span>Advertisement</span></div>')
            if j == 6:
                paragraphs.append(f"<h2>{rng.choice(_OBJECTS).capitalize()}</h2>")
            if j == 8:
                paragraphs.append(
                    f'<figure><img src="/img/{i}-{j}.jpg" alt="">'
                    f"<figcaption>{_sentence(rng)} Photo: {rng.choice(_NAMES)}</figcaption></figure>")
            sentences = [_sentence(rng) for _ in range(rng.randint(2, 4))]
            if rng.random() < 0.3:
                sentences.append(f'"{rng.choice(_QUOTES)}," said {rng.choice(_NAMES)}.')
            paragraphs.append("<p>" + " ".join(sentences) + "</p>")
        related = "".join(f'<li><a href="/story/{i}-{k}">{_sentence(rng).rstrip(".")}</a></li>'
                          for k in range(5))
        pages.append(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{headline} | {site}</title>
<style>.ad-slot {{ min-height: 250px; }}</style>
<script>window.dataLayer = window.dataLayer || [];</script></head>
<body>
<header><a class="logo" href="/">{site}</a><nav class="main-menu"><ul>{nav}</ul></nav>
<a href="/login">Log in</a> <a href="/subscribe">Subscribe</a></header>
<div class="breadcrumb"><a href="/">Home</a> / <a href="/{section.lower()}">{section}</a></div>
<main><article>
<h1>{headline}</h1>
<p class="standfirst">{_sentence(rng)}</p>
<p class="byline">By {rng.choice(_NAMES)} | {rng.randint(1, 28)} March 2026</p>
<div class="share"><a href="#">Share on social</a> <a href="#">Email</a> <a href="#">Print</a></div>
{"".join(paragraphs)}
</article>
<aside class="newsletter"><p>Sign up for our morning newsletter and never miss a story.</p>
<button>Sign up</button></aside>
<section class="related"><h3>More stories</h3><ul>{related}</ul></section>
</main>
<footer><ul><li><a href="/privacy">Privacy</a></li><li><a href="/terms">Terms of use</a></li>
<li><a href="/contact">Contact us</a></li></ul>
<p>&copy; 2026 {site}. All rights reserved.</p></footer>
</body></html>
""")
    return pages


# --------------------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_busy_seconds() -> float | None:
    """CPU seconds all cores have spent busy since boot (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values) - idle) / _TICK


def _self_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields after the command name (state is [0], ppid [1])."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_cpu_seconds(pid: int) -> float:
    fields = _proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK if fields else 0.0


def child_pids(pid: int) -> list[int]:
    children = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields and fields[1] == str(pid):
                children.append(int(entry))
    return sorted(children)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def listeners(port: int) -> int:
    """Sockets listening on the port (one per worker with SO_REUSEPORT). gRPC
    listens on 127.0.0.1 through an IPv6 socket, so both tables are read."""
    suffix = f":{port:04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        count += sum(1 for r in rows if len(r) > 3 and r[1].endswith(suffix) and r[3] == "0A")
    return count


def proc_memory_mb(pid: int) -> dict[str, float] | None:
    """Peak (VmHWM) and current (VmRSS) resident memory of a process, in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    out = {}
    for key, name in (("VmHWM", "peak_rss_mb"), ("VmRSS", "rss_mb")):
        if key in status:
            out[name] = round(int(status[key].split()[0]) / 1024, 1)
    return out or None


class CpuMeter:
    """Cores used during an interval: by this process, by given server
    processes, by the whole machine, and so by everything else."""

    def __init__(self, server_pids: Callable[[], list[int]] = lambda: []) -> None:
        self.server_pids = server_pids

    def __enter__(self) -> "CpuMeter":
        self.pids = self.server_pids()
        self.wall0 = time.perf_counter()
        self.self0 = _self_cpu_seconds()
        self.servers0 = {pid: _proc_cpu_seconds(pid) for pid in self.pids}
        self.busy0 = _machine_busy_seconds()
        return self

    def __exit__(self, *exc) -> None:
        wall = max(time.perf_counter() - self.wall0, 1e-9)
        busy1 = _machine_busy_seconds()
        self.result = {"bench_cores": round((_self_cpu_seconds() - self.self0) / wall, 2)}
        if self.pids:
            server = sum(_proc_cpu_seconds(pid) - before for pid, before in self.servers0.items())
            self.result["server_cores"] = round(server / wall, 2)
        if busy1 is not None and self.busy0 is not None:
            machine = (busy1 - self.busy0) / wall
            self.result["machine_cores"] = round(machine, 2)
            others = machine - sum(v for k, v in self.result.items() if k != "machine_cores")
            self.result["other_cores"] = round(max(0.0, others), 2)


# --------------------------------------------------------------------------- in process

def _lxml_parse() -> Callable[[str], object]:
    from lxml import etree, html as lxml_html

    def parse(html: str):
        # The same input path as declutter's parser: encode, then parse bytes.
        return etree.fromstring(html.encode("utf-8"), lxml_html.HTMLParser(encoding="utf-8"))
    return parse


def measure_in_process(model, pages: list[BenchPage], skip_peers: bool,
                       rounds: int = DEFAULT_ROUNDS) -> dict:
    """Time every tool over all the pages, `rounds` times, on one core in one thread."""
    tools: dict[str, Callable[[str], object]] = {"lxml_parse": _lxml_parse()}
    skipped: dict[str, str] = {}
    if skip_peers:
        skipped = {name: "--skip-peers" for name in MEASURED_PEERS}
    else:
        from classifier.peers import available_peers
        found, missing = available_peers()
        for name in MEASURED_PEERS:
            if name in found:
                tools[name] = found[name]
            else:
                skipped[name] = missing.get(name, "not available")

    seconds = {name: 0.0 for name in ("html", "plain_text", *tools)}
    failures = {name: 0 for name in seconds}
    first_error: dict[str, str] = {}
    lines = {"html": 0, "plain_text": 0}
    text_seconds = [0.0] * len(pages)  # PLAIN_TEXT seconds per page, over the rounds

    def failed(name: str, exc: Exception) -> None:
        failures[name] += 1
        first_error.setdefault(name, f"{type(exc).__name__}: {exc}"[:300])

    def declutter_pass(key: str, fmt: Format, counted: bool, start: int, stop: int) -> None:
        for i in range(start, stop):
            page = pages[i]
            content = page.html if fmt is Format.HTML else page.text
            started = time.perf_counter()
            try:
                cleaned = clean(model, content, fmt)
            except Exception as exc:  # DocumentError, or a bug: counted, not timed
                if counted:
                    failed(key, exc)
                continue
            elapsed = time.perf_counter() - started
            seconds[key] += elapsed
            if counted:
                lines[key] += len(cleaned.labels)
            if key == "plain_text":
                text_seconds[i] += elapsed

    def tool_pass(name: str, counted: bool, start: int, stop: int) -> None:
        tool = tools[name]
        for page in pages[start:stop]:
            started = time.perf_counter()
            try:
                tool(page.html)
            except Exception as exc:
                if counted:
                    failed(name, exc)
                continue
            seconds[name] += time.perf_counter() - started

    # Each pass is told whether to count failures and lines (the first round only).
    passes = [lambda *a: declutter_pass("html", Format.HTML, *a),
              lambda *a: declutter_pass("plain_text", Format.PLAIN_TEXT, *a),
              *(lambda *a, name=name: tool_pass(name, *a) for name in tools)]
    with threadpool_limits(1):
        # Warm up: first calls import lazily and fill caches.
        for page in pages[:2]:
            for fmt, content in ((Format.HTML, page.html), (Format.PLAIN_TEXT, page.text)):
                try:
                    clean(model, content, fmt)
                except Exception:
                    pass
            for tool in tools.values():
                try:
                    tool(page.html)
                except Exception:
                    pass
        with CpuMeter() as cpu:
            flip = False
            for round_ in range(rounds):
                # Each tool cleans a slice of pages in a row, as it would in
                # use; the order flips every slice, so a machine slowing down
                # or speeding up during the run weighs on every tool alike.
                for start in range(0, len(pages), SLICE_PAGES):
                    stop = min(start + SLICE_PAGES, len(pages))
                    for run in (passes[::-1] if flip else passes):
                        run(round_ == 0, start, stop)
                    flip = not flip

    n = len(pages)
    text_kb = [len(p.text.encode("utf-8")) / 1024 for p in pages]
    html_kb = [len(p.html.encode("utf-8")) / 1024 for p in pages]
    result: dict = {}
    for key in ("html", "plain_text"):
        done = n - failures[key]
        result[key] = {
            "docs": done, "failed": failures[key], "lines": lines[key],
            "seconds": round(seconds[key], 4), "rounds": rounds,
            "docs_per_s": _rate(done * rounds, seconds[key]),
            "lines_per_s": _rate(lines[key] * rounds, seconds[key]),
            "ms_per_doc": round(1000 * seconds[key] / (done * rounds), 3) if done else None,
        }
    cleaned_text = [(kb, s) for kb, s in zip(text_kb, text_seconds) if s > 0]  # not the failed
    result["plain_text"]["kb_per_s"] = _rate(rounds * sum(kb for kb, _ in cleaned_text),
                                             sum(s for _, s in cleaned_text))
    band = [(kb, s) for kb, s in cleaned_text if FIVE_KB_BAND[0] <= kb <= FIVE_KB_BAND[1]]
    result["plain_text"]["about_5kb"] = {
        "band_kb": list(FIVE_KB_BAND), "docs": len(band),
        "docs_per_s": _rate(rounds * len(band), sum(s for _, s in band)) if band else None,
    }
    result["plain_text"]["about_5kb"]["batched"] = _measure_batched(
        model, [p.text for p in pages if FIVE_KB_BAND[0] <= len(p.text.encode("utf-8")) / 1024
                <= FIVE_KB_BAND[1]])
    result["mean_text_kb"] = round(sum(text_kb) / n, 2) if n else 0.0
    result["mean_html_kb"] = round(sum(html_kb) / n, 2) if n else 0.0
    result["cpu"] = cpu.result
    result["first_errors"] = first_error

    html_rate = result["html"]["docs_per_s"]
    peers = {}
    for name in tools:
        done = n - failures[name]
        rate = _rate(done * rounds, seconds[name])
        peers[name] = {"pages": done, "failed": failures[name], "seconds": round(seconds[name], 4),
                       "rounds": rounds, "pages_per_s": rate,
                       "declutter_html_ratio": round(html_rate / rate, 4) if rate else None}
    return {"in_process": result, "peers": peers, "peers_skipped": skipped}


def _measure_batched(model, texts: list[str]) -> dict:
    """PLAIN_TEXT documents cleaned BATCH_DOCS at a time with one model call
    per stage (classifier.pipeline.label_pages), as bulk cleaning does.

    After one untimed pass over the documents, the fastest of BATCH_PASSES
    timed passes counts. A bulk worker cleans batch after batch, and a
    process's first pass of batches runs about 20% slower (815 docs/s against
    1,046-1,053 for the next two passes over the same 200 synthetic texts, in
    one process, after one batch of warm-up); a pass lasts about 0.2 s, so
    one busy moment elsewhere on the machine moves it, and the fastest pass
    is the one least disturbed, as timeit reports."""
    if not texts:
        return {"docs": 0, "docs_per_s": None, "batch": BATCH_DOCS}

    def one_pass() -> float:
        started = time.perf_counter()
        for i in range(0, len(texts), BATCH_DOCS):
            label_pages(model, [read_page(t, Format.PLAIN_TEXT) for t in texts[i:i + BATCH_DOCS]])
        return time.perf_counter() - started

    with threadpool_limits(1):
        one_pass()  # warm
        elapsed = min(one_pass() for _ in range(BATCH_PASSES))
    return {"docs": len(texts), "docs_per_s": _rate(len(texts), elapsed), "batch": BATCH_DOCS}


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 3) if seconds > 0 else 0.0


# --------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`python -m server ...` as a subprocess, its stderr read on a thread."""

    def __init__(self, args: list[str], env_extra: dict[str, str] | None = None,
                 python: str = sys.executable) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DECLUTTER_")}
        env.update(env_extra or {})
        self.args = args
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [python, "-m", "server", "--grace-seconds", str(SERVER_GRACE), *args],
            cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, errors="replace",
            start_new_session=True)  # its own process group, so workers can be killed with it
        self.watch = LogWatch(self.proc.stderr)
        self.log = self.watch.log

    def wait_for(self, pattern: str, timeout: float = SERVER_START_TIMEOUT) -> re.Match:
        try:
            return self.watch.wait_for(pattern, timeout, alive=lambda: self.proc.poll() is None)
        except TimeoutError:
            raise RuntimeError(f"server ({' '.join(self.args)}) logged no {pattern!r}:\n"
                               + "".join(self.log[-20:])) from None

    def wait_serving(self, address: str, timeout: float = SERVER_START_TIMEOUT) -> float:
        """Poll health until SERVING; seconds since the process was started."""
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server ({' '.join(self.args)}) exited with "
                                       f"{self.proc.returncode}:\n" + "".join(self.log[-20:]))
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return time.perf_counter() - self.started
                except grpc.RpcError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"server at {address} not SERVING after {timeout:.0f}s:\n"
                           + "".join(self.log[-20:]))

    def worker_pids(self) -> list[int]:
        """The processes that serve: the spawned workers, or the server itself."""
        workers = [pid for pid in child_pids(self.proc.pid) if "spawn_main" in _cmdline(pid)]
        return workers or [self.proc.pid]

    def all_pids(self) -> list[int]:
        return [self.proc.pid, *child_pids(self.proc.pid)]

    def memory(self) -> dict:
        workers = self.worker_pids()
        out = {"workers": [dict(pid=pid, **(proc_memory_mb(pid) or {})) for pid in workers]}
        if workers != [self.proc.pid]:
            out["parent"] = dict(pid=self.proc.pid, **(proc_memory_mb(self.proc.pid) or {}))
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the parent passes it on to its workers
            try:
                self.proc.wait(timeout=SERVER_GRACE + 15)
            except subprocess.TimeoutExpired:
                pass
        try:  # anything of ours left in its process group (workers, resource tracker)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),  # a connection per channel, so workers share load
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 50),  # poll a starting server without long backoff
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 250),
]


def _percentiles_ms(latencies: list[float]) -> dict:
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    ms = np.asarray(latencies) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"p50_ms": round(float(p50), 2), "p95_ms": round(float(p95), 2),
            "p99_ms": round(float(p99), 2), "max_ms": round(float(ms.max()), 2)}


def run_unary(address: str, requests: list, concurrency: int, seconds: float, cap: int,
              server: ServerProcess) -> dict:
    """Clean from `concurrency` threads, each on its own channel, for `seconds`."""
    import grpc
    from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc

    channels = [grpc.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(concurrency)]
    try:
        stubs = [pb_grpc.DeclutterStub(c) for c in channels]
        for channel in channels:
            grpc.channel_ready_future(channel).result(timeout=30)
        def warm(i: int) -> None:  # one call per connection
            try:
                stubs[i].Clean(requests[i % len(requests)], timeout=REQUEST_TIMEOUT)
            except grpc.RpcError:
                pass  # counted in the measurement, where it happens again
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(warm, range(concurrency)))
        counter = itertools.count()
        latencies: list[list[float]] = [[] for _ in range(concurrency)]
        errors = [0] * concurrency
        first_error: list[str] = []
        gate = threading.Barrier(concurrency + 1)
        clock = {}

        def work(i: int) -> None:
            stub, mine = stubs[i], latencies[i]
            gate.wait()
            deadline = clock["deadline"]
            while True:
                n = next(counter)
                if n >= cap or time.perf_counter() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    stub.Clean(requests[n % len(requests)], timeout=REQUEST_TIMEOUT)
                except grpc.RpcError as exc:
                    errors[i] += 1
                    if not first_error:
                        first_error.append(f"{exc.code().name}: {exc.details()}")
                    continue
                mine.append(time.perf_counter() - started)

        threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(concurrency)]
        for t in threads:
            t.start()
        with CpuMeter(server.all_pids) as cpu:
            clock["deadline"] = time.perf_counter() + seconds
            started = time.perf_counter()
            gate.wait()
            for t in threads:
                t.join(timeout=seconds + REQUEST_TIMEOUT + 10)
            wall = time.perf_counter() - started
    finally:
        for channel in channels:
            channel.close()
    done = [x for lat in latencies for x in lat]
    return {"concurrency": concurrency, "requests": len(done), "errors": sum(errors),
            "first_error": first_error[0] if first_error else None,
            "seconds": round(wall, 3), "req_per_s": _rate(len(done), wall),
            **_percentiles_ms(done), "cpu": cpu.result}


def run_stream(address: str, requests: list, seconds: float, cap: int,
               server: ServerProcess) -> dict:
    """One CleanStream sending the texts over and over until `seconds` are up,
    at most STREAM_WINDOW requests ahead of the responses."""
    import grpc
    from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc

    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.DeclutterStub(channel)
        first_error: list[str] = []
        try:  # warm up
            list(stub.CleanStream(iter(requests[:3]), timeout=REQUEST_TIMEOUT))
        except grpc.RpcError:
            pass  # seen again in the measurement
        window = threading.Semaphore(STREAM_WINDOW)
        stop = threading.Event()
        clock = {}

        def send():
            for n in range(cap):
                while not window.acquire(timeout=0.2):
                    if stop.is_set():
                        return
                if stop.is_set() or time.perf_counter() >= clock["deadline"]:
                    return
                yield requests[n % len(requests)]

        received = errors = 0
        with CpuMeter(server.all_pids) as cpu:
            started = time.perf_counter()
            clock["deadline"] = started + seconds
            call = stub.CleanStream(send(), timeout=seconds + REQUEST_TIMEOUT)
            try:
                for response in call:
                    received += 1
                    if response.HasField("error"):
                        errors += 1
                        if not first_error:
                            first_error.append(f"{response.error.code}: {response.error.message}")
                    window.release()
            except grpc.RpcError as exc:  # the stream itself failed, e.g. past its deadline
                errors += 1
                first_error.insert(0, f"stream ended: {exc.code().name}: {exc.details()}")
            finally:
                stop.set()
                call.cancel()
            wall = time.perf_counter() - started
    return {"documents": received, "errors": errors,
            "first_error": first_error[0] if first_error else None, "seconds": round(wall, 3),
            "passes": round(received / len(requests), 2), "window": STREAM_WINDOW,
            "docs_per_s": _rate(received - errors, wall), "cpu": cpu.result}


def measure_grpc(pages: list[BenchPage], model_arg: str | None, seconds: float, cap: int,
                 log: Callable[[str], None], server_env: dict[str, str],
                 server_python: str = sys.executable) -> dict:
    from server.api.declutter.v1 import declutter_pb2 as pb

    requests = [pb.CleanRequest(document=pb.Document(format=pb.Document.PLAIN_TEXT,
                                                     content=p.text, id=p.id)) for p in pages]
    model_flags = ["--model", model_arg] if model_arg else []
    out: dict = {"format": "PLAIN_TEXT", "seconds_per_level": seconds, "request_cap": cap,
                 "server_env": server_env, "server_python": server_python}

    # Start-up, at INFO: the port and the model load time come from the log.
    log("gRPC: start-up (one worker, --log-level INFO)")
    server = ServerProcess(["--port", "0", "--log-level", "INFO", *model_flags], server_env,
                           server_python)
    try:
        port = server.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1)
        serving = server.wait_serving(f"127.0.0.1:{port}")
        loaded = float(server.wait_for(r"loaded in ([\d.]+)s", timeout=5).group(1))
        out["startup"] = {"start_to_serving_s": round(serving, 3), "model_load_s": loaded,
                          "memory_idle": server.memory()}
    finally:
        server.stop()

    # Throughput at WARNING: INFO would log a line per document.
    port = free_port()
    address = f"127.0.0.1:{port}"
    log(f"gRPC: one worker on {address}")
    server = ServerProcess(["--port", str(port), "--log-level", "WARNING", *model_flags],
                           server_env, server_python)
    try:
        single = {"start_to_serving_s": round(server.wait_serving(address), 3), "unary": {}}
        for concurrency in CONCURRENCY_LEVELS:
            log(f"gRPC: Clean at concurrency {concurrency}")
            single["unary"][str(concurrency)] = run_unary(address, requests, concurrency,
                                                          seconds, cap, server)
        log("gRPC: CleanStream")
        single["stream"] = run_stream(address, requests, seconds, cap, server)
        single["memory"] = server.memory()
    finally:
        server.stop()
    out["workers_1"] = single

    port = free_port()
    address = f"127.0.0.1:{port}"
    log(f"gRPC: two workers on {address}")
    server = ServerProcess(["--port", str(port), "--workers", "2", "--log-level", "WARNING",
                            *model_flags], server_env, server_python)
    try:
        double = {"start_to_serving_s": round(server.wait_serving(address), 3)}
        # Health answers from whichever worker took the connection. A worker
        # listens only once its model is loaded, and the kernel spreads new
        # connections over the listeners there are: wait for both.
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while listeners(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        double["all_listening_s"] = round(time.perf_counter() - server.started, 3)
        double["listeners"] = listeners(port)
        double["unary"] = {}
        for concurrency in sorted({*CONCURRENCY_LEVELS, WORKERS_CONCURRENCY}):
            log(f"gRPC: Clean at concurrency {concurrency}, two workers")
            double["unary"][str(concurrency)] = run_unary(address, requests, concurrency,
                                                          seconds, cap, server)
        double["memory"] = server.memory()
    finally:
        server.stop()
    out["workers_2"] = double
    return out


# --------------------------------------------------------------------------- summary

def _get(data: dict, *path):
    for key in path:
        if not isinstance(data, dict) or data.get(key) is None:
            return None
        data = data[key]
    return data


def _ratio(a, b):
    return round(a / b, 4) if a is not None and b else None


def ratios_and_targets(results: dict) -> tuple[dict, list[dict]]:
    html = _get(results, "in_process", "html", "docs_per_s")
    text = _get(results, "in_process", "plain_text", "docs_per_s")
    band = _get(results, "in_process", "plain_text", "about_5kb")
    kb_per_s = _get(results, "in_process", "plain_text", "kb_per_s")
    lxml = _get(results, "peers", "lxml_parse", "pages_per_s")
    traf = _get(results, "peers", "trafilatura", "pages_per_s")
    resi = _get(results, "peers", "resiliparse", "pages_per_s")
    c1 = _get(results, "grpc", "workers_1", "unary", "1", "req_per_s")
    c32 = _get(results, "grpc", "workers_1", "unary", "32")
    w2 = _get(results, "grpc", "workers_2", "unary", str(WORKERS_CONCURRENCY))
    stream = _get(results, "grpc", "workers_1", "stream", "docs_per_s")
    ratios = {
        "html_vs_lxml": _ratio(html, lxml),
        "html_vs_trafilatura": _ratio(html, traf),
        "html_vs_resiliparse": _ratio(html, resi),
        "plain_text_vs_html": _ratio(text, html),
        "grpc_c32_vs_in_process_plain_text": _ratio(c32 and c32["req_per_s"], text),
        "grpc_c32_vs_c1": _ratio(c32 and c32["req_per_s"], c1),
        "stream_vs_unary_c32": _ratio(stream, c32 and c32["req_per_s"]),
        "workers2_vs_workers1_c32": _ratio(w2 and w2["req_per_s"], c32 and c32["req_per_s"]),
    }

    # PLAIN_TEXT on "~5 KB articles": the pages of that size when there are
    # enough of them, else the measured KB/s spread over 5 KB documents.
    if band and band.get("docs", 0) >= MIN_BAND_PAGES:
        text5, text5_how = band["docs_per_s"], (f"{band['docs']} pages of "
                                                f"{FIVE_KB_BAND[0]:g}-{FIVE_KB_BAND[1]:g} KB")
    elif kb_per_s:
        text5, text5_how = round(kb_per_s / 5, 3), "KB/s / 5 KB"
    else:
        text5, text5_how = None, ""
    batched = (band or {}).get("batched", {}).get("docs_per_s")
    peaks = []
    for key in ("workers_1", "workers_2"):
        for worker in _get(results, "grpc", key, "memory", "workers") or []:
            if worker.get("peak_rss_mb"):
                peaks.append(worker["peak_rss_mb"])
    serving = [v for v in (_get(results, "grpc", "startup", "start_to_serving_s"),
                           _get(results, "grpc", "workers_1", "start_to_serving_s"),
                           _get(results, "grpc", "workers_2", "start_to_serving_s"))
               if v is not None]

    def target(name, goal, measured, met, shown, note=""):
        return {"target": name, "goal": goal, "measured": measured,
                "met": None if measured is None else bool(met), "shown": shown, "note": note}

    def x(v):
        return "-" if v is None else f"{v:.3g}x"

    p99 = c32 and c32["p99_ms"]
    w2_p99 = w2 and w2["p99_ms"]
    targets = [
        target("declutter HTML pages/s vs trafilatura", f">= {TARGET_HTML_VS_TRAFILATURA:g}x",
               ratios["html_vs_trafilatura"],
               (ratios["html_vs_trafilatura"] or 0) >= TARGET_HTML_VS_TRAFILATURA,
               x(ratios["html_vs_trafilatura"])),
        target("declutter HTML pages/s vs lxml parse only", f">= {TARGET_HTML_VS_LXML:g}x",
               ratios["html_vs_lxml"], (ratios["html_vs_lxml"] or 0) >= TARGET_HTML_VS_LXML,
               x(ratios["html_vs_lxml"])),
        target("PLAIN_TEXT docs/s in process, one core, ~5 KB",
               f">= {TARGET_TEXT_DOCS_PER_S:g}", text5, (text5 or 0) >= TARGET_TEXT_DOCS_PER_S,
               "-" if text5 is None else f"{text5:.1f}", text5_how),
        target("PLAIN_TEXT docs/s in process, one core, ~5 KB, batched",
               f">= {TARGET_TEXT_DOCS_PER_S:g}", batched, (batched or 0) >= TARGET_TEXT_DOCS_PER_S,
               "-" if batched is None else f"{batched:.1f}",
               f"{BATCH_DOCS} documents per model call"),
        target("gRPC Clean req/s at c=32 (1 worker)", f">= {TARGET_GRPC_REQ_PER_S:g}",
               c32 and c32["req_per_s"], (c32 and c32["req_per_s"] or 0) >= TARGET_GRPC_REQ_PER_S,
               "-" if not c32 else f"{c32['req_per_s']:.1f}"),
        target("gRPC Clean p99 at c=32 (1 worker)", f"< {TARGET_GRPC_P99_MS:g} ms", p99,
               p99 is not None and p99 < TARGET_GRPC_P99_MS,
               "-" if p99 is None else f"{p99:.0f} ms"),
        target("gRPC Clean req/s at c=32 (2 workers)", f">= {TARGET_GRPC_REQ_PER_S:g}",
               w2 and w2["req_per_s"], (w2 and w2["req_per_s"] or 0) >= TARGET_GRPC_REQ_PER_S,
               "-" if not w2 else f"{w2['req_per_s']:.1f}"),
        target("gRPC Clean p99 at c=32 (2 workers)", f"< {TARGET_GRPC_P99_MS:g} ms", w2_p99,
               w2_p99 is not None and w2_p99 < TARGET_GRPC_P99_MS,
               "-" if w2_p99 is None else f"{w2_p99:.0f} ms"),
        target("CleanStream docs/s vs unary c=32", f">= {TARGET_STREAM_VS_UNARY:g}x",
               ratios["stream_vs_unary_c32"],
               (ratios["stream_vs_unary_c32"] or 0) >= TARGET_STREAM_VS_UNARY,
               x(ratios["stream_vs_unary_c32"])),
        target("server peak memory per worker", f"< {TARGET_PEAK_MB:g} MB",
               max(peaks) if peaks else None, peaks and max(peaks) < TARGET_PEAK_MB,
               f"{max(peaks):.0f} MB" if peaks else "-", "largest worker VmHWM"),
        target("model load (server log)", f"< {TARGET_LOAD_S:g} s",
               _get(results, "grpc", "startup", "model_load_s"),
               (_get(results, "grpc", "startup", "model_load_s") or math.inf) < TARGET_LOAD_S,
               "-" if _get(results, "grpc", "startup", "model_load_s") is None
               else f"{_get(results, 'grpc', 'startup', 'model_load_s'):.2f} s"),
        target("process start to health SERVING", f"< {TARGET_SERVING_S:g} s",
               max(serving) if serving else None, serving and max(serving) < TARGET_SERVING_S,
               f"{max(serving):.2f} s" if serving else "-", "slowest of the servers started"),
    ]
    return ratios, targets


def _fmt(v, digits=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def render(results: dict, ratios: dict, targets: list[dict]) -> str:
    out: list[str] = []
    meta, pages = results["meta"], results["pages"]
    ip = results.get("in_process")
    out.append(f"declutter benchmark, {meta['started_at']}")
    out.append(f"  pages: {pages['count']} {pages['source']}; mean HTML {ip['mean_html_kb']:.1f} KB, "
               f"mean text {ip['mean_text_kb']:.1f} KB, "
               f"{ip['plain_text']['lines'] / max(1, ip['plain_text']['docs']):.0f} lines/page")
    out.append(f"  model: {meta['model_version']} ({meta['model_path']}), "
               f"loaded in process in {meta['model_load_in_process_s']:.2f} s")
    out.append(f"  machine: {meta['cpu_count']} cores, Python {meta['python']}, "
               f"load average {meta['loadavg_start']} at start, {meta.get('loadavg_end')} at end")
    out.append("")
    out.append("In process, one core (threadpool_limits(1), one thread), each tool over "
               f"{SLICE_PAGES} pages in a row, the tools taking turns, {ip['html']['rounds']} rounds")
    rows = [("what", "pages/s", "lines/s", "ms/page", "failed", "declutter HTML =")]
    for key, label in (("html", "declutter HTML"), ("plain_text", "declutter PLAIN_TEXT")):
        r = ip[key]
        rows.append((label, _fmt(r["docs_per_s"]), _fmt(r["lines_per_s"], 0), _fmt(r["ms_per_doc"], 2),
                     str(r["failed"]), "1x" if key == "html" else ""))
    names = {"lxml_parse": "lxml parse only (floor)", "trafilatura": "trafilatura extract",
             "resiliparse": "resiliparse main content"}
    for name, r in results["peers"].items():
        ms = 1000 / r["pages_per_s"] if r["pages_per_s"] else None
        rows.append((names.get(name, name), _fmt(r["pages_per_s"]), "", _fmt(ms, 2), str(r["failed"]),
                     "-" if r["declutter_html_ratio"] is None else f"{r['declutter_html_ratio']:.3g}x"))
    out.extend(_table(rows))
    for name, why in results.get("peers_skipped", {}).items():
        out.append(f"  {name}: skipped, {why}")
    band = ip["plain_text"]["about_5kb"]
    out.append(f"  PLAIN_TEXT: {ip['plain_text']['kb_per_s']:,.0f} KB/s; on the {band['docs']} pages "
               f"of {band['band_kb'][0]:g}-{band['band_kb'][1]:g} KB text: "
               f"{_fmt(band['docs_per_s'])} docs/s one at a time, "
               f"{_fmt(band['batched']['docs_per_s'])} docs/s in batches of {band['batched']['batch']}")
    out.append("  CPU: " + _cpu(ip["cpu"]))
    for name, error in ip.get("first_errors", {}).items():
        out.append(f"  WARNING: {name} failed on some pages; first: {error}")

    g = results.get("grpc")
    out.append("")
    if g is None:
        out.append(f"gRPC: skipped ({results.get('grpc_skipped', '--skip-grpc')})")
    else:
        env = " ".join(f"{k}={v}" for k, v in g.get("server_env", {}).items())
        out.append(f"gRPC over loopback, Clean/CleanStream on PLAIN_TEXT, {g['seconds_per_level']:g} s "
                   f"per level, one channel per client thread"
                   + (f"; servers run with {env}" if env else "")
                   + (f" by {g['server_python']}" if g.get("server_python", sys.executable)
                      != sys.executable else ""))
        rows = [("server", "call", "conc", "req/s", "p50 ms", "p95 ms", "p99 ms", "done", "errors", "CPU")]
        for key, label in (("workers_1", "1 worker"), ("workers_2", "2 workers")):
            for conc, r in g[key]["unary"].items():
                rows.append((label, "Clean", conc, _fmt(r["req_per_s"]), _fmt(r["p50_ms"]),
                             _fmt(r["p95_ms"]), _fmt(r["p99_ms"]), _fmt(r["requests"]),
                             str(r["errors"]), _cpu(r["cpu"], short=True)))
            if key == "workers_1":
                s = g[key]["stream"]
                rows.append((label, "CleanStream", f"w{s['window']}", _fmt(s["docs_per_s"]), "", "", "",
                             _fmt(s["documents"]), str(s["errors"]), _cpu(s["cpu"], short=True)))
        out.extend(_table(rows))
        out.append("  CPU: cores used meanwhile by this client (c), the server processes (s) and "
                   "everything else (o)")
        for key in ("workers_1", "workers_2"):
            for r in [*g[key]["unary"].values(), g[key].get("stream") or {}]:
                if r.get("first_error"):
                    out.append(f"  WARNING: {r['errors']} errors in a {key} run; first: {r['first_error']}")
        st = g["startup"]
        out.append(f"  start to SERVING: {st['start_to_serving_s']:.2f} s (INFO, port 0), "
                   f"{g['workers_1']['start_to_serving_s']:.2f} s (1 worker), "
                   f"{g['workers_2']['start_to_serving_s']:.2f} s (2 workers); "
                   f"model load (server log): {st['model_load_s']:.2f} s")
        mem = []
        for key, label in (("workers_1", "1 worker"), ("workers_2", "2 workers")):
            m = g[key]["memory"]
            peaks = "/".join(_fmt(w.get("peak_rss_mb"), 0) for w in m["workers"])
            extra = f" (parent {_fmt(m['parent'].get('peak_rss_mb'), 0)})" if "parent" in m else ""
            mem.append(f"{label}: {peaks}{extra}")
        idle = "/".join(_fmt(w.get("peak_rss_mb"), 0) for w in st["memory_idle"]["workers"])
        out.append(f"  peak RSS (VmHWM) per worker, MB: after load {idle}; after the runs "
                   + "; ".join(mem))

    out.append("")
    out.append("Ratios (same run)")
    said = {
        "html_vs_lxml": "declutter HTML = {}x lxml floor",
        "html_vs_trafilatura": "declutter HTML = {}x trafilatura",
        "html_vs_resiliparse": "declutter HTML = {}x resiliparse",
        "plain_text_vs_html": "declutter PLAIN_TEXT = {}x declutter HTML (docs/s)",
        "grpc_c32_vs_in_process_plain_text": "gRPC Clean c=32 = {}x in-process PLAIN_TEXT",
        "grpc_c32_vs_c1": "gRPC Clean c=32 = {}x c=1",
        "stream_vs_unary_c32": "CleanStream = {}x unary at c=32",
        "workers2_vs_workers1_c32": "2 workers = {}x 1 worker at c=32",
    }
    for key, text in said.items():
        if ratios.get(key) is not None:
            out.append("  " + text.format(f"{ratios[key]:.3g}"))
    out.append("")
    out.append("Targets (from the issue; measured, not asserted)")
    rows = [("target", "goal", "measured", "met", "note")]
    for t in targets:
        met = "not measured" if t["met"] is None else ("yes" if t["met"] else "NO")
        rows.append((t["target"], t["goal"], t["shown"], met, t["note"]))
    out.extend(_table(rows))
    return "\n".join(out)


def _cpu(c: dict, short: bool = False) -> str:
    if short:
        parts = [f"{c.get('bench_cores', 0):.1f}c"]
        if "server_cores" in c:
            parts.append(f"{c['server_cores']:.1f}s")
        if "other_cores" in c:
            parts.append(f"{c['other_cores']:.1f}o")
        return "/".join(parts)
    text = f"benchmark {c.get('bench_cores', 0):.2f} cores"
    if "other_cores" in c:
        text += f", other processes {c['other_cores']:.2f} cores"
    return text


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [str(c).ljust(w) if i == 0 or not _numeric(c) else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  " + "  ".join(cells).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def _numeric(cell) -> bool:
    return bool(re.fullmatch(r"[-\d,.]+( ms| s| MB|x)?", str(cell)))


# --------------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/benchmark.py",
        description="Measure declutter's speed in process and over gRPC, next to lxml, "
                    "trafilatura and resiliparse, and the server's memory and start-up.")
    parser.add_argument("--pages", type=int, default=200, help="article pages to use (default 200)")
    parser.add_argument("--datasets", help="folder holding wcxb-dev.jsonl.gz (default: "
                        "DECLUTTER_DATASETS, else ../shared/datasets); synthetic pages when absent")
    parser.add_argument("--synthetic", action="store_true",
                        help="use generated article pages even when the datasets are present")
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--grpc-seconds", type=float, default=5.0,
                        help="seconds per gRPC measurement (default 5)")
    parser.add_argument("--max-requests", type=int, default=20000,
                        help="most requests per gRPC measurement (default 20000)")
    parser.add_argument("--skip-grpc", action="store_true", help="no server, no gRPC figures")
    parser.add_argument("--server-omp-threads", type=int, metavar="N",
                        help="start the servers with OMP_NUM_THREADS=N, as the Docker image does "
                             "with 1 (default: this environment's setting)")
    parser.add_argument("--server-python", default=sys.executable, metavar="PYTHON",
                        help="interpreter that runs the servers (default: this one). Give one "
                             "with only the runtime dependencies installed, as in the Docker "
                             "image, to measure memory as deployed: scikit-learn imports pandas "
                             "whenever it is installed, which adds about 60 MB per process")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="in-process passes over all the pages per tool, the order of the "
                             f"tools flipping each round (default {DEFAULT_ROUNDS})")
    parser.add_argument("--skip-peers", action="store_true", help="do not time trafilatura/resiliparse")
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"JSON output (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if args.pages < 1 or args.rounds < 1:
        parser.error("--pages and --rounds must be at least 1")
    if args.grpc_seconds <= 0 or args.max_requests < 1:
        parser.error("--grpc-seconds must be positive and --max-requests at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)

    began = time.perf_counter()

    def log(message: str) -> None:
        print(f"[bench {time.perf_counter() - began:6.1f}s] {message}", file=sys.stderr, flush=True)

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    loadavg_start = _loadavg()
    model_path = Path(args.model) if args.model else DEFAULT_MODEL_PATH
    t0 = time.perf_counter()
    model = load_model(model_path)
    model_load = time.perf_counter() - t0

    log(f"reading {args.pages} article pages")
    pages, source = load_pages(args.pages, args.datasets, args.synthetic)
    if not pages:
        print("no article pages to measure", file=sys.stderr)
        return 2
    results: dict = {
        "meta": {
            "started_at": started_at, "python": platform.python_version(),
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "loadavg_start": loadavg_start, "model_path": str(model_path),
            "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
            "model_version": model.version, "model_load_in_process_s": round(model_load, 3),
            "args": vars(args),
        },
        "pages": {"count": len(pages), "source": source},
    }

    status = 0
    log(f"in process: {len(pages)} pages, HTML, PLAIN_TEXT, lxml"
        + ("" if args.skip_peers else " and peers"))
    results.update(measure_in_process(model, pages, args.skip_peers, args.rounds))
    if args.skip_grpc:
        results["grpc"] = None
        results["grpc_skipped"] = "--skip-grpc"
    else:
        server_env = ({"OMP_NUM_THREADS": str(args.server_omp_threads)}
                      if args.server_omp_threads else {})
        try:
            results["grpc"] = measure_grpc(pages, args.model, args.grpc_seconds,
                                           args.max_requests, log, server_env,
                                           args.server_python)
        except Exception as exc:  # a server that would not start, a dead connection...
            results["grpc"] = None
            results["grpc_skipped"] = f"failed: {type(exc).__name__}: {exc}"
            status = 1
    results["meta"]["loadavg_end"] = _loadavg()
    results["meta"]["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    ratios, targets = ratios_and_targets(results)
    results["ratios"] = ratios
    results["targets"] = targets
    print(render(results, ratios, targets), flush=True)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nJSON written to {path}")
    return status


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
