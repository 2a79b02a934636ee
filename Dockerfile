# One image for the four services and the erasure command; docker-compose.yml picks the binary with `command`.
# Every setting is an environment variable; see each binary's --help.

FROM rust:1.91-slim-bookworm AS build
# librdkafka is built from source by rdkafka-sys (make, a C/C++ compiler, zlib).
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev python3 perl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p web -p producer-api -p hdfs-consumer -p es-sink -p eraser

FROM debian:bookworm-slim AS runtime
# curl for the compose healthchecks; CA certificates for HTTPS to Elasticsearch.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/web-events && chown app /var/lib/web-events
COPY --from=build /src/target/release/web /src/target/release/producer-api \
    /src/target/release/hdfs-consumer /src/target/release/es-sink /src/target/release/erase \
    /usr/local/bin/
USER app
# HDFS sees this name as the writer of landed files.
ENV HADOOP_USER_NAME=app
CMD ["producer-api", "--help"]
