"""How good a model is, measured two ways.

    python -m classifier.evaluate lines --data FILE.jsonl [--model PATH]
    python -m classifier.evaluate pages [--datasets DIR] [--model PATH] [--json OUT]

`lines` labels every line of labeled documents and prints per-class
precision, recall and F1, macro-F1, accuracy and the confusion matrix.

`pages` cleans the real pages of the held-out sites of WCXB (never used in
training; see classifier/datasets.py) and reports, in one run on the same
pages:
- body quality against the gold main text (word-shingle precision, recall,
  F1; shares of pages missing a must-contain snippet or holding a
  must-not-contain one), for declutter on HTML and, when installed,
  trafilatura, resiliparse and jusText; overall and by page type;
- the same for plain text made from those pages in each scraper style,
  for declutter, a keep-everything baseline and a line filter of the kind
  used to clean web text for language models;
- in both, a reference row "derived-labels": the lines whose derived label
  (classifier/weaklabels.py) is BODY, i.e. what a line classifier would
  return if it matched the training labels exactly. It is no extractor; it
  shows how close to the gold text these lines can get at all;
- per-class figures and the confusion matrix of declutter's line labels
  against the labels derived from the gold text (classifier/weaklabels.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from classifier.bodyscore import BodyScores, score_page
from classifier.corpus import CorpusError, LabeledPage, read_corpus
from classifier.datasets import WCXB, datasets_dir, is_evaluation_site, read_pages
from classifier.html import html_to_page
from classifier.peers import available_peers, keep_everything, lm_line_filter
from classifier.textstyles import STYLES, render
from classifier.weaklabels import derive_labels
from classifier.labels import LABELS
from classifier.model import DEFAULT_MODEL_PATH, ModelError, load_model
from classifier.pipeline import Format, body_of, clean, label_page


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



class _System:
    """One extractor's scores, overall and by page type, and its time."""

    def __init__(self) -> None:
        self.overall = BodyScores()
        self.by_type: dict[str, BodyScores] = defaultdict(BodyScores)
        self.seconds = 0.0

    def run(self, extract: Callable[[], str], gp) -> None:
        started = time.perf_counter()
        try:
            output = extract()
        except Exception as exc:  # a peer failing on one page scores as empty output
            print(f"  {gp.id}: extractor failed: {exc!r}", file=sys.stderr)
            output = ""
        self.seconds += time.perf_counter() - started
        score = score_page(output, gp.gold, gp.must_contain, gp.must_not_contain)
        self.overall.add(score)
        self.by_type[gp.page_type].add(score)

    def summary(self) -> dict[str, Any]:
        out = self.overall.summary()
        out["pages_per_second"] = out["pages"] / self.seconds if self.seconds else 0.0
        out["by_page_type"] = {t: s.summary() for t, s in sorted(self.by_type.items())}
        return out


def _body_table(title: str, systems: dict[str, dict[str, Any]]) -> str:
    out = [title, f"{'system':<22}{'pages':>6}{'P':>7}{'R':>7}{'F1':>7}{'empty':>7}"
                  f"{'miss':>7}{'junk':>7}{'pages/s':>12}"]
    for name, s in systems.items():
        out.append(f"{name:<22}{s['pages']:>6}{s['precision']:>7.3f}{s['recall']:>7.3f}"
                   f"{s['f1']:>7.3f}{s['empty_output_share']:>7.3f}"
                   f"{s['must_contain_missed_share']:>7.3f}{s['must_not_contain_present_share']:>7.3f}"
                   f"{s.get('pages_per_second', 0):>12.1f}")
    types = sorted({t for s in systems.values() for t in s.get("by_page_type", {})})
    if types:
        out.append("")
        out.append("F1 by page type (pages)")
        out.append(f"{'system':<22}" + "".join(f"{t[:13]:>14}" for t in types))
        for name, s in systems.items():
            cells = []
            for t in types:
                ts = s["by_page_type"].get(t)
                cells.append(f"{ts['f1']:.3f} ({ts['pages']})".rjust(14) if ts else " " * 14)
            out.append(f"{name:<22}" + "".join(cells))
    out.append("(P, R, F1: word-shingle scores; empty: share of pages with no output; "
               "miss: a must-contain snippet missing; junk: a must-not-contain snippet present)")
    return "\n".join(out)


def evaluate_pages(model, pages, peers: dict[str, Callable[[str], str]],
                   styles: Sequence[str] = STYLES) -> dict[str, Any]:
    html_systems = {"declutter": _System(), **{name: _System() for name in peers},
                    "derived-labels": _System()}
    text_systems = {style: {"declutter": _System(), "keep-everything": _System(),
                            "lm-line-filter": _System(), "derived-labels": _System()}
                    for style in styles}
    html_true: list[str] = []
    html_pred: list[str] = []
    text_true: list[str] = []
    text_pred: list[str] = []
    lines = 0
    for gp in pages:
        page = html_to_page(gp.html)
        derived = derive_labels(page, gp.gold)
        # Each system is timed from the page's HTML (or text) to its body.
        cleaned: dict[str, Any] = {}

        def run_declutter(html=gp.html, cleaned=cleaned):
            cleaned["html"] = clean(model, html, Format.HTML)
            return cleaned["html"].body

        html_systems["declutter"].run(run_declutter, gp)
        lines += len(page)
        if "html" in cleaned:
            html_true.extend(derived)
            html_pred.extend(cleaned["html"].labels)
        for name, extract in peers.items():
            html_systems[name].run(lambda e=extract, h=gp.html: e(h), gp)
        html_systems["derived-labels"].run(lambda t=page.texts, d=derived: body_of(t, d), gp)
        for k, style in enumerate(styles):
            text_page, text_labels = render(page, derived, style, seed=k)
            text = "\n".join(text_page.texts) if style != "paragraphs" else "\n\n".join(text_page.texts)
            result: dict[str, Any] = {}

            def run_text(text=text, result=result):
                result["cleaned"] = clean(model, text, Format.PLAIN_TEXT)
                return result["cleaned"].body

            systems = text_systems[style]
            systems["declutter"].run(run_text, gp)
            systems["keep-everything"].run(lambda t=text: keep_everything(t), gp)
            systems["lm-line-filter"].run(lambda t=text: lm_line_filter(t), gp)
            systems["derived-labels"].run(
                lambda t=text_page.texts, d=text_labels: body_of(t, d), gp)
            if "cleaned" in result:
                text_true.extend(text_labels)
                text_pred.extend(result["cleaned"].labels)
    return {
        "html": {name: s.summary() for name, s in html_systems.items()},
        "plain_text": {style: {name: s.summary() for name, s in systems.items()}
                       for style, systems in text_systems.items()},
        "html_lines": line_report(html_true, html_pred),
        "text_lines": line_report(text_true, text_pred),
        "lines": lines,
    }


def _lines_main(args) -> int:
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


def _pages_main(args) -> int:
    folder = datasets_dir(args.datasets)
    if folder is None or not (folder / WCXB).is_file():
        print(f"skipped: no {WCXB} found (give --datasets DIR or set DECLUTTER_DATASETS; "
              "default ../shared/datasets beside the checkout)")
        return 0
    try:
        model = load_model(args.model)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pages = [p for p in read_pages(folder / WCXB) if is_evaluation_site(p.site)]
    if args.page_type:
        pages = [p for p in pages if p.page_type in args.page_type]
    if args.limit:
        pages = pages[: args.limit]
    peers, missing = ({}, {}) if args.no_peers else available_peers()
    for name, why in missing.items():
        print(f"peer {name} left out: {why}")
    print(f"model {model.version}; {len(pages)} pages from {len({p.site for p in pages})} "
          f"held-out sites of {WCXB}")
    results = evaluate_pages(model, pages, peers)
    print()
    print(_body_table("HTML: body against gold", results["html"]))
    for style, systems in results["plain_text"].items():
        print()
        print(_body_table(f"PLAIN_TEXT ({style} style): body against gold", systems))
    print()
    print(f"HTML line labels against derived labels ({results['lines']} lines)")
    print(format_report(results["html_lines"]))
    print()
    print("PLAIN_TEXT line labels against derived labels (all styles)")
    print(format_report(results["text_lines"]))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": model.version, "dataset": WCXB, "pages": len(pages),
                       "missing_peers": missing, **results}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classifier.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    lines = commands.add_parser("lines", help="line labels on labeled documents")
    lines.add_argument("--data", action="append", required=True, metavar="FILE",
                       help="labeled documents (JSON Lines); repeat for several files")
    pages = commands.add_parser("pages", help="body quality on held-out real pages, with peers")
    pages.add_argument("--datasets", help="folder holding wcxb-dev.jsonl.gz")
    pages.add_argument("--page-type", action="append", help="only pages of this type (repeatable)")
    pages.add_argument("--limit", type=int, help="only the first N held-out pages")
    pages.add_argument("--no-peers", action="store_true", help="leave out the other extractors")
    pages.add_argument("--json", help="also write the figures to this JSON file")
    for sub in (lines, pages):
        sub.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                         help="model file (default: the shipped model)")
    args = parser.parse_args(argv)
    return _lines_main(args) if args.command == "lines" else _pages_main(args)


if __name__ == "__main__":
    sys.exit(main())
