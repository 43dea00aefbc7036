#!/usr/bin/env python3
"""Documents/s of bulk cleaning on a local Dask cluster against the one-process CLI.

    python bench/bulk_benchmark.py [--pages 2000] [--datasets DIR] [--workers 2] [--threads 1]

Takes HTML pages from WCXB dev (wcxb-dev.jsonl.gz in --datasets, default
DECLUTTER_DATASETS, else ../shared/datasets), repeated with new ids until
there are --pages documents, and cleans the same documents twice, each in a
subprocess:

1. `declutter-clean --out-dir DIR PAGE.html ...`: one process, one file each,
   with OMP_NUM_THREADS=1 as the Dask workers have it; with --omp-default
   also as started from a plain shell (OpenMP then starts a thread per core
   for each prediction, which on a busy machine can cost far more CPU time);
2. `python -m bulk pages.jsonl --out DIR --workers W --threads T` on a local
   cluster, with partitions of --blocksize bytes.

Prints the wall time of each command, documents/s, and for bulk also the
cleaning time alone (from its _summary.json: after the workers started and
loaded the model), and checks that both gave the same body for every page.
All data goes to a temporary directory that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WCXB = "wcxb-dev.jsonl.gz"
TIMEOUT_SECONDS = 1800


def datasets_dir(explicit: str | None) -> Path:
    folder = Path(explicit or os.environ.get("DECLUTTER_DATASETS") or REPO.parent / "shared" / "datasets")
    if not (folder / WCXB).is_file():
        sys.exit(f"error: {folder / WCXB} not found; give --datasets")
    return folder


def load_pages(folder: Path, n: int) -> list[tuple[str, str]]:
    with gzip.open(folder / WCXB, "rt", encoding="utf-8") as f:
        pages = [(r["id"], r["html"]) for r in map(json.loads, f) if r.get("html")]
    return [(f"{doc_id}-{i // len(pages)}", html)
            for i, (doc_id, html) in enumerate(islice(cycle(pages), n))]


def timed(command: list[str], **env: str) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the command's whole process tree)."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=TIMEOUT_SECONDS, env={**os.environ, **env})
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # The 1-minute load average before and after: well above the cores this
    # command uses means other processes competed with it.
    print(f"  {' '.join(command[1:3])} {env or ''}: {seconds:.1f} s, {cpu:.1f} CPU s; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}", file=sys.stderr)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command[:3])} ... exited {result.returncode}:\n{result.stderr[-2000:]}")
    return seconds, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--datasets")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--omp-default", action="store_true",
                        help="also time declutter-clean without OMP_NUM_THREADS=1")
    parser.add_argument("--blocksize", type=int, default=4 * 2 ** 20,
                        help="bytes per partition (default 4 MiB: many partitions per worker, "
                             "so none waits at the end for the last one)")
    args = parser.parse_args()
    pages = load_pages(datasets_dir(args.datasets), args.pages)
    with tempfile.TemporaryDirectory(prefix="declutter-bulk-bench-") as tmp:
        tmp = Path(tmp)
        files = tmp / "pages"
        files.mkdir()
        with open(tmp / "pages.jsonl", "w", encoding="utf-8") as f:
            for doc_id, html in pages:
                f.write(json.dumps({"id": doc_id, "html": html}) + "\n")
                (files / f"{doc_id}.html").write_text(html, encoding="utf-8")
        size = (tmp / "pages.jsonl").stat().st_size
        print(f"{len(pages)} HTML pages, {size / 2 ** 20:.0f} MiB of JSON Lines", file=sys.stderr)

        cli = [sys.executable, "-m", "classifier.cli", "--out-dir", str(tmp / "single"),
               *sorted(map(str, files.iterdir()))]
        single_omp1, single_omp1_cpu = timed(cli, OMP_NUM_THREADS="1")
        single, single_cpu = timed(cli) if args.omp_default else (None, None)
        bulk, bulk_cpu = timed([sys.executable, "-m", "bulk", str(tmp / "pages.jsonl"), "--out", str(tmp / "bulk"),
                      "--workers", str(args.workers), "--threads", str(args.threads),
                      "--blocksize", str(args.blocksize)])
        summary = json.loads((tmp / "bulk" / "_summary.json").read_text(encoding="utf-8"))

        sys.path.insert(0, str(REPO))
        from bulk.partitions import read_output
        rows = {r["id"]: r for r in read_output(str(tmp / "bulk"))}
        same = sum(1 for doc_id, _ in pages
                   if (tmp / "single" / f"{doc_id}.html.txt").read_text(encoding="utf-8")
                   == ((rows[doc_id]["body"] + "\n") if rows[doc_id]["body"] else ""))
    n = len(pages)
    if single is not None:
        print(f"declutter-clean, OpenMP default:    {single:7.1f} s  {n / single:6.1f} documents/s  "
              f"{single_cpu / n * 1000:5.0f} CPU ms/document")
    print(f"declutter-clean, OMP_NUM_THREADS=1: {single_omp1:7.1f} s  {n / single_omp1:6.1f} documents/s  "
          f"{single_omp1_cpu / n * 1000:5.0f} CPU ms/document")
    print(f"python -m bulk ({args.workers}x{args.threads} local):        {bulk:7.1f} s  {n / bulk:6.1f} "
          f"documents/s  {bulk_cpu / n * 1000:5.0f} CPU ms/document  ({summary['seconds_cleaning']:.1f} s "
          f"cleaning: {summary['documents_per_second']:.1f} documents/s; {summary['partitions']} partitions)")
    print(f"speed-up over OMP_NUM_THREADS=1: {single_omp1 / bulk:.2f}x end to end, "
          f"{single_omp1 / summary['seconds_cleaning']:.2f}x cleaning alone")
    print(f"same body for {same}/{n} pages; {summary['errors']} errors")
    return 0 if same == n else 1


if __name__ == "__main__":
    sys.exit(main())
