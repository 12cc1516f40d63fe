package redisinfo

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// reply is an INFO reply as Redis 7 sends it, trimmed: CRLF line ends,
// section headers, a blank line between sections.
const reply = "# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n" +
	"# Memory\r\nused_memory:1048576\r\nmem_fragmentation_ratio:1.25\r\nmaxmemory_policy:allkeys-lru\r\n\r\n" +
	"# Errorstats\r\nerrorstat_OOM:count=3,rejected_calls=1\r\nerrorstat_ERR:count=x\r\n" +
	"odd line without a colon\r\nmaster_host:::1\r\n"

func TestParse(t *testing.T) {
	f := Parse(reply)
	assert.Equal(t, Fields{
		"redis_version": "7.2.4", "redis_mode": "standalone",
		"used_memory": "1048576", "mem_fragmentation_ratio": "1.25", "maxmemory_policy": "allkeys-lru",
		"errorstat_OOM": "count=3,rejected_calls=1", "errorstat_ERR": "count=x",
		"master_host": "::1", // only the first colon separates
	}, f)
	assert.Empty(t, Parse(""))
	assert.Equal(t, Fields{"cluster_state": "ok"}, Parse("cluster_state:ok\n"))
}

func TestNumbers(t *testing.T) {
	f := Parse(reply)
	n, ok := f.Int("used_memory")
	assert.True(t, ok)
	assert.Equal(t, int64(1048576), n)
	_, ok = f.Int("redis_version")
	assert.False(t, ok, "not an integer")
	_, ok = f.Int("maxmemory")
	assert.False(t, ok, "not reported")

	x, ok := f.Float("mem_fragmentation_ratio")
	assert.True(t, ok)
	assert.Equal(t, 1.25, x)
	_, ok = f.Float("maxmemory_policy")
	assert.False(t, ok)
	_, ok = f.Float("missing")
	assert.False(t, ok)
}

func TestErrorCount(t *testing.T) {
	f := Parse(reply)
	assert.Equal(t, int64(3), f.ErrorCount("OOM"))
	assert.Equal(t, int64(0), f.ErrorCount("ERR"), "malformed count")
	assert.Equal(t, int64(0), f.ErrorCount("NOPERM"), "no line")
}

func TestPercent(t *testing.T) {
	assert.Equal(t, 0.0, Percent(5, 0))
	assert.Equal(t, 0.0, Percent(5, -1))
	assert.Equal(t, 50.0, Percent(1, 2))
	assert.Equal(t, 33.33, Percent(1, 3))
	assert.Equal(t, 91.67, Percent(11, 12))
}
