# Multi-stage build: a static quarryd/quarryctl on a minimal base, run as a
# non-root user with the data directory on a volume.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/quarryd ./cmd/quarryd \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/quarryctl ./cmd/quarryctl \
 && mkdir -p /out/home/.quarry

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/quarryd /out/quarryctl /usr/local/bin/
# distroless' nonroot user is uid 65532; its home is /home/nonroot. The data
# directory exists and belongs to it before VOLUME, so a fresh volume does too.
COPY --from=build --chown=65532:65532 /out/home/.quarry /home/nonroot/.quarry
USER 65532:65532
ENV HOME=/home/nonroot
VOLUME ["/home/nonroot/.quarry"]
# dev network defaults: p2p (TCP+QUIC), RPC, metrics.
EXPOSE 27733/tcp 27733/udp 27732/tcp 27734/tcp
ENTRYPOINT ["/usr/local/bin/quarryd"]
CMD ["--rpc-listen", "0.0.0.0:27732", "--rpc-allow-remote", "--metrics-listen", "0.0.0.0:27734"]
