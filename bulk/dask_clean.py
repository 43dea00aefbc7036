"""Clean a large corpus on a Dask cluster: one task per partition, one model per worker.

    python -m bulk corpus/*.jsonl --out cleaned/                  # local cluster, a worker per core
    python -m bulk pages.parquet --out cleaned/ --output-format parquet --workers 4
    python -m bulk 's3://bucket/crawl/*.jsonl.gz' --out s3://bucket/clean --scheduler tcp://sched:8786

Input: JSON Lines or Parquet documents with `id` and `content` or `html`
(and optionally `format`). Output: one part file per partition in --out,
with `id`, `body`, and `error`/`error_type` for documents that could not be
cleaned (the rest of the partition is cleaned all the same); --labels adds
each document's `lines` and their `labels`. A `_summary.json` beside the
parts records the counts, the inputs and the model.

Each task reads its partition itself, cleans it and writes its part, so
documents never pass through the scheduler or this process. The model is
loaded once per worker process (cached by path and SHA-256), not sent with
the tasks; with --scheduler, the workers must be able to read the model file
and the input and output paths, and run this same version of declutter.

Exit status: 0 when every partition was written (document errors are data,
counted in the summary), 1 when the job failed, 2 for bad arguments or model.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Sequence

from distributed import Client, LocalCluster, as_completed, get_worker
from fsspec.core import url_to_fs
from threadpoolctl import threadpool_limits

from bulk.partitions import (DEFAULT_BLOCKSIZE, DEFAULT_PARTITION_ROWS, FORMATS, JSONL,
                             InputError, Partition, existing_parts, expand_inputs,
                             plan_partitions, read_partition, write_partition)
from bulk.records import clean_records
from classifier.limits import Limits
from classifier.model import DEFAULT_MODEL_PATH, ModelError, load_model
from classifier.pipeline import Format

SUMMARY_NAME = "_summary.json"
# The local cluster's scheduler and workers listen on loopback only.
LOCAL_HOST = "127.0.0.1"

# -- worker side ----------------------------------------------------------------

_model_lock = threading.Lock()
_model_key: tuple[str, str] | None = None
_model = None
_model_loads = 0


def worker_model(path: str, sha256: str):
    """The model at `path`, loaded once per process and kept while the file is unchanged.

    Keyed by SHA-256 so a worker that outlives one job never serves a stale
    model to the next; only the latest model is kept."""
    global _model_key, _model, _model_loads
    with _model_lock:  # worker threads share the process
        if _model_key != (path, sha256):
            model = load_model(path)
            if model.sha256 != sha256:
                raise ModelError(f"model file {path} changed since the job started "
                                 f"(sha256 {model.sha256}, expected {sha256})")
            _model_key, _model = (path, sha256), model
            _model_loads += 1
        return _model


def model_loads() -> int:
    """How many times this process loaded a model (for client.run in tests)."""
    return _model_loads


def warm_up(path: str, sha256: str) -> int:
    """Load the model before any task needs it (run on every worker); returns model_loads()."""
    worker_model(path, sha256)
    return _model_loads


@dataclass(frozen=True)
class Job:
    """What every task needs besides its partition; small, sent with each task."""

    model_path: str
    model_sha256: str
    out_dir: str
    output_format: str = JSONL
    default_format: str = Format.PLAIN_TEXT.value
    with_labels: bool = False
    limits: Limits = Limits()


@dataclass(frozen=True)
class PartResult:
    index: int
    documents: int
    errors: int
    seconds: float
    output: str
    worker: str


def clean_partition(partition: Partition, job: Job) -> PartResult:
    """Read, clean and write one partition (runs on a worker)."""
    started = time.perf_counter()
    model = worker_model(job.model_path, job.model_sha256)
    # One thread per document batch: OpenMP's spin-waiting costs more than it
    # gives on a worker already running one task per core.
    with threadpool_limits(1):
        rows = list(clean_records(model, read_partition(partition), Format(job.default_format),
                                  job.limits, job.with_labels))
    output = write_partition(rows, job.out_dir, partition.index, job.output_format,
                             job.with_labels)
    return PartResult(index=partition.index, documents=len(rows),
                      errors=sum(row["error"] is not None for row in rows),
                      seconds=time.perf_counter() - started, output=output,
                      worker=get_worker().address)


# -- client side ----------------------------------------------------------------

class JobFailed(RuntimeError):
    """A partition that could not be cleaned or written; names it."""


def load_everywhere(client: Client, job: Job) -> dict[str, int]:
    """Load the model on every worker now (idempotent); worker -> loads so far."""
    try:
        return client.run(warm_up, job.model_path, job.model_sha256)
    except Exception as exc:
        raise JobFailed(f"a worker cannot load the model: {type(exc).__name__}: {exc}") from exc


def run_job(client: Client, partitions: Sequence[Partition], job: Job,
            progress=None) -> list[PartResult]:
    """Clean every partition on the cluster; results in partition order.

    Every worker present loads the model first, so a model it cannot load
    fails the job before any partition; workers that join later load it
    with their first task."""
    load_everywhere(client, job)
    # Keys unique to this run: a shared scheduler may be running other jobs.
    run = uuid.uuid4().hex[:12]
    futures = client.map(clean_partition, partitions, job=job, pure=False,
                         key=[f"clean-partition-{run}-{p.index}" for p in partitions])
    by_future = dict(zip(futures, partitions))
    results: list[PartResult] = []
    try:
        for future in as_completed(futures):
            if future.status == "error":
                raise JobFailed(f"partition {by_future[future]}: "
                                f"{type(future.exception()).__name__}: {future.exception()}")
            results.append(future.result())
            if progress:
                progress(results[-1], len(results), len(partitions))
    finally:
        client.cancel(futures)
    return sorted(results, key=lambda r: r.index)


def _print_progress(result: PartResult, done: int, total: int) -> None:
    print(f"[{done}/{total}] part {result.index:05d}: {result.documents} documents, "
          f"{result.errors} errors, {result.seconds:.1f}s", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bulk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="input files or glob patterns (quote globs)")
    parser.add_argument("--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--output-format", choices=FORMATS, default=JSONL,
                        help="part file format (default jsonl)")
    parser.add_argument("--input-format", choices=("auto",) + FORMATS, default="auto",
                        help="input file format (default: by name; .gz etc. allowed for JSON Lines)")
    parser.add_argument("--default-format", choices=[f.value for f in Format],
                        default=Format.PLAIN_TEXT.value,
                        help="format of documents given as 'content' without 'format' "
                             "(default plain_text)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                        help="model file (default: the shipped model)")
    parser.add_argument("--labels", action="store_true",
                        help="also write each document's lines and their labels")
    cluster = parser.add_argument_group("cluster")
    cluster.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. "
                                             "tcp://host:8786 (default: start a local cluster)")
    cluster.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                         help="local cluster: worker processes (default: one per core)")
    cluster.add_argument("--threads", type=int, default=1,
                         help="local cluster: threads per worker (default 1; cleaning is "
                              "mostly Python, so processes scale and threads do not)")
    split = parser.add_argument_group("partitions")
    split.add_argument("--blocksize", type=int, default=DEFAULT_BLOCKSIZE,
                       help=f"bytes of uncompressed JSON Lines per partition "
                            f"(default {DEFAULT_BLOCKSIZE})")
    split.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS,
                       help=f"most Parquet rows per partition (default {DEFAULT_PARTITION_ROWS}); "
                            "whole row groups are gathered up to this size")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete part files already in --out instead of refusing to run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1 or args.blocksize < 1 or args.partition_rows < 1:
        parser.error("--workers, --threads, --blocksize and --partition-rows must be at least 1")
    try:
        partitions = plan_partitions(expand_inputs(args.inputs), args.input_format,
                                     args.blocksize, args.partition_rows)
        # Checked here, before any worker starts, so a bad model fails fast.
        model = load_model(args.model)
    except (InputError, ModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = existing_parts(args.out)
    if stale and not args.overwrite:
        print(f"error: {args.out} already holds {len(stale)} part files; "
              "choose another --out or pass --overwrite", file=sys.stderr)
        return 2
    fs, root = url_to_fs(args.out)
    for path in stale:
        fs.rm(path)
    fs.makedirs(root, exist_ok=True)

    job = Job(model_path=os.path.abspath(args.model),
              model_sha256=model.sha256, out_dir=args.out, output_format=args.output_format,
              default_format=args.default_format, with_labels=args.labels)
    started = time.perf_counter()
    cluster = None
    try:
        if args.scheduler:
            client = Client(args.scheduler)
        else:
            cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                                   processes=True, host=LOCAL_HOST, dashboard_address=None,
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
        with client:
            workers = len(client.scheduler_info()["workers"])
            print(f"{len(partitions)} partitions on {workers} workers", file=sys.stderr)
            # Timed from here: starting workers and loading the model (a few
            # seconds, once per job) are reported apart.
            load_everywhere(client, job)
            cleaning = time.perf_counter()
            results = run_job(client, partitions, job, progress=_print_progress)
            cleaning = time.perf_counter() - cleaning
    except (JobFailed, OSError) as exc:  # OSError: no scheduler at --scheduler
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if cluster is not None:
            cluster.close()
    documents = sum(r.documents for r in results)
    errors = sum(r.errors for r in results)
    summary = {"documents": documents, "errors": errors, "partitions": len(results),
               "workers": workers, "seconds_cleaning": round(cleaning, 3),
               "seconds_total": round(time.perf_counter() - started, 3),
               "documents_per_second": round(documents / cleaning, 2) if cleaning else None,
               "inputs": list(args.inputs),
               "model": {"path": job.model_path, "sha256": job.model_sha256,
                         "version": model.version},
               "job": {k: v for k, v in asdict(job).items() if k not in ("model_path", "model_sha256")},
               "parts": [r.output for r in results]}
    with fs.open(f"{root.rstrip('/')}/{SUMMARY_NAME}", "w") as f:
        json.dump(summary, f, indent=2)
    print(f"cleaned {documents:,} documents ({errors:,} errors) in {len(results)} partitions "
          f"on {workers} workers: {cleaning:.1f}s cleaning, {summary['documents_per_second']} "
          f"documents/s; {summary['seconds_total']:.1f}s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
