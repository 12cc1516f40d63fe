//go:build !race

package redisclient

const raceEnabled = false
