"""Labeling the documents of concurrent calls together, in one model call.

A model call has a large fixed cost (input checks, one Python call per tree
of the second stage), so labeling 16 documents at once costs far less than
16 calls of one. Request threads read their document into a Page themselves
(so a bad or oversized document fails in its own call, before it reaches
anyone else's batch) and hand it to the labeling thread. That thread takes
whatever is queued, within a documents and a lines budget, labels it with one
`label_pages` call and hands each caller its own result through a Future.

Nothing ever waits for a batch to fill: a lone document is labeled as soon
as the thread is free, and batches form by themselves while it is busy.

More labeling threads may help the first (`threads`). They take a batch only
when a full batch of long documents is waiting (server/config.py says why),
so short documents are labeled exactly as by one thread.

The batcher knows nothing of gRPC. A caller passes a `checkpoint` that raises
once nobody waits for the answer any more; it runs just before the batch is
labeled, so a call whose deadline passed (or which was cancelled) while
queued costs no model time and gets the checkpoint's exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from threadpoolctl import threadpool_limits

from classifier.lines import Page
from classifier.pipeline import Cleaned, label_pages
from server.config import (DEFAULT_BATCH_MAX_DOCUMENTS, DEFAULT_BATCH_MAX_LINES,
                           HELPER_MIN_LINES_PER_DOCUMENT)

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
    """Labeling threads (one, and helpers), fed by any number of request threads.

    A batch holds documents of one model only: each caller takes the model
    snapshot when its call starts and is labeled by it, so a reload never
    moves a call to another model half-way.
    """

    def __init__(self, max_documents: int = DEFAULT_BATCH_MAX_DOCUMENTS,
                 max_lines: int = DEFAULT_BATCH_MAX_LINES, label: Labeler = label_pages,
                 on_batch: BatchObserver | None = None, threads: int = 1,
                 helper_min_lines: int = HELPER_MIN_LINES_PER_DOCUMENT) -> None:
        if max_documents < 1 or max_lines < 1:
            raise ValueError("a batch must be allowed at least one document and one line")
        if threads < 1:
            raise ValueError("a batcher needs at least one labeling thread")
        self.max_documents = max_documents
        self.max_lines = max_lines
        self.threads = threads
        self.helper_min_lines = helper_min_lines
        self._label = label
        self._on_batch = on_batch
        self._queue: deque[_Job] = deque()
        self._queued_lines = 0
        lock = threading.Lock()
        self._changed = threading.Condition(lock)  # the first thread waits here
        self._backlog = threading.Condition(lock)  # the helpers wait here
        self._closed = False
        self._threads: list[threading.Thread] = []

    def submit(self, model: object, page: Page, checkpoint: Checkpoint = None) -> Future:
        """Queue `page` to be labeled by `model`; the Future gets its Cleaned,
        or the exception labeling it (or its checkpoint) raised. Cancelling
        the Future before its batch starts drops the document."""
        job = _Job(model, page, checkpoint, Future())
        with self._changed:
            if self._closed:
                raise Closed("the server is stopping and takes no more documents")
            if not self._threads:  # started on first use: a servicer built in a test costs nothing
                self._threads = [
                    threading.Thread(target=self._run, args=(k > 0,), daemon=True,
                                     name="declutter-labeler" + (f"-{k + 1}" if k else ""))
                    for k in range(self.threads)]
                for thread in self._threads:
                    thread.start()
            self._queue.append(job)
            self._queued_lines += len(page.texts)
            self._changed.notify()
            if self._worth_helping():
                self._backlog.notify()
        return job.future

    def queued(self) -> int:
        """Documents waiting for a batch (not those being labeled)."""
        with self._changed:
            return len(self._queue)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def close(self, timeout: float | None = None) -> None:
        """Take no more documents, label (or drop, by their checkpoints) those
        queued, and stop the threads."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            self._backlog.notify_all()
            threads = list(self._threads)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # -- the labeling threads ---------------------------------------------------

    def _worth_helping(self) -> bool:
        """A full batch of long documents is waiting (called holding the lock)."""
        return (self.threads > 1 and self._queued_lines >= self.max_lines
                and self._queued_lines >= self.helper_min_lines * len(self._queue))

    def _run(self, helper: bool) -> None:
        # OpenMP's thread count is per thread; requests already run in parallel
        # in worker processes, and spinning OpenMP threads slow everything else.
        threadpool_limits(1)
        while True:
            with self._changed:
                if helper:
                    while not self._closed and not self._worth_helping():
                        self._backlog.wait()
                    if self._closed:  # the first thread drains the queue
                        return
                else:
                    while not self._queue and not self._closed:
                        self._changed.wait()
                    if not self._queue:  # closed and drained
                        return
                batch = self._take()
                if self._worth_helping():  # still a backlog: another helper may start on it
                    self._backlog.notify()
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
        self._queued_lines -= lines
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
