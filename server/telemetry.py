"""Telemetry: a structured log record per request and Prometheus metrics.

A gRPC server interceptor gives every call a request id, times it, reads its
status code, logs it and counts it. The figures only the servicer knows (how
many lines a document had, how many were body, which model cleaned it) it
hands over with `report_document`, so the servicer stays a translator and
knows nothing of logs or metrics.

With --workers N the worker processes write their metrics to files in a
directory the parent made (prometheus-client's multiprocess mode), and the
parent serves the sum over all workers on the metrics port.
"""

from __future__ import annotations

import contextvars
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import multiprocess
from pythonjsonlogger.json import JsonFormatter

from server.api.declutter.v1 import declutter_pb2 as pb

log = logging.getLogger("declutter.requests")

REQUEST_ID_HEADER = "x-request-id"
# A client's request id is used as given only if it is this short and printable;
# otherwise the server makes its own, so a client cannot flood or forge log lines.
MAX_REQUEST_ID_CHARS = 128
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

SERVICE = pb.DESCRIPTOR.services_by_name["Declutter"].full_name
CLEAN = f"{SERVICE}/Clean"
CLEAN_STREAM = f"{SERVICE}/CleanStream"

# Bounded label values: a client can send any number as a format.
FORMAT_NAMES = {value: name for name, value in pb.Document.Format.items()}
UNKNOWN_FORMAT = "UNKNOWN"
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DOCUMENT_BYTES_BUCKETS = tuple(1024 * 4 ** i for i in range(9))  # 1 KiB .. 64 MiB
BATCH_DOCUMENTS_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# Fields of a request record, in the order the text format prints them.
RECORD_FIELDS = ("request_id", "method", "document_id", "stream_index", "format",
                 "document_bytes", "lines", "body_lines", "documents", "latency_ms",
                 "outcome", "model_version")


# ---------------------------------------------------------------- logging

def _text_value(value: Any) -> str:
    text = str(value)
    if isinstance(value, str) and (not text or not text.isprintable()
                                   or any(c in text for c in " ='\"")):
        return repr(value)  # client-supplied ids cannot break the line apart
    return text


class TextFormatter(logging.Formatter):
    """The usual one-line format, with a request record's fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{name}={_text_value(record.__dict__[name])}"
                  for name in RECORD_FIELDS if record.__dict__.get(name) is not None]
        return f"{line} {' '.join(fields)}" if fields else line


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s"
JSON_FORMAT = "%(levelname)s %(name)s %(process)d %(message)s"
JSON_RENAMES = {"levelname": "level", "name": "logger", "process": "pid"}


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(JSON_FORMAT, rename_fields=JSON_RENAMES, timestamp=True)
    return TextFormatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler()  # stderr
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


# ---------------------------------------------------------------- metrics

class Metrics:
    """The service's metrics, in a registry of their own (several servers can
    live in one process, as in the tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        r = self.registry
        self.requests = Counter("declutter_requests", "gRPC calls by method and status code",
                                ["method", "code"], registry=r)
        self.errors = Counter(
            "declutter_errors", "failed gRPC calls, and failed documents inside CleanStream "
            "calls, by method and status code", ["method", "code"], registry=r)
        self.latency = Histogram("declutter_request_duration_seconds",
                                 "gRPC call duration by method", ["method"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.documents = Counter("declutter_documents", "documents by format and outcome",
                                 ["format", "outcome"], registry=r)
        self.document_latency = Histogram(
            "declutter_document_duration_seconds", "time to clean one document (Clean or "
            "CleanStream), by format", ["format"], buckets=LATENCY_BUCKETS, registry=r)
        self.document_bytes = Histogram("declutter_document_bytes", "document size in bytes",
                                        ["format"], buckets=DOCUMENT_BYTES_BUCKETS, registry=r)
        self.lines = Counter("declutter_lines", "non-blank lines (or HTML blocks) cleaned",
                             ["format"], registry=r)
        self.body_lines = Counter("declutter_body_lines", "lines labeled BODY", ["format"],
                                  registry=r)
        self.batch_documents = Histogram(
            "declutter_batch_documents", "documents labeled together in one model call",
            buckets=BATCH_DOCUMENTS_BUCKETS, registry=r)
        # 1 for the model a worker serves; with workers, one series per worker
        # (label pid), dropped when the worker exits.
        self.model = Gauge("declutter_model_info", "the model being served",
                           ["version", "sha256"], multiprocess_mode="liveall", registry=r)


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> Callable[[], None]:
    """Serve `registry` at http://host:port/metrics; returns the function that stops it."""
    httpd, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

    return stop


class MultiprocessMetrics:
    """The parent's side of --workers: a fresh directory the workers write
    their metrics to, served summed over the workers."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="declutter-metrics-")
        # Spawned workers inherit the environment and so write into it.
        os.environ[MULTIPROC_ENV] = self.directory
        self._stop: Callable[[], None] | None = None

    def serve(self, host: str, port: int) -> None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        self._stop = serve_metrics(host, port, registry)

    def worker_exited(self, pid: int) -> None:
        multiprocess.mark_process_dead(pid, path=self.directory)

    def close(self) -> None:
        if self._stop:
            self._stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)


# ---------------------------------------------------------------- calls

@dataclass
class _Document:
    document_id: str
    format: str
    document_bytes: int
    started: float


@dataclass
class _Figures:
    lines: int
    body_lines: int
    model_version: str


@dataclass
class _Call:
    request_id: str
    method: str
    started: float
    document: _Document | None = None  # Clean
    pending: deque = field(default_factory=deque)  # CleanStream: read, not yet answered
    figures: _Figures | None = None  # the servicer's report on the current document
    documents: int = 0


_current: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("declutter_call",
                                                                        default=None)


def report_document(lines: int, body_lines: int, model_version: str) -> None:
    """Called by the servicer when it has cleaned a document; a no-op outside
    a call the interceptor watches."""
    call = _current.get()
    if call is not None:
        call.figures = _Figures(lines, body_lines, model_version)


def _describe(request: pb.CleanRequest) -> _Document:
    document = request.document
    if document.WhichOneof("source") == "raw":
        size = len(document.raw)
    else:  # isascii() is O(1) in CPython: most pages need no copy to be measured
        text = document.content
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return _Document(document_id=document.id,
                     format=FORMAT_NAMES.get(document.format, UNKNOWN_FORMAT),
                     document_bytes=size, started=time.perf_counter())


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_HEADER and isinstance(value, str) \
                and 0 < len(value) <= MAX_REQUEST_ID_CHARS and value.isprintable():
            return value
    return uuid.uuid4().hex


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        return CODE_NAMES.get(code, grpc.StatusCode.UNKNOWN.name)
    if failed:  # an exception other than abort: gRPC answers UNKNOWN
        return grpc.StatusCode.UNKNOWN.name
    if not context.is_active():  # the handler stopped because the caller went away
        return grpc.StatusCode.CANCELLED.name
    return grpc.StatusCode.OK.name


class Telemetry(grpc.ServerInterceptor):
    """Logs and counts the calls of the server it intercepts."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self._model: tuple[str, str] | None = None
        self._model_lock = threading.Lock()
        self._stop_metrics: Callable[[], None] | None = None

    # -- the model ------------------------------------------------------------

    def model_loaded(self, model: Any) -> None:
        """Record the model now served; call it every time the model is set."""
        labels = (str(model.version), str(model.sha256))
        with self._model_lock:
            previous, self._model = self._model, labels
            if previous and previous != labels:
                if self.metrics.multiprocess:  # files keep removed series; zero it instead
                    self.metrics.model.labels(*previous).set(0)
                else:
                    self.metrics.model.remove(*previous)
            self.metrics.model.labels(*labels).set(1)

    @property
    def model_version(self) -> str | None:
        return self._model[0] if self._model else None

    # -- batches --------------------------------------------------------------

    def batch_labeled(self, documents: int) -> None:
        """Called by the batcher after each model call."""
        self.metrics.batch_documents.observe(documents)

    # -- the metrics endpoint -------------------------------------------------

    def serve_metrics(self, host: str, port: int) -> None:
        self._stop_metrics = serve_metrics(host, port, self.metrics.registry)

    def close(self) -> None:
        if self._stop_metrics:
            self._stop_metrics()
            self._stop_metrics = None

    # -- the interceptor ------------------------------------------------------

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method.lstrip("/")
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._unary(handler.stream_unary, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._streaming(handler.unary_stream, method))
        return handler._replace(stream_stream=self._streaming(handler.stream_stream, method))

    def _begin(self, method: str, context: grpc.ServicerContext) -> _Call:
        call = _Call(request_id=_request_id(context), method=method, started=time.perf_counter())
        context.set_trailing_metadata(((REQUEST_ID_HEADER, call.request_id),))
        return call

    def _unary(self, behaviour, method: str):
        def handle(request, context):
            call = self._begin(method, context)
            if method == CLEAN:
                call.document = _describe(request)
            token = _current.set(call)
            failed = True
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                _current.reset(token)
                self._finish(call, _code_name(context, failed))
        return handle

    def _streaming(self, behaviour, method: str):
        def handle(request_or_iterator, context):
            call = self._begin(method, context)
            if method == CLEAN_STREAM:
                request_or_iterator = self._tap(call, request_or_iterator)
            code = None
            try:
                responses = iter(behaviour(request_or_iterator, context))
                while True:
                    token = _current.set(call)
                    try:
                        response = next(responses)
                    except StopIteration:
                        break
                    finally:
                        _current.reset(token)
                    if method == CLEAN_STREAM:
                        self._answered(call, response)
                    yield response
                code = _code_name(context, failed=False)
            except Exception:
                code = _code_name(context, failed=True)
                raise
            finally:
                if code is None:  # closed early: the client went away
                    code = grpc.StatusCode.CANCELLED.name
                self._finish(call, code)
        return handle

    @staticmethod
    def _tap(call: _Call, requests: Iterator[pb.CleanRequest]) -> Iterator[pb.CleanRequest]:
        for request in requests:
            call.pending.append(_describe(request))
            yield request

    def _answered(self, call: _Call, response: pb.CleanResponse) -> None:
        # CleanStream answers every request once, in order.
        document = call.pending.popleft() if call.pending else \
            _Document(response.id, UNKNOWN_FORMAT, 0, call.started)
        outcome = CODE_NAMES.get(response.error.code, grpc.StatusCode.UNKNOWN.name) \
            if response.HasField("error") else grpc.StatusCode.OK.name
        call.documents += 1
        if outcome != grpc.StatusCode.OK.name:
            self.metrics.errors.labels(call.method, outcome).inc()
        self._document_done(call, document, outcome, stream_index=call.documents - 1)

    def _document_done(self, call: _Call, document: _Document, outcome: str,
                       stream_index: int | None = None) -> None:
        seconds = time.perf_counter() - document.started
        figures, call.figures = call.figures, None
        if outcome != grpc.StatusCode.OK.name:
            figures = None  # a report from a document that then failed is not its result
        m = self.metrics
        m.documents.labels(document.format, outcome).inc()
        m.document_bytes.labels(document.format).observe(document.document_bytes)
        m.document_latency.labels(document.format).observe(seconds)
        if figures:
            m.lines.labels(document.format).inc(figures.lines)
            m.body_lines.labels(document.format).inc(figures.body_lines)
        self._log(request_id=call.request_id, method=call.method,
                  document_id=document.document_id, stream_index=stream_index,
                  format=document.format, document_bytes=document.document_bytes,
                  lines=figures.lines if figures else None,
                  body_lines=figures.body_lines if figures else None,
                  latency_ms=round(seconds * 1000, 1), outcome=outcome,
                  model_version=figures.model_version if figures else self.model_version)

    def _finish(self, call: _Call, code: str) -> None:
        seconds = time.perf_counter() - call.started
        m = self.metrics
        m.requests.labels(call.method, code).inc()
        m.latency.labels(call.method).observe(seconds)
        if code != grpc.StatusCode.OK.name:
            m.errors.labels(call.method, code).inc()
        if call.document is not None:
            self._document_done(call, call.document, code)
        elif call.method.startswith(SERVICE + "/"):
            # Health probes and reflection are counted, not logged: a probe
            # every few seconds would bury the requests.
            self._log(request_id=call.request_id, method=call.method,
                      documents=call.documents if call.method == CLEAN_STREAM else None,
                      latency_ms=round(seconds * 1000, 1), outcome=code,
                      model_version=self.model_version)

    @staticmethod
    def _log(**fields: Any) -> None:
        log.info("request", extra={k: v for k, v in fields.items() if v is not None})
