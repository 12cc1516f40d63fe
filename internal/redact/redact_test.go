package redact

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"redis://u:pw@h:1/0":              "redis://xxxxx@h:1/0",
		"redis://:pw@h:1/0":               "redis://xxxxx@h:1/0",
		"redis://h:1/0":                   "redis://h:1/0",
		"redis://:p@ss@h":                 "redis://xxxxx@h",
		"redis://:pa/ss@h:6379":           "redis://xxxxx@h:6379",
		"redis://:pa#ss@h:6379?x=1":       "redis://xxxxx@h:6379?x=1",
		"redis://u s:p w@h":               "redis://xxxxx@h",
		"unix://u:p@/run/redis.sock?db=1": "unix://xxxxx@/run/redis.sock?db=1",
		":pw@h:1":                         "xxxxx@h:1",
		"h:1":                             "h:1",
		"":                                "",
	} {
		assert.Equal(t, want, URL(in), in)
	}
}

func TestValue(t *testing.T) {
	assert.Equal(t, "127.0.0.1:6379", Value("127.0.0.1:6379"))
	assert.Equal(t, "redis://xxxxx@h:1", Value("redis://:pw@h:1"))
	assert.Equal(t, "xxxxx@h:1", Value("user:pw@h:1"))
}
