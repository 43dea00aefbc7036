"""Server transport security: TLS, and mutual TLS with a client CA.

The files are checked with the standard library's `ssl` before gRPC sees
them, because gRPC accepts unreadable or mismatched PEM quietly and fails
only at the first handshake, which a client reports as UNAVAILABLE with no
hint of the cause.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


class TLSError(ValueError):
    """The TLS settings cannot be used; the message names the flag and file."""


@dataclass(frozen=True)
class TLSFiles:
    cert: bytes
    key: bytes
    client_ca: bytes | None  # None: clients need no certificate


def _read(path: str, flag: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TLSError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None


def load_tls_files(cert: str, key: str, client_ca: str) -> TLSFiles | None:
    """The PEM files for `--tls-cert`, `--tls-key`, `--tls-client-ca`, checked.

    None when TLS is off (all three empty). Raises TLSError when only part of
    the settings is given, a file cannot be read, or the files do not hold a
    certificate with its matching private key (or, for the client CA, at
    least one CA certificate).
    """
    if not (cert or key or client_ca):
        return None
    if not cert or not key:
        raise TLSError("--tls-cert and --tls-key must be given together "
                       f"(got --tls-cert {cert or '(unset)'}, --tls-key {key or '(unset)'})")
    files = TLSFiles(cert=_read(cert, "--tls-cert"), key=_read(key, "--tls-key"),
                     client_ca=_read(client_ca, "--tls-client-ca") if client_ca else None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise TLSError(f"--tls-cert {cert} with --tls-key {key}: not a PEM certificate "
                       f"chain with its matching private key ({exc.reason or exc})") from None
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise TLSError(f"--tls-client-ca {client_ca}: not a PEM CA certificate "
                           f"({exc.reason or exc})") from None
    return files


def server_credentials(files: TLSFiles) -> grpc.ServerCredentials:
    """gRPC credentials; with a client CA, clients must present a certificate it signed."""
    return grpc.ssl_server_credentials(
        [(files.key, files.cert)], root_certificates=files.client_ca,
        require_client_auth=files.client_ca is not None)
