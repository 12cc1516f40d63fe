package redisclient

// HashMode selects the digest of HashInput.
type HashMode int

const (
	// HashSHA256 is the default.
	HashSHA256 HashMode = iota
	// HashPythonMD5 reproduces the Python service.
	HashPythonMD5
)

func (m HashMode) validate() error { return nil }
