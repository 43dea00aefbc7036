"""Bulk cleaning on Dask: a real LocalCluster (2 worker processes, 1 thread each).

The cluster's results are compared document for document with clean() run in
this process; bad documents must come back as error rows without failing
their partition, and each worker must load the model once.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from bulk import dask_clean
from bulk.dask_clean import Job, JobFailed, load_everywhere, model_loads, run_job
from bulk.partitions import (JSONL, PARQUET, expand_inputs, plan_partitions, read_output,
                             read_partition)
from bulk.records import INVALID_DOCUMENT, INVALID_RECORD, LIMIT_EXCEEDED
from classifier.limits import DEFAULT_MAX_LINES, Limits
from classifier.model import DEFAULT_MODEL_PATH, load_model
from classifier.pipeline import Format, clean

HOLDOUT = Path(__file__).resolve().parent.parent / "classifier" / "corpus" / "holdout"
# Small partitions, so that 2 workers share the work and boundaries fall mid-document.
BLOCKSIZE = 6000
PARTITION_ROWS = 3
CLUSTER_TIMEOUT = 60


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_MODEL_PATH)


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host=dask_clean.LOCAL_HOST, dashboard_address=None, silence_logs=50)
    client = Client(cluster, timeout=CLUSTER_TIMEOUT)
    client.wait_for_workers(2, timeout=CLUSTER_TIMEOUT)
    assert all(address.startswith("tcp://127.0.0.1:")
               for address in [client.scheduler.address, *client.scheduler_info()["workers"]])
    yield client
    client.close()
    cluster.close()


def holdout_documents() -> list[dict]:
    """The held-out corpus as plain text, and once more as HTML paragraphs."""
    docs = []
    for path in sorted(HOLDOUT.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts = [entry["text"] for entry in record["lines"]]
            docs.append({"id": record["id"], "content": "\n".join(texts), "format": "plain_text"})
            html = "".join(f"<p>{t}</p>" for t in texts if t.strip())
            docs.append({"id": record["id"] + "-html", "html": f"<html><body>{html}</body></html>"})
    assert len(docs) >= 16
    return docs


# id (None when there is none to report) -> expected error_type, for records
# that are JSON objects; one line that is not JSON is added separately.
BAD_DOCUMENTS = [
    ({"content": "no id"}, None, INVALID_RECORD),
    ({"id": "both", "content": "a", "html": "<p>b</p>"}, "both", INVALID_RECORD),
    ({"id": "neither"}, "neither", INVALID_RECORD),
    ({"id": "format", "content": "a", "format": "pdf"}, "format", INVALID_RECORD),
    ({"id": "number", "content": 42}, "number", INVALID_RECORD),
    ({"id": "surrogate", "content": "half a pair: \ud800"}, "surrogate", INVALID_RECORD),
    ({"id": "lines", "content": "x\n" * (DEFAULT_MAX_LINES + 1)}, "lines", LIMIT_EXCEEDED),
    # Nesting that keeps growing past the parser limit however it is read.
    ({"id": "nested", "html": "<span><div>x</span>" * 3000}, "nested", INVALID_DOCUMENT),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """(JSONL path, Parquet path, the records in order); bad ones spread among good."""
    good = holdout_documents()
    bad = [record for record, _, _ in BAD_DOCUMENTS]
    records: list = []
    for i, doc in enumerate(good):
        records.append(doc)
        if i % 2 == 1 and bad:
            records.append(bad.pop(0))
    records += bad
    root = tmp_path_factory.mktemp("corpus")
    jsonl = root / "docs.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        for i, record in enumerate(records):
            f.write(json.dumps(record) + "\n")
            if i == 3:
                f.write("{this is not json\n")
    # Parquet cannot hold the surrogate, the mixed-type 'content' or the
    # non-JSON line; it gets the rest.
    parquet_records = [r for r in records if r.get("id") not in ("surrogate", "number")]
    table = pa.Table.from_pylist(parquet_records, schema=pa.schema(
        [("id", pa.string()), ("content", pa.string()), ("html", pa.string()),
         ("format", pa.string())]))
    parquet = root / "docs.parquet"
    pq.write_table(table, parquet, row_group_size=4)
    return jsonl, parquet, records, parquet_records


def expected_rows(model, records: list) -> list[dict]:
    """What clean() in this process gives for the good documents, by id."""
    rows = {}
    for record in records:
        if record in [bad for bad, _, _ in BAD_DOCUMENTS]:
            continue
        fmt = Format(record.get("format") or ("html" if "html" in record else "plain_text"))
        cleaned = clean(model, record.get("content") or record.get("html"), fmt)
        rows[record["id"]] = {"body": cleaned.body, "labels": list(cleaned.labels),
                              "lines": list(cleaned.page.texts)}
    return rows


def check_output(rows: list[dict], model, records: list, with_labels: bool) -> None:
    expected = expected_rows(model, records)
    good = [r for r in rows if r["error"] is None]
    assert [r["id"] for r in good] == list(expected)  # every good one, once, in input order
    for row in good:
        assert row["body"] == expected[row["id"]]["body"], row["id"]
        assert row["error_type"] is None
        if with_labels:
            assert row["labels"] == expected[row["id"]]["labels"], row["id"]
            assert row["lines"] == expected[row["id"]]["lines"], row["id"]
    bad = [r for r in rows if r["error"] is not None]
    for record, doc_id, error_type in BAD_DOCUMENTS:
        if record not in records:
            continue
        matches = [r for r in bad if r["id"] == doc_id and r["error_type"] == error_type]
        assert matches, f"no {error_type} row for {doc_id}"
        assert matches[0]["body"] is None and matches[0]["error"]
    assert len(rows) == len(good) + len(bad)


def test_jsonl_on_the_cluster_equals_clean_in_process(client, corpus, model, tmp_path):
    jsonl, _, records, _ = corpus
    partitions = plan_partitions([str(jsonl)], blocksize=BLOCKSIZE)
    assert len(partitions) >= 4
    job = Job(model_path=str(DEFAULT_MODEL_PATH), model_sha256=model.sha256,
              out_dir=str(tmp_path / "out"), output_format=JSONL, with_labels=True)
    (tmp_path / "out").mkdir()
    results = run_job(client, partitions, job)
    assert [r.index for r in results] == [p.index for p in partitions]
    rows = read_output(str(tmp_path / "out"))
    check_output(rows, model, records, with_labels=True)
    unreadable = [r for r in rows if r["id"] is None and "not valid JSON" in r["error"]]
    assert len(unreadable) == 1 and unreadable[0]["error_type"] == INVALID_RECORD
    assert sum(r.errors for r in results) == len(BAD_DOCUMENTS) + 1
    # Every worker took partitions, and loaded the model exactly once.
    assert len({r.worker for r in results}) == 2
    assert client.run(model_loads) == {w: 1 for w in client.scheduler_info()["workers"]}


def test_parquet_on_the_cluster_round_trips(client, corpus, model, tmp_path):
    _, parquet, _, parquet_records = corpus
    partitions = plan_partitions([str(parquet)], partition_rows=PARTITION_ROWS)
    assert len(partitions) >= 4
    out = tmp_path / "out"
    out.mkdir()
    job = Job(model_path=str(DEFAULT_MODEL_PATH), model_sha256=model.sha256,
              out_dir=str(out), output_format=PARQUET)
    run_job(client, partitions, job)
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == len(partitions)
    assert pq.read_schema(parts[0]).names == ["id", "body", "error", "error_type"]
    check_output(read_output(str(out)), model, parquet_records, with_labels=False)
    assert set(client.run(model_loads).values()) == {1}


def test_the_cli_on_a_running_scheduler_writes_parts_and_a_summary(client, corpus, model, tmp_path):
    jsonl, _, records, _ = corpus
    out = tmp_path / "cli"
    code = dask_clean.main([str(jsonl), "--out", str(out), "--output-format", "parquet",
                            "--scheduler", client.scheduler.address,
                            "--blocksize", str(BLOCKSIZE)])
    assert code == 0
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["documents"] == len(records) + 1
    assert summary["errors"] == len(BAD_DOCUMENTS) + 1
    assert summary["model"]["sha256"] == model.sha256
    check_output(read_output(str(out)), model, records, with_labels=False)
    # The same output directory again: refused, then replaced with --overwrite.
    again = [str(jsonl), "--out", str(out), "--scheduler", client.scheduler.address]
    assert dask_clean.main(again) == 2
    assert dask_clean.main(again + ["--overwrite"]) == 0
    assert not list(out.glob("part-*.parquet")) and list(out.glob("part-*.jsonl"))
    assert set(client.run(model_loads).values()) == {1}


def test_a_worker_that_cannot_load_the_model_fails_the_job_before_cleaning(client, tmp_path):
    job = Job(model_path=str(DEFAULT_MODEL_PATH), model_sha256="0" * 64, out_dir=str(tmp_path))
    with pytest.raises(JobFailed, match="changed since the job started"):
        load_everywhere(client, job)
    assert not list(tmp_path.iterdir())


def test_a_partition_that_cannot_be_written_fails_the_job_and_is_named(client, corpus, model,
                                                                       tmp_path):
    jsonl, _, _, _ = corpus
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    job = Job(model_path=str(DEFAULT_MODEL_PATH), model_sha256=model.sha256, out_dir=str(not_a_dir))
    with pytest.raises(JobFailed, match=r"partition .*docs\.jsonl bytes \d+-\d+: "):
        run_job(client, plan_partitions([str(jsonl)], blocksize=BLOCKSIZE), job)


def test_bad_arguments_exit_2_before_any_cluster_starts(tmp_path, capsys):
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "content": "text"}\n', encoding="utf-8")
    assert dask_clean.main([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert dask_clean.main([str(tmp_path / "*.parquet"), "--out", str(tmp_path / "o")]) == 2
    assert "matches no file" in capsys.readouterr().err
    assert dask_clean.main([str(docs), "--out", str(tmp_path / "o"),
                            "--model", str(tmp_path / "nope.joblib")]) == 2
    assert "does not exist" in capsys.readouterr().err
    odd = tmp_path / "docs.txt"
    odd.write_text("", encoding="utf-8")
    assert dask_clean.main([str(odd), "--out", str(tmp_path / "o")]) == 2
    assert "--input-format" in capsys.readouterr().err


# -- partitions, without a cluster ------------------------------------------------

def test_byte_range_partitions_hold_every_line_exactly_once(tmp_path):
    lines = [json.dumps({"id": str(i), "content": "word " * (i % 7)}) for i in range(40)]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    size = path.stat().st_size
    for blocksize in (1, 2, 7, 30, 64, 100, 333, size - 1, size, size + 1):
        partitions = plan_partitions([str(path)], blocksize=blocksize)
        ids = [r["id"] for p in partitions for r in read_partition(p)]
        assert ids == [str(i) for i in range(40)], blocksize


def test_a_compressed_file_is_one_partition(tmp_path):
    path = tmp_path / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for i in range(5):
            f.write(json.dumps({"id": str(i), "content": "text"}) + "\n")
    (partition,) = plan_partitions(expand_inputs([str(tmp_path / "*.jsonl.gz")]), blocksize=10)
    assert [r["id"] for r in read_partition(partition)] == [str(i) for i in range(5)]


@pytest.mark.parametrize("group_rows, partition_rows, ranges", [
    # Small row groups are gathered whole, so each is read once.
    (5, 12, [(0, 10), (10, 20), (20, 23)]),
    (5, 7, [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]),
    # A row group larger than a partition is split in even parts.
    (10, 4, [(0, 3), (3, 6), (6, 10), (10, 13), (13, 16), (16, 20), (20, 23)]),
])
def test_parquet_partitions_follow_row_groups(tmp_path, group_rows, partition_rows, ranges):
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(23)], "content": ["t"] * 23,
                             "other": list(range(23))}), path, row_group_size=group_rows)
    partitions = plan_partitions([str(path)], partition_rows=partition_rows)
    assert [(p.start, p.stop) for p in partitions] == ranges
    records = [r for p in partitions for r in read_partition(p)]
    assert [r["id"] for r in records] == [str(i) for i in range(23)]
    assert "other" not in records[0]  # only the columns a document uses are read


# -- records, without a cluster ---------------------------------------------------

def test_records_accept_integer_ids_bytes_and_declared_formats(model):
    from bulk.records import clean_record, parse_record
    html = "<html><body><p>The council approved the harbour budget on Tuesday night.</p></body></html>"
    assert parse_record({"id": 7, "html": html}, Format.PLAIN_TEXT)[:2] == ("7", Format.HTML)
    assert parse_record({"id": "a", "content": html}, Format.HTML)[1] is Format.HTML
    assert parse_record({"id": "a", "content": html, "format": "plain_text"},
                        Format.HTML)[1] is Format.PLAIN_TEXT
    from_bytes = clean_record(model, {"id": "b", "html": html.encode("utf-8")}, Format.PLAIN_TEXT,
                              Limits())
    assert from_bytes["error"] is None
    assert from_bytes["body"] == clean(model, html, Format.HTML).body != ""


@pytest.mark.parametrize("record, message", [
    ({"id": True, "content": "a"}, "'id'"),
    ({"id": "a", "html": "<p>b</p>", "format": "plain_text"}, "put plain text in 'content'"),
    ({"id": "a", "content": ["list"]}, "must be a string"),
    ("just a string", "must be an object"),
])
def test_records_that_are_not_documents_say_why(model, record, message):
    from bulk.records import clean_record
    row = clean_record(model, record, Format.PLAIN_TEXT, Limits(), with_labels=True)
    assert row["error_type"] == INVALID_RECORD and message in row["error"]
    assert row["body"] is None and row["labels"] is None
