# switchboard — make targets. `make test` installs what the tests need
# (Debian packages for the real DNS peers) and runs every test.

GO        ?= go
BIN       ?= bin/switchboard
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# Debian packages the tests use as real peers: BIND 9 and Knot for RFC 2136
# and zone transfers, dig/kdig as clients, dnsperf for benchmarks.
DEB_PKGS  := bind9 bind9-dnsutils knot knot-dnsutils dnsperf iproute2
DEB_BINS  := named dig knotd kdig dnsperf ip
# Packages with concurrency run under the race detector.
RACE_PKGS := ./raft/... ./controller/... ./health/... ./dnsserver/... ./api/... ./providers/...

.PHONY: all build test test-deps unit race e2e bench bench-failover vet fmt clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/switchboard

# test-deps installs the Debian packages when any of their programs is
# missing (apt-get update first, as a fresh machine has no lists).
test-deps:
	@missing=""; for b in $(DEB_BINS); do command -v $$b >/dev/null 2>&1 || PATH="$$PATH:/usr/sbin:/sbin" command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing test dependencies (missing:$$missing)"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(DEB_PKGS) >/dev/null; \
	fi

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test runs everything: vet, all tests, the concurrent packages under -race.
test: test-deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

unit:
	$(GO) test -count=1 -short ./...

bench: test-deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# bench-failover measures failover detection side by side with PowerDNS
# (takes minutes; not part of test). It installs PowerDNS when missing.
# Pass driver flags with ARGS, e.g. make bench-failover ARGS='-reps 20'.
bench-failover:
	bench/failover/run.sh $(ARGS)

clean:
	rm -rf bin
