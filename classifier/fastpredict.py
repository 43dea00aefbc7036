"""Inference for the two fitted stages without scikit-learn's per-call cost.

The model file holds scikit-learn estimators, and training stays theirs.
At inference, their predict_proba spends most of a small page's time on
input validation (stage 1) and on one compiled call per tree (stage 2: 400
trees). The evaluators here compute the same numbers from the fitted
parameters with a few whole-array numpy operations:

- `LinearStage`: the SGD log-loss model's decision function, split into the
  sparse text block and the scaled dense block (so the two are never stacked
  into one matrix), then the same one-vs-rest logistic normalisation.
- `TreeStage`: every tree of a HistGradientBoostingClassifier at once, by
  leaf elimination. Each split whose test sends a row right rules out the
  leaves of its left subtree; the leaf a row reaches is the leftmost leaf no
  split on the way ruled out (any leaf left of it shares an ancestor with it
  where the row went right). So a row's leaf in every tree is one comparison
  per split node, an OR of bit masks and a lowest-zero-bit lookup, with no
  walk from node to node.

  Where the C extension `classifier._trees` is built (see pyproject.toml),
  the same elimination runs in compiled code, and a row is compared only
  with the splits up to the first that sends it left on each feature; numpy
  is the fallback for an install without a C compiler.

Both are built from a fitted estimator and give its predict_proba to
rounding (~1e-15); `compile_*` return None for a model they do not cover
(categorical splits, binary problems, bigger trees), and callers then use
scikit-learn.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

from classifier.features import text_product

try:
    from classifier import _trees
except ImportError:  # installed without a C compiler: leaf elimination in numpy
    _trees = None
COMPILED_TREES = _trees is not None

MASK_BITS = 16          # leaves per tree the uint16 masks can tell apart
ROW_CHUNK = 192         # rows evaluated together: keeps the (splits x rows) tables in cache
_MASK = np.uint16


def _lowest_zero_bit_table() -> np.ndarray:
    """For every 16-bit value, the index of its lowest zero bit (16 if none)."""
    values = np.arange(1 << MASK_BITS, dtype=np.int64)
    free = ~values & ((1 << MASK_BITS) - 1)
    lowest = free & -free
    out = np.full(1 << MASK_BITS, MASK_BITS, dtype=np.uint8)  # small, so it stays in cache
    has = lowest > 0
    out[has] = np.log2(lowest[has]).astype(np.uint8)
    return out


class LinearStage:
    """predict_proba of a one-vs-rest SGDClassifier(loss="log_loss") over
    hstack([text, MaxAbsScaler(dense)]), from the two blocks."""

    def __init__(self, sgd, scaler, n_text: int) -> None:
        coef = np.asarray(sgd.coef_, dtype=np.float64)
        # C-ordered (features x classes): the sparse product reads rows.
        self.text_weights = np.ascontiguousarray(coef[:, :n_text].T)
        self.dense_weights = np.ascontiguousarray(coef[:, n_text:].T)
        self.intercept = np.asarray(sgd.intercept_, dtype=np.float64)
        self.scale = np.asarray(scaler.scale_, dtype=np.float64)
        self.clip = bool(getattr(scaler, "clip", False))
        self.n_text = n_text

    def scaled(self, dense: np.ndarray) -> np.ndarray:
        """MaxAbsScaler.transform: it divides in place, so a float32 input
        stays float32 (rounded after a float64 division)."""
        dtype = dense.dtype if dense.dtype in (np.float32, np.float64) else np.float64
        out = (dense / self.scale).astype(dtype)
        if self.clip:
            np.clip(out, -1.0, 1.0, out=out)
        return out

    def decision(self, text: sp.csr_matrix | np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The decision function; `text` is the text block, or its product
        with text_weights already made (Featurizer.pages(text_weights=))."""
        if isinstance(text, np.ndarray):
            scores = np.array(text, dtype=np.float64)  # a copy: added to below
        else:
            scores = text_product(text, self.text_weights)
        scores += self.scaled(dense).astype(np.float64) @ self.dense_weights
        scores += self.intercept
        return scores

    def predict_proba(self, text: sp.csr_matrix | np.ndarray, dense: np.ndarray) -> np.ndarray:
        prob = expit(self.decision(text, dense))
        total = prob.sum(axis=1)
        empty = total == 0
        if empty.any():  # as scikit-learn: every class equally likely
            prob[empty] = 1
            total[empty] = prob.shape[1]
        prob /= total[:, None]
        return prob


def compile_linear(sgd, scaler, n_text: int) -> LinearStage | None:
    coef = getattr(sgd, "coef_", None)
    if (getattr(sgd, "loss", None) != "log_loss" or coef is None or coef.ndim != 2
            or coef.shape[0] < 3 or coef.shape[1] != n_text + len(scaler.scale_)
            or coef.dtype != np.float64):
        # Binary problems have one column and another formula; float32
        # weights (fitted on float32 input) would compute in float32.
        return None
    return LinearStage(sgd, scaler, n_text)


class TreeStage:
    """predict_proba of a multiclass HistGradientBoostingClassifier.

    In numpy, split nodes sit in a (slots x trees) grid, slot s of tree t
    being its s-th split (unused slots never rule anything out), and every row
    is compared with all of them at once. Compiled (`_trees.add_scores`), the
    splits are listed by feature and threshold, and a row stops reading a
    feature's splits at the first one that sends it left. `compiled=None`
    takes the compiled code when it is built.
    """

    def __init__(self, hgb, compiled: bool | None = None) -> None:
        predictors = hgb._predictors
        self.n_classes = hgb.n_trees_per_iteration_
        self.baseline = np.asarray(hgb._baseline_prediction, dtype=np.float64).reshape(1, -1)
        self.n_features = hgb.n_features_in_
        trees = [p.nodes for iteration in predictors for p in iteration]
        if compiled and _trees is None:
            raise RuntimeError("classifier._trees is not built (no C compiler at install?)")
        self.compiled = _trees is not None if compiled is None else compiled
        splits, leaves = [], []
        for nodes in trees:
            tree_splits, tree_leaves = _eliminations(nodes)
            splits.append(tree_splits)
            leaves.append(tree_leaves)
        if self.compiled:
            self.tables = _split_tables(splits, leaves, self.n_features)
        else:
            self._grid(splits, leaves)

    def _grid(self, splits, leaves) -> None:
        """The numpy evaluator's tables."""
        n_trees = len(splits)
        slots = max(1, max(len(s) for s in splits))
        feature = np.zeros((slots, n_trees), dtype=np.intp)
        threshold = np.full((slots, n_trees), np.inf)
        missing_left = np.ones((slots, n_trees), dtype=bool)
        self.rules_out = np.zeros((slots, n_trees, 1), dtype=_MASK)
        for t, tree_splits in enumerate(splits):
            for s, (f, thr, left, mask) in enumerate(tree_splits):
                feature[s, t], threshold[s, t], missing_left[s, t] = f, thr, left
                self.rules_out[s, t, 0] = mask
        # Trees share many tests: each distinct one is made once per row.
        tests = np.rec.fromarrays([feature.ravel(), threshold.ravel(), missing_left.ravel()])
        unique, self.test_of_slot = np.unique(tests, return_inverse=True)
        self.test_feature = np.asarray(unique["f0"], dtype=np.intp)
        self.test_threshold = np.asarray(unique["f1"], dtype=np.float64)[:, None]
        self.test_missing_right = ~np.asarray(unique["f2"], dtype=bool)[:, None]
        self.test_of_slot = self.test_of_slot.reshape(slots, n_trees)
        self.shape = (slots, n_trees)
        # Leaf values of tree t at leaf_base[t] + (leaf's left-to-right place).
        self.leaf_base = np.cumsum([0] + [len(v) for v in leaves[:-1]]).astype(np.intp)[:, None]
        self.leaf_values = np.concatenate(leaves).astype(np.float64)
        self.lowest_free = _lowest_zero_bit_table()

    def raw(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got shape {X.shape}")
        n = X.shape[0]
        if n == 0:
            return np.zeros((0, self.n_classes))
        if self.compiled:
            out = np.repeat(self.baseline, n, axis=0)
            _trees.add_scores(*self.tables, np.ascontiguousarray(X), out, self.n_classes)
            return out
        if n <= ROW_CHUNK:
            return self._raw_chunk(X)
        out = np.empty((n, self.n_classes))
        bounds = np.linspace(0, n, -(-n // ROW_CHUNK) + 1).astype(int)  # even chunks
        for a, b in zip(bounds[:-1], bounds[1:]):
            out[a:b] = self._raw_chunk(X[a:b])
        return out

    def _raw_chunk(self, X: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        columns = np.ascontiguousarray(X.T)[self.test_feature]
        goes_right = columns > self.test_threshold
        if np.isnan(X).any():  # NaN compares False; it goes where the split learnt
            goes_right |= np.isnan(columns) & self.test_missing_right
        # Slot by slot, so no (slots x trees x rows) table is ever made.
        ruled_out = np.zeros((self.shape[1], n), dtype=_MASK)
        masked = np.empty_like(ruled_out)
        for tests, rules_out in zip(self.test_of_slot, self.rules_out):
            np.multiply(goes_right[tests], rules_out, out=masked)
            ruled_out |= masked
        values = self.leaf_values[self.leaf_base + self.lowest_free[ruled_out]]
        return values.reshape(-1, self.n_classes, n).sum(axis=0).T + self.baseline

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raw = self.raw(X)
        raw -= raw.max(axis=1, keepdims=True)  # softmax, as HalfMultinomialLoss
        np.exp(raw, out=raw)
        raw /= raw.sum(axis=1, keepdims=True)
        return raw


def _split_tables(splits, leaves, n_features: int) -> tuple[np.ndarray, ...]:
    """The tables `_trees.add_scores` reads: every tree's splits ordered by
    feature, then threshold (threshold, tree, mask, missing goes left), where
    each feature's splits start, and where each tree's leaf values start."""
    rows = [(f, thr, t, left, mask) for t, tree_splits in enumerate(splits)
            for f, thr, left, mask in tree_splits]
    rows.sort(key=lambda row: (row[0], row[1]))
    feature = np.array([row[0] for row in rows], dtype=np.int64)
    return (np.array([row[1] for row in rows], dtype=np.float64),
            np.array([row[2] for row in rows], dtype=np.int32),
            np.array([row[4] for row in rows], dtype=np.uint64),
            np.array([row[3] for row in rows], dtype=np.uint8),
            np.searchsorted(feature, np.arange(n_features + 1)).astype(np.int64),
            np.cumsum([0] + [len(v) for v in leaves]).astype(np.int64),
            np.concatenate(leaves).astype(np.float64))


def _eliminations(nodes) -> tuple[list[tuple[int, float, bool, int]], np.ndarray]:
    """A tree's splits as (feature, threshold, missing goes left, mask of the
    leaves its left subtree holds), and its leaf values left to right."""
    is_leaf = nodes["is_leaf"].astype(bool)
    order: list[int] = []      # leaves, left to right
    first_leaf = {}            # node -> (first, count) of its leaves in `order`
    stack = [(0, False)]
    while stack:               # post-order, left before right
        node, done = stack.pop()
        if is_leaf[node]:
            first_leaf[node] = (len(order), 1)
            order.append(node)
        elif done:
            left, right = first_leaf[nodes["left"][node]], first_leaf[nodes["right"][node]]
            first_leaf[node] = (left[0], left[1] + right[1])
        else:
            stack += [(node, True), (int(nodes["right"][node]), False),
                      (int(nodes["left"][node]), False)]
    splits = []
    for node in np.flatnonzero(~is_leaf):
        first, count = first_leaf[int(nodes["left"][node])]
        mask = ((1 << count) - 1) << first
        splits.append((int(nodes["feature_idx"][node]), float(nodes["num_threshold"][node]),
                       bool(nodes["missing_go_to_left"][node]), mask))
    return splits, nodes["value"][order]


def compile_trees(hgb, compiled: bool | None = None) -> TreeStage | None:
    predictors = getattr(hgb, "_predictors", None)
    if (not predictors or getattr(hgb, "_preprocessor", None) is not None
            or getattr(hgb, "is_categorical_", None) is not None
            or hgb.n_trees_per_iteration_ < 3
            or type(hgb._loss).__name__ != "HalfMultinomialLoss"):
        return None
    for iteration in predictors:
        if len(iteration) != hgb.n_trees_per_iteration_:
            return None
        for p in iteration:
            nodes = p.nodes
            if nodes["is_categorical"].any() or nodes["is_leaf"].sum() > MASK_BITS:
                return None
    return TreeStage(hgb, compiled)
