# driftmon: multi-stage build on Debian 12.
#   docker build -t driftmon .
#   docker run -p 8004:8004 driftmon            # SQLite in /var/lib/driftmon
# docker-compose.yaml runs it with PostgreSQL (configs/docker.yaml).

# ---- build stage: the same packages and commands as scripts/bootstrap
# ---- and the README (meson setup + ninja), release build, tests off.
FROM debian:12-slim AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
        build-essential meson ninja-build pkg-config \
        libmicrohttpd-dev libcurl4-openssl-dev libyaml-dev \
        libjansson-dev libpq-dev libsqlite3-dev libopenblas-dev \
        libutf8proc-dev libdnnl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build -Dbuildtype=release -Dtests=false -Dbench=false \
 && ninja -C /build \
 && /build/driftmon --version

# ---- runtime stage: only the shared libraries, a non-root user.
FROM debian:12-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
        libmicrohttpd12 libcurl4 libyaml-0-2 libjansson4 libpq5 \
        libsqlite3-0 libopenblas0-pthread libutf8proc2 libdnnl2 libgomp1 \
        ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/driftmon \
        --create-home --shell /usr/sbin/nologin driftmon
COPY --from=build /build/driftmon /usr/local/bin/driftmon
COPY configs/ /etc/driftmon/
COPY init-scripts/ /usr/share/driftmon/init-scripts/
USER driftmon
WORKDIR /var/lib/driftmon
EXPOSE 8004
# /health answers 200 when the store is reachable, 503 when degraded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8004/health >/dev/null || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/driftmon"]
CMD ["serve", "--config", "/etc/driftmon/drift-monitor.yaml"]
