// Package demo runs the example programs and connects them to Redis.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/systemtrader/redisclient"
)

// Connect returns a client for REDIS_URL (and the other variables of
// redisclient.OptionsFromEnv), or for an embedded miniredis when REDIS_URL is
// unset, and a function that closes both. A service would call
// redisclient.GetClient() instead.
func Connect(w io.Writer) (*redisclient.Client, func(), error) {
	if os.Getenv("REDIS_URL") != "" {
		opts, err := redisclient.OptionsFromEnv()
		if err != nil {
			return nil, nil, err
		}
		c, err := redisclient.New(opts)
		if err != nil {
			return nil, nil, err
		}
		return c, func() { _ = c.Close() }, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintln(w, "REDIS_URL not set: using an embedded miniredis")
	c, err := redisclient.New(redisclient.Options{URL: "redis://" + mr.Addr() + "/0"})
	if err != nil {
		mr.Close()
		return nil, nil, err
	}
	return c, func() { _ = c.Close(); mr.Close() }, nil
}

// Main runs an example: run with a 10 s deadline, writing to stdout. An
// error is printed after the example's name and exits with status 1.
func Main(name string, run func(context.Context, io.Writer) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := run(ctx, os.Stdout)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
