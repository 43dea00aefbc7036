"""Ask a declutter server's gRPC health service whether it is SERVING.

    python -m server.healthcheck [--address HOST:PORT] [--timeout SECONDS]

Exits 0 when SERVING, 1 otherwise; for container health checks and probes.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import DEFAULT_PORT


def check(address: str, timeout: float) -> str:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main(argv: Sequence[str] | None = None) -> int:
    port = os.environ.get("DECLUTTER_PORT", str(DEFAULT_PORT))
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=f"127.0.0.1:{port}",
                        help="server address (default 127.0.0.1:$DECLUTTER_PORT or 50051)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    args = parser.parse_args(argv)
    try:
        status = check(args.address, args.timeout)
    except grpc.RpcError as exc:
        print(f"{args.address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(f"{args.address}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
