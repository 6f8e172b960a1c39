#!/usr/bin/env bash
# Release steps (workflow .github/workflows/release.yml, on a vX.Y.Z tag).
#
#   scripts/ci/release.sh check-version TAG
#       TAG (vX.Y.Z[-pre]) must equal Cargo.toml's version, and so must the
#       version of every client package that declares one (clients/*/
#       pyproject.toml, clients/*/package.json).
#   scripts/ci/release.sh binaries TAG OUTDIR
#       Cross-builds the server for linux/amd64 and linux/arm64 through the
#       Dockerfile's `artifact` stage (docker buildx), then packages them.
#   scripts/ci/release.sh package-binaries TAG BUILDDIR OUTDIR
#       Packages binaries already exported by buildx (BUILDDIR/linux_amd64/
#       duckgrid, BUILDDIR/linux_arm64/duckgrid) as
#       duckgrid-TAG-<target triple>.tar.gz with README and licences.
#   scripts/ci/release.sh clients OUTDIR
#       Builds the client packages: an sdist and a wheel for each clients/*/
#       pyproject.toml, an `npm pack` tarball for each clients/*/package.json.
#       (The Go client is released as a module tag: see go-tags.)
#   scripts/ci/release.sh go-tags TAG
#       Prints the tag each Go module under clients/ needs for TAG
#       (clients/go/go.mod -> clients/go/vX.Y.Z).
#   scripts/ci/release.sh checksums OUTDIR
#       Writes OUTDIR/SHA256SUMS for every file in OUTDIR.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/ci/lib.sh
source "$ROOT/scripts/ci/lib.sh"
cd "$ROOT"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# version_of TAG: v1.2.3 -> 1.2.3 (and checks the form).
version_of() {
    local tag="$1"
    [[ "$tag" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
        die "'$tag' is not a release tag (vMAJOR.MINOR.PATCH[-PRERELEASE])"
    echo "${tag#v}"
}

check_version() {
    local tag="${1:?check-version needs a TAG}" want mismatches=0
    want="$(version_of "$tag")"
    local cargo_version
    cargo_version="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["package"]["version"])' Cargo.toml)"
    if [[ "$cargo_version" == "$want" ]]; then
        log "Cargo.toml: $cargo_version"
    else
        warn "Cargo.toml version is $cargo_version, tag $tag wants $want"
        mismatches=$((mismatches + 1))
    fi
    local f v
    for f in clients/*/pyproject.toml; do
        [[ -f "$f" ]] || continue
        v="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb")).get("project", {}).get("version", ""))' "$f")"
        if [[ -z "$v" ]]; then
            log "$f: dynamic version, not checked"
        elif [[ "$v" == "$want" ]]; then
            log "$f: $v"
        else
            warn "$f version is $v, tag $tag wants $want"
            mismatches=$((mismatches + 1))
        fi
    done
    for f in clients/*/package.json; do
        [[ -f "$f" ]] || continue
        v="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("version", ""))' "$f")"
        if [[ "$v" == "$want" ]]; then
            log "$f: $v"
        else
            warn "$f version is '$v', tag $tag wants $want"
            mismatches=$((mismatches + 1))
        fi
    done
    [[ $mismatches -eq 0 ]] || die "$mismatches version(s) disagree with $tag: bump them before tagging"
    log "all versions match $tag"
}

package_binaries() {
    local tag="${1:?TAG}" build="${2:?BUILDDIR}" out="${3:?OUTDIR}"
    version_of "$tag" >/dev/null
    mkdir -p "$out"
    local platform triple name staging
    for platform in linux_amd64 linux_arm64; do
        case "$platform" in
        linux_amd64) triple=x86_64-unknown-linux-gnu ;;
        linux_arm64) triple=aarch64-unknown-linux-gnu ;;
        esac
        [[ -f "$build/$platform/duckgrid" ]] || die "missing $build/$platform/duckgrid"
        name="duckgrid-$tag-$triple"
        staging="$(mktemp -d)"
        mkdir -p "$staging/$name"
        install -m 0755 "$build/$platform/duckgrid" "$staging/$name/duckgrid"
        local doc
        for doc in README.md LICENSE LICENSE-MIT LICENSE-APACHE; do
            [[ -f "$doc" ]] && cp "$doc" "$staging/$name/"
        done
        tar -C "$staging" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
        rm -rf "$staging"
        log "packaged $out/$name.tar.gz"
    done
}

binaries() {
    local tag="${1:?TAG}" out="${2:?OUTDIR}" build
    need_cmd docker
    docker buildx version >/dev/null 2>&1 || die "docker buildx is needed for the cross-build"
    build="$(mktemp -d)"
    docker buildx build --platform linux/amd64,linux/arm64 --target artifact \
        --output "type=local,dest=$build" .
    package_binaries "$tag" "$build" "$out"
    rm -rf "$build"
}

clients() {
    local out="${1:?clients needs an OUTDIR}" dir built=0
    mkdir -p "$out"
    out="$(cd "$out" && pwd)"
    for dir in clients/*/; do
        dir="${dir%/}"
        if [[ -f "$dir/pyproject.toml" ]]; then
            group "python package: $dir"
            local venv="$DUCKGRID_CI_TOOLS/release-venv"
            if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -m build --version 2>/dev/null | grep -qF "$PYPA_BUILD_VERSION"; then
                rm -rf "$venv"
                "${PYTHON:-python3}" -m venv "$venv"
                "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "build==$PYPA_BUILD_VERSION"
            fi
            "$venv/bin/python" -m build --sdist --wheel --outdir "$out" "$dir"
            built=$((built + 1))
            endgroup
        fi
        if [[ -f "$dir/package.json" ]]; then
            group "npm package: $dir"
            need_cmd npm
            (
                cd "$dir"
                if [[ -f package-lock.json ]]; then npm ci; else npm install; fi
                npm run build --if-present
                npm pack --pack-destination "$out"
            )
            built=$((built + 1))
            endgroup
        fi
    done
    [[ $built -gt 0 ]] || die "no client packages found under clients/"
    ls -l "$out"
}

go_tags() {
    local tag="${1:?go-tags needs a TAG}" mod
    version_of "$tag" >/dev/null
    for mod in clients/*/go.mod clients/go.mod; do
        [[ -f "$mod" ]] || continue
        echo "$(dirname "$mod")/$tag"
    done
}

checksums() {
    local out="${1:?checksums needs an OUTDIR}"
    (
        cd "$out"
        local sums
        sums="$(find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort | xargs sha256sum)"
        printf '%s\n' "$sums" >SHA256SUMS
        cat SHA256SUMS
    )
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
check-version) check_version "$@" ;;
binaries) binaries "$@" ;;
package-binaries) package_binaries "$@" ;;
clients) clients "$@" ;;
go-tags) go_tags "$@" ;;
checksums) checksums "$@" ;;
-h | --help | "") usage ;;
*) die "unknown command '$cmd' (try --help)" ;;
esac
