package accesstoken

import "crypto/sha256"

// CacheHolds reports whether c remembers raw, and how many tokens it
// remembers.
func CacheHolds(c *Cache, raw string) (bool, int) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.tokens[sha256.Sum256([]byte(raw))]
	return ok, len(c.tokens)
}
