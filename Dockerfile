# declutter gRPC service image.
#
#   docker build -t declutter .
#   docker run --rm -p 50051:50051 declutter
#
# BASE_IMAGE must provide `python3` (3.11+) with the `venv` module and
# `useradd`; python:3.11-slim does, and so does a Debian bookworm rootfs with
# python3 + python3-venv (what tests/docker/smoke.sh builds where no registry
# is reachable). The build stage and the runtime stage use the same base so
# the venv's interpreter symlinks stay valid.
#
# Works with both the classic builder and BuildKit (no heredocs, no
# RUN --mount, no COPY --chmod), hence no `# syntax=` line either.
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS build

# Optional package-index settings for builds behind a mirror. HTTP_PROXY,
# HTTPS_PROXY and NO_PROXY are predefined build args and need no ARG line.
# An ARG that is not passed with --build-arg stays unset in RUN.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1

# A C compiler for the C extensions (stage 2's trees, the HTML walk; see
# setup.py); it stays in this stage, the runtime stage gets only the built modules. Python's headers come
# with python:3.11-slim; a Debian python3 needs python3-dev for them.
RUN missing="" \
 && { command -v gcc > /dev/null || missing="gcc libc6-dev"; } \
 && { python3 -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" || missing="$missing python3-dev"; } \
 && if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing && rm -rf /var/lib/apt/lists/*; \
    fi

RUN python3 -m venv /opt/venv

# Third-party dependencies first, from pyproject.toml alone, so that editing
# the code does not re-download scikit-learn & co.
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb')).get('project', {}).get('dependencies', []); open('/tmp/requirements.txt', 'w').write(''.join(d + '\n' for d in deps))" \
 && /opt/venv/bin/python -m pip install -r /tmp/requirements.txt

# The project itself (a regular, non-editable install: the shipped default
# model is package data inside `classifier`).
# The C extensions are optional for pip (an install without a compiler falls
# back to Python and numpy); the image insists on them.
COPY . ./
RUN /opt/venv/bin/python -m pip install . \
 && /opt/venv/bin/python -m pip uninstall -y pip setuptools wheel \
 && /opt/venv/bin/declutter-server --help > /dev/null \
 && /opt/venv/bin/python -c "import importlib.util as u, classifier, server; assert u.find_spec('server.healthcheck'), 'server.healthcheck missing'" \
 && /opt/venv/bin/python -c "import classifier._trees, classifier._walk, classifier._features, classifier.html as h; assert h.COMPILED_WALK"

# -------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="declutter" \
      org.opencontainers.image.description="gRPC service that removes navigation, ads, disclaimers and related links from scraped article pages"

RUN groupadd --system --gid 10001 declutter \
 && useradd --system --uid 10001 --gid declutter --create-home --home-dir /home/declutter \
      --shell /usr/sbin/nologin declutter \
 && mkdir -p /models

COPY --from=build /opt/venv /opt/venv

# DECLUTTER_MODEL is deliberately unset: the server then uses the default
# model baked into the package. To serve another model, mount its directory
# (model.joblib + model.joblib.sha256) at /models and set
# DECLUTTER_MODEL=/models/model.joblib.
# The grace period stays below `docker stop`'s default 10 s timeout.
# Metrics (Prometheus, plain HTTP) on 9464 and one JSON object per log line,
# as container platforms collect them.
# OMP_NUM_THREADS=1: requests run in parallel on gRPC threads (and
# --workers processes); letting every prediction also spread over all cores
# with OpenMP oversubscribes the CPU and makes latency erratic.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    OMP_NUM_THREADS=1 \
    DECLUTTER_HOST=0.0.0.0 \
    DECLUTTER_PORT=50051 \
    DECLUTTER_GRACE_SECONDS=8 \
    DECLUTTER_METRICS_PORT=9464 \
    DECLUTTER_LOG_FORMAT=json

USER 10001:10001
WORKDIR /home/declutter
EXPOSE 50051 9464

# Asks the standard grpc.health.v1.Health service (service "") on
# 127.0.0.1:$DECLUTTER_PORT; exits 0 only when SERVING. With TLS set through
# DECLUTTER_TLS_* variables it speaks TLS too (mutual TLS: give it a client
# certificate with DECLUTTER_HEALTHCHECK_CERT and DECLUTTER_HEALTHCHECK_KEY).
HEALTHCHECK --interval=10s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python3", "-m", "server.healthcheck"]

# Exec form: the server is PID 1, receives SIGTERM from `docker stop` and
# drains in-flight calls for DECLUTTER_GRACE_SECONDS before exiting 0.
# Extra arguments go after the image name, e.g. `docker run IMAGE --workers 4`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["declutter-server"]
