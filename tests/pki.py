"""Certificates made for a test: CAs, a server certificate, client certificates."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAME = "declutter.test"  # not the address tests dial: clients must override it


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def issue(ca: Issued, common_name: str, *, server: bool, dns: tuple[str, ...] = ()) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(ca.cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


@dataclass
class PKI:
    """PEM files: a server CA and its server certificate, a client CA with one
    client, and a rogue CA with a client of its own."""
    server_ca: Path
    server_cert: Path  # the leaf followed by its CA, as servers usually ship it
    server_key: Path
    client_ca: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path


def make_pki(directory: Path) -> PKI:
    directory.mkdir(parents=True, exist_ok=True)
    server_ca, client_ca, rogue_ca = make_ca("test server CA"), make_ca("test client CA"), \
        make_ca("rogue CA")
    server = issue(server_ca, SERVER_NAME, server=True, dns=(SERVER_NAME,))
    client = issue(client_ca, "good client", server=False)
    rogue = issue(rogue_ca, "rogue client", server=False)

    def write(name: str, data: bytes) -> Path:
        path = directory / name
        path.write_bytes(data)
        return path

    return PKI(server_ca=write("server-ca.pem", server_ca.cert_pem),
               server_cert=write("server.pem", server.cert_pem + server_ca.cert_pem),
               server_key=write("server.key", server.key_pem),
               client_ca=write("client-ca.pem", client_ca.cert_pem),
               client_cert=write("client.pem", client.cert_pem),
               client_key=write("client.key", client.key_pem),
               rogue_cert=write("rogue.pem", rogue.cert_pem),
               rogue_key=write("rogue.key", rogue.key_pem))
