package main

import (
	"time"

	"github.com/systemtrader/redisclient"
)

// This file holds what a round of checks produces: the verdicts, the
// report --json prints, and the names of the checks in report order.

// Status is the verdict of one check.
type Status string

// Check verdicts. SKIP marks a check that could not run (Redis unreachable,
// or the server does not report what it needs); it never fails the run.
const (
	StatusOK   Status = "OK"
	StatusWarn Status = "WARN"
	StatusFail Status = "FAIL"
	StatusSkip Status = "SKIP"
)

func (s Status) rank() int {
	switch s {
	case StatusFail:
		return 3
	case StatusWarn:
		return 2
	case StatusOK:
		return 1
	}
	return 0
}

func worse(a, b Status) Status {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

// Check is the result of one check. Advice says how to fix a WARN or FAIL.
type Check struct {
	Name   string   `json:"name"`
	Status Status   `json:"status"`
	Detail string   `json:"detail"`
	Advice []string `json:"advice,omitempty"`
}

// Report is one round of checks. It is what --json prints.
type Report struct {
	// Status is the worst verdict of the checks (OK when all are OK or
	// skipped); ExitCode is 1 when any check failed, else 0.
	Status     Status    `json:"status"`
	ExitCode   int       `json:"exit_code"`
	Target     string    `json:"target"`
	Deployment string    `json:"deployment"`
	DB         int       `json:"db"`
	CheckedAt  time.Time `json:"checked_at"`
	DurationMS float64   `json:"duration_ms"`
	Checks     []Check   `json:"checks"`
	// Health is the library's own report (client.Health).
	Health redisclient.HealthReport `json:"health"`

	// needsPassword: the server wants a password, so redis-cli needs one.
	needsPassword bool
}

// Names of the checks, in report order.
const (
	checkReachable = "reachable"
	checkAuth      = "auth"
	checkLatency   = "latency"
	checkServer    = "server"
	checkMemory    = "memory"
	checkPolicy    = "eviction-policy"
	checkEvicted   = "evicted-keys"
	checkPersist   = "persistence"
	checkSlowlog   = "slowlog"
	checkClients   = "clients"
	checkCluster   = "cluster"
)

// serverChecks are the checks that need an answering, authenticated server.
var serverChecks = []string{checkLatency, checkServer, checkMemory, checkPolicy, checkEvicted, checkPersist, checkSlowlog, checkClients}
