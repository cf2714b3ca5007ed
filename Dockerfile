# Dockerfile - the akidb image: `akidb serve` as an unprivileged user, its
# data folder on /data.  Two stages: a Debian 12 stage compiles akidb
# (Release, portable: the kernels pick AVX2 / AVX-512 / NEON at run time),
# and the runtime image holds only the binary, the shared libraries it links
# (found with ldd), the CA bundle for `akidb pull`, and an /etc/passwd
# naming the akidb user (uid 10001) - about 25 MB.
#
#   docker build -t akidb:0.1.0 .
#   docker run -p 8080:8080 -v akidb-data:/data -e AKIDB_ADMIN_KEY=ak_$(openssl rand -hex 24) akidb:0.1.0
#   docker run --rm -v akidb-data:/data akidb:0.1.0 pull sentence-transformers/all-MiniLM-L6-v2
#
# BUILD_BASE is any Debian 12 image; scripts/container.sh passes one made
# from Debian packages with scripts/deps.sh already run in it.  JOBS caps the
# compile's parallelism (default: every core).
# The server binds 0.0.0.0 in the container, so auth is on: set
# AKIDB_ADMIN_KEY, or read the admin key generated at the first start from
# the container log.  The root filesystem may be mounted read-only: akidb
# writes only under /data.

ARG BUILD_BASE=debian:12
FROM ${BUILD_BASE} AS build
# (scripts/container.sh removes the build stage's images by this label)
LABEL akidb.stage=build
# The same package list as a source checkout (installs only what is missing).
COPY scripts/deps.sh /tmp/deps.sh
RUN bash /tmp/deps.sh && rm -rf /var/lib/apt/lists/* /tmp/deps.sh
WORKDIR /src
# Only what the build reads; the top-level CMakeLists also configures tests/.
COPY CMakeLists.txt ./
COPY include/ include/
COPY src/ src/
COPY tests/ tests/
ARG JOBS=
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAKIDB_NATIVE=OFF \
 && cmake --build build --target akidb -j"${JOBS:-$(nproc)}"
# The runtime tree: the binary, every library ldd resolves (the loader
# included, at the paths ldd prints), the CA bundle, the akidb user.
RUN set -eu; r=/rootfs; \
    mkdir -p "$r/usr/local/bin" "$r/etc/ssl/certs" "$r/data" "$r/tmp"; \
    install -m 0755 -s build/akidb "$r/usr/local/bin/akidb"; \
    for f in $(ldd build/akidb | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do \
      cp -L --parents "$f" "$r/"; \
    done; \
    cp -L /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/"; \
    printf 'root:x:0:0:root:/:/nonexistent\nakidb:x:10001:10001:akidb:/data:/nonexistent\n' > "$r/etc/passwd"; \
    printf 'root:x:0:\nakidb:x:10001:\n' > "$r/etc/group"; \
    printf 'hosts: files dns\n' > "$r/etc/nsswitch.conf"; \
    chown 10001:10001 "$r/data"; chmod 1777 "$r/tmp"; \
    chroot "$r" /usr/local/bin/akidb version

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build --chown=10001:10001 /rootfs/data /data
USER 10001:10001
ENV AKIDB_DATA=/data \
    AKIDB_HOST=0.0.0.0 \
    AKIDB_PORT=8080 \
    HOME=/data
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM drains in-flight requests and closes the store (snapshot written).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/akidb"]
CMD ["serve"]
