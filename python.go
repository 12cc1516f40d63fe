package redisclient

import "errors"

// pythonHashInput is replaced by the Python-compatible implementation.
func pythonHashInput(any) (string, error) { return "", errors.New("python hash: not implemented") }
