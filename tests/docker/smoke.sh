#!/usr/bin/env bash
# Container smoke test for declutter (called by .ci/run as `bash tests/docker/smoke.sh`).
#
#  1. finds a Docker engine, or installs docker.io and starts a private dockerd
#     (data/exec root, pid file and socket under a temp dir; stopped at exit);
#  2. picks a base image: python:3.11-slim if it can be pulled, otherwise a
#     Debian bookworm rootfs made with debootstrap and `docker import`ed; the
#     host's extra CA certificates are layered on top when it has any (so pip
#     works behind an intercepting proxy);
#  3. builds the image from the repo's Dockerfile and checks its metadata;
#  4. trains a small model (a few corpus documents) with the image's own
#     code and libraries into a host directory;
#  5. runs the image with the default model, waits for Docker's health status
#     "healthy", then runs tests/docker/smoke_client.py on the host against
#     the published port (health SERVING, GetModelInfo, Clean plain text and
#     HTML), then `docker stop`s it and checks it exited 0 within the grace;
#  6. does the same with the trained model mounted read-only from the host
#     (DECLUTTER_MODEL=/models/model.joblib) and checks that version
#     "smoke-mounted" is served instead of the default.
#
# Exits non-zero on any failure. Always removes its containers, stops the
# dockerd it started and deletes its temp dir.
#
# Knobs (all optional):
#   DECLUTTER_BASE_IMAGE    use this base image as is (no pull/debootstrap)
#   DECLUTTER_SMOKE_IMAGE   tag of the image to build (default declutter:smoke)
#   DECLUTTER_SMOKE_PYTHON  python for the host-side client
#   DECLUTTER_SMOKE_CACHE   where the debootstrap rootfs tarball is cached
#                           (default ${TMPDIR:-/tmp}/declutter-docker-cache)
#   DEBIAN_MIRROR           mirror for debootstrap (default deb.debian.org)
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGE=${DECLUTTER_SMOKE_IMAGE:-declutter:smoke}
REGISTRY_BASE=python:3.11-slim
MOUNTED_VERSION=smoke-mounted
CACHE_DIR=${DECLUTTER_SMOKE_CACHE:-${TMPDIR:-/tmp}/declutter-docker-cache}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive
# Never let docker/apt/pip read the CI's (absent) stdin.
exec </dev/null

START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/declutter-smoke.XXXXXX")
PASSED=0
FAILED=0
CONTAINERS=()
DOCKERD_PID=
DOCKERD_DIR=
NET_MODE=bridge   # or "host" when the private dockerd runs without bridge/iptables
APT_UPDATED=
HAD_DOCKER0=x

log() { printf '[smoke %3ss] %s\n' "$(($(date +%s) - START))" "$*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL $*"; exit 1; }

# --------------------------------------------------------------- cleanup
stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    local pid=$DOCKERD_PID
    DOCKERD_PID=
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            log "dockerd $pid did not stop in 30 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    fi
    # dockerd normally stops its containerd; make sure ours is gone.
    local cpid
    cpid=$(cat "$DOCKERD_DIR/exec/containerd/containerd.pid" 2>/dev/null || true)
    if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then kill -TERM "$cpid" 2>/dev/null || true; fi
    # Remove the bridge our dockerd made (not one that was there before).
    if [ -z "$HAD_DOCKER0" ] && ip link show docker0 >/dev/null 2>&1; then ip link delete docker0 2>/dev/null || true; fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; log "FAIL unexpected error (exit $rc); see above"; fi
    if [ "${#CONTAINERS[@]}" -gt 0 ]; then
        if [ "$rc" -ne 0 ]; then
            for c in "${CONTAINERS[@]}"; do
                echo "---- docker logs $c (last 40 lines)"; docker logs --tail 40 "$c" 2>&1
            done
        fi
        docker rm -f "${CONTAINERS[@]}" >/dev/null 2>&1
    fi
    if [ -n "$DOCKERD_PID" ]; then
        if [ "$rc" -ne 0 ] && [ -f "$DOCKERD_DIR/dockerd.log" ]; then
            echo "---- dockerd errors (last 10)"
            grep -E 'level=(error|fatal)' "$DOCKERD_DIR/dockerd.log" | tail -n 10
        fi
        log "stopping the dockerd started by this script"
        stop_dockerd
    fi
    # Lazily unmount anything a killed dockerd may have left under WORK, then delete it.
    grep -o " $WORK/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$WORK"
    log "docker smoke test $([ "$rc" -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - START)) s"
    echo "docker-smoke: $PASSED passed, $FAILED failed"
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ------------------------------------------------------------- helpers
apt_install() {
    if [ "$(id -u)" -ne 0 ]; then fail "need root to apt-get install $*"; fi
    if [ -z "$APT_UPDATED" ]; then
        log "apt-get update"
        apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log"; fail "apt-get update"; }
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    apt-get install -y -qq --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1 \
        || { tail -n 30 "$WORK/apt.log"; fail "apt-get install $*"; }
}

docker_ok() { timeout 20 docker info >/dev/null 2>&1; }

start_dockerd() { # start_dockerd ATTEMPT [dockerd flags...]
    local n=$1
    shift
    DOCKERD_DIR=$WORK/d$n
    mkdir -p "$DOCKERD_DIR"
    export DOCKER_HOST="unix://$DOCKERD_DIR/docker.sock"
    log "starting dockerd $* (data root $DOCKERD_DIR/root)"
    dockerd --data-root "$DOCKERD_DIR/root" --exec-root "$DOCKERD_DIR/exec" \
        --pidfile "$DOCKERD_DIR/dockerd.pid" -H "$DOCKER_HOST" "$@" \
        >"$DOCKERD_DIR/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 1 60); do
        if docker_ok; then return 0; fi
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.5
    done
    log "dockerd $* did not come up:"
    tail -n 5 "$DOCKERD_DIR/dockerd.log" || true
    stop_dockerd
    return 1
}

ensure_docker() {
    if command -v docker >/dev/null 2>&1 && docker_ok; then
        log "using the running Docker engine (${DOCKER_HOST:-default socket})"
        return 0
    fi
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
        apt_install docker.io iptables
    fi
    # overlay2 with a bridge network and real published ports is preferred.
    # vfs is the fallback for a data root on a filesystem overlayfs cannot sit on
    # (e.g. /tmp inside another container); without bridge/iptables the
    # containers run with --network host instead.
    HAD_DOCKER0=$(ip link show docker0 2>/dev/null || true)
    start_dockerd 1 && return 0
    start_dockerd 2 --storage-driver vfs && return 0
    start_dockerd 3 --storage-driver vfs --iptables=false --bridge=none && { NET_MODE=host; return 0; }
    fail "could not start dockerd (logs above)"
}

# Extra CA certificates of this host (e.g. an intercepting proxy's), to be trusted inside the build.
host_extra_cas() { find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort; }

build_debootstrap_base() { # tags local/declutter-python-base-raw
    local tarball=$CACHE_DIR/bookworm-python3-rootfs.tar
    if docker image inspect local/declutter-python-base-raw >/dev/null 2>&1; then
        log "reusing the image local/declutter-python-base-raw"
        return 0
    fi
    if [ -s "$tarball" ]; then
        log "using cached rootfs $tarball"
    else
        command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
        mkdir -p "$CACHE_DIR"
        local rootfs=$WORK/rootfs
        log "debootstrap bookworm (python3, python3-venv) from $DEBIAN_MIRROR"
        debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
            bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -n 30 "$WORK/debootstrap.log"; fail "debootstrap"; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.tmp.$$" . && mv "$tarball.tmp.$$" "$tarball"
        rm -rf "$rootfs"
    fi
    # An imported image has no config: give it the PATH/LANG a Debian image has.
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["python3"]' \
        "$tarball" local/declutter-python-base-raw >/dev/null
}

choose_base() { # sets BASE
    if [ -n "${DECLUTTER_BASE_IMAGE:-}" ]; then
        BASE=$DECLUTTER_BASE_IMAGE
        log "base image from DECLUTTER_BASE_IMAGE: $BASE"
    elif timeout 90 docker pull -q "$REGISTRY_BASE" >"$WORK/pull.log" 2>&1; then
        BASE=$REGISTRY_BASE
        log "base image: $BASE (pulled from the registry)"
    else
        log "cannot pull $REGISTRY_BASE ($(tail -n 1 "$WORK/pull.log" | cut -c1-120)); building a local base"
        build_debootstrap_base
        BASE=local/declutter-python-base-raw
    fi
    local cas
    cas=$(host_extra_cas)
    if [ -n "$cas" ]; then
        local ctx=$WORK/ca-base
        mkdir -p "$ctx/certs"
        # shellcheck disable=SC2086
        cp $cas "$ctx/certs/"
        cat >"$ctx/Dockerfile" <<'EOF'
ARG BASE
FROM ${BASE}
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
EOF
        log "adding the host's $(echo "$cas" | wc -l) extra CA certificate(s) to the base"
        docker build -q --network host --build-arg BASE="$BASE" -t local/declutter-python-base "$ctx" >"$WORK/ca-base.log" 2>&1 \
            || { cat "$WORK/ca-base.log"; fail "CA layer on $BASE"; }
        BASE=local/declutter-python-base
    fi
}

pip_setting() { # pip_setting ENVVAR config-key: env value or host pip config, minus file: URLs
    local val=${!1:-}
    if [ -z "$val" ]; then
        val=$(python3 -m pip config get "global.$2" 2>/dev/null || true)
    fi
    local out='' w
    for w in $val; do
        case $w in file:* | /*) ;; *) out="$out $w" ;; esac
    done
    echo "${out# }"
}

build_image() {
    local args=(--build-arg "BASE_IMAGE=$BASE") v val
    for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
        if [ -n "${!v:-}" ]; then args+=(--build-arg "$v=${!v}"); fi
    done
    val=$(pip_setting PIP_INDEX_URL index-url); [ -z "$val" ] || args+=(--build-arg "PIP_INDEX_URL=$val")
    val=$(pip_setting PIP_EXTRA_INDEX_URL extra-index-url); [ -z "$val" ] || args+=(--build-arg "PIP_EXTRA_INDEX_URL=$val")
    val=$(pip_setting PIP_TRUSTED_HOST trusted-host); [ -z "$val" ] || args+=(--build-arg "PIP_TRUSTED_HOST=$val")
    log "docker build -t $IMAGE (base $BASE; log in the output only on failure)"
    local t0=$SECONDS
    if ! timeout 2400 docker build --network host "${args[@]}" -t "$IMAGE" "$REPO" >"$WORK/build.log" 2>&1; then
        tail -n 80 "$WORK/build.log"
        fail "docker build"
    fi
    pass "image $IMAGE built in $((SECONDS - t0)) s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
}

check_image_config() {
    local user ports hc
    user=$(docker image inspect -f '{{.Config.User}}' "$IMAGE")
    case "${user%%:*}" in "" | 0 | root) fail "image runs as root (User='$user')" ;; esac
    pass "image runs as non-root user '$user'"
    ports=$(docker image inspect -f '{{json .Config.ExposedPorts}}' "$IMAGE")
    [[ $ports == *'"50051/tcp"'* ]] || fail "image does not EXPOSE 50051 ($ports)"
    hc=$(docker image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE")
    [[ $hc == *server.healthcheck* ]] || fail "image HEALTHCHECK does not use server.healthcheck ($hc)"
    pass "image exposes 50051/tcp and has a gRPC HEALTHCHECK"
}

choose_client_python() { # sets CLIENT_PY and CLIENT_ENV (PYTHONPATH for it)
    local probe='import grpc, grpc_health.v1.health_pb2, server.api.declutter.v1.declutter_pb2_grpc'
    local py
    for py in ${DECLUTTER_SMOKE_PYTHON:-} python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        if (cd "$WORK" && "$py" -c "$probe") >/dev/null 2>&1; then CLIENT_PY=$py; CLIENT_ENV=; return 0; fi
        if (cd "$WORK" && PYTHONPATH="$REPO" "$py" -c "$probe") >/dev/null 2>&1; then CLIENT_PY=$py; CLIENT_ENV=$REPO; return 0; fi
    done
    log "no host python can import grpc + the generated stubs; making a client venv"
    python3 -m venv "$WORK/client-venv" || fail "python3 -m venv (install python3-venv?)"
    CLIENT_PY=$WORK/client-venv/bin/python
    "$CLIENT_PY" -m pip install -q grpcio grpcio-health-checking protobuf >"$WORK/client-pip.log" 2>&1 \
        || { tail -n 20 "$WORK/client-pip.log"; fail "pip install grpc client deps"; }
    if (cd "$WORK" && PYTHONPATH="$REPO" "$CLIENT_PY" -c "$probe") >/dev/null 2>&1; then CLIENT_ENV=$REPO; return 0; fi
    # The stubs are not importable from the source tree alone: install the project.
    "$CLIENT_PY" -m pip install -q "$REPO" >>"$WORK/client-pip.log" 2>&1 \
        || { tail -n 20 "$WORK/client-pip.log"; fail "pip install the project for the client"; }
    (cd "$WORK" && "$CLIENT_PY" -c "$probe") || fail "client venv cannot import the generated stubs"
    CLIENT_ENV=
}

train_mounted_model() { # trains MOUNTED_VERSION into $WORK/model with the image's own code
    # A small model is enough to tell it from the default: the first few
    # documents of each of the project's training files, nothing held out.
    local corpus=$REPO/classifier/corpus/train f n=0
    mkdir -p "$WORK/corpus" "$WORK/model"
    chmod 0755 "$WORK/corpus" "$WORK/model"
    for f in "$corpus"/*.jsonl; do
        [ -e "$f" ] || continue
        head -n 6 "$f" >>"$WORK/corpus/small.jsonl"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || fail "no training data in $corpus"
    log "training model '$MOUNTED_VERSION' in the image on $(wc -l <"$WORK/corpus/small.jsonl") documents from $n corpus file(s)"
    local t0=$SECONDS
    # The image's own code and libraries: the loader refuses a model pickled
    # by another scikit-learn minor version, which a host install might have.
    docker run --rm --network none --user "$(id -u):$(id -g)" -e OMP_NUM_THREADS=1 \
        -v "$WORK/corpus:/corpus:ro" -v "$WORK/model:/out" \
        --entrypoint python3 "$IMAGE" -m classifier.train --data /corpus/small.jsonl --holdout 0 \
        --out /out/model.joblib --version "$MOUNTED_VERSION" >"$WORK/train.log" 2>&1 \
        || { tail -n 30 "$WORK/train.log"; fail "training the smoke model"; }
    if [ ! -s "$WORK/model/model.joblib" ] || [ ! -s "$WORK/model/model.joblib.sha256" ]; then
        ls -la "$WORK/model"
        fail "training wrote no model.joblib + model.joblib.sha256"
    fi
    chmod a+r "$WORK/model"/*
    pass "trained model '$MOUNTED_VERSION' into a host directory in $((SECONDS - t0)) s"
}

wait_healthy() { # wait_healthy CONTAINER TIMEOUT
    local c=$1 deadline=$((SECONDS + $2)) st
    while [ "$SECONDS" -lt "$deadline" ]; do
        st=$(docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
        case $st in
            "running healthy") return 0 ;;
            running*) sleep 1 ;;
            *) log "container $c is '$st'"; return 1 ;;
        esac
    done
    log "container $c not healthy after $2 s: $(docker inspect -f '{{json .State.Health}}' "$c" | cut -c1-600)"
    return 1
}

METRICS_PROBE='import os, urllib.request; print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % os.environ["DECLUTTER_METRICS_PORT"], timeout=5).read().decode())'
METRICS_CLEAN_OK='^declutter_requests_total{code="OK",method="declutter.v1.Declutter/Clean"} [1-9]'

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

run_case() { # run_case NAME CLIENT_VERSION_ARG -- DOCKER_RUN_ARGS...
    local name=$1 version_arg=$2
    shift 3
    local c=declutter-smoke-$name-$$ addr net=() t0 dt code oom
    if [ "$NET_MODE" = host ]; then
        local port
        port=$(free_port)
        net=(--network host -e DECLUTTER_HOST=127.0.0.1 -e "DECLUTTER_PORT=$port"
             -e "DECLUTTER_METRICS_PORT=$(free_port)")
    else
        net=(-p 127.0.0.1::50051)
    fi
    log "[$name] docker run ${*:-(no extra flags)}"
    CONTAINERS+=("$c")
    docker run -d --name "$c" --health-interval 2s --health-start-period 90s "${net[@]}" "$@" "$IMAGE" >/dev/null
    t0=$SECONDS
    wait_healthy "$c" 150 || fail "[$name] container did not become healthy"
    pass "[$name] Docker reports the container healthy after $((SECONDS - t0)) s (HEALTHCHECK asks grpc.health.v1)"

    [ "$(docker exec "$c" id -u)" != 0 ] || fail "[$name] server runs as root"
    if [ "$NET_MODE" = host ]; then
        addr=127.0.0.1:$port
    else
        addr=$(docker port "$c" 50051/tcp | grep -m1 '^127\.0\.0\.1:' || true)
        [ -n "$addr" ] || fail "[$name] port 50051 is not published ($(docker port "$c"))"
    fi
    # shellcheck disable=SC2086
    if PYTHONPATH="$CLIENT_ENV" "$CLIENT_PY" "$REPO/tests/docker/smoke_client.py" --address "$addr" $version_arg; then
        pass "[$name] gRPC client checks through $addr"
    else
        fail "[$name] gRPC client checks through $addr"
    fi
    # The client's Clean calls are counted (summed over workers with --workers).
    # The page is read whole before grep: with pipefail, `grep -q` leaving early
    # can kill the writer with SIGPIPE and fail the check on a good page.
    local metrics
    metrics=$(docker exec "$c" python3 -c "$METRICS_PROBE" || true)
    if grep -q "$METRICS_CLEAN_OK" <<<"$metrics"; then
        pass "[$name] /metrics counts the Clean calls"
    else
        fail "[$name] /metrics on \$DECLUTTER_METRICS_PORT has no $METRICS_CLEAN_OK"
    fi

    t0=$SECONDS
    docker stop -t 30 "$c" >/dev/null
    dt=$((SECONDS - t0))
    code=$(docker inspect -f '{{.State.ExitCode}}' "$c")
    oom=$(docker inspect -f '{{.State.OOMKilled}}' "$c")
    log "[$name] server log tail:"
    docker logs --tail 5 "$c" 2>&1 | sed 's/^/      /'
    if [ "$code" != 0 ] || [ "$oom" != false ]; then
        fail "[$name] container exited $code (OOMKilled=$oom) after docker stop"
    fi
    [ "$dt" -lt 20 ] || fail "[$name] docker stop took $dt s"
    pass "[$name] SIGTERM: container exited 0 in $dt s"
}

check_compose() {
    local compose=()
    if docker compose version >/dev/null 2>&1; then compose=(docker compose)
    elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
    else log "no docker compose here; compose.yaml not validated"; return 0; fi
    (cd "$REPO" && "${compose[@]}" -f compose.yaml config -q) || fail "compose.yaml does not validate"
    pass "compose.yaml validates (${compose[*]})"
}

# ---------------------------------------------------------------- main
log "repo $REPO, work dir $WORK"
ensure_docker
choose_base
build_image
check_image_config
choose_client_python
log "host client: $CLIENT_PY${CLIENT_ENV:+ (PYTHONPATH=$CLIENT_ENV)}"
train_mounted_model

run_case default "--forbid-version $MOUNTED_VERSION" --
# Also: locked down as compose.yaml runs it, and with two worker processes
# (the PID 1 parent must pass SIGTERM on to them).
run_case mounted "--expect-version $MOUNTED_VERSION" -- \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -e DECLUTTER_WORKERS=2 \
    -v "$WORK/model:/models:ro" -e DECLUTTER_MODEL=/models/model.joblib
check_compose
