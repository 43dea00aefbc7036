"""The training script end to end on a small fixture."""

import json
import subprocess
import sys

from classifier.model import load_model
from classifier.pipeline import Format, clean

from conftest import TINY_CORPUS


def run_train(*args):
    return subprocess.run([sys.executable, "-m", "classifier.train", *args],
                          capture_output=True, text=True, timeout=300)


def test_trains_evaluates_and_writes_a_loadable_model(tmp_path):
    out = tmp_path / "out" / "model.joblib"
    result = run_train("--data", str(TINY_CORPUS), "--out", str(out), "--version", "fixture-1",
                       "--holdout", "0.3")  # one of the three sites
    assert result.returncode == 0, result.stderr
    assert "held-out evaluation on 2 documents" in result.stdout
    assert "confusion matrix" in result.stdout
    for label in ("BODY", "NAVIGATION", "AD", "DISCLAIMER", "RELATED_LINKS"):
        assert label in result.stdout
    model = load_model(out)
    assert model.version == "fixture-1"
    meta = model.metadata
    assert meta["training_data"]["documents"] == 6
    assert meta["training_data"]["files"] == ["tiny_corpus.jsonl"]
    assert meta["evaluation"]["documents"] == 2
    assert 0 <= meta["evaluation"]["macro_f1"] <= 1
    assert meta["params"]["alpha"] > 0
    cleaned = clean(model, "Home / News\nA new bridge opened today in the town centre.", Format.PLAIN_TEXT)
    assert len(cleaned.labels) == 2


def test_bad_input_is_rejected_with_file_and_line(tmp_path):
    data = tmp_path / "bad.jsonl"
    good = TINY_CORPUS.read_text(encoding="utf-8").splitlines()[0]
    bad = json.dumps({"id": "x", "lines": [{"text": "Menu", "label": "MENU"}]})
    data.write_text(good + "\n" + bad + "\n", encoding="utf-8")
    out = tmp_path / "model.joblib"
    result = run_train("--data", str(data), "--out", str(out))
    assert result.returncode == 2
    assert f"{data}:2" in result.stderr and "label 'MENU'" in result.stderr
    assert not out.exists()


def test_existing_model_survives_a_failed_run(tmp_path, tiny_model_file):
    before = tiny_model_file.read_bytes()
    result = run_train("--data", str(tmp_path / "absent.jsonl"), "--out", str(tiny_model_file))
    assert result.returncode == 2 and "no such file" in result.stderr
    assert tiny_model_file.read_bytes() == before


def test_evaluate_lines_prints_the_report(tiny_model_file):
    result = subprocess.run([sys.executable, "-m", "classifier.evaluate", "lines", "--data",
                             str(TINY_CORPUS), "--model", str(tiny_model_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "model tiny-test on 6 documents" in result.stdout
    assert "macro-F1" in result.stdout and "confusion matrix" in result.stdout
