"""Body quality against a gold main text: word-shingle precision, recall, F1.

Tokens are the Unicode `\\w+` matches; shingles are runs of SHINGLE_SIZE
consecutive tokens (a text of fewer tokens is one shingle). Per page, true
positives, false positives and false negatives are counted over the shingle
multisets and normalised by their sum. Precision is averaged over the pages
that produced any output, recall over all pages, and F1 is the harmonic mean
of the two averages.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

SHINGLE_SIZE = 4
_TOKEN = re.compile(r"\w+")


def shingles(text: str) -> Counter:
    tokens = _TOKEN.findall(text)
    if not tokens:
        return Counter()
    if len(tokens) < SHINGLE_SIZE:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i:i + SHINGLE_SIZE]) for i in range(len(tokens) - SHINGLE_SIZE + 1))


@dataclass
class PageScore:
    precision: float | None  # None when the extractor returned nothing
    recall: float
    must_contain_missed: bool = False
    must_not_contain_present: bool = False


def score_page(output: str, gold: str, must_contain: Iterable[str] = (),
               must_not_contain: Iterable[str] = ()) -> PageScore:
    out, ref = shingles(output), shingles(gold)
    tp = sum((out & ref).values())
    fp = sum(out.values()) - tp
    fn = sum(ref.values()) - tp
    precision = tp / (tp + fp) if out else None
    # A page with an empty gold text is recalled fully by any output.
    recall = tp / (tp + fn) if (tp + fn) else 1.0
    normalised = " ".join(output.split())
    return PageScore(
        precision=precision, recall=recall,
        must_contain_missed=any(" ".join(s.split()) not in normalised for s in must_contain),
        must_not_contain_present=any(" ".join(s.split()) in normalised for s in must_not_contain),
    )


@dataclass
class BodyScores:
    pages: int = 0
    scores: list[PageScore] = field(default_factory=list)

    def add(self, score: PageScore) -> None:
        self.pages += 1
        self.scores.append(score)

    def summary(self) -> dict[str, float]:
        precisions = [s.precision for s in self.scores if s.precision is not None]
        p = sum(precisions) / len(precisions) if precisions else 0.0
        r = sum(s.recall for s in self.scores) / len(self.scores) if self.scores else 0.0
        n = max(1, len(self.scores))
        return {
            "pages": len(self.scores),
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "empty_output_share": 1 - len(precisions) / n,
            "must_contain_missed_share": sum(s.must_contain_missed for s in self.scores) / n,
            "must_not_contain_present_share": sum(s.must_not_contain_present for s in self.scores) / n,
        }
