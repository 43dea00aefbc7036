"""Clean files from the shell through the same classifier the server uses.

    declutter-clean page.html                 # body to stdout
    declutter-clean --lines article.txt       # every line with its label
    declutter-clean --out-dir clean/ pages/*  # many files, with a progress bar

The format is taken from the file name (.html, .htm, .xhtml are HTML; the
rest plain text) unless --format says otherwise. Files are read as bytes and
decoded by their declared or detected charset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from classifier.errors import DocumentError
from classifier.model import DEFAULT_MODEL_PATH, ModelError, load_model
from classifier.pipeline import Cleaned, Format, clean

HTML_SUFFIXES = frozenset((".html", ".htm", ".xhtml"))


def format_for(path: Path, choice: str) -> Format:
    if choice != "auto":
        return Format(choice)
    return Format.HTML if path.suffix.lower() in HTML_SUFFIXES else Format.PLAIN_TEXT


def render(cleaned: Cleaned, with_lines: bool) -> str:
    if not with_lines:
        return cleaned.body + "\n" if cleaned.body else ""
    return "".join(f"{n}\t{label}\t{conf:.2f}\t{text}\n" for n, text, label, conf in zip(
        cleaned.page.numbers, cleaned.page.texts, cleaned.labels, cleaned.confidences))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="declutter-clean", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="files to clean")
    parser.add_argument("--format", choices=["auto", "plain_text", "html"], default="auto",
                        help="how the files are written (default: by file name)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL_PATH),
                        help="model file (default: the shipped model)")
    parser.add_argument("--lines", action="store_true",
                        help="print every line as NUMBER<TAB>LABEL<TAB>CONFIDENCE<TAB>TEXT")
    parser.add_argument("--out-dir", type=Path,
                        help="write each result to OUT_DIR/<file name>.txt instead of stdout")
    args = parser.parse_args(argv)
    try:
        model = load_model(args.model)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
    # One document at a time gains nothing from OpenMP threads, and their
    # spin-waiting costs many times the work on a busy machine.
    with threadpool_limits(1):
        return _clean_files(model, args)


def _clean_files(model, args: argparse.Namespace) -> int:
    failed = 0
    several = len(args.files) > 1
    for path in tqdm(args.files, unit="file", disable=not several, file=sys.stderr):
        try:
            data = path.read_bytes()
        except OSError as exc:
            tqdm.write(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            failed += 1
            continue
        try:
            text = render(clean(model, data, format_for(path, args.format)), args.lines)
        except DocumentError as exc:
            tqdm.write(f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if args.out_dir:
            (args.out_dir / (path.name + ".txt")).write_text(text, encoding="utf-8")
        else:
            if several:
                sys.stdout.write(f"==> {path} <==\n")
            sys.stdout.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
