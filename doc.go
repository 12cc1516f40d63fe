// Package redisclient is the Redis client of the trading services: a cache
// for model predictions and market data, shared state between components,
// and pub/sub messaging. It wraps a pooled go-redis v9 client
// (standalone, Redis Cluster or Sentinel) behind a lazily built singleton.
//
// # Getting a client
//
// GetClient returns the process-wide client, built once from the
// environment (see OptionsFromEnv). It never returns nil: if the
// configuration is bad, every call returns the construction error, which
// Default also returns so a service can fail at start-up. New builds an
// independent client; the zero Options means localhost:6379, DB 0, namespace
// "trading", msgpack values and a 24 h default TTL. Neither blocks on the
// network.
//
// # Keys and values
//
// Every key and channel is prefixed by the namespace and separator:
// Set(ctx, "quote:AAPL", ...) writes "trading:quote:AAPL". Namespace returns a
// child view ("trading:orders:...") that shares the pool; WithSerializer and
// WithDefaultTTL give a view its own value format and default expiry. Strings
// and byte slices are stored as they are and numbers as decimal text, so
// redis-cli, INCR and other languages read them; other values go through the
// Serializer (MsgpackSerializer by default, JSONSerializer on request).
//
// A TTL of 0 means the view's default TTL and NoExpiry means none; any other
// TTL below one millisecond is an error. A miss is ErrNotFound.
//
// # Caching
//
// GetOrSet is cache-aside with stampede protection: concurrent callers of one
// key share one load, each caller honours its own context, a panicking load
// becomes an error, and a Redis outage still returns the loaded value (fail
// open). Client.HashInput (by the client's HashMode), CacheModelPrediction,
// GetModelPredictions and InvalidateModel cache model predictions under
// "{namespace}:model:{model}:{inputHash}", the layout of the Python service.
//
// # Messaging
//
// Publish and Subscribe are Redis pub/sub: fast, but a subscriber that is
// away misses what is published meanwhile. The subscriptions of a client
// share one connection per node, each with its own buffer and overflow
// policy, so thousands of them cost one connection. Stream is the durable
// alternative: Add appends to a Redis stream, and Consume joins a consumer
// group that delivers every entry at least once, acknowledging it only after
// the handler succeeded, retrying failures, taking over the messages of
// crashed consumers after ConsumeOptions.MinIdle and moving poison messages
// to a dead-letter stream.
//
// # Errors
//
// Errors are *Error values naming the operation and the full key, wrapping
// the cause: use errors.Is with ErrNotFound, ErrClosed, ErrInvalidKey,
// ErrUnsupportedFormat, ErrUnavailable, ErrInvalidOptions, ErrTooLarge and
// ErrCrossSlot. They never contain a password. A batch that failed for some
// keys only (MSet, CacheModelPredictions) returns a *BatchError naming them;
// batches are not atomic (MSetAtomic is). A call that visits every master of
// a cluster (Scan, FlushNamespace, InvalidateModel, Ping) returns a
// *ClusterError naming the masters it could not finish on; use errors.As for
// the detail.
//
// # Observability
//
// Health reports the server and the client (HealthHandler serves it over
// HTTP). With Options.TracerProvider and MeterProvider, or the otel global
// providers installed before New, every command gets a span and a duration
// measurement through go-redis's redisotel, on each cluster node; spans
// carry no values or passwords, and keys only with Options.TraceKeys.
// GetOrSet calls and their loads get spans of their own. The redisclient.*
// instruments (cache hits and loads per namespace, breaker, retries, pool,
// pub/sub and stream consumers) are observable: with no provider installed
// nothing is added to any call.
//
// # Escape hatch
//
// Redis returns the underlying redis.UniversalClient for hooks, raw commands
// and anything not wrapped here. Keys used through it are not namespaced.
package redisclient
