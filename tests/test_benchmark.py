"""bench/benchmark.py runs end to end on a few synthetic pages and writes its JSON."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _positive(data, *path):
    for key in path:
        assert key in data, f"no {'.'.join(map(str, path))} in the benchmark JSON"
        data = data[key]
    assert isinstance(data, (int, float)) and data > 0, f"{'.'.join(map(str, path))} = {data!r}"


def test_benchmark_runs_on_synthetic_pages(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "benchmark.py"), "--synthetic", "--pages", "5",
         "--grpc-seconds", "0.5", "--max-requests", "200", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stdout + run.stderr
    for heading in ("In process, one core", "gRPC over loopback", "Ratios", "Targets"):
        assert heading in run.stdout, run.stdout

    data = json.loads(out.read_text())
    assert data["pages"]["count"] == 5 and "synthetic" in data["pages"]["source"]
    assert not data["in_process"]["first_errors"], data["in_process"]["first_errors"]
    for fmt in ("html", "plain_text"):
        for key in ("docs_per_s", "lines_per_s"):
            _positive(data, "in_process", fmt, key)
        assert data["in_process"][fmt]["rounds"] == 2  # every tool passes over the pages twice
        assert data["in_process"][fmt]["docs"] == 5
    _positive(data, "in_process", "mean_text_kb")
    _positive(data, "peers", "lxml_parse", "pages_per_s")
    for peer in ("trafilatura", "resiliparse"):  # measured when installed, else said skipped
        if peer in data["peers"]:
            _positive(data, "peers", peer, "pages_per_s")
        else:
            assert peer in data["peers_skipped"]

    grpc = data["grpc"]
    for level in ("1", "8", "32"):
        for key in ("req_per_s", "p50_ms", "p95_ms", "p99_ms"):
            _positive(grpc, "workers_1", "unary", level, key)
        assert grpc["workers_1"]["unary"][level]["errors"] == 0
    _positive(grpc, "workers_1", "stream", "docs_per_s")
    _positive(grpc, "workers_2", "unary", "32", "req_per_s")
    assert grpc["workers_2"]["listeners"] == 2
    assert len(grpc["workers_2"]["memory"]["workers"]) == 2
    for key in ("workers_1", "workers_2"):
        for worker in grpc[key]["memory"]["workers"]:
            _positive(worker, "peak_rss_mb")
    _positive(grpc, "startup", "model_load_s")
    _positive(grpc, "startup", "start_to_serving_s")
    for key in ("html_vs_lxml", "stream_vs_unary_c32", "workers2_vs_workers1_c32"):
        _positive(data, "ratios", key)
    assert {t["target"] for t in data["targets"]} and all("met" in t for t in data["targets"])
