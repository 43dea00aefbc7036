"""The declutter-server process: one worker here, or N worker processes.

With --workers N this process starts N workers (`server.worker`) that share
the port through SO_REUSEPORT, so the server is not held to one core by one
interpreter's GIL; it passes SIGTERM and SIGINT on and exits when they have,
and passes SIGHUP (reload the model) on to every worker. This parent never
loads the model or the classifier's libraries (about 140 MB): only the
workers do.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Sequence

from server.config import Settings, parse_settings
from server.telemetry import MultiprocessMetrics, configure_logging
from server.tls import TLSError, load_tls_files

log = logging.getLogger("declutter.server")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    if settings.workers > 1:
        return run_workers(settings)
    from server.worker import run_worker
    return run_worker(settings)


def run_workers(settings: Settings) -> int:
    """Start settings.workers processes on one port and wait for them."""
    configure_logging(settings.log_level, settings.log_format)
    try:  # once here rather than once per worker
        load_tls_files(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    except TLSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    metrics = MultiprocessMetrics() if settings.metrics_port else None
    try:
        return _run_workers(settings, metrics)
    finally:
        if metrics:
            metrics.close()


def _run_workers(settings: Settings, metrics: MultiprocessMetrics | None) -> int:
    if metrics:
        try:
            metrics.serve(settings.host, settings.metrics_port)
        except OSError as exc:
            log.error("cannot start: metrics port %d: %s", settings.metrics_port, exc)
            return 1
        log.info("metrics of all workers on http://%s:%d/metrics (worker files in %s)",
                 settings.host, settings.metrics_port, metrics.directory,
                 extra={"metrics_dir": metrics.directory})
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_worker_entry, args=(settings, os.getpid()),
                               name=f"worker-{i}")
               for i in range(settings.workers)]
    stopping = threading.Event()

    def forward(signum, _frame):
        stopping.set()
        for worker in workers:
            if worker.pid and worker.is_alive():
                worker.terminate()  # SIGTERM: the worker stops gracefully

    def forward_reload(signum, _frame):
        for worker in workers:
            if worker.pid and worker.is_alive():
                os.kill(worker.pid, signal.SIGHUP)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, forward)
    # Ignored while starting: the setting is inherited, so a worker that is
    # still starting is not ended by a forwarded SIGHUP.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for worker in workers:
        worker.start()
    signal.signal(signal.SIGHUP, forward_reload)
    log.info("started %d workers on %s", len(workers), settings.address)
    while not stopping.is_set() and all(w.is_alive() for w in workers):
        time.sleep(0.2)
    if not stopping.is_set():
        log.error("a worker exited unexpectedly; stopping the others")
        forward(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
        if metrics:
            metrics.worker_exited(worker.pid)
    return max((w.exitcode or 0) for w in workers)


def _worker_entry(settings: Settings, parent: int) -> None:
    from server.worker import run_worker  # in the worker process only
    sys.exit(run_worker(settings, reuse_port=True, parent=parent))


if __name__ == "__main__":
    sys.exit(main())
