"""Coverage-guided fuzzing of the HTML path: bytes or text -> decode -> parse -> lines.

    python fuzz/fuzz_html.py /tmp/html-corpus fuzz/corpus/html -max_total_time=600

libFuzzer flags apply (-runs, -max_total_time, -timeout, -max_len, ...); new
inputs go to the first corpus directory, crashes to ./crash-* (or
-artifact_prefix). Any exception but DocumentError is a finding, and so is an
input slower than -timeout seconds.
"""

import os
import sys

import atheris

# The checkout's own code, not an installed copy, and the shared checks beside this file.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

with atheris.instrument_imports(include=["classifier", "common"]):
    from common import MAX_INPUT_BYTES, check_page, label

    from classifier.errors import DocumentError
    from classifier.limits import Limits
    from classifier.pipeline import Format, read_page

LIMITS = Limits(max_document_bytes=MAX_INPUT_BYTES, max_lines=2_000, max_line_chars=20_000)


def test_one_input(data: bytes) -> None:
    # The first byte picks how the page arrives: as fetched bytes (Document.raw)
    # or as text (Document.content).
    if not data:
        return
    content = data[1:] if data[0] & 1 else data[1:].decode("utf-8", errors="replace")
    try:
        page = read_page(content, Format.HTML, LIMITS)
    except DocumentError as exc:
        assert str(exc)
        return
    check_page(page, html=True)
    label(page)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
