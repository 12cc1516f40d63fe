package redisclient

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// StreamDataField is the field of a stream entry that holds the value: Add
// writes one entry {"data": value}, and a consumer decodes that field. An
// entry written by another client (redis-py's xadd({"data": json.dumps(x)}))
// is read the same way.
const StreamDataField = "data"

// DefaultStreamMaxLen is the approximate length a stream is trimmed to by
// Add unless Stream.WithMaxLen says otherwise, so a stream nobody consumes
// cannot grow until Redis runs out of memory.
const DefaultStreamMaxLen int64 = 1_000_000

// NoMaxLen, passed to Stream.WithMaxLen, turns trimming off.
const NoMaxLen int64 = -1

// Stream is a Redis stream under the client's namespace: a durable,
// append-only log that consumer groups read with at-least-once delivery
// (see Consume). It is a cheap value made by Client.Stream; its methods are
// safe for concurrent use.
type Stream struct {
	c      *Client
	name   string // as given, without the namespace
	key    string // the full Redis key
	maxLen int64  // MAXLEN ~ of XADD; 0 means no trimming
	err    error  // returned by every call
}

// Stream returns the stream name, namespaced like keys: on the default
// client, Stream("orders") is the Redis key "trading:orders". It does not
// touch the network. An empty name makes every call fail with
// ErrInvalidKey.
//
// Add trims the stream to about DefaultStreamMaxLen entries; WithMaxLen
// changes that. On Redis Cluster a stream is one key, so it lives on one
// node; the client follows it there.
func (c *Client) Stream(name string) *Stream {
	return &Stream{c: c, name: name, key: c.prefix + name, maxLen: DefaultStreamMaxLen}
}

// WithMaxLen returns a copy of s whose Add trims the stream to about n
// entries (XADD MAXLEN ~ n: Redis removes whole internal nodes of the
// oldest entries, so the length stays between n and n plus a node,
// 100 entries by default). Trimming removes the oldest entries whether or
// not every group has read them, so choose n above what accumulates during
// the longest consumer outage you must survive. NoMaxLen turns trimming
// off; 0 and other negative values make every call fail with an error
// wrapping ErrInvalidOptions.
func (s *Stream) WithMaxLen(n int64) *Stream {
	cp := *s
	switch {
	case n == NoMaxLen:
		cp.maxLen = 0
	case n < 1:
		cp.err = optionsError("stream %s: WithMaxLen %d: want at least 1, or NoMaxLen", s.key, n)
	default:
		cp.maxLen = n
	}
	return &cp
}

// Name returns the stream's name as given to Client.Stream.
func (s *Stream) Name() string { return s.name }

// Key returns the full Redis key of the stream.
func (s *Stream) Key() string { return s.key }

// fullKey returns the stream's key, or the error every call fails with.
func (s *Stream) fullKey(op string) (string, error) {
	if s.err != nil {
		return "", opErr(op, s.key, s.err)
	}
	return s.c.key(op, s.name)
}

// Add appends value to the stream and returns the entry's ID, such as
// "1717243200000-0". The value is encoded exactly as Set encodes it
// (strings and byte slices as they are, numbers as decimal text, anything
// else through the view's serializer) into the entry's StreamDataField.
//
// A nil error means Redis stored the entry; with appendonly yes and
// appendfsync everysec it survives a crash and restart of Redis, while a
// crash of its host can lose about the last second of writes, and on a disk
// too slow for a fsync a second even a crash of Redis alone can lose up to
// 2 s (README, "Durable messaging"; appendfsync always closes the window). Add is not retried once the command may have
// reached the server, so an error after a timeout does not prove the entry
// was not stored: a producer that retries may add it twice, which consumers
// see as a duplicate (delivery is at least once anyway).
func (s *Stream) Add(ctx context.Context, value any) (string, error) {
	k, err := s.fullKey("xadd")
	if err != nil {
		return "", err
	}
	v, err := encodeValue(s.c.ser, value)
	if err != nil {
		return "", opErr("xadd", k, err)
	}
	id, err := s.c.shared.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: k,
		MaxLen: s.maxLen,
		Approx: true,
		Values: []any{StreamDataField, v},
	}).Result()
	return id, opErr("xadd", k, err)
}

// Len returns the number of entries in the stream (0 when it does not
// exist), acknowledged or not.
func (s *Stream) Len(ctx context.Context) (int64, error) {
	k, err := s.fullKey("xlen")
	if err != nil {
		return 0, err
	}
	n, err := s.c.shared.rdb.XLen(ctx, k).Result()
	return n, opErr("xlen", k, err)
}

// StreamMessage is one entry of a stream, as a consumer's handler gets it.
type StreamMessage struct {
	// ID is the entry's ID, such as "1717243200000-0".
	ID string
	// Stream is the stream's name as given to Client.Stream, without the
	// namespace.
	Stream string
	// Payload is the entry's StreamDataField: the bytes of a string or
	// []byte, decimal text for numbers, the serializer's encoding for
	// anything else. It is nil when the entry has no such field. Each
	// message has its own slice; the handler may keep it.
	Payload []byte
	// Deliveries is how many times the entry has been delivered to the
	// group, this delivery included: 1 the first time, more after a failed
	// handler run, a crash, or a consumer that held it longer than MinIdle.
	Deliveries int64
	// Fields holds the entry's other fields, for entries written by other
	// clients with several fields and for dead letters (see
	// ConsumeOptions.DeadLetter); nil when the entry has only
	// StreamDataField.
	Fields map[string]string

	key string // full stream key, for errors
	ser Serializer
}

// Decode stores the payload in dest like Client.Get does: *string and
// *[]byte receive the raw bytes, numbers parse decimal text, anything else
// goes through the serializer of the view that consumed (msgpack for a zero
// StreamMessage). An entry without StreamDataField is an error wrapping
// ErrUnsupportedFormat.
func (m StreamMessage) Decode(dest any) error {
	key := m.key
	if key == "" {
		key = m.Stream
	}
	where := key + " " + m.ID
	if m.Payload == nil {
		return opErr("decode stream message", where, fmt.Errorf("%w: entry has no %q field", ErrUnsupportedFormat, StreamDataField))
	}
	ser := m.ser
	if ser == nil {
		ser = MsgpackSerializer{}
	}
	return opErr("decode stream message", where, decodeValue(ser, m.Payload, dest))
}

// newStreamMessage builds the message of one entry read from key.
func newStreamMessage(s *Stream, id string, values map[string]any, deliveries int64) StreamMessage {
	m := StreamMessage{ID: id, Stream: s.name, Deliveries: deliveries, key: s.key, ser: s.c.ser}
	for f, v := range values {
		str, ok := v.(string) // go-redis returns every field value as a string
		if !ok {
			str = fmt.Sprint(v)
		}
		if f == StreamDataField {
			m.Payload = []byte(str)
			continue
		}
		if m.Fields == nil {
			m.Fields = make(map[string]string, len(values))
		}
		m.Fields[f] = str
	}
	return m
}
