package redisclient

import (
	"context"
	"fmt"
	"time"
)

// HashMode selects the digest Client.HashInput computes.
type HashMode int

const (
	// HashSHA256, the default, is SHA-256 (64 hex digits) of a canonical
	// binary form of the input: map keys sorted, structs named by their json
	// tags (a struct and a map of the same JSON shape hash alike), numbers
	// compared by value (1 and 1.0 hash alike, as do 0 and -0, and every NaN),
	// times as their UTC instant. It allocates once for the common shapes.
	HashSHA256 HashMode = iota
	// HashPythonMD5 reproduces the Python service's hash_input exactly: md5
	// of json.dumps(x, sort_keys=True) for maps, slices, arrays and structs,
	// of str(x) otherwise (32 hex digits). Use it to share cached predictions
	// with that service.
	HashPythonMD5
)

// String returns "sha256" or "python-md5".
func (m HashMode) String() string {
	switch m {
	case HashSHA256:
		return "sha256"
	case HashPythonMD5:
		return "python-md5"
	}
	return fmt.Sprintf("HashMode(%d)", int(m))
}

func (m HashMode) validate() error {
	if m != HashSHA256 && m != HashPythonMD5 {
		return optionsError("HashMode %d: use HashSHA256 or HashPythonMD5", int(m))
	}
	return nil
}

// HashInputSHA256 returns the HashSHA256 digest of a model input: what
// Client.HashInput computes for a client with the default HashMode, whatever
// the default client's mode. Equal inputs give equal hashes whatever the map
// iteration order. Inputs that cannot be hashed (channels, functions,
// complex numbers, cyclic or more than 256 levels deep) are an error, never
// a random hash. Types implementing json.Marshaler are hashed by their
// fields, not by their MarshalJSON output.
//
// It never computes the Python service's md5 (HashPythonMD5): a service
// sharing predictions with Python (PythonCompatOptions) hashes with
// Client.HashInput, which follows the client's Options.HashMode.
func HashInputSHA256(input any) (string, error) {
	return sha256Hex(input)
}

// HashInput hashes input with the client's Options.HashMode: SHA-256 by
// default (as HashInputSHA256), the Python service's md5 with
// HashPythonMD5.
func (c *Client) HashInput(input any) (string, error) {
	if c.err != nil {
		return "", opErr("hash input", "", c.err)
	}
	return hashWithMode(c.shared.opts.HashMode, input)
}

func hashWithMode(m HashMode, input any) (string, error) {
	if m == HashPythonMD5 {
		return pythonHashInput(input)
	}
	return sha256Hex(input)
}

// predictionKey returns {namespace}:model:{model}:{hash}. Model names and
// hashes must be non-empty and separable (free of the separator, and not
// running into it at either end), so that no two (model, hash) pairs share a
// key.
func (c *Client) predictionKey(op, model, inputHash string) (string, error) {
	if err := c.usable(op, c.ns); err != nil {
		return "", err
	}
	if err := c.validModel(model); err != nil {
		return "", opErr(op, c.prefix+"model", err)
	}
	if inputHash == "" || !separable(inputHash, c.sep) {
		return "", opErr(op, c.prefix+"model"+c.sep+model, fmt.Errorf("%w: input hash %q must be non-empty, free of %q and not start or end with part of it", ErrInvalidKey, inputHash, c.sep))
	}
	return c.prefix + "model" + c.sep + model + c.sep + inputHash, nil
}

func (c *Client) validModel(model string) error {
	if model == "" || !separable(model, c.sep) {
		return fmt.Errorf("%w: model name %q must be non-empty, free of %q and not start or end with part of it", ErrInvalidKey, model, c.sep)
	}
	return nil
}

// CacheModelPrediction stores a model's prediction for an input hash (see
// Client.HashInput) under {namespace}:model:{model}:{hash}, with ttl as for Set.
func (c *Client) CacheModelPrediction(ctx context.Context, model, inputHash string, prediction any, ttl time.Duration) error {
	k, err := c.predictionKey("cache prediction", model, inputHash)
	if err != nil {
		return err
	}
	return c.setFull(ctx, "cache prediction", k, prediction, ttl)
}

// GetCachedModelPrediction decodes the cached prediction of model for
// inputHash into dest; ErrNotFound on a miss.
func (c *Client) GetCachedModelPrediction(ctx context.Context, model, inputHash string, dest any) error {
	if c.shared.local != nil && c.localGetPrediction(model, inputHash, dest) {
		return nil
	}
	k, err := c.predictionKey("get prediction", model, inputHash)
	if err != nil {
		return err
	}
	return c.getFull(ctx, "get prediction", k, dest)
}

// CacheModelPredictions stores many predictions of one model, keyed by input
// hash, in one pipelined round trip (it works across cluster slots).
func (c *Client) CacheModelPredictions(ctx context.Context, model string, predictions map[string]any, ttl time.Duration) error {
	return c.setMany(ctx, "cache predictions", predictions, ttl, func(h string) (string, error) {
		return c.predictionKey("cache predictions", model, h)
	})
}

// GetModelPredictions fetches the cached predictions of model for many input
// hashes in one round trip. It returns the predictions found by hash and the
// hashes that missed, in input order. A hash whose prediction could not be
// read (its cluster node down, the value not decodable) is neither found nor
// missing: the error is then a *BatchError whose Failed names those hashes,
// and the results cover the others (when none could be read for one reason,
// the call's *Error, as for MGet).
func GetModelPredictions[T any](ctx context.Context, c *Client, model string, inputHashes []string) (map[string]T, []string, error) {
	keys := make([]string, len(inputHashes))
	for i, h := range inputHashes {
		k, err := c.predictionKey("get predictions", model, h)
		if err != nil {
			return nil, nil, err
		}
		keys[i] = k
	}
	if len(keys) == 0 {
		return map[string]T{}, nil, nil
	}
	cached, hit, toks := localPeek[T](c, keys)
	found := make(map[string]T, len(inputHashes))
	for i, h := range hit {
		if h {
			found[inputHashes[i]] = cached[i]
		}
	}
	var missing []string
	b := readBatch{keys: inputHashes}
	dec := decoderFor[T](c.ser)
	c.mgetEach(ctx, keys, hit, func(i int, s string, ok bool, err error) {
		switch {
		case err != nil:
			b.fail(i, err)
			return
		case !ok:
			missing = append(missing, inputHashes[i])
			return
		}
		v, err := dec(s)
		if err != nil {
			b.fail(i, opErr("get predictions", keys[i], err))
			return
		}
		found[inputHashes[i]] = v
		if toks != nil {
			localFill(c, keys[i], toks[i], v, len(s))
		}
	})
	return found, missing, b.err("get predictions", keys)
}

// InvalidateModel removes every cached prediction of model, and nothing else
// (glob characters in the name are escaped), with SCAN and UNLINK in
// batches. It returns how many predictions it removed. On a cluster a
// master that fails does not stop the others, as for FlushNamespace.
func (c *Client) InvalidateModel(ctx context.Context, model string) (int64, error) {
	if err := c.usable("invalidate model", c.ns); err != nil {
		return 0, err
	}
	if err := c.validModel(model); err != nil {
		return 0, opErr("invalidate model", c.prefix+"model", err)
	}
	pattern := escapeGlob(c.prefix+"model"+c.sep+model+c.sep) + "*"
	n, err := c.unlinkMatching(ctx, pattern)
	return n, opErr("invalidate model", pattern, err)
}

// GetOrComputePrediction returns the cached prediction of model for input,
// or calls compute, caches its result with ttl and returns it. The input is
// hashed with the client's HashMode. It has GetOrSet's guarantees: one
// compute per input for concurrent callers, per-caller cancellation, panics
// as errors, and fail-open when Redis is down.
func GetOrComputePrediction[T any](ctx context.Context, c *Client, model string, input any, ttl time.Duration,
	compute func(context.Context) (T, error)) (T, error) {
	var zero T
	h, err := c.HashInput(input)
	if err != nil {
		return zero, opErr("compute prediction", c.prefix+"model"+c.sep+model, err)
	}
	k, err := c.predictionKey("compute prediction", model, h)
	if err != nil {
		return zero, err
	}
	return getOrSet(ctx, c, "compute prediction", k, ttl, compute)
}
