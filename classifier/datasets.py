"""Real pages with gold main text (WCXB, Mozilla Readability's test pages).

The files are read by path, never copied into the project. The folder comes
from --datasets or DECLUTTER_DATASETS, else ../shared/datasets beside the
checkout; code that needs it says so and skips when it is absent.

Pages are split by site: a site's pages are all for evaluation or all for
training, decided by a hash of the site name, so the split is the same on
every machine and no domain is on both sides.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

DATASETS_ENV = "DECLUTTER_DATASETS"
DEFAULT_DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
WCXB = "wcxb-dev.jsonl.gz"
READABILITY = "readability.jsonl.gz"
EVALUATION_SHARE = 5   # one site in EVALUATION_SHARE is held out for evaluation


@dataclass
class GoldPage:
    id: str
    html: str
    gold: str
    source: str
    url: str = ""
    page_type: str = "article"
    must_contain: list[str] = field(default_factory=list)
    must_not_contain: list[str] = field(default_factory=list)

    @property
    def site(self) -> str:
        host = urlparse(self.url).netloc.lower()
        host = host[4:] if host.startswith("www.") else host
        return host or f"{self.source}:{self.id}"


def datasets_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The datasets folder: the one named (argument, else environment), else
    the default; None when that folder does not exist."""
    chosen = explicit or os.environ.get(DATASETS_ENV) or DEFAULT_DATASETS
    return Path(chosen) if Path(chosen).is_dir() else None


def read_pages(path: Path) -> Iterator[GoldPage]:
    source = path.name.split(".")[0]
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            yield GoldPage(
                id=f"{source}:{record['id']}", html=record["html"], gold=record.get("gold") or "",
                source=source, url=record.get("url") or "",
                page_type=record.get("page_type") or "article",
                must_contain=record.get("must_contain") or [],
                must_not_contain=record.get("must_not_contain") or [],
            )


def is_evaluation_site(site: str) -> bool:
    digest = hashlib.sha256(site.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % EVALUATION_SHARE == 0
