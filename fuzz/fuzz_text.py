"""Coverage-guided fuzzing of the PLAIN_TEXT path and of decoding.

    python fuzz/fuzz_text.py /tmp/text-corpus fuzz/corpus/text -max_total_time=600

Checks, beyond "nothing raises but DocumentError": decoding any bytes gives
valid Unicode, and the lines are exactly the input's non-blank lines with
their 1-based numbers, split at \\r\\n, \\r and \\n only.
"""

import os
import sys

import atheris

# The checkout's own code, not an installed copy, and the shared checks beside this file.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

with atheris.instrument_imports(include=["classifier", "common"]):
    from common import MAX_INPUT_BYTES, check_page, label

    from classifier.decode import decode
    from classifier.errors import DocumentError
    from classifier.limits import Limits
    from classifier.pipeline import Format, read_page

LIMITS = Limits(max_document_bytes=MAX_INPUT_BYTES, max_lines=2_000, max_line_chars=20_000)


def expected_lines(text: str) -> list[tuple[int, str]]:
    # str.replace rather than the module's regex, so the check is independent.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [(n, t) for n, t in enumerate(lines, start=1) if t.strip()]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    raw = data[1:]
    if data[0] & 1:
        content: str | bytes = raw
        text = decode(raw)
        text.encode("utf-8")
    else:
        content = text = raw.decode("utf-8", errors="replace")
    try:
        page = read_page(content, Format.PLAIN_TEXT, LIMITS)
    except DocumentError as exc:
        assert str(exc)
        return
    check_page(page, html=False)
    assert list(zip(page.numbers, page.texts)) == expected_lines(text)
    label(page)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
