// Package bench measures github.com/systemtrader/redisclient against raw
// go-redis, go-redis/cache and rueidis on one real redis-server. It holds
// only benchmarks; run.sh runs them and writes RESULTS.md. It is a module of
// its own so that the peers' dependencies never reach the library's users.
package bench
