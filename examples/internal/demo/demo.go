// Package demo connects the example programs to Redis.
package demo

import (
	"fmt"
	"io"
	"os"

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
