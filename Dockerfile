# syntax=docker/dockerfile:1
#
# The kafka-obs image: one binary; the configuration chooses the role (sidecar or central).
#
#   docker build -t kafka-obs:0.1.0 .
#   docker run --rm -e JMX_URL=host.docker.internal:9999 \
#       -e AGGREGATOR_URL=http://kafka-obs-aggregator:50051 kafka-obs:0.1.0
#   docker run --rm -v $PWD/my.yaml:/etc/kafka-obs/config.yaml:ro kafka-obs:0.1.0
#   docker build --build-arg FEATURES= -t kafka-obs:0.1.0-slim .   # the slim sidecar build
#
# The default configuration is examples/sidecar.yaml (the seed's Deployment Model 2: JMX_URL
# and AGGREGATOR_URL from the environment). Ports: 13133 health check, 8888 self-metrics.
# Kubernetes manifests: deploy/kubernetes/. What every port and metric means: docs/operations.md.
#
# Why distroless/cc and not a fully static image: the Kafka exporter links librdkafka (built
# from source here) with the system OpenSSL. A static binary would need the musl target and
# both C libraries cross-built for musl, and musl's allocator and DNS resolver behave worse
# than glibc's for a long-running network service. gcr.io/distroless/cc-debian12 has exactly
# what the binary links (glibc, libgcc_s, libm, OpenSSL 3 of the same Debian release as the
# builder below, CA certificates), no shell and no package manager. zlib, which it lacks, is
# linked statically (LIBZ_SYS_STATIC=1); tests/tests/deploy_kit/image.rs checks the binary's `ldd`
# against this list. Its `nonroot` variant runs as uid/gid 65532.
#
# FEATURES picks the cargo features: `kafka` (the default) has the Kafka receiver and exporter;
# empty is the slim sidecar build (JMX and OTLP in; OTLP, signal stream and files out), which
# leaves out librdkafka and OpenSSL and runs in about 1.7 MiB less memory (BENCHMARKS.md).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# librdkafka is built with its configure script and make (no cmake); OpenSSL headers for its
# TLS/SASL, pkg-config to find them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ARG FEATURES=kafka
# The whole workspace (see .dockerignore): cargo needs every member's manifest.
COPY . .
ENV LIBZ_SYS_STATIC=1 \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p kafka-obs --no-default-features --features "${FEATURES}" \
 && install -D -m 0755 target/release/kafka-obs /out/kafka-obs \
 && install -D -m 0644 examples/sidecar.yaml /out/config.yaml \
 && install -d -m 0750 /out/var-lib-kafka-obs

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/kafka-obs /usr/local/bin/kafka-obs
COPY --from=builder /out/config.yaml /etc/kafka-obs/config.yaml
# Disk queues (file_storage) live here; mount a volume to keep them across container restarts.
COPY --from=builder --chown=65532:65532 /out/var-lib-kafka-obs /var/lib/kafka-obs
USER 65532:65532
EXPOSE 13133 8888
ENTRYPOINT ["/usr/local/bin/kafka-obs"]
CMD ["--config", "/etc/kafka-obs/config.yaml"]
