"""declutter-clean: cleaning files from the shell."""

import subprocess
import sys

TEXT = ("Home / News / Local\n"
        "The town council approved the new library budget on Tuesday evening after a long debate.\n"
        "Share this story\n")
HTML = ("<html><body><nav><ul><li><a href='/'>Home</a></li></ul></nav>"
        "<p>The town council approved the new library budget on Tuesday evening after a long debate.</p>"
        "</body></html>")


def run(*args):
    return subprocess.run([sys.executable, "-m", "classifier.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_one_text_file_prints_its_body(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = run(str(path))
    assert result.returncode == 0, result.stderr
    assert "The town council approved" in result.stdout
    assert set(result.stdout.splitlines()) <= set(TEXT.splitlines())


def test_lines_mode_labels_every_line(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(TEXT, encoding="utf-8")
    rows = [line.split("\t") for line in run("--lines", str(path)).stdout.splitlines()]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert all(r[1] in {"BODY", "NAVIGATION", "AD", "DISCLAIMER", "RELATED_LINKS"} for r in rows)
    assert [r[3] for r in rows] == TEXT.splitlines()


def test_many_files_to_an_output_folder_html_by_suffix(tmp_path):
    (tmp_path / "p.html").write_text(HTML, encoding="utf-8")
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "out"
    result = run("--out-dir", str(out), str(tmp_path / "p.html"), str(tmp_path / "t.txt"))
    assert result.returncode == 0, result.stderr
    html_body = (out / "p.html.txt").read_text(encoding="utf-8")
    assert "The town council approved" in html_body and "<p>" not in html_body
    assert "The town council approved" in (out / "t.txt.txt").read_text(encoding="utf-8")


def test_unreadable_file_is_reported_and_the_rest_cleaned(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    result = run(str(tmp_path / "missing.txt"), str(tmp_path / "t.txt"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr and "missing.txt" in result.stderr
    assert "The town council approved" in result.stdout
