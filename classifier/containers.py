"""Where an HTML line sits among the page's containers, seen through stage 1.

An article's body sits in one container (an <article>, a div of the CMS's
body class); menus, "More stories" lists and comments sit in others. A line's
own features and its neighbours' cannot tell a short line of the body (a
subheading, a list item, a caption) from a short line of a menu next to it;
the stage-1 view of everything else in its container can. So stage 2 also
sees, for each HTML line:

- the word-weighted mean stage-1 BODY probability of all lines under the
  element's parent and grandparent, and the share of the page's BODY mass
  they hold, and how many lines the parent holds;
- whether the line lies in the page's main container: the element whose
  lines' BODY mass exceeds MAIN_MARGIN times their word weight by the most,
  so the smallest element that holds the body and little else;
- how much of the page's BODY mass and words the main container holds.

Lines of pages without HTML structure get NO_STRUCTURE in every column.
"""

from __future__ import annotations

import numpy as np

from classifier.joined import compiled_features
from classifier.lines import Structure

CONTAINER_COLUMNS = (
    "parent_body", "grandparent_body", "parent_body_share", "grandparent_body_share",
    "log_parent_lines", "in_main", "main_body_share", "main_word_share",
)
NO_STRUCTURE = -1.0   # outside every column's range: trees split it off
MAIN_MARGIN = 0.5     # a container gains by a line's words where its BODY probability is above this
_TINY = 1e-9


def container_columns(structure: Structure | None, body: np.ndarray | None,
                      words: np.ndarray) -> np.ndarray:
    """The CONTAINER_COLUMNS (lines x columns) of one page, from each line's
    stage-1 BODY probability and its word count (body is unused without
    structure)."""
    n = len(words)
    if structure is None or not structure.parents or n == 0:
        return np.full((n, len(CONTAINER_COLUMNS)), NO_STRUCTURE)
    parents = structure.parents
    elements = np.asarray(structure.elements, dtype=np.intp)
    weight = np.asarray(words, dtype=np.float64) + 1.0   # a line without words still counts
    size = len(parents)
    mass = np.bincount(elements, weights=weight * body, minlength=size)
    total = np.bincount(elements, weights=weight, minlength=size)
    lines = np.bincount(elements, minlength=size).astype(np.float64)
    up = np.asarray(parents, dtype=np.int64)
    compiled = compiled_features()
    if compiled is not None:
        sums, main, in_main = compiled.subtree_sums(up, mass, total, lines, MAIN_MARGIN)
        mass, total, lines = np.frombuffer(sums, dtype=np.float64).reshape(3, size)
        in_main = np.frombuffer(in_main, dtype=np.uint8)
    else:
        mass, total, lines, main, in_main = _subtree_sums(parents, mass, total, lines)
    up[0] = 0
    parent = up[elements]
    grandparent = up[parent]
    page_mass = max(mass[0], _TINY)
    return np.column_stack([
        mass[parent] / np.maximum(total[parent], _TINY),
        mass[grandparent] / np.maximum(total[grandparent], _TINY),
        mass[parent] / page_mass,
        mass[grandparent] / page_mass,
        np.log1p(lines[parent]),
        in_main[elements].astype(np.float64),
        np.full(n, mass[main] / page_mass),
        np.full(n, total[main] / max(total[0], _TINY)),
    ])


def _subtree_sums(parents: list[int], mass: np.ndarray, total: np.ndarray, lines: np.ndarray):
    """mass, total and lines summed over each element's subtree, the main
    element, and whether each element lies under it (what
    classifier._features.subtree_sums computes, where it is built)."""
    # Children are numbered after their parent, so one pass from the last
    # element up adds each into its parent.
    mass_l, total_l, lines_l = mass.tolist(), total.tolist(), lines.tolist()
    for element in range(len(parents) - 1, 0, -1):
        parent = parents[element]
        mass_l[parent] += mass_l[element]
        total_l[parent] += total_l[element]
        lines_l[parent] += lines_l[element]
    mass, total, lines = np.array(mass_l), np.array(total_l), np.array(lines_l)
    main = int(np.argmax(mass - MAIN_MARGIN * total))
    in_main = [False] * len(parents)
    in_main[main] = True
    for element in range(main + 1, len(parents)):
        if in_main[parents[element]]:
            in_main[element] = True
    return mass, total, lines, main, np.asarray(in_main)
