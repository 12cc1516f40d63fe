package redisclient

import (
	"fmt"
	"strings"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// HashTag returns a child view whose keys all share one Redis Cluster hash
// slot: on the default client, HashTag("user42") stores key "orders" under
// "trading:{user42}:orders". Redis Cluster hashes only the text between the
// first "{" of a key and the next "}", so every key of the view, of its child
// namespaces (HashTag("user42").Namespace("orders")) and every prediction
// cached through it lands in the slot of "user42", on one node.
//
// Keeping related keys together is what makes multi-key commands legal on a
// cluster: MGET or DEL of several keys, MULTI/EXEC transactions and WATCH
// (Redis().TxPipelined, Redis().Watch), Lua scripts touching several keys,
// RENAME, SMOVE, SUNIONSTORE and the like, run through Redis() on keys made
// with Key. Without a shared tag they fail with CROSSSLOT. The batch calls
// of this package (MGet, MSet, Delete, Exists, CacheModelPredictions,
// GetModelPredictions) work across slots with or without a tag.
//
// A tag puts all of its keys on one node, so use it for small groups of keys
// that are read or changed together (one user, one instrument, one model's
// run), not for a whole namespace: a tag in Options.Namespace would put the
// whole application on one node. On a standalone server or Sentinel the
// braces are ordinary key characters, so the same code runs unchanged there.
//
// Namespace("{user42}") makes the same keys without the checks below. A key
// may also carry its own tag ("{user42}:orders") on a view that has none;
// on a HashTag view the view's tag comes first and decides the slot, so
// braces inside keys change nothing.
//
// The tag must be non-empty and free of "{" and "}", and the namespace above
// it must not already decide the slot (HashTag("a").HashTag("b") would still
// hash by "a"); otherwise every call on the returned view fails with an error
// wrapping ErrInvalidKey.
func (c *Client) HashTag(tag string) *Client {
	if c.err != nil {
		return c
	}
	if tag == "" || strings.ContainsAny(tag, "{}") {
		return c.errView(fmt.Errorf("%w: %w: hash tag %q must be non-empty and free of braces", ErrInvalidOptions, ErrInvalidKey, tag))
	}
	child := c.Namespace("{" + tag + "}")
	if child.err != nil {
		return child
	}
	if got, _ := hashTagOf(child.prefix); got != tag {
		return c.errView(fmt.Errorf("%w: %w: hash tag %q has no effect under namespace %q, whose keys hash by %q",
			ErrInvalidOptions, ErrInvalidKey, tag, c.ns, got))
	}
	return child
}

// KeySlot returns the Redis Cluster hash slot (0 to 16383) of a full Redis
// key, as CLUSTER KEYSLOT computes it: CRC16 of the key's hash tag if it has
// one, of the whole key otherwise. Pass it keys made with Client.Key to see
// which keys share a slot, without a server.
func KeySlot(key string) int {
	if tag, ok := hashTagOf(key); ok {
		key = tag
	}
	return int(crc16(key) % clusterSlots)
}

// hashTagOf returns the part of key Redis Cluster hashes when it has a hash
// tag: the text between the first "{" and the next "}", if not empty.
func hashTagOf(key string) (string, bool) {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return "", false
	}
	n := strings.IndexByte(key[open+1:], '}')
	if n <= 0 {
		return "", false
	}
	return key[open+1 : open+1+n], true
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the checksum
// Redis Cluster uses for key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
