package redisclient

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/redis/go-redis/v9"
)

// release gives up a message without acknowledging it: it stays pending in
// Redis for a consumer of the group to reclaim.
func (c *Consumer) release(d *delivery) {
	c.leftPending.Add(1)
	c.done1(d)
}

// done1 removes d from this consumer's hands.
func (c *Consumer) done1(d *delivery) {
	c.mu.Lock()
	delete(c.inFlight, d.id)
	c.mu.Unlock()
	c.pending.Add(-1)
}

// workLoop runs the handler on delivered messages until the reader stops.
func (c *Consumer) workLoop() {
	defer c.loops.Done()
	for d := range c.work {
		d.taken.Store(true)
		if c.queued.Add(-1) == 0 {
			select {
			case c.drained <- struct{}{}:
			default:
			}
		}
		if c.closing.Load() || d.lost.Load() {
			c.release(d) // stays pending for the group
			continue
		}
		c.process(d)
	}
}

// process runs the handler on d until it succeeds, is given up, or the
// consumer closes.
func (c *Consumer) process(d *delivery) {
	if c.maxDeliv > 0 && d.deliveries > c.maxDeliv {
		c.deadLetter(d, fmt.Errorf("delivered %d times without an acknowledgement: its consumers crashed or held it longer than MinIdle", d.deliveries-1))
		return
	}
	for attempt := 1; ; attempt++ {
		err := c.call(d)
		if err == nil {
			c.acks <- d
			return
		}
		c.report(err)
		if c.maxDeliv > 0 && d.deliveries >= c.maxDeliv {
			c.deadLetter(d, err)
			return
		}
		if c.closing.Load() || !c.pause(c.retryDelay(attempt)) {
			c.release(d)
			return
		}
		if !c.claimAgain(d) {
			c.release(d)
			return
		}
		c.retried.Add(1)
	}
}

// retryDelay is the pause after the attempt-th failure of one message.
func (c *Consumer) retryDelay(attempt int) time.Duration {
	return expBackoff(c.opts.RetryDelay, min(c.opts.MaxRetryDelay, c.opts.MinIdle/2), attempt)
}

// claimAgain makes the retry of d a new delivery in Redis (XCLAIM to
// ourselves), which counts it and restarts its idle time. It claims only
// when nobody else has taken d over since we got it: XCLAIM's min-idle is
// the time since then, which another consumer's later claim would have
// reset.
func (c *Consumer) claimAgain(d *delivery) bool {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	msgs, err := c.s.c.shared.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: time.Since(d.since()).Truncate(time.Millisecond), Messages: []string{d.id},
	}).Result()
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: stream retry could not claim the message; it stays pending",
			"stream", c.key, "group", c.group, "id", d.id, "error", err)
		return false
	}
	if len(msgs) == 0 || msgs[0].Values == nil {
		return false // taken over, acknowledged or deleted meanwhile
	}
	d.values = msgs[0].Values
	d.deliveries++
	d.got = time.Now()
	return true
}

// call runs the handler once, turning a panic into an error.
func (c *Consumer) call(d *delivery) (err error) {
	m := newStreamMessage(c.s, d.id, d.values, d.deliveries)
	// The error's key is built only on failure: most calls succeed.
	defer func() {
		if r := recover(); r != nil {
			c.panics.Add(1)
			err = opErr("handle stream message", c.key+" "+d.id,
				fmt.Errorf("delivery %d: %w", d.deliveries, handlerPanic(r, debug.Stack())))
		}
	}()
	if err := c.handler(c.ctx, m); err != nil {
		c.handlerErr.Add(1)
		return opErr("handle stream message", c.key+" "+d.id, fmt.Errorf("delivery %d: %w", d.deliveries, err))
	}
	return nil
}

// deadLetter copies d with the last error to the dead-letter stream, then
// acknowledges it. The two steps are separate commands (the streams may
// live on different cluster nodes), so a crash between them leaves d
// pending and it is dead-lettered again: a dead letter may be duplicated,
// never lost.
func (c *Consumer) deadLetter(d *delivery, cause error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	rdb := c.s.c.shared.rdb
	fields := make([]any, 0, 2*len(d.values)+12)
	for f, v := range d.values {
		fields = append(fields, f, v)
	}
	fields = append(fields,
		"error", cause.Error(),
		"deliveries", d.deliveries,
		"origin_id", d.id,
		"origin_stream", c.key,
		"group", c.group,
		"consumer", c.name)
	err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: c.deadKey, MaxLen: c.s.maxLen, Approx: true, Values: fields}).Err()
	if err == nil {
		err = rdb.XAck(ctx, c.key, c.group, d.id).Err()
	}
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: dead-lettering failed; the message stays pending",
			"stream", c.key, "group", c.group, "id", d.id, "dead_letter", c.deadKey, "error", err)
		c.release(d)
		return
	}
	c.deadLettered.Add(1)
	c.done1(d)
	c.report(opErr("dead-letter", c.key+" "+d.id,
		fmt.Errorf("%w to %s after %d deliveries: %w", ErrDeadLettered, c.deadKey, d.deliveries, cause)))
}

// ackLoop acknowledges handled messages, all that have queued up in one
// XACK, until the workers have stopped.
func (c *Consumer) ackLoop() {
	defer c.acker.Done()
	batch := make([]*delivery, 0, cap(c.acks))
	ids := make([]string, 0, cap(c.acks))
	for d := range c.acks {
		batch = append(batch[:0], d)
	drain:
		for len(batch) < cap(batch) {
			select {
			case d, ok := <-c.acks:
				if !ok {
					break drain
				}
				batch = append(batch, d)
			default:
				break drain
			}
		}
		ids = ids[:0]
		for _, d := range batch {
			ids = append(ids, d.id)
		}
		ctx, cancel := c.callCtx(0)
		err := c.s.c.shared.rdb.XAck(ctx, c.key, c.group, ids...).Err()
		cancel()
		if err != nil {
			c.s.c.shared.log.Warn("redisclient: stream acknowledgement failed; the messages stay pending and will be delivered again",
				"stream", c.key, "group", c.group, "count", len(ids), "error", err)
		}
		for _, d := range batch {
			if err != nil {
				c.release(d)
			} else {
				c.acked.Add(1)
				c.done1(d)
			}
		}
	}
}

// pause sleeps for d and reports false when the consumer closed meanwhile.
func (c *Consumer) pause(d time.Duration) bool {
	if d <= 0 {
		return !c.closing.Load()
	}
	return sleepUnless(d, c.done)
}

// report passes err to OnError, or logs it when there is none or OnError
// panics.
func (c *Consumer) report(err error) {
	reportHandlerError(c.s.c.shared.log, "stream", c.opts.OnError, err)
}
