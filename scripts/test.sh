#!/usr/bin/env bash
# Runs the whole test suite the way CI does: installs the Debian packages it
# needs when they are missing (scripts/deps.sh: as root, or with password-free
# sudo; otherwise it prints the install command and stops before starting
# anything), starts throwaway Redis servers
# (standalone, 3-master cluster, sentinel) on free loopback ports, checks
# formatting, vets, runs `go test -race` with the integration tests required,
# tests the examples/metrics module (its own go.mod), builds the bench module,
# and stops the servers even when a step fails. The tests that kill cluster
# masters (cluster_failover_test.go) start a cluster of their own through
# scripts/servers.sh (kind ha-cluster: 3 masters + 3 replicas) and stop it
# themselves.
#
#   scripts/test.sh [go test flags...]     e.g. scripts/test.sh -run Cluster -v
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh install
go version
redis-server --version

state="$(mktemp -d "${TMPDIR:-/tmp}/redisclient-test.XXXXXX")"
cleanup() {
	scripts/servers.sh stop "$state" || true
	rm -rf "$state"
}
trap cleanup EXIT

scripts/servers.sh start "$state"
# shellcheck disable=SC1091
source "$state/env"
export REDISCLIENT_INTEGRATION=1

echo "== gofmt"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

if [[ -f examples/metrics/go.mod ]]; then
	echo "== examples/metrics module (vet and race tests)"
	(cd examples/metrics && go vet ./... && go test -race -count=1 ./...)
fi

if [[ -f bench/go.mod ]]; then
	echo "== bench module (vet and build)"
	(cd bench && go vet ./... && go test -count=1 ./...)
fi

echo "== allocation checks (need a build without the race detector)"
go test -count=1 -run 'Allocations' .

echo "== go test -race"
go test -race -count=1 -timeout 15m "$@" ./...
