"""The Declutter gRPC servicer: translates messages to the classifier and back.

It knows messages and status codes; everything about lines, features and
labels is the classifier's.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from concurrent.futures import CancelledError, Future
from typing import Callable, Iterator

import grpc

from classifier.errors import DocumentError
from classifier.limits import LimitExceeded, Limits
from classifier.labels import LABELS
from classifier.model import Model
from classifier.pipeline import Cleaned, Format, read_page
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.batching import Batcher, Closed
from server.config import DEFAULT_STREAM_MAX_IN_FLIGHT, DEFAULT_STREAM_MAX_IN_FLIGHT_BYTES
from server.telemetry import report_document

log = logging.getLogger("declutter.server")

FORMATS = {pb.Document.PLAIN_TEXT: Format.PLAIN_TEXT, pb.Document.HTML: Format.HTML}
LABEL_VALUES = {label: pb.Label.Value(label) for label in LABELS}


class RequestError(Exception):
    """A request the servicer refuses, with the status code to refuse it with."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ModelHolder:
    """The model being served; empty until one is loaded.

    A reload swaps the reference in one assignment. Each call takes the
    reference once and keeps it, so a call that started on the old model
    finishes on it while later calls get the new one. `on_set` hears of
    every model set, so metrics always name the live one.
    """

    def __init__(self, on_set: Callable[[Model], None] | None = None) -> None:
        self._model: Model | None = None
        self._lock = threading.Lock()
        self._on_set = on_set

    def set(self, model: Model) -> None:
        with self._lock:
            self._model = model
            if self._on_set:
                self._on_set(model)

    def get(self) -> Model:
        model = self._model
        if model is None:
            raise RequestError(grpc.StatusCode.UNAVAILABLE, "the model is still loading; retry shortly")
        return model


# The caller is no longer waiting: the work is stopped with these codes.
GONE_CODES = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)


def caller_waiting(context: grpc.ServicerContext) -> Callable[[], None]:
    """A checkpoint for the pipeline that raises RequestError once the
    call's deadline has passed or the caller has cancelled it, so the
    server does not spend its threads on answers nobody will read."""
    def check() -> None:
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise RequestError(grpc.StatusCode.DEADLINE_EXCEEDED,
                               "the call's deadline passed before the document was cleaned")
        if not context.is_active():
            raise RequestError(grpc.StatusCode.CANCELLED, "the call was cancelled")
    return check


def to_domain(request: pb.CleanRequest) -> tuple[str | bytes, Format]:
    document = request.document
    if document.format == pb.Document.FORMAT_UNSPECIFIED:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "document.format is FORMAT_UNSPECIFIED; set it to PLAIN_TEXT or HTML")
    fmt = FORMATS.get(document.format)
    if fmt is None:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"document.format {document.format} is unknown; use PLAIN_TEXT or HTML")
    content = document.raw if document.WhichOneof("source") == "raw" else document.content
    return content, fmt


def to_response(request: pb.CleanRequest, cleaned: Cleaned, model: Model) -> pb.CleanResponse:
    response = pb.CleanResponse(id=request.document.id, body=cleaned.body,
                                model_version=model.version)
    if request.include_lines:
        page = cleaned.page
        response.lines.extend(
            pb.Line(number=number, text=text, label=LABEL_VALUES[label], confidence=float(conf))
            for number, text, label, conf in zip(page.numbers, page.texts, cleaned.labels,
                                                 cleaned.confidences))
    return response


def model_info(model: Model) -> pb.ModelInfo:
    meta = model.metadata
    evaluation = meta.get("evaluation") or {}
    metrics = []
    for name in ("macro_f1", "accuracy"):
        if name in evaluation:
            metrics.append(pb.Metric(name=name, value=evaluation[name]))
    for label, figures in (evaluation.get("per_class") or {}).items():
        for name in ("precision", "recall", "f1"):
            metrics.append(pb.Metric(name=f"{label}.{name}", value=figures[name]))
    data = meta.get("training_data") or {}
    summary = ", ".join(f"{k}={v}" for k, v in data.items())
    return pb.ModelInfo(
        version=model.version,
        labels=[LABEL_VALUES[label] for label in model.labels],
        trained_at=str(meta.get("trained_at", "")),
        training_data=summary,
        metrics=metrics,
        package_version=str(meta.get("package_version", "")),
        sha256=model.sha256,
    )


# The server flag that sets each limit, for error messages.
LIMIT_FLAGS = {"max_document_bytes": "--max-message-bytes", "max_lines": "--max-lines",
               "max_line_chars": "--max-line-chars"}


class _ReadAhead:
    """How far a stream's reader may run ahead of its responses: it reads
    the next document only while fewer than `documents` are unanswered and
    they hold fewer than `content_bytes` bytes (with none unanswered it always
    may, so a document of any allowed size gets through)."""

    def __init__(self, documents: int, content_bytes: int) -> None:
        self._documents = documents
        self._content_bytes = content_bytes
        self._sizes: deque[int] = deque()  # sizes of the unanswered documents, oldest first
        self._held = 0
        self._closed = False
        self._changed = threading.Condition()

    def wait(self) -> bool:
        """Wait for room for one more document; False once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or not self._sizes or (
                len(self._sizes) < self._documents and self._held < self._content_bytes))
            return not self._closed

    def add(self, size: int) -> None:
        with self._changed:
            self._sizes.append(size)
            self._held += size

    def answered(self) -> None:
        """The oldest unanswered document has its response."""
        with self._changed:
            self._held -= self._sizes.popleft()
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class DeclutterServicer(pb_grpc.DeclutterServicer):
    """Each call reads its document into lines in its own thread; the lines
    are labeled by the batcher, together with those of concurrent calls."""

    def __init__(self, models: ModelHolder, limits: Limits | None = None,
                 batcher: Batcher | None = None,
                 stream_max_in_flight: int = DEFAULT_STREAM_MAX_IN_FLIGHT,
                 stream_max_in_flight_bytes: int = DEFAULT_STREAM_MAX_IN_FLIGHT_BYTES) -> None:
        self.models = models
        self.limits = limits or Limits()
        self.batcher = batcher or Batcher()
        self.stream_max_in_flight = stream_max_in_flight
        self.stream_max_in_flight_bytes = stream_max_in_flight_bytes

    def _submit(self, request: pb.CleanRequest,
                checkpoint: Callable[[], None]) -> tuple[Model, Future]:
        """Read the document and queue it to be labeled."""
        checkpoint()
        model = self.models.get()  # once: a reload during the call does not change it
        content, fmt = to_domain(request)
        try:
            page = read_page(content, fmt, self.limits)
        except LimitExceeded as exc:
            raise RequestError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"{exc} (server setting {LIMIT_FLAGS[exc.limit]}); "
                               "split the document or send less of it") from None
        except DocumentError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        try:
            # The batcher runs the checkpoint just before labeling: a caller
            # gone while queued costs no model time.
            return model, self.batcher.submit(model, page, checkpoint)
        except Closed:
            raise RequestError(grpc.StatusCode.UNAVAILABLE,
                               "the server is stopping; retry (on another replica)") from None

    def _respond(self, request: pb.CleanRequest, model: Model, labeled: Future,
                 checkpoint: Callable[[], None]) -> pb.CleanResponse:
        try:
            cleaned = labeled.result()
        except CancelledError:  # the call ended while queued (see Clean)
            checkpoint()  # raises DEADLINE_EXCEEDED if that is why
            raise RequestError(grpc.StatusCode.CANCELLED, "the call was cancelled") from None
        checkpoint()
        response = to_response(request, cleaned, model)
        report_document(lines=len(cleaned.labels), body_lines=cleaned.labels.count("BODY"),
                        model_version=model.version)
        return response

    def Clean(self, request, context):
        checkpoint = caller_waiting(context)
        try:
            model, labeled = self._submit(request, checkpoint)
            # A caller who cancels while queued frees this thread at once, and
            # its document leaves the queue unlabeled.
            if not context.add_callback(labeled.cancel):
                labeled.cancel()  # the call has already ended
            return self._respond(request, model, labeled, checkpoint)
        except RequestError as exc:
            if exc.code in GONE_CODES:
                log.info("stopped id=%r: %s", request.document.id, exc.message)
            context.abort(exc.code, exc.message)
        except Exception:
            log.exception("failed to clean id=%r", request.document.id)
            context.abort(grpc.StatusCode.INTERNAL,
                          "the document could not be cleaned (server error; it is logged)")

    def CleanStream(self, request_iterator, context) -> Iterator[pb.CleanResponse]:
        """Documents are read and queued for labeling on a thread of the
        stream's own, up to stream_max_in_flight documents (and
        stream_max_in_flight_bytes) ahead of the responses, so that several
        of them are labeled together; the responses go out in request order.
        Reading on its own thread also serves a client that sends its next
        document only after the previous answer."""
        checkpoint = caller_waiting(context)
        room = _ReadAhead(self.stream_max_in_flight, self.stream_max_in_flight_bytes)
        queued: queue.SimpleQueue = queue.SimpleQueue()  # (request, (model, Future) | error) | None

        def read() -> None:
            requests = iter(request_iterator)
            try:
                while room.wait():
                    try:
                        request = next(requests)
                    except StopIteration:
                        return
                    except grpc.RpcError:  # reading on fails once the call is cancelled
                        log.info("stream stopped: the call was cancelled")
                        return
                    room.add(request.ByteSize())
                    try:
                        queued.put((request, self._submit(request, checkpoint)))
                    except Exception as exc:  # answered in its turn, like any other outcome
                        queued.put((request, exc))
            finally:
                queued.put(None)

        threading.Thread(target=read, name="declutter-stream-reader", daemon=True).start()
        try:
            while (item := queued.get()) is not None:
                request, outcome = item
                try:
                    if isinstance(outcome, Exception):
                        raise outcome
                    response = self._respond(request, *outcome, checkpoint)
                except RequestError as exc:
                    if exc.code in GONE_CODES:
                        # The stream is over for the caller: no more documents.
                        log.info("stream stopped at id=%r: %s", request.document.id, exc.message)
                        return
                    response = pb.CleanResponse(
                        id=request.document.id,
                        error=pb.Error(code=exc.code.value[0], message=exc.message))
                except Exception:
                    log.exception("failed to clean id=%r", request.document.id)
                    response = pb.CleanResponse(
                        id=request.document.id,
                        error=pb.Error(code=grpc.StatusCode.INTERNAL.value[0],
                                       message="the document could not be cleaned "
                                               "(server error; it is logged)"))
                yield response
                room.answered()
        finally:
            # However the stream ends, its documents still queued are dropped
            # and the reader stops at its next document.
            room.close()
            while True:
                try:
                    item = queued.get_nowait()
                except queue.Empty:
                    break
                if item is not None and not isinstance(item[1], Exception):
                    item[1][1].cancel()

    def GetModelInfo(self, request, context):
        try:
            return model_info(self.models.get())
        except RequestError as exc:
            context.abort(exc.code, exc.message)
