"""How good a model is: line-level figures on labeled documents.

`python -m classifier.evaluate --data FILE.jsonl [--model PATH]` labels every
line of the given documents and prints per-class precision, recall and F1,
macro-F1, accuracy and the confusion matrix.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.corpus import CorpusError, LabeledPage, read_corpus
from classifier.labels import LABELS
from classifier.model import DEFAULT_MODEL_PATH, ModelError, load_model
from classifier.pipeline import label_page


def line_report(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Per-class figures, macro-F1 over the labels present, and the confusion matrix."""
    labels = [label for label in LABELS if label in set(y_true) | set(y_pred)]
    p, r, f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i, label in enumerate(labels) if label in set(y_true)]
    return {
        "lines": len(y_true),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f[present])) if present else 0.0,
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]),
                    "f1": float(f[i]), "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    labels = report["labels"]
    out = [f"{'label':<14}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for label in labels:
        c = report["per_class"][label]
        out.append(f"{label:<14}{c['precision']:>10.3f}{c['recall']:>10.3f}"
                   f"{c['f1']:>10.3f}{c['support']:>10d}")
    out.append(f"macro-F1 {report['macro_f1']:.3f}   accuracy {report['accuracy']:.3f}   "
               f"lines {report['lines']}")
    out.append("")
    out.append("confusion matrix (rows: true label, columns: predicted)")
    short = [label[:6] for label in labels]
    out.append(f"{'':<14}" + "".join(f"{s:>8}" for s in short))
    for label, row in zip(labels, report["confusion"]):
        out.append(f"{label:<14}" + "".join(f"{v:>8d}" for v in row))
    return "\n".join(out)


def predict_documents(model, documents: Sequence[LabeledPage]) -> tuple[list[str], list[str]]:
    y_true: list[str] = []
    y_pred: list[str] = []
    for doc in documents:
        y_true.extend(doc.labels)
        y_pred.extend(label_page(model, doc.page).labels)
    return y_true, y_pred


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, metavar="FILE",
                        help="labeled documents (JSON Lines); repeat for several files")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                        help="model file (default: the shipped model)")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model)
        documents = read_corpus(args.data)
    except (ModelError, CorpusError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    y_true, y_pred = predict_documents(model, documents)
    print(f"model {model.version} on {len(documents)} documents")
    print(format_report(line_report(y_true, y_pred)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
