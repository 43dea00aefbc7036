import os
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_score

from classifier.lines import split_text
from classifier.model import (
    LineClassifier, ModelError, as_samples, checksum_path, file_sha256, library_versions,
    load_model, save_model,
)


def samples(documents):
    X = as_samples([d.page for d in documents])
    y = np.array([label for d in documents for label in d.labels])
    groups = np.array([d.id for d in documents for _ in d.labels])
    return X, y, groups


def test_predicts_one_known_label_and_a_distribution_per_line(tiny_estimator, tiny_documents):
    X, y, _ = samples(tiny_documents)
    proba = tiny_estimator.predict_proba(X)
    assert proba.shape == (len(X), len(tiny_estimator.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    predicted = tiny_estimator.predict(X)
    assert set(predicted) <= set(tiny_estimator.classes_)
    assert np.mean(predicted == y) > 0.9  # it learnt its own training data


def test_is_a_scikit_learn_estimator(tiny_documents):
    est = LineClassifier(stage2_max_iter=10, stage2_min_samples_leaf=5, cv_folds=3)
    assert clone(est).get_params() == est.get_params()
    est.set_params(alpha=1e-4)
    assert est.alpha == 1e-4
    X, y, groups = samples(tiny_documents)
    scores = cross_val_score(est, X, y, groups=groups, cv=GroupKFold(n_splits=3))
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)


def test_page_proba_matches_predict_proba(tiny_estimator, tiny_documents):
    page = tiny_documents[0].page
    direct = tiny_estimator.page_proba(page)
    via_samples = tiny_estimator.predict_proba(as_samples([page]))
    assert np.allclose(direct, via_samples)
    assert tiny_estimator.page_proba(split_text("")).shape == (0, len(tiny_estimator.classes_))


def test_refuses_unknown_labels_and_a_single_label(tiny_documents):
    X, y, _ = samples(tiny_documents)
    with pytest.raises(ValueError, match="unknown labels"):
        LineClassifier().fit(X, np.where(y == "AD", "SPAM", y))
    with pytest.raises(ValueError, match="at least two"):
        LineClassifier().fit(X, np.full(len(y), "BODY"))


def test_save_load_round_trip(tiny_model_file, tiny_estimator, tiny_documents):
    model = load_model(tiny_model_file)
    assert model.version == "tiny-test"
    assert len(model.sha256) == 64
    X, _, _ = samples(tiny_documents)
    assert np.allclose(model.estimator.predict_proba(X), tiny_estimator.predict_proba(X))
    # No temporary files are left beside the model.
    assert sorted(p.name for p in tiny_model_file.parent.iterdir()) == [
        "tiny.joblib", "tiny.joblib.sha256"]


def test_tampered_or_unchecked_files_are_refused(tiny_model_file):
    data = bytearray(tiny_model_file.read_bytes())
    data[-10] ^= 0xFF
    tiny_model_file.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match its checksum"):
        load_model(tiny_model_file)
    checksum_path(tiny_model_file).unlink()
    with pytest.raises(ModelError, match="has no checksum file"):
        load_model(tiny_model_file)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tiny_model_file.with_name("absent.joblib"))


def _rewrite(path, payload):
    """Write a payload with a valid checksum, as a foreign or old tool might."""
    joblib.dump(payload, path)
    checksum_path(path).write_text(f"{file_sha256(path)}  {path.name}\n")


def test_foreign_and_incompatible_models_are_refused(tiny_model_file):
    good = joblib.load(tiny_model_file)
    _rewrite(tiny_model_file, {"something": "else"})
    with pytest.raises(ModelError, match="not a declutter model"):
        load_model(tiny_model_file)
    _rewrite(tiny_model_file, good | {"format_version": 99})
    with pytest.raises(ModelError, match="model format 99.*retrain"):
        load_model(tiny_model_file)
    old = good | {"metadata": good["metadata"] | {"libraries": {"scikit-learn": "0.24.2"}}}
    _rewrite(tiny_model_file, old)
    with pytest.raises(ModelError, match="scikit-learn 0.24.2"):
        load_model(tiny_model_file)
    _rewrite(tiny_model_file, good | {"estimator": "not an estimator"})
    with pytest.raises(ModelError, match="does not hold"):
        load_model(tiny_model_file)


def test_failed_write_leaves_the_old_model_intact(tiny_model_file, monkeypatch):
    before = tiny_model_file.read_bytes()

    def broken_dump(*args, **kwargs):
        raise pickle.PicklingError("disk full, say")

    monkeypatch.setattr(joblib, "dump", broken_dump)
    model = load_model(tiny_model_file)
    with pytest.raises(pickle.PicklingError):
        save_model(model, tiny_model_file)
    assert tiny_model_file.read_bytes() == before
    assert sorted(p.name for p in tiny_model_file.parent.iterdir()) == [
        "tiny.joblib", "tiny.joblib.sha256"]
    load_model(tiny_model_file)


@pytest.mark.parametrize("stop_at", [1, 2, 3])
def test_a_save_stopped_between_its_renames_leaves_a_model_that_loads(tiny_model_file,
                                                                      monkeypatch, stop_at):
    """Renames: checksum file naming both digests, model, checksum file
    naming the new one. Stopped before rename `stop_at`, the model in place
    still matches its checksum file: the old one before the model rename,
    the new one after."""
    model = load_model(tiny_model_file)
    old_version = model.version
    model.metadata = {**model.metadata, "version": "next"}
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == stop_at:
            raise KeyboardInterrupt("stopped here")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, tiny_model_file)
    monkeypatch.setattr(os, "replace", real_replace)
    assert load_model(tiny_model_file).version == (old_version if stop_at <= 2 else "next")
    assert [p.name for p in tiny_model_file.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_metadata_records_library_versions():
    versions = library_versions()
    assert {"python", "scikit-learn", "numpy", "joblib"} <= set(versions)


def test_a_model_trained_on_other_features_is_refused(tiny_model_file):
    payload = joblib.load(tiny_model_file)
    payload["estimator"].dense_columns_ = payload["estimator"].dense_columns_[:-1]
    _rewrite(tiny_model_file, payload)
    with pytest.raises(ModelError, match="other features"):
        load_model(tiny_model_file)
