"""Other extractors, measured side by side with declutter when installed.

They come from the optional `bench` extra and are never needed to serve.
Each entry maps a name to a function from HTML to main text; a peer that is
not installed is left out, with the reason.
"""

from __future__ import annotations

from typing import Callable

Extractor = Callable[[str], str]


def _trafilatura() -> Extractor:
    import trafilatura

    def extract(html: str) -> str:
        return trafilatura.extract(html, include_comments=False) or ""
    return extract


def _resiliparse() -> Extractor:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    def extract(html: str) -> str:
        return extract_plain_text(HTMLTree.parse(html), main_content=True)
    return extract


def _justext() -> Extractor:
    import justext
    stoplist = justext.get_stoplist("English")

    def extract(html: str) -> str:
        if not html.strip():
            return ""
        try:
            paragraphs = justext.justext(html.encode("utf-8"), stoplist, encoding="utf-8")
        except Exception:  # jusText raises on pages lxml cannot root
            return ""
        return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)
    return extract


PEERS: dict[str, Callable[[], Extractor]] = {
    "trafilatura": _trafilatura,
    "resiliparse": _resiliparse,
    "justext": _justext,
}


def available_peers() -> tuple[dict[str, Extractor], dict[str, str]]:
    """The installed peers, and why the others are missing."""
    found: dict[str, Extractor] = {}
    missing: dict[str, str] = {}
    for name, make in PEERS.items():
        try:
            found[name] = make()
        except ImportError as exc:
            missing[name] = f"not usable ({exc}); pip install -e '.[bench]'"
    return found, missing


def keep_everything(text: str) -> str:
    return text


# Lines kept by the web-text heuristics used to clean language-model corpora.
LM_FILTER_MIN_WORDS = 5
LM_FILTER_ENDINGS = (".", "!", "?", '"', "'", "”", "’", "…")


def lm_line_filter(text: str) -> str:
    kept = [line for line in text.splitlines()
            if len(line.split()) >= LM_FILTER_MIN_WORDS and line.rstrip().endswith(LM_FILTER_ENDINGS)]
    return "\n".join(kept)
