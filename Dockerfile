# Dockerfile - builds the akidb binary from source on Debian 12 and runs
# `akidb serve` as an unprivileged user with its data folder on /data.
#
#   docker build -t akidb:0.1.0 .
#   docker run -p 8080:8080 -v akidb-data:/data -e AKIDB_ADMIN_KEY=ak_$(openssl rand -hex 24) akidb:0.1.0
#   docker run --rm -v akidb-data:/data akidb:0.1.0 pull sentence-transformers/all-MiniLM-L6-v2
#
# The server binds 0.0.0.0 in the container, so auth is on: set
# AKIDB_ADMIN_KEY, or read the admin key generated at the first start from
# the container log.

FROM debian:12 AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config ca-certificates \
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads; the top-level CMakeLists also configures tests/.
COPY CMakeLists.txt ./
COPY include/ include/
COPY src/ src/
COPY tests/ tests/
# AKIDB_NATIVE stays off: the image must run on any x86-64 / arm64 machine;
# the kernels pick AVX2/AVX-512/NEON at run time.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAKIDB_NATIVE=OFF \
 && cmake --build build --target akidb -j"$(nproc)" \
 && install -m 0755 build/akidb /usr/local/bin/akidb

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libjansson4 libmicrohttpd12 libcurl4 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 akidb \
 && useradd --system --uid 10001 --gid akidb --home-dir /data --shell /usr/sbin/nologin akidb \
 && mkdir -p /data && chown akidb:akidb /data
COPY --from=build /usr/local/bin/akidb /usr/local/bin/akidb
USER 10001:10001
ENV AKIDB_DATA=/data \
    AKIDB_HOST=0.0.0.0 \
    AKIDB_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM drains in-flight requests and closes the store.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/akidb"]
CMD ["serve"]
