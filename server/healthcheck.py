"""Ask a declutter server's gRPC health service whether it is SERVING.

    python -m server.healthcheck [--address HOST:PORT] [--timeout SECONDS]
                                 [--tls] [--ca PEM] [--cert PEM --key PEM] [--server-name NAME]

Exits 0 when SERVING, 1 otherwise; for container health checks and probes.

It speaks TLS when the server's own DECLUTTER_TLS_CERT is set (as it is in a
container serving TLS) or with --tls. It verifies the server's certificate
against --ca (default: the server's certificate file, which works when that
file is self-signed or holds the chain up to its CA) and, for mutual TLS,
presents --cert and --key. Every option has a DECLUTTER_HEALTHCHECK_*
environment variable (e.g. DECLUTTER_HEALTHCHECK_CA).
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from pathlib import Path
from typing import Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import DEFAULT_PORT, ENV_PREFIX

HEALTHCHECK_PREFIX = ENV_PREFIX + "HEALTHCHECK_"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(HEALTHCHECK_PREFIX + name) or default


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def certificate_name(address: str, ca: str, cert: str, key: str, timeout: float) -> str | None:
    """The name to check the server's certificate for, learned from the
    certificate itself once it is verified against `ca`.

    A probe dials 127.0.0.1, but the certificate names the host clients use;
    what the probe must know is that the server holds a certificate our CA
    signed. None when the certificate already covers the address dialled.
    """
    host, port = _split(address)
    context = ssl.create_default_context(cafile=ca)
    context.check_hostname = False  # the name is what we are learning
    context.set_alpn_protocols(["h2"])
    if cert:
        context.load_cert_chain(cert, key)
    with socket.create_connection((host, port), timeout=timeout) as sock, \
            context.wrap_socket(sock) as tls:
        peer = tls.getpeercert()
    names = peer.get("subjectAltName", ())
    if any(value == host for _, value in names):
        return None
    dns = [value for kind, value in names if kind == "DNS" and "*" not in value]
    if dns:
        return dns[0]
    subject = dict(item for rdn in peer.get("subject", ()) for item in rdn)
    return subject.get("commonName")


def tls_channel(address: str, ca: str, cert: str, key: str, server_name: str,
                timeout: float) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes() if cert else None,
        certificate_chain=Path(cert).read_bytes() if cert else None)
    name = server_name or certificate_name(address, ca, cert, key, timeout)
    options = [("grpc.ssl_target_name_override", name)] if name else []
    return grpc.secure_channel(address, credentials, options=options)


def check(address: str, timeout: float, channel: grpc.Channel | None = None) -> str:
    with channel or grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main(argv: Sequence[str] | None = None) -> int:
    port = os.environ.get(ENV_PREFIX + "PORT", str(DEFAULT_PORT))
    server_cert = os.environ.get(ENV_PREFIX + "TLS_CERT", "")
    parser = argparse.ArgumentParser(prog="python -m server.healthcheck", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=f"127.0.0.1:{port}",
                        help="server address (default 127.0.0.1:$DECLUTTER_PORT or 50051)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    parser.add_argument("--tls", action="store_true",
                        default=bool(server_cert or _env("TLS")),
                        help="speak TLS (default: when DECLUTTER_TLS_CERT or "
                             "DECLUTTER_HEALTHCHECK_TLS is set)")
    parser.add_argument("--ca", default=_env("CA", server_cert),
                        help="PEM CA to verify the server with (default: $DECLUTTER_TLS_CERT)")
    parser.add_argument("--cert", default=_env("CERT"),
                        help="PEM client certificate, for mutual TLS")
    parser.add_argument("--key", default=_env("KEY"), help="PEM private key of --cert")
    parser.add_argument("--server-name", default=_env("SERVER_NAME"),
                        help="name the server's certificate must hold (default: learned "
                             "from the certificate, once it is verified against --ca)")
    args = parser.parse_args(argv)
    if args.tls and not args.ca:
        parser.error("--tls needs --ca (or DECLUTTER_HEALTHCHECK_CA or DECLUTTER_TLS_CERT)")
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    try:
        channel = tls_channel(args.address, args.ca, args.cert, args.key, args.server_name,
                              args.timeout) if args.tls else None
        status = check(args.address, args.timeout, channel)
    except grpc.RpcError as exc:
        print(f"{args.address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        print(f"{args.address}: TLS: {exc}", file=sys.stderr)
        return 1
    print(f"{args.address}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
