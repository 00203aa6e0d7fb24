# syntax=docker/dockerfile:1
# Multi-stage build: a static switchboard binary in a minimal, non-root image.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/switchboard ./cmd/switchboard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchboard /usr/local/bin/switchboard
# Raft state lives here; mount a volume so it survives the container.
VOLUME ["/var/lib/switchboard"]
# DNS (UDP and TCP), the HTTP API and metrics, Raft and node forwarding.
EXPOSE 53/udp 53/tcp 8053/tcp 7053/tcp
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.yaml"]
