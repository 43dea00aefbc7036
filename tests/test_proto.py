"""The committed gRPC code is what protos/ generates, and the API follows its rules."""

import filecmp
import subprocess
from pathlib import Path

from server.api.declutter.v1 import declutter_pb2 as pb

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_up_to_date(tmp_path):
    subprocess.run(["bash", str(ROOT / "protos" / "generate.sh"), str(tmp_path)], check=True,
                   capture_output=True)
    committed = ROOT / "server" / "api" / "declutter" / "v1"
    fresh = tmp_path / "declutter" / "v1"
    for name in ("declutter_pb2.py", "declutter_pb2.pyi", "declutter_pb2_grpc.py"):
        assert filecmp.cmp(committed / name, fresh / name, shallow=False), (
            f"{name} is stale: run `bash protos/generate.sh`")


def test_contract_names_and_numbers():
    assert pb.DESCRIPTOR.package == "declutter.v1"
    assert [(v.name, v.number) for v in pb.Label.DESCRIPTOR.values] == [
        ("LABEL_UNSPECIFIED", 0), ("BODY", 1), ("NAVIGATION", 2), ("AD", 3),
        ("DISCLAIMER", 4), ("RELATED_LINKS", 5)]
    fields = {f.name: f.number for f in pb.Document.DESCRIPTOR.fields}
    assert fields == {"format": 1, "content": 2, "id": 3, "url": 4, "raw": 5}
    assert pb.Document.DESCRIPTOR.oneofs_by_name["source"].fields[0].name == "content"
    assert {f.name: f.number for f in pb.CleanRequest.DESCRIPTOR.fields} == {
        "document": 1, "include_lines": 2}
    assert {f.name: f.number for f in pb.Line.DESCRIPTOR.fields} == {
        "number": 1, "text": 2, "label": 3, "confidence": 4}
    response = {f.name: f.number for f in pb.CleanResponse.DESCRIPTOR.fields}
    assert {"id": 1, "body": 2, "lines": 3, "model_version": 4}.items() <= response.items()
    methods = {m.name: (m.client_streaming, m.server_streaming)
               for m in pb.DESCRIPTOR.services_by_name["Declutter"].methods}
    assert methods == {"Clean": (False, False), "CleanStream": (True, True),
                       "GetModelInfo": (False, False)}


def test_every_enum_starts_unspecified():
    enums = [pb.Label.DESCRIPTOR, pb.Document.Format.DESCRIPTOR]
    for enum in enums:
        assert enum.values[0].number == 0 and enum.values[0].name.endswith("_UNSPECIFIED")
