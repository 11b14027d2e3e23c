package tenant

import (
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/vendors"
)

// maxCachedKeys bounds the key checks in keyCache. Once full, the cache
// starts again empty, because every entry expires within the TTL anyway.
const maxCachedKeys = 10000

// keyCache contains the successful key checks of the last TTL, so that a
// burst of requests with one key reads the database once per TTL instead
// of once per request. On SQLite, that read is a read transaction which
// starts with an empty page cache whenever another connection has
// committed since, which under load is every time. The check took about
// 9 % of the gateway's CPU per status request.
//
// Only successes are kept: a new key works at once, and a wrong one is
// checked, and counted as a failure, every time. This process's own
// changes to keys, companies and integrations empty the cache when they
// commit. Changes made by another process (the CLI, another replica) are
// seen once the entry expires, within the TTL.
type keyCache struct {
	ttl time.Duration

	mu      sync.Mutex
	gen     uint64 // incremented by every change that empties the cache
	entries map[keyCacheKey]keyCacheEntry
}

type keyCacheKey struct {
	digest string // KeyDigest of the presented key, never the key itself
	svc    vendor.Service
}

type keyCacheEntry struct {
	company Company
	rev     Revision
	expires time.Time
}

// get returns the entry of digest and svc when it has not expired, and the
// cache's generation, which put needs.
func (c *keyCache) get(digest string, svc vendor.Service, now time.Time) (keyCacheEntry, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[keyCacheKey{digest, svc}]
	if ok && now.Before(e.expires) {
		return e, c.gen, true
	}
	return keyCacheEntry{}, c.gen, false
}

// put stores a successful check that started when the cache had
// generation gen. A change committed since then empties the cache and
// moves the generation, and the check, which may predate the change, is
// dropped.
func (c *keyCache) put(digest string, svc vendor.Service, gen uint64, co Company, rev Revision, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.entries) >= maxCachedKeys {
		clear(c.entries)
	}
	c.entries[keyCacheKey{digest, svc}] = keyCacheEntry{company: co, rev: rev, expires: now.Add(c.ttl)}
}

// forget empties the cache. It runs after every change to keys, companies
// and integrations, committed or not.
func (c *keyCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}
