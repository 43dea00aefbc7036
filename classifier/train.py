"""Train a line classifier on labeled documents and write the model file.

    python -m classifier.train --out model.joblib [--data FILE.jsonl ...]

Reads the documents (JSON Lines, see classifier/corpus.py and the README;
default: the project's own corpus in classifier/corpus/train/), holds out a
share of them (whole sites together) for evaluation, trains (each
plain-text document also laid out with and without blank lines between its
lines), prints per-class precision/recall/F1 and the confusion matrix on the held-out part,
and writes the model with its metadata and a SHA-256 checksum atomically.
With --refit-all the written model is retrained on every document after the
evaluation; the recorded figures are then those of the held-out run.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.model_selection import GroupShuffleSplit

from classifier import __version__
from classifier.corpus import CorpusError, LabeledPage, default_corpus_files, read_corpus
from classifier.evaluate import format_report, line_report, predict_documents
from classifier.datasets import datasets_dir
from classifier.lines import relayout
from classifier.realcorpus import SOURCES as REAL_SOURCES, training_pages
from classifier.model import LineClassifier, Model, as_samples, library_versions, save_model

DEFAULT_HOLDOUT = 0.2
# The written corpus is small next to the real pages; without a larger weight
# its clean examples of each kind of clutter would barely count.
DEFAULT_CORPUS_WEIGHT = 10.0


def split(documents: Sequence[LabeledPage], holdout: float, seed: int):
    """Documents for training and for evaluation; no site on both sides."""
    groups = [d.group for d in documents]
    if holdout <= 0 or len(set(groups)) < 2:
        return list(documents), []
    splitter = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
    train_idx, test_idx = next(splitter.split(documents, groups=groups))
    return [documents[i] for i in train_idx], [documents[i] for i in test_idx]


def with_both_layouts(documents: Sequence[LabeledPage]) -> list[LabeledPage]:
    """Each plain-text document as given, and laid out with and without blank
    lines between its lines, so the model does not lean on one layout."""
    out = list(documents)
    for doc in documents:
        if not doc.relayout or doc.page.structure is not None:
            continue
        for blank_lines in (False, True):
            variant = relayout(doc.page, blank_lines)
            if variant.gap_before != doc.page.gap_before:
                out.append(LabeledPage(doc.id, doc.group, variant, doc.labels, weight=doc.weight))
    return out


def fit(documents: Sequence[LabeledPage], seed: int) -> LineClassifier:
    documents = with_both_layouts(documents)
    X = as_samples([d.page for d in documents])
    y = np.array([label for d in documents for label in d.labels])
    groups = [d.group for d in documents for _ in d.labels]
    weights = [d.weight for d in documents for _ in d.labels]
    return LineClassifier(random_state=seed).fit(X, y, groups=groups, sample_weight=weights)


def data_summary(files: Sequence[str], documents: Sequence[LabeledPage]) -> dict:
    counts = collections.Counter(label for d in documents for label in d.labels)
    return {
        "files": [Path(f).name for f in files],
        "documents": len(documents),
        "sites": len({d.group for d in documents}),
        "lines_per_label": dict(sorted(counts.items())),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", metavar="FILE",
                        help="labeled documents (JSON Lines); repeat for several files "
                             "(default: classifier/corpus/train/*.jsonl)")
    parser.add_argument("--datasets", metavar="DIR",
                        help="also train on the real pages of the training sites in DIR "
                             "(wcxb-dev.jsonl.gz, readability.jsonl.gz), labels derived from "
                             "their gold text; evaluation sites are never used")
    parser.add_argument("--corpus-weight", type=float, default=DEFAULT_CORPUS_WEIGHT,
                        help="weight of the --data documents' lines next to real pages' "
                             f"(default {DEFAULT_CORPUS_WEIGHT:g}; matters only with --datasets)")
    parser.add_argument("--out", required=True, help="where to write the model file")
    parser.add_argument("--version", help="model version string (default: a UTC timestamp)")
    parser.add_argument("--holdout", type=float, default=DEFAULT_HOLDOUT,
                        help="share of documents (by site) held out for evaluation "
                             f"(default {DEFAULT_HOLDOUT}; 0 trains on everything)")
    parser.add_argument("--refit-all", action="store_true",
                        help="after evaluating, retrain the written model on all documents")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if not 0 <= args.holdout < 1:
        parser.error("--holdout must be at least 0 and below 1")

    files = args.data or [str(p) for p in default_corpus_files()]
    try:
        documents = read_corpus(files)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.datasets:
        folder = datasets_dir(args.datasets)
        if folder is None:
            print(f"error: --datasets {args.datasets} is not a folder", file=sys.stderr)
            return 2
        started = time.perf_counter()
        real = list(training_pages(folder, seed=args.seed))
        print(f"derived labels for {len(real)} documents from the training sites in {folder} "
              f"in {time.perf_counter() - started:.1f}s")
        for doc in documents:
            doc.weight = args.corpus_weight
        documents += real
        files = files + [f"{folder / name} (training sites)" for name in REAL_SOURCES
                         if (folder / name).is_file()]
    summary = data_summary(files, documents)
    print(f"read {summary['documents']} documents from {len(files)} file(s): "
          f"{summary['lines_per_label']}")

    train_docs, test_docs = split(documents, args.holdout, args.seed)
    started = time.perf_counter()
    try:
        estimator = fit(train_docs, args.seed)
    except ValueError as exc:
        print(f"error: cannot train: {exc}", file=sys.stderr)
        return 2
    print(f"trained on {len(train_docs)} documents in {time.perf_counter() - started:.1f}s")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    model = Model(estimator=estimator, metadata={})

    evaluation: dict = {}
    if test_docs:
        y_true, y_pred = predict_documents(model, test_docs)
        evaluation = line_report(y_true, y_pred)
        evaluation["documents"] = len(test_docs)
        print(f"\nheld-out evaluation on {len(test_docs)} documents:")
        print(format_report(evaluation))
    else:
        print("no documents held out: the model is not evaluated")

    if args.refit_all and test_docs:
        started = time.perf_counter()
        model.estimator = fit(documents, args.seed)
        print(f"\nretrained on all {len(documents)} documents in "
              f"{time.perf_counter() - started:.1f}s")

    model.metadata = {
        "version": args.version or now.strftime("%Y%m%dT%H%M%SZ"),
        "trained_at": now.isoformat().replace("+00:00", "Z"),
        "package_version": __version__,
        "labels": list(model.labels),
        "params": model.estimator.get_params(),
        "libraries": library_versions(),
        "training_data": {
            **summary,
            "corpus_weight": args.corpus_weight if args.datasets else 1.0,
            "trained_on": "all documents" if args.refit_all or not test_docs
            else f"{len(train_docs)} documents (held-out ones excluded)",
        },
        "evaluation": evaluation,
    }
    digest = save_model(model, args.out)
    print(f"\nwrote {args.out} (version {model.version}, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
