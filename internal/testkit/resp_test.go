package testkit

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProxyRESPParsing(t *testing.T) {
	raw, args, err := readCommand(bufio.NewReader(strings.NewReader("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n")))
	require.NoError(t, err)
	assert.Equal(t, []string{"SET", "k", "v\r\nx"}, args)
	assert.Equal(t, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n", string(raw))

	replies := "+OK\r\n" + "-ERR x\r\n" + ":5\r\n" + "$-1\r\n" + "$3\r\nabc\r\n" + "_\r\n" +
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n" + "%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n" + "|1\r\n+a\r\n+b\r\n:7\r\n" + "=8\r\ntxt:abcd\r\n"
	r := bufio.NewReader(strings.NewReader(replies))
	var got []string
	for {
		b, err := readReply(r)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, string(b))
	}
	assert.Equal(t, []string{"+OK\r\n", "-ERR x\r\n", ":5\r\n", "$-1\r\n", "$3\r\nabc\r\n", "_\r\n",
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "%1\r\n+k\r\n~2\r\n,1.5\r\n#t\r\n", "|1\r\n+a\r\n+b\r\n:7\r\n", "=8\r\ntxt:abcd\r\n"}, got)
}
