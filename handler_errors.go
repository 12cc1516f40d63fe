package redisclient

import (
	"fmt"
	"log/slog"
)

// handlerPanic is the error of a handler (or OnReconnect) that panicked with
// r. The caller takes the stack, in its recover, so the trace starts there.
func handlerPanic(r any, stack []byte) error {
	return fmt.Errorf("%w: %v\n%s", ErrHandlerPanic, r, stack)
}

// reportHandlerError passes err, from a pubsub or stream handler (kind), to
// onError, or logs it when there is none or onError panics.
func reportHandlerError(log *slog.Logger, kind string, onError func(error), err error) {
	if onError == nil {
		log.Warn("redisclient: "+kind+" handler failed", "error", err)
		return
	}
	defer func() {
		if r := recover(); r != nil {
			log.Error("redisclient: "+kind+" OnError panicked", "panic", r, "error", err)
		}
	}()
	onError(err)
}
