#!/usr/bin/env bash
# Smoke-tests the container image (CI job `docker`).
#
#   scripts/ci/docker-smoke.sh [--image TAG] [image|compose|all]
#
#   image    run the image alone with a named volume: wait until its
#            HEALTHCHECK (`duckgrid health`, gRPC health protocol) reports
#            healthy, run `duckgrid health` once more by hand, list the
#            services through reflection with grpcurl, check it runs as a
#            non-root user with the database on the volume, restart it and
#            wait for healthy again (the database is reopened, not reseeded)
#   compose  `docker compose up --wait` with compose.yaml (duckgrid + Redis,
#            both healthy), then the same reflection listing
#   all      both (the default)
#
# --image TAG uses an image that is already built (CI builds it with buildx
# and its layer cache); without it the image is built here from Dockerfile
# as duckgrid:smoke. Needs a running Docker engine (with compose v2 for the
# compose part).
#
#   DUCKGRID_SMOKE_FACTS    facts seeded on first start (default 20000)
#   DUCKGRID_SMOKE_TIMEOUT  seconds to wait for healthy (default 300)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

image=""
what=all
while [[ $# -gt 0 ]]; do
    case "$1" in
    --image)
        image="${2:?--image needs a tag}"
        shift 2
        ;;
    image | compose | all)
        what="$1"
        shift
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
done

facts="${DUCKGRID_SMOKE_FACTS:-20000}"
timeout_s="${DUCKGRID_SMOKE_TIMEOUT:-300}"
suffix="$$-$RANDOM"
container="duckgrid-smoke-$suffix"
volume="duckgrid-smoke-$suffix"
project="duckgrid-smoke-$suffix"
started_compose=false

need_cmd docker
docker info >/dev/null 2>&1 || die "no Docker engine reachable (docker info failed)"

cleanup() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        if docker inspect "$container" >/dev/null 2>&1; then
            echo "---- docker logs $container (last 100 lines) ----" >&2
            docker logs --tail 100 "$container" >&2 || true
            docker inspect --format '{{json .State.Health}}' "$container" >&2 || true
        fi
        if $started_compose; then
            echo "---- docker compose logs ----" >&2
            docker compose -p "$project" logs --no-color --tail 100 >&2 || true
        fi
    fi
    docker rm -f "$container" >/dev/null 2>&1 || true
    docker volume rm -f "$volume" >/dev/null 2>&1 || true
    if $started_compose; then
        docker compose -p "$project" down --volumes --remove-orphans >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT

find_grpcurl() {
    local candidate
    for candidate in "$(command -v grpcurl || true)" \
        "$DUCKGRID_TOOLS/bin/grpcurl" \
        "$DUCKGRID_TOOLS/venv/bin/grpcurl"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    "$ROOT/scripts/ci/tools.sh" grpcurl >&2
    echo "$DUCKGRID_CI_TOOLS/bin/grpcurl"
}

# wait_healthy CONTAINER: polls the HEALTHCHECK status.
wait_healthy() {
    local c="$1" deadline=$((SECONDS + timeout_s)) status
    while :; do
        status="$(docker inspect --format '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")"
        case "$status" in
        running/healthy)
            log "$c is healthy after $((SECONDS - deadline + timeout_s))s"
            return 0
            ;;
        running/none) die "$c has no HEALTHCHECK" ;;
        running/*) ;;
        *) die "$c stopped while waiting for healthy ($status)" ;;
        esac
        ((SECONDS < deadline)) || die "$c not healthy after ${timeout_s}s ($status)"
        sleep 2
    done
}

# list_services ADDR: reflection must list the health service and ours.
list_services() {
    local addr="$1" grpcurl services
    grpcurl="$(find_grpcurl)"
    services="$("$grpcurl" -plaintext "$addr" list)"
    printf '%s\n' "$services"
    grep -qx 'grpc.health.v1.Health' <<<"$services" || die "reflection does not list grpc.health.v1.Health"
    grep -q '^duckgrid\.v1\.' <<<"$services" || die "reflection lists no duckgrid.v1 service"
    grep -q '^grpc\.reflection\.' <<<"$services" || die "reflection does not list itself"
}

host_port() {
    # `docker port` prints e.g. 127.0.0.1:49153 (and maybe [::1]:49153).
    docker port "$1" 50051/tcp | head -n1 | sed 's/.*://'
}

build_image() {
    if [[ -z "$image" ]]; then
        image=duckgrid:smoke
        group "docker build -t $image ."
        docker build -t "$image" .
        endgroup
    fi
}

smoke_image() {
    group "image: start $image with volume $volume"
    docker volume create "$volume" >/dev/null
    docker run -d --name "$container" \
        -p 127.0.0.1::50051 \
        -v "$volume:/data" \
        -e DUCKGRID_FACTS="$facts" \
        "$image" >/dev/null
    wait_healthy "$container"
    endgroup

    group "image: duckgrid health, by hand, inside the container"
    docker exec "$container" duckgrid health --addr 127.0.0.1:50051
    endgroup

    group "image: reflection listing"
    list_services "127.0.0.1:$(host_port "$container")"
    endgroup

    group "image: non-root, database on the volume"
    local uid
    uid="$(docker exec "$container" id -u)"
    [[ "$uid" != 0 ]] || die "the server runs as root"
    log "runs as uid $uid"
    docker exec "$container" sh -c 'ls -l /data/duckgrid.duckdb'
    endgroup

    group "image: restart, reopen the database"
    # Room for the server's own shutdown deadline (DUCKGRID_SHUTDOWN_TIMEOUT_MS).
    docker restart --time 30 "$container" >/dev/null
    wait_healthy "$container"
    list_services "127.0.0.1:$(host_port "$container")" >/dev/null
    endgroup
    log "image smoke test passed"
}

smoke_compose() {
    docker compose version >/dev/null 2>&1 || die "docker compose v2 is not installed"
    # An empty DUCKGRID_PORT publishes on a free host port (compose.yaml).
    group "compose: up --wait (duckgrid + redis)"
    started_compose=true
    DUCKGRID_IMAGE="$image" DUCKGRID_FACTS="$facts" DUCKGRID_PORT="" \
        docker compose -p "$project" up -d --no-build --wait --wait-timeout "$timeout_s"
    docker compose -p "$project" ps
    endgroup

    group "compose: reflection listing"
    local port
    port="$(docker compose -p "$project" port duckgrid 50051 | sed 's/.*://')"
    list_services "127.0.0.1:$port"
    endgroup

    group "compose: redis persistence is on"
    docker compose -p "$project" exec -T redis redis-cli CONFIG GET appendonly | grep -qx yes ||
        die "redis appendonly is not enabled"
    endgroup
    log "compose smoke test passed"
}

build_image
case "$what" in
image) smoke_image ;;
compose) smoke_compose ;;
all)
    smoke_image
    smoke_compose
    ;;
esac
