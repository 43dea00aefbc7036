"""declutter-server as a process: start-up, configuration, workers, SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.api.declutter.v1 import declutter_pb2 as pb
from server.api.declutter.v1 import declutter_pb2_grpc as pb_grpc
from server.config import parse_settings
from server.logwatch import LogWatch

from conftest import free_port


class ServerProcess:
    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", *args], stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})})
        self.watch = LogWatch(self.proc.stderr)
        self.log = self.watch.log

    def wait_for(self, pattern, timeout=30.0):
        try:
            return self.watch.wait_for(pattern, timeout, alive=lambda: self.proc.poll() is None)
        except TimeoutError as exc:
            raise AssertionError(str(exc)) from None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture()
def spawn():
    started = []

    def _spawn(*args, env=None):
        server = ServerProcess(*args, env=env)
        started.append(server)
        return server

    yield _spawn
    for server in started:
        server.stop()


def wait_serving(address, timeout=30.0):
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"{address} never became SERVING")


def clean(address, text="Menu\nThe council approved the plan on Tuesday evening."):
    with grpc.insecure_channel(address) as channel:
        return pb_grpc.DeclutterStub(channel).Clean(pb.CleanRequest(
            document=pb.Document(format=pb.Document.PLAIN_TEXT, content=text)), timeout=10)


def test_serves_logs_and_stops_gracefully_on_sigterm(spawn):
    server = spawn("--port", "0", "--grace-seconds", "5")
    port = server.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1)
    server.wait_for(r"serving model version=\S+ from .*default\.joblib")
    address = f"127.0.0.1:{port}"
    wait_serving(address)
    assert clean(address).model_version
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0
    server.wait_for("stopped")


def test_settings_come_from_the_environment(spawn, tiny_model_file):
    port = free_port()
    server = spawn(env={"DECLUTTER_PORT": str(port), "DECLUTTER_MODEL": str(tiny_model_file)})
    server.wait_for(r"serving model version=tiny-test")
    wait_serving(f"127.0.0.1:{port}")
    assert clean(f"127.0.0.1:{port}").model_version == "tiny-test"
    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(timeout=15) == 0


def test_a_bad_model_stops_start_up_with_a_clear_error(spawn, tmp_path):
    server = spawn("--port", "0", "--model", str(tmp_path / "missing.joblib"))
    assert server.proc.wait(timeout=30) == 1
    server.wait_for(r"cannot start: model file .*missing\.joblib does not exist")


def test_several_workers_share_one_port(spawn):
    port = free_port()
    server = spawn("--port", str(port), "--workers", "2")
    server.wait_for(r"started 2 workers")
    pids = {server.wait_for(r"pid=(\d+) serving model").group(1) for _ in range(2)}
    assert len(pids) == 2
    wait_serving(f"127.0.0.1:{port}")
    for _ in range(5):
        assert clean(f"127.0.0.1:{port}").model_version
    # The parent only supervises: the model's libraries (about 140 MB) load
    # in the workers alone. Their compiled modules would be mapped here.
    with open(f"/proc/{server.proc.pid}/maps") as maps:
        mapped = maps.read()
    assert "sklearn" not in mapped and "scipy" not in mapped
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0


def test_settings_are_checked():
    assert parse_settings([], {}).port == 50051
    assert parse_settings(["--port", "7000"], {"DECLUTTER_PORT": "6000"}).port == 7000
    assert parse_settings([], {"DECLUTTER_WORKERS": "3"}).workers == 3
    assert parse_settings([], {"DECLUTTER_MODEL": ""}).model == ""  # empty: the shipped model
    for argv, env in ((["--workers", "0"], {}), (["--port", "0", "--workers", "2"], {}),
                      ([], {"DECLUTTER_PORT": "eighty"}), (["--port", "70000"], {})):
        with pytest.raises(SystemExit):
            parse_settings(argv, env)
