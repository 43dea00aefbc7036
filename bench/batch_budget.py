"""CPU time per document of `label_pages` by batch size, on one core: the
measurement behind the server's --batch-max-documents and --batch-max-lines.

    python bench/batch_budget.py [--pages 400] [--rounds 3]

Prints, for the benchmark's article pages, ms per document in batches of N
documents, and for the pages of about 60-160 lines, ms per document in
batches filled up to N lines. The best of --rounds runs is shown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchmark  # noqa: E402  (the same pages as the benchmark)

from threadpoolctl import threadpool_limits  # noqa: E402

from classifier.model import DEFAULT_MODEL_PATH, load_model  # noqa: E402
from classifier.pipeline import Format, label_pages, read_page  # noqa: E402

BATCH_DOCUMENTS = (1, 2, 4, 8, 16, 32, 64)
LINE_BUDGETS = (1, 256, 512, 1024, 2048, 4096, 8192)
SHORT_PAGE_LINES = (60, 160)
MAX_PAGES_PER_TABLE = 128


def cpu_ms_per_page(model, batches) -> float:
    started = time.process_time()
    count = 0
    for batch in batches:
        label_pages(model, batch)
        count += len(batch)
    return (time.process_time() - started) / count * 1000


def by_documents(pages, size):
    return [pages[i:i + size] for i in range(0, len(pages), size)]


def by_lines(pages, budget):
    batches, batch, lines = [], [], 0
    for page in pages:
        if batch and lines + len(page.texts) > budget:
            batches.append(batch)
            batch, lines = [], 0
        batch.append(page)
        lines += len(page.texts)
    return batches + [batch] if batch else batches


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/batch_budget.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    threadpool_limits(1)
    model = load_model(DEFAULT_MODEL_PATH)
    loaded, source = benchmark.load_pages(args.pages, None, False)
    pages = [read_page(p.text, Format.PLAIN_TEXT) for p in loaded]
    every = pages[:MAX_PAGES_PER_TABLE]
    short = [p for p in pages if SHORT_PAGE_LINES[0] <= len(p.texts) <= SHORT_PAGE_LINES[1]]
    short = short[:MAX_PAGES_PER_TABLE]
    for title, sample, sizes, split in (
            ("documents per batch", every, BATCH_DOCUMENTS, by_documents),
            ("lines per batch (at most)", short, LINE_BUDGETS, by_lines)):
        mean = sum(len(p.texts) for p in sample) / max(1, len(sample))
        print(f"{len(sample)} pages from {source}, {mean:.0f} lines each on average; {title}:")
        best = {size: min(cpu_ms_per_page(model, split(sample, size)) for _ in range(args.rounds))
                for size in sizes}
        for size, ms in best.items():
            print(f"  {size:>5}: {ms:6.2f} ms CPU per document")
    return 0


if __name__ == "__main__":
    sys.exit(main())
