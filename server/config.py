"""Server settings: command-line flags, each with an environment variable.

Kept free of the model's imports (scikit-learn and co.) so that the health
probe, which reads the port from here, starts in milliseconds.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

from classifier.limits import DEFAULT_MAX_DOCUMENT_BYTES, DEFAULT_MAX_LINE_CHARS, DEFAULT_MAX_LINES

ENV_PREFIX = "DECLUTTER_"
DEFAULT_PORT = 50051
# A document arrives in one message, so the message limit is the document limit.
DEFAULT_MAX_MESSAGE_BYTES = DEFAULT_MAX_DOCUMENT_BYTES
DEFAULT_GRACE_SECONDS = 10.0
# Clients reconnect after this long, so behind a headless Service (client-side
# round robin) they spread over pods added since they connected.
DEFAULT_MAX_CONNECTION_AGE_SECONDS = 300.0
DEFAULT_THREADS = 8
# Documents of concurrent calls are labeled together, one model call for a
# batch (server/batching.py). A batch holds at most this many documents and
# lines: per-call fixed costs are well amortised by then, and one huge page
# does not hold up many small ones. A document over the lines budget goes alone.
DEFAULT_BATCH_MAX_DOCUMENTS = 64
DEFAULT_BATCH_MAX_LINES = 2048
# Threads that label batches in each worker. The features' and trees' loops
# run without the GIL, so a second thread labels a batch while the first is
# in those loops; but the per-document work around them holds the GIL, and on
# short documents two threads only fight over it. So the threads after the
# first take a batch only when a full batch (by lines) is waiting and its
# documents average at least HELPER_MIN_LINES_PER_DOCUMENT lines: a stream of
# whole scraped pages, not one of short texts.
DEFAULT_LABELING_THREADS = 2
HELPER_MIN_LINES_PER_DOCUMENT = 160
# CleanStream documents read ahead of the responses (and so labeled together).
# A client keeps sending while the first batch is labeled, so the next batch
# is already there when the labeling thread comes back: 32 left it waiting
# for the round trip (1.35x the unary rate on ~5 KB articles, 1.6x with 128).
# The bytes bound keeps a stream of large documents from holding many of them.
DEFAULT_STREAM_MAX_IN_FLIGHT = 128
DEFAULT_STREAM_MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024
LOG_FORMATS = ("text", "json")
# 0: no metrics endpoint. Off by default so that several servers on one host
# (and the test suite's) never fight over a second fixed port; the Docker
# image turns it on at 9464, the port commonly used for Prometheus exporters.
DEFAULT_METRICS_PORT = 0


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    model: str = ""  # empty: the shipped default model
    workers: int = 1
    threads: int = DEFAULT_THREADS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    max_connection_age_seconds: float = DEFAULT_MAX_CONNECTION_AGE_SECONDS
    max_lines: int = DEFAULT_MAX_LINES
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    log_level: str = "INFO"
    log_format: str = "text"
    metrics_port: int = DEFAULT_METRICS_PORT
    tls_cert: str = ""  # empty: plaintext
    tls_key: str = ""
    tls_client_ca: str = ""  # empty: clients need no certificate
    watch_model_seconds: float = 0.0  # 0: reload on SIGHUP only
    batch_max_documents: int = DEFAULT_BATCH_MAX_DOCUMENTS
    batch_max_lines: int = DEFAULT_BATCH_MAX_LINES
    labeling_threads: int = DEFAULT_LABELING_THREADS
    stream_max_in_flight: int = DEFAULT_STREAM_MAX_IN_FLIGHT
    stream_max_in_flight_bytes: int = DEFAULT_STREAM_MAX_IN_FLIGHT_BYTES

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


# flag name -> (type, help); the environment variable is DECLUTTER_<NAME>.
_OPTIONS: dict[str, tuple[type, str]] = {
    "host": (str, "address to listen on (0.0.0.0 for all interfaces)"),
    "port": (int, "port to listen on; 0 picks a free one (one worker only)"),
    "model": (str, "model file to serve (default: the shipped model)"),
    "workers": (int, "server processes sharing the port (SO_REUSEPORT)"),
    "threads": (int, "request threads per worker"),
    "max_message_bytes": (int, "largest request or response message, in bytes; also "
                               "the largest document"),
    "max_lines": (int, "most non-blank lines (or HTML blocks) in one document"),
    "max_line_chars": (int, "longest line (or HTML block) in characters"),
    "grace_seconds": (float, "time in-flight calls get to finish on shutdown"),
    "max_connection_age_seconds": (float, "close client connections this old (calls in flight "
                                          "finish first), so clients reconnect and reach new "
                                          "replicas; 0: never"),
    "log_level": (str, "DEBUG, INFO, WARNING or ERROR"),
    "log_format": (str, "text (for people) or json (one object per line, for log shippers)"),
    "metrics_port": (int, "port of the Prometheus /metrics endpoint (plain HTTP, on --host); 0: off"),
    "tls_cert": (str, "PEM certificate chain: serve TLS instead of plaintext (needs --tls-key)"),
    "tls_key": (str, "PEM private key of --tls-cert"),
    "tls_client_ca": (str, "PEM CA certificate(s): clients must present a certificate "
                           "signed by one (mutual TLS; needs --tls-cert)"),
    "watch_model_seconds": (float, "look for a changed model file this often and reload "
                                   "it; 0 turns watching off (SIGHUP always reloads)"),
    "batch_max_documents": (int, "most documents of concurrent calls labeled in one model call"),
    "batch_max_lines": (int, "most lines labeled in one model call (a larger document "
                             "goes alone)"),
    "labeling_threads": (int, "threads labeling batches in each worker; those after the first "
                              "help only with a backlog of long documents"),
    "stream_max_in_flight": (int, "most documents of one CleanStream read ahead of its "
                                  "responses, to be labeled together"),
    "stream_max_in_flight_bytes": (int, "most bytes of documents of one CleanStream read "
                                        "ahead of its responses (one document is always read)"),
}


# How defaults that are empty or 0 read in --help.
_DEFAULT_TEXT = {"model": "the shipped model", "metrics_port": "0 (off)", "tls_cert": "none",
                 "watch_model_seconds": "0 (off)",
                 "tls_key": "none", "tls_client_ca": "none"}


def parse_settings(argv: Sequence[str] | None = None,
                   environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from flags, then DECLUTTER_* environment variables, then defaults."""
    environ = os.environ if environ is None else environ
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="declutter-server",
        description="Serve the declutter gRPC API. Every flag can also be set "
                    "as an environment variable, e.g. --max-message-bytes as "
                    "DECLUTTER_MAX_MESSAGE_BYTES.")
    for name, (kind, text) in _OPTIONS.items():
        env = ENV_PREFIX + name.upper()
        default = getattr(defaults, name)
        if environ.get(env, "") != "":  # an empty variable counts as unset
            try:
                default = kind(environ[env])
            except ValueError:
                parser.error(f"environment variable {env}={environ[env]!r} is not a valid {kind.__name__}")
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=default,
                            help=f"{text} [env {env}; default {_DEFAULT_TEXT.get(name, getattr(defaults, name))}]")
    args = parser.parse_args(argv)
    settings = Settings(**vars(args))
    problems = []
    if not 0 <= settings.port <= 65535:
        problems.append(f"--port must be 0-65535, got {settings.port}")
    if settings.workers < 1:
        problems.append(f"--workers must be at least 1, got {settings.workers}")
    if settings.workers > 1 and settings.port == 0:
        problems.append("--port 0 works with one worker only; name a port for several")
    if settings.threads < 1:
        problems.append(f"--threads must be at least 1, got {settings.threads}")
    if settings.max_message_bytes < 1024:
        problems.append(f"--max-message-bytes must be at least 1024, got {settings.max_message_bytes}")
    for name in ("batch_max_documents", "batch_max_lines", "labeling_threads",
                 "stream_max_in_flight",
                 "stream_max_in_flight_bytes"):
        if getattr(settings, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(settings, name)}")
    if settings.max_lines < 1 or settings.max_line_chars < 1:
        problems.append("--max-lines and --max-line-chars must be at least 1")
    if settings.max_connection_age_seconds < 0:
        problems.append("--max-connection-age-seconds must not be negative, got "
                        f"{settings.max_connection_age_seconds}")
    if settings.grace_seconds < 0:
        problems.append(f"--grace-seconds must not be negative, got {settings.grace_seconds}")
    if settings.watch_model_seconds < 0:
        problems.append(f"--watch-model-seconds must not be negative, got {settings.watch_model_seconds}")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {settings.log_level}")
    if settings.log_format not in LOG_FORMATS:
        problems.append(f"--log-format must be text or json, got {settings.log_format}")
    if not 0 <= settings.metrics_port <= 65535:
        problems.append(f"--metrics-port must be 0-65535, got {settings.metrics_port}")
    elif settings.metrics_port and settings.metrics_port == settings.port:
        problems.append("--metrics-port must differ from --port")
    if problems:
        parser.error("; ".join(problems))
    return settings
