"""Following a server process's log: the one tool tests and the benchmark
use to learn its port, its model load time and when it has stopped."""

from __future__ import annotations

import queue
import re
import threading
import time
from typing import Callable, TextIO


class LogWatch:
    """Reads a text stream on a thread; `wait_for` finds a line by pattern."""

    def __init__(self, stream: TextIO) -> None:
        self.log: list[str] = []
        self._lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: TextIO) -> None:
        for line in stream:
            self.log.append(line)
            self._lines.put(line)

    def tail(self, n: int = 20) -> str:
        return "".join(self.log[-n:])

    def wait_for(self, pattern: str, timeout: float,
                 alive: Callable[[], bool] = lambda: True) -> re.Match:
        """The first new line matching `pattern`; TimeoutError with the log's
        tail when none comes within `timeout` or the writer has exited."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                if not alive():
                    break
                continue
            match = re.search(pattern, line)
            if match:
                return match
        raise TimeoutError(f"no line matching {pattern!r} in the log:\n{self.tail()}")
