package redisclient

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// read takes messages from Redis and hands them to the workers until Close:
// first this consumer's own pending messages (left by its previous run),
// then, in turn, messages idle longer than MinIdle anywhere in the group
// and new messages. It closes the work channel when it ends.
func (c *Consumer) read() {
	defer c.loops.Done()
	defer close(c.work)
	var (
		failures    int
		own         = true  // still taking over our own pending messages
		cursor      = "0-0" // XAUTOCLAIM position
		nextReclaim time.Time
		every       = max(c.opts.MinIdle/2, time.Millisecond)
	)
	for !c.closing.Load() {
		var err error
		switch {
		case own:
			own, err = c.takeOwn()
		case !time.Now().Before(nextReclaim):
			cursor, err = c.reclaim(cursor)
			if err == nil && cursor == "0-0" {
				nextReclaim = time.Now().Add(every)
			}
		default:
			err = c.readNew(min(c.opts.Block, max(time.Until(nextReclaim), time.Millisecond)))
		}
		if err == nil {
			failures = 0
			continue
		}
		if c.closing.Load() {
			return
		}
		if isNoGroup(err) {
			// The group or the stream was deleted, or Redis restarted
			// without persistence: recreate the group from the start, so
			// messages added meanwhile are not skipped.
			err = c.s.c.shared.rdb.XGroupCreateMkStream(c.readCtx, c.key, c.group, "0").Err()
			if err == nil || isBusyGroup(err) {
				c.s.c.shared.log.Warn("redisclient: stream consumer group was missing; recreated it from the first entry",
					"stream", c.key, "group", c.group)
				continue
			}
		}
		failures++
		c.readFailures.Add(1)
		if failures == 1 {
			c.s.c.shared.log.Warn("redisclient: stream read failed, retrying",
				"stream", c.key, "group", c.group, "consumer", c.name, "error", err)
		}
		pause := max(reconnectPause(failures), 10*time.Millisecond)
		if errors.Is(err, ErrUnavailable) {
			pause = min(pause, 100*time.Millisecond)
		}
		if !c.pause(pause) {
			return
		}
	}
}

// callCtx bounds one Redis call of the consumer's own loops, so a stalled
// server cannot hold Close beyond the read timeout.
func (c *Consumer) callCtx(extra time.Duration) (context.Context, context.CancelFunc) {
	rt := c.s.c.shared.opts.ReadTimeout
	if rt <= 0 {
		rt = DefaultReadTimeout
	}
	return context.WithTimeout(c.readCtx, extra+rt+c.s.c.shared.opts.WriteTimeout)
}

// readNew reads up to BatchSize new messages, waiting up to block, and
// hands them to the workers.
func (c *Consumer) readNew(block time.Duration) error {
	ctx, cancel := c.callCtx(block)
	defer cancel()
	streams, err := c.s.c.shared.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    c.group,
		Consumer: c.name,
		Streams:  []string{c.key, ">"},
		Count:    int64(c.opts.BatchSize),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for _, st := range streams {
		c.handOver(st.Messages, now, nil)
	}
	return nil
}

// takeOwn takes over this consumer name's pending messages, left by a
// previous run, one batch per call; it reports whether more may remain.
func (c *Consumer) takeOwn() (more bool, err error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	start := "-"
	if c.ownAfter != "" {
		start = nextStreamID(c.ownAfter)
	}
	pend, err := c.s.c.shared.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.key, Group: c.group, Start: start, End: "+",
		Count: int64(c.opts.BatchSize), Consumer: c.name,
	}).Result()
	if err != nil {
		return true, err // try again after the pause
	}
	if len(pend) == 0 {
		return false, nil
	}
	counts := make(map[string]int64, len(pend))
	ids := make([]string, len(pend))
	for i, p := range pend {
		counts[p.ID] = p.RetryCount + 1 // the claim below is a delivery
		ids[i] = p.ID
	}
	c.ownAfter = ids[len(ids)-1]
	msgs, err := c.s.c.shared.rdb.XClaim(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name, Messages: ids,
	}).Result()
	if err != nil {
		return true, err
	}
	c.handOver(msgs, time.Now(), counts)
	return len(pend) == c.opts.BatchSize, nil
}

// nextStreamID returns the smallest stream ID above id ("5-3" -> "5-4").
func nextStreamID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return id
	}
	if n == ^uint64(0) {
		m, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return id
		}
		return strconv.FormatUint(m+1, 10) + "-0"
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// reclaim takes over one batch of messages that stayed pending longer than
// MinIdle with any consumer of the group (XAUTOCLAIM from cursor), and
// returns the cursor of the next batch, "0-0" after the last.
func (c *Consumer) reclaim(cursor string) (string, error) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	rdb := c.s.c.shared.rdb
	msgs, next, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: c.opts.MinIdle, Start: cursor, Count: int64(c.opts.BatchSize),
	}).Result()
	if err != nil {
		// Keep the position: a failed call has no cursor ("" is not a
		// stream ID, and every later call would fail on it).
		return cursor, err
	}
	if len(msgs) == 0 {
		return next, nil
	}
	got := time.Now()
	// XAUTOCLAIM does not say how often a message was delivered; the
	// pending list does.
	pend, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.key, Group: c.group, Start: msgs[0].ID, End: msgs[len(msgs)-1].ID,
		// Our messages in hand may lie in the range too.
		Count: int64(len(msgs) + 3*(c.opts.BatchSize+c.opts.Concurrency)), Consumer: c.name,
	}).Result()
	if err != nil {
		// The messages are ours now; they come back at the next reclaim.
		return next, err
	}
	counts := make(map[string]int64, len(pend))
	for _, p := range pend {
		counts[p.ID] = p.RetryCount
	}
	c.handOver(msgs, got, counts)
	return next, nil
}

// handOver gives messages to the workers, in order. counts holds delivery
// counts of claimed messages (nil: first deliveries, from XREADGROUP); a
// message missing from it is no longer ours. Messages already in our hands
// (reclaimed from ourselves because a handler runs longer than MinIdle) are
// skipped. When Close interrupts, the rest stay pending.
func (c *Consumer) handOver(msgs []redis.XMessage, got time.Time, counts map[string]int64) {
	reclaimed := counts != nil
	ds := make([]*delivery, 0, len(msgs))
	for _, m := range msgs {
		n := int64(1)
		if counts != nil {
			var ok bool
			if n, ok = counts[m.ID]; !ok {
				continue
			}
		}
		if m.Values == nil {
			// Trimmed or deleted while pending: nothing left to handle.
			c.ackDeleted(m.ID)
			continue
		}
		c.mu.Lock()
		_, busy := c.inFlight[m.ID]
		c.inFlight[m.ID] = struct{}{}
		c.mu.Unlock()
		if busy && reclaimed {
			continue
		}
		c.delivered.Add(1)
		c.pending.Add(1)
		if reclaimed {
			c.reclaimed.Add(1)
		}
		ds = append(ds, &delivery{id: m.ID, values: m.Values, deliveries: n, got: got})
	}
	// The queue holds a whole batch, so handing over costs no goroutine
	// switch per message; the next read waits until it is empty.
	c.queued.Add(int64(len(ds)))
	for _, d := range ds {
		c.work <- d
	}
	var renew *time.Timer
	since := got // when the waiting messages last became ours
	for c.queued.Load() > 0 {
		if renew == nil {
			// The handlers are busy (slow, or retrying with Concurrency
			// 1): keep the waiting messages ours while they wait.
			renew = time.NewTimer(c.opts.MinIdle / 2)
			defer renew.Stop()
		}
		select {
		case <-c.drained:
		case <-renew.C:
			var waiting []*delivery
			for _, d := range ds {
				if !d.taken.Load() {
					waiting = append(waiting, d)
				}
			}
			since = c.renew(waiting, since)
			renew.Reset(c.opts.MinIdle / 2)
		case <-c.done:
			return // the workers release what is left in the queue
		}
	}
}

// renew restarts the idle time of messages that wait for a handler, so the
// group does not take them over from a live consumer (XCLAIM JUSTID, which
// does not count a delivery). A message another consumer took over
// meanwhile is marked lost; the worker that takes it releases it unhandled.
func (c *Consumer) renew(ds []*delivery, since time.Time) time.Time {
	if len(ds) == 0 {
		return since
	}
	ctx, cancel := c.callCtx(0)
	defer cancel()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	// Claim only what nobody took since we got it, as claimAgain does.
	claimed, err := c.s.c.shared.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: c.key, Group: c.group, Consumer: c.name,
		MinIdle: time.Since(since).Truncate(time.Millisecond), Messages: ids,
	}).Result()
	if err != nil {
		c.s.c.shared.log.Warn("redisclient: stream consumer could not renew waiting messages",
			"stream", c.key, "group", c.group, "count", len(ids), "error", err)
		return since
	}
	ours := make(map[string]bool, len(claimed))
	for _, id := range claimed {
		ours[id] = true
	}
	now := time.Now()
	for _, d := range ds {
		if ours[d.id] {
			d.renewed.Store(now.UnixNano())
		} else {
			d.lost.Store(true)
		}
	}
	return now
}

// ackDeleted acknowledges a pending ID whose entry no longer exists.
func (c *Consumer) ackDeleted(id string) {
	ctx, cancel := c.callCtx(0)
	defer cancel()
	_ = c.s.c.shared.rdb.XAck(ctx, c.key, c.group, id).Err()
}
