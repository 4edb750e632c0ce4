# syntax=docker/dockerfile:1
# Build stage: the official Swift image, a static Swift stdlib so the runtime needs no toolchain.
FROM swift:6.3-bookworm AS build
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib --product flaks \
 && install -D "$(swift build -c release --show-bin-path)/flaks" /out/flaks

# Runtime stage: Debian slim with the interpreters the example CGI scripts use.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 perl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /srv/flaks --shell /usr/sbin/nologin flaks
WORKDIR /srv/flaks
COPY --from=build /out/flaks /usr/local/bin/flaks
COPY config.yaml ./config.yaml
COPY sites ./sites
USER flaks
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/local/bin/flaks", "probe", "http://127.0.0.1:8080/healthz"]
# The manifest can be replaced by mounting a volume over /srv/flaks/config.yaml.
ENTRYPOINT ["/usr/local/bin/flaks"]
CMD ["serve", "--config", "/srv/flaks/config.yaml"]
