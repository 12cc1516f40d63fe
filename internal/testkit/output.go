package testkit

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// Output runs a program's run function with a deadline of Wait and returns
// what it wrote; an error fails t.
func Output(t testing.TB, run func(context.Context, io.Writer) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}
