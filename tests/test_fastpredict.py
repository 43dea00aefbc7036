"""The evaluators of the fitted stages (numpy, and the compiled tree code)
give scikit-learn's numbers."""

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import MaxAbsScaler

from classifier import fastpredict
from classifier.fastpredict import compile_linear, compile_trees
from classifier.html import html_to_page
from classifier.lines import split_text
from classifier.model import DEFAULT_MODEL_PATH, load_model

TOLERANCE = 1e-9
DATASET = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "wcxb-dev.jsonl.gz"
DATASET_PAGES = 12

HTML = """<html><body><header><nav><a href="/">Home</a> | <a href="/world">World</a></nav></header>
<main><article><h1>Ferry returns to the northern pier</h1>
<p class="byline">By Ines Carvalho, 3 March 2026</p>
<p>The ferry operator resumed evening crossings on Tuesday after a survey of the pier.</p>
<div class="ad-slot">Advertisement</div>
<p>Residents of the old quarter welcomed the news; nobody expected it this quickly.</p>
<ul class="related"><li><a href="/a">Council redraws the winter timetable</a></li>
<li><a href="/b">Two villages defend the market rules</a></li></ul></article></main>
<footer>© 2026 The Harbour Courier. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>"""


@pytest.fixture(scope="module")
def shipped():
    return load_model(DEFAULT_MODEL_PATH).estimator


@pytest.fixture(scope="module")
def real_pages(tiny_documents):
    pages = [d.page for d in tiny_documents] + [html_to_page(HTML)]
    pages.append(split_text("\n".join(html_to_page(HTML).texts)))
    if DATASET.is_file():  # real pages, both ways, when the shared datasets are there
        with gzip.open(DATASET, "rt", encoding="utf-8") as f:
            for line in f:
                html = json.loads(line).get("html") or ""
                if html.strip():
                    page = html_to_page(html)
                    pages += [page, split_text("\n".join(page.texts))]
                if len(pages) >= DATASET_PAGES:
                    break
    return [p for p in pages if len(p)]


def test_shipped_model_is_covered(shipped):
    linear, trees = shipped.fast_stages()
    assert linear is not None and trees is not None


def test_stage1_matches_sgd_predict_proba(shipped, real_pages):
    linear, _ = shipped.fast_stages()
    features = [shipped.featurizer_.page(p) for p in real_pages]
    for f in features + [None]:
        if f is None:  # all pages in one call
            text = sp.vstack([g.text for g in features], format="csr")
            dense = np.vstack([g.dense for g in features])
            expected = shipped.stage1_.predict_proba(
                sp.vstack([shipped._stage1_input(g) for g in features], format="csr"))
        else:
            text, dense = f.text, f.dense
            expected = shipped.stage1_.predict_proba(shipped._stage1_input(f))
        got = linear.predict_proba(text, dense)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < TOLERANCE
        # The text block's product made beforehand (as Featurizer.pages makes it) gives the same.
        product = np.asarray(text @ linear.text_weights)
        np.testing.assert_array_equal(linear.predict_proba(product, dense), got)


def test_the_compiled_tree_code_is_built_and_used(shipped):
    # pip builds it only where a C compiler is found; CI and the image have one.
    assert fastpredict.COMPILED_TREES, "classifier._trees is not built: pip install -e . with gcc"
    assert shipped.fast_stages()[1].compiled


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "numpy"])
def test_stage2_matches_hgb_predict_proba_on_real_and_random_rows(shipped, real_pages, compiled):
    trees = compile_trees(shipped.stage2_, compiled)
    assert trees.compiled is compiled
    probs = shipped._pages_proba(real_pages, fast=False)  # also builds the inputs below
    inputs = [shipped._stage2_input(shipped.featurizer_.page(p),
                                    shipped.stage1_.predict_proba(
                                        shipped._stage1_input(shipped.featurizer_.page(p))), p)
              for p in real_pages]
    X = np.vstack(inputs)
    np.testing.assert_allclose(trees.predict_proba(X), np.vstack(probs), atol=TOLERANCE, rtol=0)
    rng = np.random.default_rng(3)
    noisy = X[rng.integers(0, len(X), 500)] + rng.normal(0, 0.2, (500, X.shape[1]))
    noisy[rng.random(noisy.shape) < 0.05] = np.nan  # missing values take the learnt side
    noisy[rng.random(noisy.shape) < 0.01] = np.inf   # past every threshold
    noisy[rng.random(noisy.shape) < 0.01] = -np.inf  # below every threshold
    expected = shipped.stage2_.predict_proba(noisy)
    assert np.abs(trees.predict_proba(noisy) - expected).max() < TOLERANCE
    assert np.abs(trees.predict_proba(noisy[:1]) - expected[:1]).max() < TOLERANCE
    assert trees.predict_proba(noisy[:0]).shape == (0, len(shipped.classes_))
    with pytest.raises(ValueError):
        trees.predict_proba(noisy[:, 1:])
    if compiled:  # the same sums in the same order as scikit-learn: not one bit differs
        for rows in (X, noisy):
            assert np.array_equal(trees.raw(rows), shipped.stage2_._raw_predict(rows))


def test_compiled_tree_code_refuses_malformed_tables():
    X, y = _data(3)
    hgb = HistGradientBoostingClassifier(max_iter=4, max_leaf_nodes=8, random_state=0).fit(X, y)
    trees = compile_trees(hgb, compiled=True)
    threshold, tree, mask, missing_left, feature_start, leaf_start, leaf_value = trees.tables

    def run(**changed):
        tables = dict(threshold=threshold, tree=tree, mask=mask, missing_left=missing_left,
                      feature_start=feature_start, leaf_start=leaf_start, leaf_value=leaf_value)
        tables.update(changed)
        out = np.repeat(trees.baseline, len(X), axis=0)
        fastpredict._trees.add_scores(*tables.values(), np.ascontiguousarray(X), out, 3)
        return out

    assert np.array_equal(run(), hgb._raw_predict(X))
    decreasing = feature_start.copy()
    decreasing[1] = feature_start[-1] + 1  # past every later offset
    bad = {  # table: (corrupted, what the refusal says)
        "tree": (np.where(np.arange(len(tree)) == 0, len(leaf_start) - 1, tree).astype(np.int32),
                 "names no tree"),
        "mask": (np.where(np.arange(len(mask)) == 0, np.uint64(1) << np.uint64(40),
                          mask).astype(np.uint64), "last leaf"),
        "feature_start": (decreasing, "decrease"),
        "leaf_start": (np.where(np.arange(len(leaf_start)) == 1, 0, leaf_start).astype(np.int64),
                       "no leaves"),
        "leaf_value": (leaf_value[:-1].copy(), "leaf values"),
        "missing_left": (missing_left[:-1].copy(), "wrong size"),
        "threshold": (threshold.astype(np.float32), "wrong size"),
    }
    for name, (table, says) in bad.items():
        with pytest.raises(ValueError, match=says):
            run(**{name: table})
    with pytest.raises(ValueError, match="rows"):
        fastpredict._trees.add_scores(*trees.tables, np.ascontiguousarray(X[:, 1:]),
                                      np.zeros((len(X), 3)), 3)
    with pytest.raises(TypeError):  # the scores must be writable
        fastpredict._trees.add_scores(*trees.tables, np.ascontiguousarray(X), bytes(len(X) * 24), 3)


def test_pages_proba_matches_the_scikit_learn_path(shipped, real_pages):
    fast = shipped.pages_proba(real_pages + [split_text("")])
    reference = shipped._pages_proba(real_pages + [split_text("")], fast=False)
    assert len(fast) == len(reference) == len(real_pages) + 1
    assert fast[-1].shape == (0, len(shipped.classes_))
    for a, b in zip(fast, reference):
        assert a.shape == b.shape
        assert np.abs(a - b).max(initial=0) < TOLERANCE


def test_evaluators_stay_out_of_the_model_file(shipped):
    shipped.fast_stages()
    assert "_fast_stages" in shipped.__dict__
    copy = pickle.loads(pickle.dumps(shipped))
    assert "_fast_stages" not in copy.__dict__
    assert "_fast_stages" in shipped.__dict__  # pickling left the live model alone


def test_refitting_rebuilds_the_evaluators(tiny_estimator, tiny_documents):
    before = tiny_estimator.fast_stages()
    assert tiny_estimator.fast_stages() is not None
    assert tiny_estimator.fast_stages()[1] is before[1]  # cached
    clone = pickle.loads(pickle.dumps(tiny_estimator))
    clone.stage2_ = pickle.loads(pickle.dumps(tiny_estimator.stage2_))
    assert clone.fast_stages()[1] is not before[1]
    pages = [d.page for d in tiny_documents]
    for a, b in zip(clone.pages_proba(pages), tiny_estimator._pages_proba(pages, fast=False)):
        assert np.abs(a - b).max() < TOLERANCE


def _data(n_classes, n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int) * (n_classes - 2)
    return X, y


def test_trees_with_missing_values_in_training_match():
    X, y = _data(3)
    X[np.random.default_rng(1).random(X.shape) < 0.2] = np.nan
    hgb = HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=16, random_state=0).fit(X, y)
    for compiled in (True, False):
        trees = compile_trees(hgb, compiled)
        assert trees is not None
        assert np.abs(trees.predict_proba(X) - hgb.predict_proba(X)).max() < TOLERANCE


def test_models_the_evaluators_do_not_cover_are_left_to_scikit_learn():
    X, y = _data(3)
    noise = np.random.default_rng(4).integers(0, 3, len(y))  # so trees grow to their limit
    big = HistGradientBoostingClassifier(max_iter=3, max_leaf_nodes=40, min_samples_leaf=2)
    big.fit(X, noise)
    assert max(p.nodes["is_leaf"].sum() for it in big._predictors for p in it) > 16
    assert compile_trees(big) is None
    categorical = X.copy()
    categorical[:, 5] = np.random.default_rng(2).integers(0, 4, len(X))
    assert compile_trees(HistGradientBoostingClassifier(
        max_iter=5, categorical_features=[5]).fit(categorical, y)) is None
    Xb, yb = _data(2)
    assert compile_trees(HistGradientBoostingClassifier(max_iter=5).fit(Xb, yb)) is None
    sgd = SGDClassifier(loss="log_loss", max_iter=5, tol=None).fit(Xb, yb)
    assert compile_linear(sgd, MaxAbsScaler().fit(Xb[:, 3:]), 3) is None
    hinge = SGDClassifier(loss="hinge", max_iter=5, tol=None).fit(X, y)
    assert compile_linear(hinge, MaxAbsScaler().fit(X[:, 3:]), 3) is None
    single = SGDClassifier(loss="log_loss", max_iter=5, tol=None).fit(X.astype(np.float32), y)
    assert compile_linear(single, MaxAbsScaler().fit(X[:, 3:]), 3) is None


def test_linear_stage_matches_with_float64_and_clipped_dense_blocks():
    X, y = _data(3)
    text = sp.csr_matrix(np.where(np.abs(X[:, :3]) > 1, X[:, :3], 0).astype(np.float32))
    dense = X[:, 3:] * 7
    for clip, dtype in ((False, np.float64), (True, np.float32)):
        scaler = MaxAbsScaler(clip=clip).fit(dense[:100])  # later rows exceed the fitted range
        stacked = sp.hstack([text, sp.csr_matrix(scaler.transform(dense.astype(dtype)))],
                            format="csr")
        sgd = SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=0)
        sgd.fit(stacked.astype(np.float64), y)  # float64 weights, as the shipped model's
        linear = compile_linear(sgd, scaler, 3)
        got = linear.predict_proba(text, dense.astype(dtype))
        assert np.abs(got - sgd.predict_proba(stacked)).max() < TOLERANCE
