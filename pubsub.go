package redisclient

// subscriptions (placeholder until pub/sub lands).
type subscriptions struct{}

func (s *subscriptions) closeAll() {}
