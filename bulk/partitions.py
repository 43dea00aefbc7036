"""Splitting the input into partitions, and reading and writing them.

A partition is a byte range of a JSON Lines file (it owns every line that
starts inside the range) or a row range of a Parquet file (whole row groups
where they fit). A compressed JSON
Lines file cannot be entered mid-way and is one partition. Files are opened
through fsspec, so paths may be URLs of any filesystem fsspec has installed;
every worker must be able to reach them.

Each partition is written to its own file, part-NNNNN.jsonl or
part-NNNNN.parquet in the output directory, numbered in input order, so the
parts read in name order give the documents in input order. A part is
written to a temporary name and renamed into place, so a part that exists is
complete.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Iterator, Sequence

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.utils import infer_compression

from bulk.records import LABEL_FIELDS, OUTPUT_FIELDS, TEXT_FIELDS, Unreadable

JSONL = "jsonl"
PARQUET = "parquet"
FORMATS = (JSONL, PARQUET)
SUFFIXES = {".jsonl": JSONL, ".ndjson": JSONL, ".json": JSONL,
            ".parquet": PARQUET, ".pq": PARQUET}
PART_PREFIX = "part-"
# Sized so a partition takes a worker seconds to a minute, not hours: a few
# hundred typical HTML pages, or a few thousand plain-text articles.
DEFAULT_BLOCKSIZE = 32 * 2 ** 20
DEFAULT_PARTITION_ROWS = 2000
INPUT_COLUMNS = ("id", "format") + TEXT_FIELDS


class InputError(ValueError):
    """Input paths that cannot be read as documents; the message names them."""


@dataclass(frozen=True)
class Partition:
    index: int
    url: str
    kind: str                  # JSONL or PARQUET
    start: int                 # JSONL: byte offset; Parquet: row number
    stop: int | None           # exclusive; None: to the end of the file
    compression: str | None = None

    def __str__(self) -> str:
        unit = "bytes" if self.kind == JSONL else "rows"
        end = "end" if self.stop is None else self.stop
        return f"{self.url} {unit} {self.start}-{end}"


def kind_of(url: str, choice: str = "auto") -> str:
    if choice != "auto":
        return choice
    name = url.rsplit("/", 1)[-1].lower()
    if infer_compression(name):
        name = name.rsplit(".", 1)[0]
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix not in SUFFIXES:
        raise InputError(f"cannot tell the format of {url} from its name; "
                         f"name it {' or '.join(SUFFIXES)}, or give --input-format")
    return SUFFIXES[suffix]


def expand_inputs(patterns: Sequence[str]) -> list[str]:
    """File URLs for paths and glob patterns, each pattern's matches sorted."""
    urls: list[str] = []
    for pattern in patterns:
        fs, path = url_to_fs(pattern)
        if any(ch in path for ch in "*?["):
            matches = sorted(p for p in fs.glob(path) if fs.isfile(p))
        else:
            matches = [path] if fs.isfile(path) else []
        if not matches:
            raise InputError(f"{pattern}: no such file" if not any(ch in path for ch in "*?[")
                             else f"{pattern}: matches no file")
        urls.extend(fs.unstrip_protocol(p) for p in matches)
    return urls


def plan_partitions(urls: Sequence[str], input_format: str = "auto",
                    blocksize: int = DEFAULT_BLOCKSIZE,
                    partition_rows: int = DEFAULT_PARTITION_ROWS) -> list[Partition]:
    """The partitions of the input files, in input order."""
    spans: list[tuple[str, str, int, int | None, str | None]] = []
    for url in urls:
        kind = kind_of(url, input_format)
        fs, path = url_to_fs(url)
        if kind == PARQUET:
            try:
                with fs.open(path, "rb") as f:
                    metadata = pq.ParquetFile(f).metadata
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError(f"{url}: not a readable Parquet file ({exc})") from None
            groups = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
            spans += [(url, kind, start, stop, None)
                      for start, stop in _row_ranges(groups, partition_rows)]
            continue
        compression = infer_compression(path)
        if compression:
            spans.append((url, kind, 0, None, compression))
            continue
        size = fs.size(path)
        spans += [(url, kind, s, min(s + blocksize, size), None) for s in range(0, size, blocksize)]
    return [Partition(i, *span) for i, span in enumerate(spans)]


def _row_ranges(group_rows: Sequence[int], partition_rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges of at most partition_rows that end on row-group boundaries where
    they can, so that a row group no larger than a partition is read once."""
    start = end = 0
    for rows in group_rows:
        if end - start + rows > partition_rows and end > start:
            yield start, end
            start = end
        if rows > partition_rows:  # a large group is split on its own, in even parts
            parts = -(-rows // partition_rows)
            bounds = [end + rows * i // parts for i in range(parts + 1)]
            yield from zip(bounds, bounds[1:])
            start = end + rows
        end += rows
    if end > start:
        yield start, end


# -- reading ------------------------------------------------------------------

def read_partition(partition: Partition) -> Iterator[object]:
    """The partition's input records (dicts, or Unreadable for lines that are not JSON)."""
    if partition.kind == PARQUET:
        yield from _read_parquet(partition)
    else:
        yield from _read_jsonl(partition)


def _read_jsonl(p: Partition) -> Iterator[object]:
    with fsspec.open(p.url, "rb", compression=p.compression) as f:
        position = 0
        if p.start > 0:
            # The line holding byte start-1 belongs to the partition before,
            # unless that byte ends it.
            f.seek(p.start - 1)
            position = p.start - 1 + len(f.readline())
        while p.stop is None or position < p.stop:
            line = f.readline()
            if not line:
                break
            offset, position = position, position + len(line)
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
                yield Unreadable(f"{p.url}: the line at byte {offset} is not valid JSON ({exc})")


def _read_parquet(p: Partition) -> Iterator[object]:
    with fsspec.open(p.url, "rb") as f:
        pf = pq.ParquetFile(f)
        columns = [c for c in INPUT_COLUMNS if c in pf.schema_arrow.names]
        groups, first_row, row = [], None, 0
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if row < p.stop and row + n > p.start:
                groups.append(g)
                first_row = row if first_row is None else first_row
            row += n
        if not groups:
            return
        table = pf.read_row_groups(groups, columns=columns)
        yield from table.slice(p.start - first_row, p.stop - p.start).to_pylist()


# -- writing ------------------------------------------------------------------

def part_name(index: int, output_format: str) -> str:
    return f"{PART_PREFIX}{index:05d}.{output_format}"


def output_schema(with_labels: bool) -> pa.Schema:
    fields = [pa.field(name, pa.string()) for name in OUTPUT_FIELDS]
    if with_labels:
        fields += [pa.field(name, pa.list_(pa.string())) for name in LABEL_FIELDS]
    return pa.schema(fields)


def write_partition(rows: list[dict], out_dir: str, index: int, output_format: str,
                    with_labels: bool) -> str:
    """Write one partition's rows; returns the part's URL."""
    fs, root = url_to_fs(out_dir)
    final = f"{root.rstrip('/')}/{part_name(index, output_format)}"
    tmp = f"{root.rstrip('/')}/.{part_name(index, output_format)}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(tmp, "wb") as f:
            if output_format == PARQUET:
                pq.write_table(pa.Table.from_pylist(rows, schema=output_schema(with_labels)), f)
            else:
                f.write("".join(json.dumps(row, ensure_ascii=False) + "\n"
                                for row in rows).encode("utf-8"))
        fs.mv(tmp, final)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)
    return fs.unstrip_protocol(final)


def existing_parts(out_dir: str) -> list[str]:
    fs, root = url_to_fs(out_dir)
    if not fs.exists(root):
        return []
    return sorted(p for p in fs.ls(root, detail=False)
                  if p.rsplit("/", 1)[-1].startswith(PART_PREFIX))


def read_output(out_dir: str) -> list[dict]:
    """Every row of a finished job's parts, in input order."""
    fs, _ = url_to_fs(out_dir)
    rows: list[dict] = []
    for path in existing_parts(out_dir):
        with fs.open(path, "rb") as f:
            if path.endswith("." + PARQUET):
                rows += pq.read_table(f).to_pylist()
            else:
                rows += [json.loads(line) for line in f if line.strip()]
    return rows
