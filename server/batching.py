"""Labeling the documents of concurrent calls together, in one model call.

A model call has a large fixed cost (input checks, one Python call per tree
of the second stage), so labeling 16 documents at once costs far less than
16 calls of one. Request threads read their document into a Page themselves
(so a bad or oversized document fails in its own call, before it reaches
anyone else's batch) and hand it to the one labeling thread. That thread takes
whatever is queued, within a documents and a lines budget, labels it with one
`label_pages` call and hands each caller its own result through a Future.

Nothing ever waits for a batch to fill: a lone document is labeled as soon
as the thread is free, and batches form by themselves while it is busy.

The batcher knows nothing of gRPC. A caller passes a `checkpoint` that raises
once nobody waits for the answer any more; it runs just before the batch is
labeled, so a call whose deadline passed (or which was cancelled) while
queued costs no model time and gets the checkpoint's exception.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from threadpoolctl import threadpool_limits

from classifier.lines import Page
from classifier.pipeline import Cleaned, label_pages
from server.config import DEFAULT_BATCH_MAX_DOCUMENTS, DEFAULT_BATCH_MAX_LINES

log = logging.getLogger("declutter.server")

Labeler = Callable[[object, Sequence[Page]], Sequence[Cleaned]]
Checkpoint = Optional[Callable[[], None]]
# Told the number of documents of every batch labeled.
BatchObserver = Callable[[int], None]


class Closed(Exception):
    """The batcher takes no more documents: the server is stopping."""


@dataclass
class _Job:
    model: object
    page: Page
    checkpoint: Checkpoint
    future: Future


class Batcher:
    """One labeling thread, fed by any number of request threads.

    A batch holds documents of one model only: each caller takes the model
    snapshot when its call starts and is labeled by it, so a reload never
    moves a call to another model half-way.
    """

    def __init__(self, max_documents: int = DEFAULT_BATCH_MAX_DOCUMENTS,
                 max_lines: int = DEFAULT_BATCH_MAX_LINES, label: Labeler = label_pages,
                 on_batch: BatchObserver | None = None) -> None:
        if max_documents < 1 or max_lines < 1:
            raise ValueError("a batch must be allowed at least one document and one line")
        self.max_documents = max_documents
        self.max_lines = max_lines
        self._label = label
        self._on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, model: object, page: Page, checkpoint: Checkpoint = None) -> Future:
        """Queue `page` to be labeled by `model`; the Future gets its Cleaned,
        or the exception labeling it (or its checkpoint) raised. Cancelling
        the Future before its batch starts drops the document."""
        job = _Job(model, page, checkpoint, Future())
        with self._changed:
            if self._closed:
                raise Closed("the server is stopping and takes no more documents")
            if self._thread is None:  # started on first use: a servicer built in a test costs nothing
                self._thread = threading.Thread(target=self._run, name="declutter-labeler",
                                                daemon=True)
                self._thread.start()
            self._queue.append(job)
            self._changed.notify()
        return job.future

    def queued(self) -> int:
        """Documents waiting for a batch (not those being labeled)."""
        with self._changed:
            return len(self._queue)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout: float | None = None) -> None:
        """Take no more documents, label (or drop, by their checkpoints) those
        queued, and stop the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the labeling thread ----------------------------------------------------

    def _run(self) -> None:
        # OpenMP's thread count is per thread; requests already run in parallel
        # in worker processes, and spinning OpenMP threads slow everything else.
        threadpool_limits(1)
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if not self._queue:  # closed and drained
                    return
                batch = self._take()
            try:
                self._label_batch(batch)
            except BaseException as exc:  # never leave a caller waiting, whatever happened
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                log.exception("labeling a batch of %d documents failed", len(batch))

    def _take(self) -> list[_Job]:
        """The oldest document and the next ones that fit its batch: same model,
        within the documents and lines budgets. Documents passed over keep
        their place at the front, so a large page waits one batch at most
        and then goes first."""
        head = self._queue.popleft()
        batch, lines = [head], len(head.page.texts)
        passed_over: deque[_Job] = deque()
        while self._queue and len(batch) < self.max_documents:
            job = self._queue.popleft()
            size = len(job.page.texts)
            if job.model is head.model and lines + size <= self.max_lines:
                batch.append(job)
                lines += size
            else:
                passed_over.append(job)
        passed_over.extend(self._queue)
        self._queue = passed_over
        return batch

    def _label_batch(self, batch: list[_Job]) -> None:
        live = []
        for job in batch:
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up on it
            if job.checkpoint is not None:
                try:
                    job.checkpoint()
                except Exception as exc:
                    job.future.set_exception(exc)
                    continue
            live.append(job)
        if not live:
            return
        model = live[0].model
        try:
            results = self._label(model, [job.page for job in live])
        except Exception as exc:
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            # One bad document must not fail the others: label them one by
            # one, so only the one that raises fails.
            log.warning("labeling a batch of %d documents failed (%s: %s); labeling them "
                        "one by one", len(live), type(exc).__name__, exc)
            for job in live:
                try:
                    job.future.set_result(self._label(model, [job.page])[0])
                except Exception as one:
                    job.future.set_exception(one)
            self._observe(live)
            return
        for job, cleaned in zip(live, results, strict=True):
            job.future.set_result(cleaned)
        self._observe(live)

    def _observe(self, live: list[_Job]) -> None:
        if self._on_batch is not None:
            try:
                self._on_batch(len(live))
            except Exception:  # metrics must never fail a document
                log.exception("recording a batch's size failed")
