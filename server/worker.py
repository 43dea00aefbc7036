"""One serving process: load the model, serve gRPC, stop gracefully.

`run_worker` serves in the calling process until SIGTERM or SIGINT; SIGHUP
reloads the model file. `server.main` runs it here, or in each of N worker
processes sharing the port.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from threadpoolctl import threadpool_limits

from classifier.fastpredict import COMPILED_TREES
from classifier.html import COMPILED_WALK
from classifier.joined import COMPILED_FEATURES
from classifier.limits import Limits
from classifier.model import DEFAULT_MODEL_PATH, ModelError, load_model
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.batching import Batcher
from server.config import Settings
from server.reload import Reloader
from server.servicer import DeclutterServicer, ModelHolder
from server.telemetry import Telemetry, configure_logging
from server.tls import TLSError, load_tls_files, server_credentials

log = logging.getLogger("declutter.server")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Declutter"].full_name
ORPHAN_CHECK_SECONDS = 1.0  # how often a worker checks that its parent is alive


class Server:
    """A running gRPC server with its health service and model."""

    def __init__(self, settings: Settings, reuse_port: bool = False,
                 serve_metrics: bool = True) -> None:
        """`serve_metrics`: serve settings.metrics_port from this process (with
        --workers the parent serves it for all workers)."""
        self.settings = settings
        self.model_path = settings.model or str(DEFAULT_MODEL_PATH)
        self.reuse_port = reuse_port
        self.serve_metrics = serve_metrics and settings.metrics_port > 0
        tls = load_tls_files(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
        self.telemetry = Telemetry()
        self.models = ModelHolder(on_set=self.telemetry.model_loaded)
        self.reloader: Reloader | None = None
        self._reload_lock = threading.Lock()
        self.health = health.HealthServicer()
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.so_reuseport", 1 if reuse_port else 0),
        ]
        if settings.max_connection_age_seconds > 0:
            age_ms = int(settings.max_connection_age_seconds * 1000)
            options += [("grpc.max_connection_age_ms", age_ms),
                        ("grpc.max_connection_age_grace_ms", int(settings.grace_seconds * 1000))]
        # OpenMP's thread count is per thread: limit it in each request
        # thread, since requests already run in parallel.
        pool = futures.ThreadPoolExecutor(max_workers=settings.threads,
                                          initializer=threadpool_limits, initargs=(1,))
        self.grpc = grpc.server(pool, options=options, interceptors=[self.telemetry])
        limits = Limits(max_document_bytes=settings.max_message_bytes,
                        max_lines=settings.max_lines, max_line_chars=settings.max_line_chars)
        self.batcher = Batcher(settings.batch_max_documents, settings.batch_max_lines,
                               threads=settings.labeling_threads,
                               on_batch=self.telemetry.batch_labeled)
        pb_grpc.add_DeclutterServicer_to_server(
            DeclutterServicer(self.models, limits, self.batcher, settings.stream_max_in_flight,
                              settings.stream_max_in_flight_bytes),
            self.grpc)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.grpc)
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if tls:
            self.port = self.grpc.add_secure_port(settings.address, server_credentials(tls))
        else:
            self.port = self.grpc.add_insecure_port(settings.address)
        if not self.port:
            raise OSError(f"cannot listen on {settings.address}")

    def _set_health(self, status: int) -> None:
        for name in ("", SERVICE_NAME):
            self.health.set(name, status)

    def start(self) -> None:
        """Load the model and serve; health says SERVING once the model is loaded.

        One worker listens first (health answers NOT_SERVING while the model
        loads). Workers sharing a port load first: the kernel spreads new
        connections over every listener, and one still loading would refuse
        calls while its siblings serve.
        """
        if self.serve_metrics:
            self.telemetry.serve_metrics(self.settings.host, self.settings.metrics_port)
            log.info("metrics on http://%s:%d/metrics", self.settings.host,
                     self.settings.metrics_port)
        if not self.reuse_port:
            self._listen()
        started = time.perf_counter()
        reloader = Reloader(self.reload, self.model_path, self.settings.watch_model_seconds)
        model = load_model(self.model_path)
        self.models.set(model)
        log.info("serving model version=%s from %s (sha256 %s), loaded in %.2fs",
                 model.version, self.model_path, model.sha256, time.perf_counter() - started)
        if not COMPILED_TREES:
            log.warning("classifier._trees was not built (no C compiler at install): "
                        "stage 2's trees run in numpy, about 10%% slower")
        if not COMPILED_WALK:
            log.warning("classifier._walk was not built (no C compiler at install) or was built "
                        "for another libxml2: HTML pages are cut into lines in Python over lxml's tree, "
                        "about three times as slow as in C")
        if not COMPILED_FEATURES:
            log.warning("classifier._features was not built (no C compiler at install): "
                        "features are computed in numpy: pages take up to twice as long")
        if self.reuse_port:
            self._listen()
        self._set_health(health_pb2.HealthCheckResponse.SERVING)
        self.reloader = reloader
        reloader.start()

    def reload(self) -> bool:
        """Load the model file again and serve it to every call from now on.

        Calls already running finish on the model they started with. A file
        that does not load (missing, half-written, checksum mismatch, foreign)
        is refused, and the model being served stays. Only the configured
        path is ever loaded.
        """
        with self._reload_lock:
            started = time.perf_counter()
            try:
                model = load_model(self.model_path)
            except Exception as exc:  # whatever the file is, the served model must stay
                current = self.models.get()
                log.error("reload rejected: %s; still serving version=%s sha256=%s",
                          exc, current.version, current.sha256)
                return False
            self.models.set(model)
            log.info("reloaded model version=%s sha256=%s from %s in %.2fs",
                     model.version, model.sha256, self.model_path, time.perf_counter() - started)
            return True

    def _listen(self) -> None:
        self.grpc.start()
        log.info("listening on %s:%d (%s)", self.settings.host, self.port, self._transport())

    def _transport(self) -> str:
        if self.settings.tls_client_ca:
            return "mutual TLS"
        return "TLS" if self.settings.tls_cert else "plaintext"

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, give in-flight ones `grace` seconds, then stop."""
        self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        if self.reloader is not None:
            self.reloader.stop()
        grace = self.settings.grace_seconds if grace is None else grace
        self.grpc.stop(grace).wait()
        # Calls still running past the grace period get their documents
        # labeled (or dropped, once their callers are gone) before the
        # labeling thread stops.
        self.batcher.close()
        self.telemetry.close()


def run_worker(settings: Settings, reuse_port: bool = False, parent: int | None = None) -> int:
    """Serve in this process until SIGTERM or SIGINT (or, for a worker,
    until its `parent` process is gone)."""
    configure_logging(settings.log_level, settings.log_format)
    stopping = threading.Event()
    if parent is not None:
        threading.Thread(target=_stop_when_orphaned, args=(parent, stopping), daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    # Until the model is loaded a reload has nothing to add; SIGHUP's default
    # would end the process.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        server = Server(settings, reuse_port=reuse_port, serve_metrics=not reuse_port)
        server.start()
    except (ModelError, OSError, TLSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    signal.signal(signal.SIGHUP, lambda *_: server.reloader.request())
    stopping.wait()
    log.info("shutting down; in-flight calls get %.1fs", settings.grace_seconds)
    server.stop()
    log.info("stopped")
    return 0


def _stop_when_orphaned(parent: int, stopping: threading.Event) -> None:
    """A worker whose parent was killed (SIGKILL passes nothing on) would
    serve on unmanaged and keep the port; it stops gracefully instead."""
    while not stopping.wait(ORPHAN_CHECK_SECONDS):
        if os.getppid() != parent:
            log.error("parent process %d is gone; stopping", parent)
            stopping.set()
