# Multi-stage build: static quarryd, quarryctl and devnet binaries on a
# minimal base, run as a non-root user with the data directory on a volume.
#
#   docker build -t quarry .
#   docker run -d --name quarry -p 127.0.0.1:27732:27732 -p 127.0.0.1:27734:27734 quarry
#
# configs/dockertest builds and runs this file on a real engine.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/quarryd ./cmd/quarryctl ./cmd/devnet \
 && mkdir -p /out/home/.quarry

FROM gcr.io/distroless/static-debian12:nonroot
# devnet is the lab's tool; docker-compose runs its "identities" command to
# write the deterministic p2p keys of a devnet into the shared volume.
COPY --from=build /out/quarryd /out/quarryctl /out/devnet /usr/local/bin/
# distroless' nonroot user is uid 65532; its home is /home/nonroot. The data
# directory exists and belongs to it before VOLUME, so a fresh volume does too.
COPY --from=build --chown=65532:65532 /out/home/.quarry /home/nonroot/.quarry
USER 65532:65532
ENV HOME=/home/nonroot
VOLUME ["/home/nonroot/.quarry"]
# dev network defaults: p2p (TCP+QUIC), RPC, metrics.
EXPOSE 27733/tcp 27733/udp 27732/tcp 27734/tcp
# The image has no shell: the health check is one RPC call by quarryctl with
# the defaults of the default command (dev network, RPC on 127.0.0.1:27732,
# the cookie in ~/.quarry/dev). A command that changes the network, the RPC
# port or the authentication needs its own check (see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/quarryctl", "--rpc-timeout", "5s", "getblockcount"]
ENTRYPOINT ["/usr/local/bin/quarryd"]
CMD ["--rpc-listen", "0.0.0.0:27732", "--rpc-allow-remote", "--metrics-listen", "0.0.0.0:27734"]
