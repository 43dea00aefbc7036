"""Each distinct value of a sequence indexed once.

A page's lines share a few tags, paths, class lists and region sets, so
whatever is worked out from one of them is worked out once per distinct
value and spread back to the lines by index.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from classifier.joined import compiled_features


def index_distinct(values: Iterable) -> tuple[list, np.ndarray]:
    """The distinct values in the order first met, and for each value the
    index of its own among them (np.intp)."""
    compiled = compiled_features()
    if compiled is not None:
        distinct, which = compiled.index_distinct(values)
        return distinct, np.frombuffer(which, dtype=np.intp)
    index: dict = {}
    which = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp)
    return list(index), which
