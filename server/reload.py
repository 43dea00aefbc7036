"""Swapping in a retrained model while serving: on SIGHUP, or when the model
file changes (--watch-model-seconds).

Reloads run on one thread of their own, one at a time, so a slow load never
holds up a call and two reloads never race each other.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from classifier.model import CHECKSUM_SUFFIX

# How often the reload thread looks for a SIGHUP's request. The signal
# handler only sets a flag (anything more is unsafe inside a handler).
REQUEST_POLL_SECONDS = 0.1

FileState = Optional[tuple[int, int, int]]


def file_state(path: Path) -> FileState:
    """What changes when a file is rewritten or renamed over: inode, size,
    modification time. None if the file is absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def model_files_state(path: Path) -> tuple[FileState, FileState]:
    """The state of the model file and of its checksum file: a new model is
    two renames, and the second one must trigger a reload too."""
    return file_state(path), file_state(path.with_name(path.name + CHECKSUM_SUFFIX))


class Reloader:
    """Calls `reload` when asked (`request`, safe in a signal handler) and,
    with `watch_seconds` > 0, when the model's files change."""

    def __init__(self, reload: Callable[[], object], path: str | os.PathLike,
                 watch_seconds: float = 0.0) -> None:
        self._reload = reload
        self._path = Path(path)
        self._watch_seconds = watch_seconds
        self._wanted = False
        self._stopping = threading.Event()
        # Taken before the first load, so a change during that load is seen.
        self._seen = model_files_state(self._path)
        self._thread = threading.Thread(target=self._run, name="model-reloader", daemon=True)

    def request(self) -> None:
        self._wanted = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        next_look = time.monotonic() + self._watch_seconds
        settling = None
        while not self._stopping.wait(REQUEST_POLL_SECONDS):
            if self._wanted:
                self._wanted = False
                self._seen = model_files_state(self._path)
                self._reload()
            elif self._watch_seconds > 0 and time.monotonic() >= next_look:
                next_look = time.monotonic() + self._watch_seconds
                state = model_files_state(self._path)
                if state == self._seen:
                    settling = None
                elif state == settling:
                    # Unchanged for one interval: the copy or the pair of
                    # renames is done. Should it still be bad, the reload
                    # refuses it, and the next change is tried again.
                    self._seen = state
                    self._reload()
                else:
                    settling = state
