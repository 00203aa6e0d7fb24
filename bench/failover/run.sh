#!/bin/sh
# Failover benchmark, side by side on loopback: switchboard (one node and a
# 3-node cluster) and PowerDNS Authoritative 4.7 with a LUA ifurlup record.
# Installs PowerDNS from Debian when missing, builds switchboard and the
# driver, runs the driver. Extra arguments go to the driver
# (e.g. -reps 20, -systems single,pdns, -faults crash, -keep).
# Results: bench/failover/results.md (see BENCHMARKS.md for recorded runs).
set -eu
cd "$(dirname "$0")/../.."

PDNS=/usr/sbin/pdns_server
if [ ! -x "$PDNS" ] || ! dpkg-query -W -f '${Status}' pdns-backend-bind 2>/dev/null | grep -q 'ok installed'; then
	echo "installing pdns-server pdns-backend-bind"
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends pdns-server pdns-backend-bind >/dev/null
fi
# The package may start its own daemon; the benchmark runs its own
# instance on 127.0.0.4 with its own configuration and does not touch it.

mkdir -p bin
go build -o bin/switchboard ./cmd/switchboard
go build -o bin/failover-bench ./bench/failover
exec bin/failover-bench -switchboard bin/switchboard -pdns "$PDNS" "$@"
