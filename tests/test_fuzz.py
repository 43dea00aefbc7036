"""Each fuzz harness runs briefly, from the seed corpus, in a subprocess, and finds nothing.

The fuzzers are coverage-guided (atheris, libFuzzer): a short run here keeps
the harnesses working and replays every seed; longer runs are for finding
new bugs (README, "Hostile input").
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

atheris = pytest.importorskip(
    "atheris", reason="atheris is not installed (it is in the test extra for Linux x86_64)")

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
SECONDS_PER_HARNESS = 10
# A single input slower than this is reported by libFuzzer as a timeout: a stall.
INPUT_TIMEOUT_SECONDS = 30


@pytest.mark.parametrize("harness, seeds", [("fuzz_html.py", "html"), ("fuzz_text.py", "text")])
def test_fuzzer_runs_and_finds_no_crash_or_stall(tmp_path, harness, seeds):
    corpus = tmp_path / "corpus"   # new inputs go here, not into the checked-in seeds
    corpus.mkdir()
    seed_dir = FUZZ / "corpus" / seeds
    result = subprocess.run(
        [sys.executable, str(FUZZ / harness), str(corpus), str(seed_dir),
         f"-max_total_time={SECONDS_PER_HARNESS}", f"-timeout={INPUT_TIMEOUT_SECONDS}",
         "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/", "-print_final_stats=1"],
        capture_output=True, text=True, timeout=SECONDS_PER_HARNESS + 120)
    log = result.stderr[-6000:]
    findings = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert result.returncode == 0 and not findings, log
    runs = int(log.split("stat::number_of_executed_units:")[1].split()[0])
    assert runs > len(list(seed_dir.iterdir())), log  # it mutated, not only replayed the seeds
    shutil.rmtree(corpus)
