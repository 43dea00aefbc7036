"""CRC-32 (as zlib.crc32) of many runs of one byte buffer, all at once.

A page has thousands of words. Hashing them one zlib call each means
cutting a Python string out of the text for every word first (a regex pass
building a list) and a Python call per word. Here the table-driven CRC
steps through byte k of every run still that long, one array operation per
byte position, so the cost is a few array operations per byte of the
longest run instead of Python work per run.
"""

from __future__ import annotations

import zlib

import numpy as np

# Runs longer than this (URLs, glued junk) are few; a zlib call each is
# cheaper than stepping every byte position up to their length.
MAX_STEPPED_BYTES = 48
_POLYNOMIAL = 0xEDB88320  # CRC-32 (IEEE 802.3), reflected, as zlib


def _table() -> np.ndarray:
    crc = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        crc = np.where(crc & 1, (crc >> np.uint32(1)) ^ np.uint32(_POLYNOMIAL), crc >> np.uint32(1))
    return crc.astype(np.uint32)


_TABLE = _table()


def crc32_runs(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """zlib.crc32(data[s:s + n]) for each (s, n) in zip(starts, lengths), as uint32.

    `data` is a uint8 array; every run must lie inside it."""
    starts = np.asarray(starts, dtype=np.intp)
    lengths = np.asarray(lengths, dtype=np.intp)
    out = np.empty(len(starts), dtype=np.uint32)
    long = lengths > MAX_STEPPED_BYTES
    for i in np.flatnonzero(long):
        out[i] = zlib.crc32(data[starts[i]:starts[i] + lengths[i]].tobytes())
    # Longest first: the runs still going at byte k are then a prefix.
    order = np.flatnonzero(~long)
    order = order[np.argsort(-lengths[order], kind="stable")]
    position = starts[order]
    crc = np.full(len(order), 0xFFFFFFFF, dtype=np.uint32)
    steps = int(lengths[order[0]]) if len(order) else 0
    # How many runs are longer than k, for each byte position k.
    going = np.searchsorted(lengths[order][::-1], np.arange(steps), side="right")
    for k, n in enumerate((len(order) - going).tolist()):
        head = crc[:n]
        index = (head ^ data[position[:n] + k]) & np.uint32(0xFF)
        crc[:n] = _TABLE[index] ^ (head >> np.uint32(8))
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out
