"""The line classifier: a scikit-learn estimator, and its model file.

Two stages, in the spirit of "classify each line, then revise with context":
1. a linear model over each line's hashed text and shape features gives a
   first probability for every label;
2. gradient-boosted trees revise each line's label from its shape, the
   first-stage probabilities of the lines around it and of the whole page,
   and (for HTML) of the containers it sits in (classifier.containers), so
   a headline inside a "More stories" list follows its list.
Stage 2 is trained on out-of-fold stage-1 probabilities (pages held out
together), so it learns how far to trust stage 1 on pages it has not seen.

Samples are lines: `X` is a sequence of `LineRef(page, index)`, so the usual
tools (cross_val_score with GroupKFold over pages, GridSearchCV, pipelines)
work on it. `as_samples(pages)` builds X from pages.
"""

from __future__ import annotations

import hashlib
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import joblib
import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import MaxAbsScaler
from sklearn.utils.validation import check_is_fitted

from classifier.containers import container_columns, CONTAINER_COLUMNS
from classifier.fastpredict import LinearStage, TreeStage, compile_linear, compile_trees
from classifier.features import Featurizer, PageFeatures
from classifier.labels import BODY, LABELS
from classifier.lines import Page, split_text

MODEL_KIND = "declutter.line-model"
MODEL_FORMAT_VERSION = 3  # 2: features hashed by classifier.hashing; 3: stage 2 sees containers
CHECKSUM_SUFFIX = ".sha256"
PROBABILITY_OFFSETS = (-3, -2, -1, 1, 2, 3)  # neighbours whose stage-1 view a line sees
PROBABILITY_RUN = 6                          # lines each side averaged into the run's view
# Inference evaluators built from the fitted stages (classifier.fastpredict):
# derived data, kept out of the model file.
_FAST_STAGES = "_fast_stages"
WARM_UP_TEXT = "Home | News\nA line of text to label.\n© 2026"


class LineRef(NamedTuple):
    """One sample: line `index` of `page`."""

    page: Page
    index: int


def as_samples(pages: Sequence[Page]) -> list[LineRef]:
    return [LineRef(page, i) for page in pages for i in range(len(page))]


class LineClassifier(ClassifierMixin, BaseEstimator):
    """Labels lines of pages as BODY, NAVIGATION, AD, DISCLAIMER or RELATED_LINKS."""

    def __init__(self, word_features: int = 2**17, char_features: int = 2**15,
                 context_features: int = 2**14, markup_features: int = 2**15,
                 alpha: float = 1e-5, stage1_epochs: int = 10,
                 stage2_max_iter: int = 80, stage2_learning_rate: float = 0.1,
                 stage2_max_leaf_nodes: int = 15, stage2_min_samples_leaf: int = 100,
                 stage2_l2_regularization: float = 20.0, cv_folds: int = 3,
                 weight_by_words: bool = True, random_state: int = 0) -> None:
        self.word_features = word_features
        self.char_features = char_features
        self.context_features = context_features
        self.markup_features = markup_features
        self.alpha = alpha
        self.stage1_epochs = stage1_epochs
        self.stage2_max_iter = stage2_max_iter
        self.stage2_learning_rate = stage2_learning_rate
        self.stage2_max_leaf_nodes = stage2_max_leaf_nodes
        self.stage2_min_samples_leaf = stage2_min_samples_leaf
        self.stage2_l2_regularization = stage2_l2_regularization
        self.cv_folds = cv_folds
        self.weight_by_words = weight_by_words
        self.random_state = random_state

    # -- training -----------------------------------------------------------

    def fit(self, X: Sequence[LineRef], y: Sequence[str],
            groups: Sequence[str] | None = None,
            sample_weight: Sequence[float] | None = None) -> LineClassifier:
        """Train on lines X with labels y.

        `groups` (one per line) names the document or site each line comes
        from; the out-of-fold stage-1 probabilities hold whole groups out, so
        copies of one document (say, in two layouts) never sit on both sides
        of a fold. Without it, each page is its own group. `sample_weight`
        (one per line) multiplies the weight each line gets.
        """
        y = np.asarray(y)
        unknown = sorted(set(y) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown labels {unknown}; expected some of {list(LABELS)}")
        # Sorted, as scikit-learn's own classifiers order their columns.
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("training needs lines of at least two different labels")
        self.featurizer_ = Featurizer(self.word_features, self.char_features,
                                      self.context_features, self.markup_features)
        # What the features were when trained: a model is only valid with
        # code that computes the same ones (checked by load_model).
        self.dense_columns_ = self.featurizer_.dense_columns
        pages, page_of_row = _unique_pages(X)
        features = [self.featurizer_.page(p) for p in pages]
        rows = np.array([r.index for r in X], dtype=np.int64)

        self.scaler_ = MaxAbsScaler().fit(np.vstack([f.dense for f in features]))
        stage1_inputs = [self._stage1_input(f) for f in features]
        X1 = _gather(stage1_inputs, page_of_row, rows)
        weights = self._weights(X)
        if sample_weight is not None:
            weights = weights * np.asarray(sample_weight, dtype=np.float64)

        # Out-of-fold stage-1 probabilities for every line of every page.
        oof = [np.zeros((len(p), len(self.classes_))) for p in pages]
        row_groups = page_of_row if groups is None else np.asarray(groups)
        if len(row_groups) != len(y):
            raise ValueError(f"groups has {len(row_groups)} entries for {len(y)} lines")
        n_folds = min(self.cv_folds, len(set(row_groups.tolist())))
        if n_folds >= 2:
            for train_idx, _ in GroupKFold(n_splits=n_folds).split(X1, y, row_groups):
                # A fold missing a label would give probabilities in other
                # columns; its pages fall back to the final stage-1 model below.
                if len(set(y[train_idx])) < len(self.classes_):
                    continue
                fold_model = self._new_stage1().fit(X1[train_idx], y[train_idx],
                                                    sample_weight=weights[train_idx])
                held_out = set(range(len(pages))) - set(page_of_row[train_idx])
                for g in held_out:
                    oof[g] = fold_model.predict_proba(stage1_inputs[g])
        self.stage1_ = _slim(self._new_stage1().fit(X1, y, sample_weight=weights))
        for g, page in enumerate(pages):
            if not oof[g].any():
                oof[g] = self.stage1_.predict_proba(stage1_inputs[g])

        X2 = _gather([self._stage2_input(f, p, page) for f, p, page in zip(features, oof, pages)],
                     page_of_row, rows)
        stage2 = HistGradientBoostingClassifier(
            max_iter=self.stage2_max_iter, learning_rate=self.stage2_learning_rate,
            max_leaf_nodes=self.stage2_max_leaf_nodes,
            min_samples_leaf=self.stage2_min_samples_leaf,
            l2_regularization=self.stage2_l2_regularization, early_stopping=False,
            random_state=self.random_state,
        ).fit(X2, y, sample_weight=weights)
        assert list(stage2.classes_) == list(self.classes_) == list(self.stage1_.classes_)
        self.stage2_ = stage2
        return self

    def _weights(self, X: Sequence[LineRef]) -> np.ndarray:
        """Per-line training weights. With weight_by_words a line counts by
        log2(2 + its words): the body is judged by its words, so a missed
        paragraph should cost more than a missed one-word menu item."""
        if not self.weight_by_words:
            return np.ones(len(X))
        words = np.array([len(r.page.texts[r.index].split()) for r in X], dtype=np.float64)
        return np.log2(2.0 + words)

    def _new_stage1(self) -> SGDClassifier:
        # Logistic loss for probabilities; averaged SGD is as accurate as a
        # batch solver here and scales linearly with the corpus.
        # The five one-vs-rest problems train on two threads.
        return SGDClassifier(loss="log_loss", alpha=self.alpha, max_iter=self.stage1_epochs,
                             tol=None, average=True,
                             random_state=self.random_state, n_jobs=2)

    # -- inference ----------------------------------------------------------

    def _stage1_input(self, features: PageFeatures) -> sp.csr_matrix:
        dense = self.scaler_.transform(features.dense)
        return sp.hstack([features.text, sp.csr_matrix(dense)], format="csr")

    def _stage2_input(self, features: PageFeatures, probs: np.ndarray, page: Page) -> np.ndarray:
        return self._stage2_inputs(features.dense, probs, [(0, len(probs))], [page])

    def _stage2_inputs(self, dense: np.ndarray, probs: np.ndarray,
                       spans: Sequence[tuple[int, int]], pages: Sequence[Page]) -> np.ndarray:
        """Stage 2's rows for pages stacked in `dense` and `probs`, page i
        being rows spans[i]: the line's dense features and stage-1 view, its
        neighbours' (within its page), its run's and its page's mean, and
        its containers' (classifier.containers)."""
        n, k = probs.shape
        d = dense.shape[1]
        out = np.empty((n, d + k * (len(PROBABILITY_OFFSETS) + 3) + len(CONTAINER_COLUMNS)))
        out[:, :d] = dense
        out[:, d:d + k] = probs
        col = d + k
        out[:, col:col + k * len(PROBABILITY_OFFSETS)] = 0.0  # past a page's ends
        for offset in PROBABILITY_OFFSETS:
            for a, b in spans:
                lo, hi = max(a, a - offset), min(b, b - offset)
                if hi > lo:
                    out[lo:hi, col:col + k] = probs[lo + offset:hi + offset]
            col += k
        for a, b in spans:  # one page at a time: the same float sums as alone
            page = probs[a:b]
            m = b - a
            cumulative = np.zeros((m + 1, k))
            np.cumsum(page, axis=0, out=cumulative[1:])
            at = np.arange(m)
            lo = np.maximum(at - PROBABILITY_RUN, 0)
            hi = np.minimum(at + PROBABILITY_RUN + 1, m)
            np.divide(cumulative[hi] - cumulative[lo], (hi - lo)[:, None],
                      out=out[a:b, col:col + k])
            out[a:b, col + k:col + 2 * k] = page.sum(axis=0) / m  # as page.mean rounds it
        col += 2 * k
        # Word counts back from the dense features' log1p(words), as training saw them.
        words = np.expm1(dense[:, self.dense_columns_.index("log_words")].astype(np.float64))
        classes = list(self.classes_)
        for (a, b), page in zip(spans, pages):
            # A model trained without BODY lines has no body to place.
            structure = page.structure if BODY in classes else None
            body = probs[a:b, classes.index(BODY)] if structure is not None else None
            out[a:b, col:] = container_columns(structure, body, words[a:b])
        return out

    def page_proba(self, page: Page) -> np.ndarray:
        """Probabilities (lines x classes_) for every line of one page."""
        return self.pages_proba([page])[0]

    def pages_proba(self, pages: Sequence[Page]) -> list[np.ndarray]:
        """Probabilities (lines x classes_) for every line of each page.

        Features are per page; each stage is one model call for all pages
        together, since a call's fixed cost outweighs a short page's lines.
        The stages run on `classifier.fastpredict`'s evaluators of the fitted
        estimators (same numbers as their predict_proba, to rounding).
        """
        return self._pages_proba(pages, fast=True)

    def _pages_proba(self, pages: Sequence[Page], fast: bool) -> list[np.ndarray]:
        if getattr(self, "stage2_", None) is None:
            check_is_fitted(self, "stage2_")
        out = [np.zeros((0, len(self.classes_))) for _ in pages]
        filled = [i for i, p in enumerate(pages) if len(p)]
        if not filled:
            return out
        bounds = np.cumsum([0] + [len(pages[i]) for i in filled])
        spans = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        if fast:
            linear, trees = self.fast_stages()
            features = self.featurizer_.pages(
                [pages[i] for i in filled],
                text_weights=None if linear is None else linear.text_weights)
        else:  # the estimators' own predict_proba, page by page features
            per_page = [self.featurizer_.page(pages[i]) for i in filled]
            features = PageFeatures(text=sp.vstack([f.text for f in per_page], format="csr"),
                                    dense=np.vstack([f.dense for f in per_page]))
            linear = trees = None
        if linear is not None:
            probs1 = linear.predict_proba(features.text_scores, features.dense)
        else:
            probs1 = self.stage1_.predict_proba(self._stage1_input(features))
        X2 = self._stage2_inputs(features.dense, probs1, spans, [pages[i] for i in filled])
        probs2 = trees.predict_proba(X2) if trees is not None else self.stage2_.predict_proba(X2)
        for i, (a, b) in zip(filled, spans):
            out[i] = probs2[a:b]
        return out

    def fast_stages(self) -> tuple[LinearStage | None, TreeStage | None]:
        """The stages' numpy evaluators, built on first use (None: a stage
        they do not cover, which then runs on scikit-learn)."""
        check_is_fitted(self, "stage2_")
        cached = self.__dict__.get(_FAST_STAGES)
        fitted = (self.stage1_, self.scaler_, self.stage2_)
        if cached is None or any(a is not b for a, b in zip(cached[0], fitted)):
            cached = (fitted, compile_linear(self.stage1_, self.scaler_,
                                             self.featurizer_.n_text_features),
                      compile_trees(self.stage2_))
            setattr(self, _FAST_STAGES, cached)
        return cached[1], cached[2]

    def __getstate__(self) -> dict:
        # A copy: object.__getstate__ may hand back the live __dict__.
        state = dict(super().__getstate__())
        state.pop(_FAST_STAGES, None)
        return state

    def predict_proba(self, X: Sequence[LineRef]) -> np.ndarray:
        pages, page_of_row = _unique_pages(X)
        page_probs = self.pages_proba(pages)
        if not len(X):
            return np.zeros((0, len(self.classes_)))
        rows = np.array([r.index for r in X], dtype=np.int64)
        return _gather(page_probs, page_of_row, rows)

    def predict(self, X: Sequence[LineRef]) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _slim(model: SGDClassifier) -> SGDClassifier:
    """Drop averaged SGD's working copies of the weights: predictions use
    coef_ alone, and the copies would triple the model file."""
    for name in ("_standard_coef", "_standard_intercept", "_average_coef", "_average_intercept"):
        if hasattr(model, name):
            delattr(model, name)
    return model


def _gather(blocks, page_of_row: np.ndarray, rows: np.ndarray):
    """Rows of per-page matrices (sparse or dense), in the order of X."""
    stacked = sp.vstack(blocks, format="csr") if sp.issparse(blocks[0]) else np.vstack(blocks)
    offsets = np.cumsum([0] + [b.shape[0] for b in blocks])
    return stacked[offsets[page_of_row] + rows]


def _unique_pages(X: Sequence[LineRef]) -> tuple[list[Page], np.ndarray]:
    """The distinct pages of X in first-seen order, and each row's page index."""
    index: dict[int, int] = {}
    pages: list[Page] = []
    page_of_row = np.empty(len(X), dtype=np.int64)
    for row, ref in enumerate(X):
        key = id(ref.page)
        if key not in index:
            index[key] = len(pages)
            pages.append(ref.page)
        page_of_row[row] = index[key]
    return pages, page_of_row


# -- the model file -----------------------------------------------------------

class ModelError(Exception):
    """A model file that cannot be served: missing, tampered, foreign or too old."""


@dataclass
class Model:
    """A trained classifier with what is known about it."""

    estimator: LineClassifier
    metadata: dict[str, Any]
    sha256: str = ""

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", ""))

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels in the API's order."""
        return tuple(label for label in LABELS if label in set(self.estimator.classes_))


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def save_model(model: Model, path: str | os.PathLike) -> str:
    """Write the model and its checksum atomically; returns the SHA-256.

    Files are written to temporary names in the target folder and renamed
    into place, so a reader never sees a half-written one. Two files cannot
    be renamed at once, so over an existing model the checksum file first
    lists both digests, then the model is replaced, then the checksum file
    lists the new digest alone: wherever the writer stops (even killed), the
    model in place matches its checksum file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"kind": MODEL_KIND, "format_version": MODEL_FORMAT_VERSION,
               "metadata": model.metadata, "estimator": model.estimator}
    tmp_model = _temp_name(path)
    try:
        with open(tmp_model, "wb") as f:
            joblib.dump(payload, f, compress=3)
            f.flush()
            os.fsync(f.fileno())
        digest = file_sha256(tmp_model)
        _make_readable(tmp_model)
        previous = [d for d in listed_digests(path) if d != digest] if path.is_file() else []
        if previous:
            _write_checksums(path, previous + [digest])
        os.replace(tmp_model, path)
        _write_checksums(path, [digest])
    finally:
        if tmp_model.exists():
            tmp_model.unlink()
    model.sha256 = digest
    return digest


def listed_digests(path: Path) -> list[str]:
    """The digests the checksum file of `path` accepts (one per line)."""
    try:
        text = checksum_path(path).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def _write_checksums(path: Path, digests: list[str]) -> None:
    tmp = _temp_name(checksum_path(path))
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.writelines(f"{d}  {path.name}\n" for d in digests)
            f.flush()
            os.fsync(f.fileno())
        _make_readable(tmp)
        os.replace(tmp, checksum_path(path))
    finally:
        if tmp.exists():
            tmp.unlink()


def _make_readable(path: Path) -> None:
    """mkstemp makes files private; a model is not."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _temp_name(path: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def load_model(path: str | os.PathLike) -> Model:
    """Load a model file after checking its checksum, kind and versions."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist")
    sum_path = checksum_path(path)
    if not sum_path.is_file():
        raise ModelError(f"model file {path} has no checksum file {sum_path.name}; "
                         "models written by `python -m classifier.train` have one")
    actual = file_sha256(path)
    if actual not in listed_digests(path):
        raise ModelError(f"model file {path} does not match its checksum in {sum_path.name} "
                         "(changed, corrupt or half-copied); refusing to load it")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # a file that passed its checksum but is not a joblib pickle
        raise ModelError(f"model file {path} could not be read: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("kind") != MODEL_KIND:
        raise ModelError(f"{path} is not a declutter model file")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise ModelError(f"{path} has model format {payload.get('format_version')}, this "
                         f"version of declutter reads format {MODEL_FORMAT_VERSION}; retrain it")
    metadata = payload.get("metadata") or {}
    trained_with = str(metadata.get("libraries", {}).get("scikit-learn", ""))
    if trained_with.split(".")[:2] != sklearn.__version__.split(".")[:2]:
        raise ModelError(f"{path} was trained with scikit-learn {trained_with or 'unknown'}, "
                         f"this install has {sklearn.__version__}; retrain the model or "
                         f"install scikit-learn {trained_with}")
    estimator = payload.get("estimator")
    if not isinstance(estimator, LineClassifier):
        raise ModelError(f"{path} does not hold a declutter LineClassifier")
    if getattr(estimator, "dense_columns_", None) != estimator.featurizer_.dense_columns:
        raise ModelError(f"{path} was trained with other features than this version of "
                         "declutter computes; retrain it with this version")
    # Evaluators and lookup tables built now rather than in the first request.
    estimator.pages_proba([split_text(WARM_UP_TEXT)])
    return Model(estimator=estimator, metadata=metadata, sha256=actual)


DEFAULT_MODEL_PATH = Path(__file__).parent / "models" / "default.joblib"
