import socket
from pathlib import Path

import numpy as np
import pytest

from classifier import joined
from classifier.corpus import read_corpus
from classifier.model import LineClassifier, Model, as_samples, library_versions, save_model

FIXTURES = Path(__file__).parent / "fixtures"
TINY_CORPUS = FIXTURES / "tiny_corpus.jsonl"


@pytest.fixture(scope="module", params=["compiled", "numpy"])
def feature_path(request):
    """Runs a module's tests on both ways of computing features: the compiled
    one (classifier._features) and the numpy code that defines it. Use with
    `pytestmark = pytest.mark.usefixtures("feature_path")`."""
    if request.param == "compiled" and joined._features is None:
        pytest.skip("classifier._features is not built")
    saved = joined.COMPILED_FEATURES
    joined.COMPILED_FEATURES = request.param == "compiled"
    yield request.param
    joined.COMPILED_FEATURES = saved


@pytest.fixture(scope="session")
def tiny_documents():
    return read_corpus([TINY_CORPUS])


@pytest.fixture(scope="session")
def tiny_estimator(tiny_documents):
    X = as_samples([d.page for d in tiny_documents])
    y = np.array([label for d in tiny_documents for label in d.labels])
    return LineClassifier(stage2_max_iter=20, stage2_min_samples_leaf=5).fit(X, y)


@pytest.fixture()
def tiny_model_file(tmp_path, tiny_estimator):
    path = tmp_path / "models" / "tiny.joblib"
    model = Model(estimator=tiny_estimator,
                  metadata={"version": "tiny-test", "libraries": library_versions(),
                            "labels": list(tiny_estimator.classes_)})
    save_model(model, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
