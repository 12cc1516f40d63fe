package redisclient

type cacheCounters struct{}
