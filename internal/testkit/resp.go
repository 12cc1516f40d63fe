package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// readCommand reads one RESP command (an array of bulk strings) and returns
// its raw bytes and arguments.
func readCommand(r *bufio.Reader) (raw []byte, args []string, err error) {
	var buf bytes.Buffer
	line, err := readLine(r, &buf)
	if err != nil {
		return nil, nil, err
	}
	if len(line) == 0 || line[0] != '*' {
		return nil, nil, fmt.Errorf("proxy: not a RESP array: %q", line)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 1 {
		return nil, nil, fmt.Errorf("proxy: bad array header %q", line)
	}
	for range n {
		h, err := readLine(r, &buf)
		if err != nil {
			return nil, nil, err
		}
		if len(h) == 0 || h[0] != '$' {
			return nil, nil, fmt.Errorf("proxy: not a bulk string: %q", h)
		}
		size, err := strconv.Atoi(h[1:])
		if err != nil || size < 0 {
			return nil, nil, fmt.Errorf("proxy: bad bulk header %q", h)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, nil, err
		}
		buf.Write(b)
		args = append(args, string(b[:size]))
	}
	return buf.Bytes(), args, nil
}

// readReply reads one RESP2 or RESP3 reply, nested ones included, and
// returns its raw bytes.
func readReply(r *bufio.Reader) ([]byte, error) {
	var buf bytes.Buffer
	if err := readValue(r, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readValue(r *bufio.Reader, buf *bytes.Buffer) error {
	line, err := readLine(r, buf)
	if err != nil {
		return err
	}
	if line == "" {
		return errors.New("proxy: empty reply line")
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '!', '=': // bulk string, bulk error, verbatim string
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if n < 0 {
			return nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		buf.Write(b)
		return nil
	case '*', '~', '>', '%', '|': // array, set, push, map, attribute
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return err
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range n {
			if err := readValue(r, buf); err != nil {
				return err
			}
		}
		if line[0] == '|' { // an attribute precedes the reply it describes
			return readValue(r, buf)
		}
		return nil
	}
	return fmt.Errorf("proxy: unknown reply type %q", line)
}

// readLine reads a CRLF-terminated line into buf and returns it without CRLF.
func readLine(r *bufio.Reader, buf *bytes.Buffer) (string, error) {
	b, err := r.ReadBytes('\n')
	if err != nil {
		return "", err
	}
	buf.Write(b)
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Ping sends an inline PING to the plain Redis port at addr on a new
// connection and wants +PONG back: a check that a server is up, or gone.
func Ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
