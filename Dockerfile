# syntax=docker/dockerfile:1
#
# Flaks container image.
#
#   docker build -t flaks .
#   docker run --rm -p 8080:8080 flaks                 # the example sites on http://localhost:8080
#   curl localhost:8080/api/                           # the example service (sites/services/hello.py)
#
# One container, a site and the services behind it: config.yaml's `services:` block makes Flaks
# start two instances of sites/services/hello.py (python3, standard library only), restart them
# when they die, roll them on reload and stop them after the drain; `/api/` proxies to them.
#
# The manifest is /srv/flaks/config.yaml (relative paths in it, such as `sites/plain`, resolve
# against /srv/flaks). Replace it with a mounted volume:
#
#   docker run --rm -p 8080:8080 -v "$PWD/my.yaml:/srv/flaks/config.yaml:ro" flaks
#
# or mount a directory and point --config at it (needed for --watch: a single-file bind mount
# keeps the old inode when an editor or Kubernetes replaces the file):
#
#   docker run --rm -p 8080:8080 -v "$PWD/conf:/srv/flaks/config:ro" flaks \
#     serve --config /srv/flaks/config/config.yaml --watch
#
# The process writes nothing to the image's filesystem (access log and errors go to
# stdout/stderr), so it runs with a read-only root filesystem; CGI scripts that keep state need
# a writable volume (the example wsgi_app.py uses /tmp).

# ---- Build stage: the official Swift image; a fully static binary, so the runtime needs no toolchain.
FROM swift:6.3-bookworm AS build
# The C libraries Flaks links, with the static archives the fully static link takes (scripts/packages.sh):
# OpenSSL 3 (TLS), zlib, brotli and zstd (compression), libxcrypt (htpasswd hashes).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libcrypt-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# SwiftPM validates every target's directory when it loads Package.swift, so the test and
# benchmark targets' sources have to be present even though only `flaks` is built.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY bench/RouteBench ./bench/RouteBench
COPY scripts/build-release.sh ./scripts/
# Fully static (stdlib, Foundation, glibc), linked by lld in hot-function order: see docs/memory.md.
RUN --mount=type=cache,target=/src/.build \
    install -D -m 0755 "$(scripts/build-release.sh)" /out/flaks

# ---- Runtime stage: Debian slim with the interpreters the example CGI scripts and the example
# service use (python3, perl).
FROM debian:bookworm-slim

# tini as PID 1. Flaks itself handles SIGTERM/SIGINT/SIGQUIT correctly as PID 1 (the signals are
# blocked and read from a signalfd, and the kernel queues blocked signals even for a namespace's
# init), and it reaps its own CGI scripts and service instances. `flaks serve` is also a child
# subreaper (PR_SET_CHILD_SUBREAPER): what a service or CGI script leaves behind when it forks or
# daemonises is re-parented to Flaks, which reaps it, and kills what is left of a service's
# instance when the instance exits. tini (a few KiB) stays the PID 1 for what is not below Flaks
# (a `docker exec` shell's jobs, a process left over when Flaks itself is gone); it forwards
# SIGTERM (STOPSIGNAL) to flaks and exits with flaks's exit status, so `docker stop` and
# Kubernetes still get flaks's drain, the services' stop and its exit code 0.
#
# Package versions are not pinned (DL3008): bookworm is a stable release that only receives
# security and point-release fixes, which we want on every rebuild, and the archive drops
# superseded versions, so exact pins would make the build fail rather than make it reproducible.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 perl tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 flaks \
 && useradd --system --uid 10001 --gid 10001 --home-dir /srv/flaks --no-create-home \
      --shell /usr/sbin/nologin flaks

WORKDIR /srv/flaks
COPY --from=build /out/flaks /usr/local/bin/flaks
# Owned by root and read-only for the server's user: the server never needs to write them.
COPY config.yaml ./config.yaml
COPY sites ./sites
# ACME storage (`tls.acme.storage: /srv/flaks/acme`): the account key, certificates and keys, written
# by the server's user; mount a volume here (`-v flaks-acme:/srv/flaks/acme`) so a restart or
# another replica reuses them instead of ordering again.
RUN install -d -o 10001 -g 10001 -m 0700 /srv/flaks/acme
VOLUME ["/srv/flaks/acme"]

# A numeric user, so Kubernetes can verify runAsNonRoot without resolving a name.
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/flaks", "probe", "--timeout", "2", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/flaks"]
CMD ["serve", "--config", "/srv/flaks/config.yaml"]
