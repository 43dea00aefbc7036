"""A real estimator wrapped so a test can watch and hold the model calls a
server makes: which pages each call had, a gate the call waits at, extra
time per call, and a line that makes a call raise."""

from __future__ import annotations

import threading
import time

GATE_TIMEOUT = 30  # seconds a held call waits for its gate at most


class RecordingEstimator:
    def __init__(self, inner, gate: threading.Event | None = None, delay: float = 0.0,
                 poison: str | None = None) -> None:
        self.inner, self.gate, self.delay, self.poison = inner, gate, delay, poison
        self.entered = threading.Event()
        self.calls: list[list[str]] = []  # the first line of each page, per call
        self._lock = threading.Lock()

    @property
    def classes_(self):
        return self.inner.classes_

    def pages_proba(self, pages):
        with self._lock:
            self.calls.append([page.texts[0] if page.texts else "" for page in pages])
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(GATE_TIMEOUT)
        time.sleep(self.delay)
        if self.poison and any(self.poison in text for page in pages for text in page.texts):
            raise ValueError("a line the model cannot take")
        return self.inner.pages_proba(pages)

    def seen(self) -> list[str]:
        """The first line of every page labeled so far."""
        with self._lock:
            return [first for call in self.calls for first in call]
