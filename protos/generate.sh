#!/usr/bin/env bash
# Regenerates the Python gRPC code in server/api/ from protos/.
# Run from anywhere: bash protos/generate.sh [OUT_DIR]   (needs grpcio-tools)
# OUT_DIR (default server/api) lets a test compare a fresh copy with the committed one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="${1:-$root/server/api}"
rm -rf "$out/declutter"
mkdir -p "$out"
python -m grpc_tools.protoc -I "$root/protos" \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  "$root/protos/declutter/v1/declutter.proto"
# protoc writes absolute imports ("from declutter.v1 import ..."); the code
# lives inside the server package, so point them there.
sed -i 's/^from declutter\.v1 import/from server.api.declutter.v1 import/' \
  "$out/declutter/v1/declutter_pb2_grpc.py"
touch "$out/__init__.py" "$out/declutter/__init__.py" "$out/declutter/v1/__init__.py"
echo "generated $out/declutter/v1"
