import json

import pytest

from classifier.corpus import CorpusError, default_corpus_files, read_corpus


def write(tmp_path, *records, raw=None):
    path = tmp_path / "data.jsonl"
    lines = [json.dumps(r) for r in records] if raw is None else raw
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "d1", "lines": [{"text": "Menu", "label": "NAVIGATION"}, {"text": ""},
                               {"text": "A story.", "label": "BODY"}]}


def test_reads_a_valid_document(tmp_path):
    [doc] = read_corpus([write(tmp_path, GOOD)])
    assert doc.id == "d1" and doc.group == "d1"
    assert doc.labels == ["NAVIGATION", "BODY"]
    assert doc.page.texts == ["Menu", "A story."] and doc.page.numbers == [1, 3]


@pytest.mark.parametrize("record, message", [
    ({"lines": GOOD["lines"]}, "'id' must be a non-empty string"),
    ({"id": "d", "lines": []}, "'lines' must be a non-empty list"),
    ({"id": "d", "lines": [{"text": "x", "label": "MENU"}]}, "label 'MENU'"),
    ({"id": "d", "lines": [{"text": "x"}]}, "no label"),
    ({"id": "d", "lines": [{"text": "", "label": "BODY"}]}, "a blank line takes no label"),
    ({"id": "d", "lines": [{"text": "a\nb", "label": "BODY"}]}, "contains a line break"),
    ({"id": "d", "lines": [{"text": 3, "label": "BODY"}]}, "'text' must be a string"),
    ({"id": "d", "lines": [{"txt": "x", "label": "BODY"}]}, "unknown field(s) ['txt']"),
    ({"id": "d", "format": "pdf", "lines": GOOD["lines"]}, "'format' is 'pdf'"),
    ({"id": "d", "lines": [{"text": " "}]}, "only blank lines"),
    (["not", "an", "object"], "must be a JSON object"),
])
def test_bad_documents_are_rejected_with_file_line_and_reason(tmp_path, record, message):
    path = write(tmp_path, GOOD | {"id": "ok"}, record)
    with pytest.raises(CorpusError) as err:
        read_corpus([path])
    assert f"{path}:2" in str(err.value)
    assert message in str(err.value)


def test_invalid_json_and_duplicate_ids(tmp_path):
    path = write(tmp_path, raw=[json.dumps(GOOD), "{not json"])
    with pytest.raises(CorpusError, match=r"data.jsonl:2: not valid JSON"):
        read_corpus([path])
    path = write(tmp_path, GOOD, GOOD)
    with pytest.raises(CorpusError, match=r"data.jsonl:2: id 'd1' already used at .*data.jsonl:1"):
        read_corpus([path])


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_corpus([tmp_path / "absent.jsonl"])
    with pytest.raises(CorpusError, match="no documents"):
        read_corpus([write(tmp_path, raw=[""])])


def test_the_shipped_corpus_is_valid_and_has_every_label():
    documents = read_corpus(default_corpus_files())
    assert len(documents) >= 50
    labels = {label for d in documents for label in d.labels}
    assert labels == {"BODY", "NAVIGATION", "AD", "DISCLAIMER", "RELATED_LINKS"}
    layouts = {any(d.page.gap_before) for d in documents}
    assert layouts == {True, False}  # both blank-line and single-newline documents
