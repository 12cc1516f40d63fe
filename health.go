package redisclient

import "context"

// Ping checks that Redis answers (every master of a cluster).
func (c *Client) Ping(ctx context.Context) error {
	if c.err != nil {
		return opErr("ping", "", c.err)
	}
	if c.shared.closed.Load() {
		return opErr("ping", "", ErrClosed)
	}
	return opErr("ping", "", c.shared.rdb.Ping(ctx).Err())
}
