# syntax=docker/dockerfile:1
#
# duckgrid server image.
#
#   docker build -t duckgrid .                      # this machine's platform
#   docker buildx build --platform linux/amd64,linux/arm64 -t IMAGE --push .
#   docker buildx build --platform linux/amd64,linux/arm64 --target artifact \
#       --output type=local,dest=dist .              # just the binaries
#
# Stages:
#   chef     Rust toolchain + cargo-chef, on the build machine's platform
#   planner  reduces the manifests to a dependency "recipe"
#   builder  compiles the dependencies from the recipe alone (a layer that is
#            reused until Cargo.toml/Cargo.lock change; DuckDB's C++ lives
#            here), then the sources; cross-compiles for arm64 on amd64 (and
#            back) with Debian's cross toolchains instead of emulating the
#            whole build under QEMU
#   artifact the bare binary (release.yml exports it for the GitHub release)
#   runtime  debian-slim, non-root, the binary and nothing else
#
# The image uses the release profile: it is not the test build (tests,
# benchmarks and the client suites all use the dev profile; see scripts/env.sh).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install --locked cargo-chef --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "${CARGO_HOME}/registry"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# (inherited from chef; repeated so linters see it)
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG TARGETARCH
ARG BUILDARCH
# Pick the Rust target for TARGETARCH; when it differs from the build
# machine's, install Debian's cross gcc/g++ (DuckDB is C++) and point cargo
# and the cc crate at them. /env/cross is sourced before every cargo command.
# hadolint ignore=DL3008
RUN set -eux; \
    case "${TARGETARCH}" in \
      amd64) triple=x86_64-unknown-linux-gnu;  gnu=x86_64-linux-gnu;  pkg=g++-x86-64-linux-gnu ;; \
      arm64) triple=aarch64-unknown-linux-gnu; gnu=aarch64-linux-gnu; pkg=g++-aarch64-linux-gnu ;; \
      *) echo "unsupported TARGETARCH=${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    mkdir -p /env; \
    echo "export RUST_TARGET=${triple}" > /env/cross; \
    if [ "${TARGETARCH}" != "${BUILDARCH}" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends "${pkg}"; \
      rm -rf /var/lib/apt/lists/*; \
      rustup target add "${triple}"; \
      upper="$(echo "${triple}" | tr 'a-z-' 'A-Z_')"; \
      lower="$(echo "${triple}" | tr '-' '_')"; \
      { \
        echo "export CARGO_TARGET_${upper}_LINKER=${gnu}-gcc"; \
        echo "export CC_${lower}=${gnu}-gcc"; \
        echo "export CXX_${lower}=${gnu}-g++"; \
        echo "export AR_${lower}=${gnu}-ar"; \
      } >> /env/cross; \
    fi; \
    cat /env/cross
COPY --from=planner /src/recipe.json recipe.json
# The dependency layer: rebuilt only when the recipe (manifests, lock file)
# changes.
RUN . /env/cross \
    && cargo chef cook --release --locked --target "${RUST_TARGET}" --recipe-path recipe.json
# The source layer.
COPY . .
RUN . /env/cross \
    && cargo build --release --locked --target "${RUST_TARGET}" --bin duckgrid \
    && install -D -m 0755 "target/${RUST_TARGET}/release/duckgrid" /out/duckgrid

FROM scratch AS artifact
COPY --from=builder /out/duckgrid /duckgrid

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG UID=10001
ARG GID=10001
# The binary needs glibc and libstdc++ (both in debian-slim) and nothing else:
# no shell tools, no package installs. /data is the database volume, owned by
# the unprivileged user so a fresh named volume is writable.
RUN groupadd --system --gid "${GID}" duckgrid \
    && useradd --system --uid "${UID}" --gid duckgrid --home-dir /data \
       --no-create-home --shell /usr/sbin/nologin duckgrid \
    && mkdir -p /data \
    && chown "${UID}:${GID}" /data
COPY --from=builder /out/duckgrid /usr/local/bin/duckgrid
# The example models, to try `serve --model /examples/budget/model.toml`; a
# model of your own is mounted the same way (its data files beside it).
COPY examples /examples

LABEL org.opencontainers.image.title="duckgrid" \
      org.opencontainers.image.description="A real-time, multi-user planning grid over gRPC: one DuckDB writer, spreading writes, live watches." \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"

# A container must listen on every interface; without --auth-file that is
# refused unless asked for. Mount a keys file and set DUCKGRID_AUTH_FILE to
# require keys (the insecure flag then has no effect).
ENV DUCKGRID_LISTEN=0.0.0.0:50051 \
    DUCKGRID_INSECURE_NO_AUTH=true \
    DUCKGRID_DB=/data/duckgrid.duckdb \
    DUCKGRID_LOG_FORMAT=json

USER ${UID}:${GID}
WORKDIR /data
VOLUME ["/data"]
# gRPC; and /metrics when DUCKGRID_METRICS_LISTEN asks for it (compose does).
EXPOSE 50051 9464

# gRPC health protocol (grpc.health.v1), through the binary's own client: the
# image needs no grpc_health_probe. The first start imports the model's data
# into the database, hence the start period.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --start-interval=2s --retries=3 \
    CMD ["duckgrid", "health", "--addr", "127.0.0.1:50051"]

ENTRYPOINT ["duckgrid"]
CMD ["serve"]
