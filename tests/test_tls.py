"""TLS and mutual TLS with certificates made in the test, the health probe
over them, and start-up errors for bad TLS settings."""

import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server import healthcheck
from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import Settings
from server.worker import Server
from server.tls import TLSError, load_tls_files

from pki import SERVER_NAME, make_pki

CALL_TIMEOUT = 5
REFUSED = (grpc.StatusCode.UNAVAILABLE,)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def start(**tls):
    server = Server(Settings(host="127.0.0.1", port=0, **tls))
    server.start()
    return server


@pytest.fixture(scope="module")
def tls_server(pki):
    server = start(tls_cert=str(pki.server_cert), tls_key=str(pki.server_key))
    yield server
    server.stop(grace=0)


@pytest.fixture(scope="module")
def mtls_server(pki):
    server = start(tls_cert=str(pki.server_cert), tls_key=str(pki.server_key),
                   tls_client_ca=str(pki.client_ca))
    yield server
    server.stop(grace=0)


def secure_channel(port, ca, cert=None, key=None):
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None)
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials,
                               options=[("grpc.ssl_target_name_override", SERVER_NAME)])


def clean_over(channel):
    request = pb.CleanRequest(document=pb.Document(
        format=pb.Document.PLAIN_TEXT, content="Menu\nThe council approved the ferry route."))
    return pb_grpc.DeclutterStub(channel).Clean(request, timeout=CALL_TIMEOUT)


def refused(channel):
    with channel, pytest.raises(grpc.RpcError) as err:
        clean_over(channel)
    return err.value.code()


def test_plaintext_stays_the_default():
    server = start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            assert clean_over(channel).model_version
    finally:
        server.stop(grace=0)


def test_tls_server_serves_a_client_that_trusts_its_ca(tls_server, pki):
    with secure_channel(tls_server.port, pki.server_ca) as channel:
        assert clean_over(channel).model_version == tls_server.models.get().version


def test_tls_server_refuses_plaintext_and_clients_trusting_another_ca(tls_server, pki):
    assert refused(grpc.insecure_channel(f"127.0.0.1:{tls_server.port}")) in REFUSED
    assert refused(secure_channel(tls_server.port, pki.client_ca)) in REFUSED


def test_mtls_server_accepts_only_clients_with_a_certificate_from_its_client_ca(mtls_server, pki):
    assert refused(secure_channel(mtls_server.port, pki.server_ca)) in REFUSED
    assert refused(secure_channel(mtls_server.port, pki.server_ca,
                                  pki.rogue_cert, pki.rogue_key)) in REFUSED
    assert refused(grpc.insecure_channel(f"127.0.0.1:{mtls_server.port}")) in REFUSED
    with secure_channel(mtls_server.port, pki.server_ca, pki.client_cert, pki.client_key) as ch:
        assert clean_over(ch).body
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                      timeout=CALL_TIMEOUT)
        assert status.status == health_pb2.HealthCheckResponse.SERVING


def probe(monkeypatch, port, **env):
    for name in ("TLS_CERT", "HEALTHCHECK_CA", "HEALTHCHECK_CERT", "HEALTHCHECK_KEY",
                 "HEALTHCHECK_SERVER_NAME", "HEALTHCHECK_TLS"):
        monkeypatch.delenv("DECLUTTER_" + name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv("DECLUTTER_" + name, str(value))
    monkeypatch.setenv("DECLUTTER_PORT", str(port))
    return healthcheck.main(["--timeout", str(CALL_TIMEOUT)])


def test_health_probe_speaks_tls_from_the_servers_own_settings(tls_server, pki, monkeypatch,
                                                                capsys):
    # The server's certificate file holds its CA, so the probe trusts it as is
    # and learns the name to check from the verified certificate.
    assert probe(monkeypatch, tls_server.port, TLS_CERT=pki.server_cert) == 0
    assert "SERVING" in capsys.readouterr().out
    assert probe(monkeypatch, tls_server.port) == 1  # plaintext against TLS
    assert probe(monkeypatch, tls_server.port, TLS_CERT=pki.server_cert,
                 HEALTHCHECK_CA=pki.client_ca) == 1  # a CA that did not sign the server
    assert "TLS" in capsys.readouterr().err


def test_health_probe_presents_a_client_certificate_for_mtls(mtls_server, pki, monkeypatch):
    assert probe(monkeypatch, mtls_server.port, TLS_CERT=pki.server_cert) == 1
    assert probe(monkeypatch, mtls_server.port, TLS_CERT=pki.server_cert,
                 HEALTHCHECK_CERT=pki.client_cert, HEALTHCHECK_KEY=pki.client_key) == 0
    assert probe(monkeypatch, mtls_server.port, HEALTHCHECK_TLS=1,
                 HEALTHCHECK_CA=pki.server_ca, HEALTHCHECK_SERVER_NAME=SERVER_NAME,
                 HEALTHCHECK_CERT=pki.client_cert, HEALTHCHECK_KEY=pki.client_key) == 0


def test_bad_tls_settings_are_named(pki, tmp_path):
    assert load_tls_files("", "", "") is None
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        ((str(pki.server_cert), "", ""), "--tls-cert and --tls-key must be given together"),
        (("", str(pki.server_key), ""), "--tls-cert and --tls-key must be given together"),
        (("", "", str(pki.client_ca)), "--tls-cert and --tls-key must be given together"),
        ((str(tmp_path / "missing.pem"), str(pki.server_key), ""), "missing.pem: cannot read"),
        ((str(pki.server_cert), str(pki.client_key), ""), "matching private key"),
        ((str(garbage), str(pki.server_key), ""), "matching private key"),
        ((str(pki.server_cert), str(pki.server_key), str(garbage)), "--tls-client-ca"),
    ]
    for args, message in cases:
        with pytest.raises(TLSError, match=message):
            load_tls_files(*args)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_server_with_bad_tls_settings_exits_1_saying_why(pki, workers):
    result = subprocess.run(
        [sys.executable, "-m", "server", "--port", "0" if workers == "1" else "50999",
         "--workers", workers, "--tls-cert", str(pki.server_cert)],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot start: --tls-cert and --tls-key must be given together" in result.stderr
