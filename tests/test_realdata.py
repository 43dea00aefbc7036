"""Labels derived from real pages, text styles, the site split and `evaluate pages`."""

import gzip
import json
import subprocess
import sys

from classifier.datasets import GoldPage, is_evaluation_site
from classifier.html import html_to_page
from classifier.textstyles import STYLES, render
from classifier.weaklabels import derive_labels

PAGE = """<html><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav></header>
<div id="cookie-banner"><p>We use cookies to improve your experience on our site.</p></div>
<article>
<h1>Bridge reopens after three months of repairs</h1>
<p>The old river bridge reopened to traffic on Monday after three months of repairs to its deck.</p>
<div class="ad-slot"><p>Advertisement</p></div>
<p>Engineers said the work had finished two weeks ahead of schedule and under budget.</p>
<p>Traffic</p>
</article>
<aside class="related-stories"><h3>Related stories</h3>
<ul><li><a href="/a">Council approves the new cycle lanes on the high street</a></li>
<li><a href="/b">Ferry timetable changes for the winter season announced</a></li></ul></aside>
<footer><p>© 2026 River Gazette. All rights reserved.</p>
<ul><li><a href="/privacy">Privacy policy</a></li></ul></footer>
</body></html>"""
GOLD = ("Bridge reopens after three months of repairs\n"
        "The old river bridge reopened to traffic on Monday after three months of repairs to its deck.\n"
        "Engineers said the work had finished two weeks ahead of schedule and under budget.\nTraffic")


def test_derived_labels_follow_gold_and_cues():
    page = html_to_page(PAGE)
    labels = dict(zip(page.texts, derive_labels(page, GOLD)))
    assert labels["Bridge reopens after three months of repairs"] == "BODY"
    assert labels["Engineers said the work had finished two weeks ahead of schedule and under budget."] == "BODY"
    assert labels["Traffic"] == "BODY"  # short, but in the gold text beside body lines
    assert labels["Home"] == "NAVIGATION"
    assert labels["We use cookies to improve your experience on our site."] == "NAVIGATION"
    assert labels["Advertisement"] == "AD"
    assert labels["Related stories"] == "RELATED_LINKS"
    assert labels["Council approves the new cycle lanes on the high street"] == "RELATED_LINKS"
    assert labels["© 2026 River Gazette. All rights reserved."] == "DISCLAIMER"
    assert labels["Privacy policy"] == "NAVIGATION"  # a footer link, not a notice


def test_text_styles_keep_labels_aligned():
    page = html_to_page(PAGE)
    labels = derive_labels(page, GOLD)
    for style in STYLES:
        text_page, text_labels = render(page, labels, style, seed=1)
        assert len(text_page.texts) == len(text_labels)
        assert text_page.structure is None
        body = [t for t, label in zip(text_page.texts, text_labels) if label == "BODY"]
        assert body == [t for t, label in zip(page.texts, labels) if label == "BODY"]
    glued, _ = render(page, labels, "glued", seed=1)
    assert len(glued.texts) < len(page.texts)
    assert any(t.startswith("Home") and "News" in t for t in glued.texts)


def test_site_split_is_stable_and_by_domain():
    page = GoldPage(id="1", html="", gold="", source="x", url="https://www.Example.com/a")
    assert page.site == "example.com"
    sites = [f"site{i}.example" for i in range(1000)]
    held_out = [s for s in sites if is_evaluation_site(s)]
    assert 150 < len(held_out) < 250
    assert held_out == [s for s in sites if is_evaluation_site(s)]


def test_evaluate_pages_reports_every_system(tmp_path, tiny_model_file):
    records = []
    for i in range(60):
        records.append({"id": f"p{i}", "url": f"https://site{i}.example/story", "page_type": "article",
                        "html": PAGE, "gold": GOLD, "must_contain": ["Engineers said the work"],
                        "must_not_contain": ["All rights reserved"]})
    with gzip.open(tmp_path / "wcxb-dev.jsonl.gz", "wt", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "classifier.evaluate", "pages", "--datasets", str(tmp_path),
         "--model", str(tiny_model_file), "--no-peers", "--json", str(out)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "HTML: body against gold" in result.stdout
    figures = json.loads(out.read_text())
    held_out = sum(is_evaluation_site(f"site{i}.example") for i in range(60))
    assert figures["pages"] == held_out > 0
    assert figures["html"]["declutter"]["pages"] == held_out
    # The derived labels of this page put exactly its gold lines in the body.
    assert figures["html"]["derived-labels"]["f1"] == 1.0
    for style in STYLES:
        systems = figures["plain_text"][style]
        assert set(systems) == {"declutter", "keep-everything", "lm-line-filter", "derived-labels"}
        keep = systems["keep-everything"]
        assert keep["recall"] > 0.8 and keep["precision"] < 0.9  # all the text, clutter too
        assert systems["derived-labels"]["f1"] == 1.0
    assert set(figures["html_lines"]["per_class"]) <= {"BODY", "NAVIGATION", "AD", "DISCLAIMER",
                                                        "RELATED_LINKS"}


def test_evaluate_pages_skips_without_datasets(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "classifier.evaluate", "pages", "--datasets", str(tmp_path / "none")],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                          "DECLUTTER_DATASETS": str(tmp_path / "none")})
    assert result.returncode == 0
    assert "skipped" in result.stdout
