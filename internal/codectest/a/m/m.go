// Package m holds a type named m.P, like the one in ../../b/m, so tests can
// check that two types printed the same are kept apart.
package m

// P is a price in this package's shape.
type P struct {
	Symbol string  `json:"symbol"`
	Px     float64 `json:"px"`
}
