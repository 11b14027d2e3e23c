package tenant

import (
	"strconv"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/vendors"
)

// TestKeyCache checks keyCache on its own: what get returns after put,
// forget and the TTL, and that the entries stay within maxCachedKeys.
func TestKeyCache(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	co := Company{ID: "co_a", Name: "a"}
	tests := []struct {
		name string
		run  func(c *keyCache) (hit bool)
		want bool
	}{
		{"stored check", func(c *keyCache) bool {
			_, gen, _ := c.get("d1", vendor.ServiceCisco, t0)
			c.put("d1", vendor.ServiceCisco, gen, co, Revision{}, t0)
			_, _, ok := c.get("d1", vendor.ServiceCisco, t0.Add(time.Second-1))
			return ok
		}, true},
		{"expired at the TTL", func(c *keyCache) bool {
			_, gen, _ := c.get("d1", vendor.ServiceCisco, t0)
			c.put("d1", vendor.ServiceCisco, gen, co, Revision{}, t0)
			_, _, ok := c.get("d1", vendor.ServiceCisco, t0.Add(time.Second))
			return ok
		}, false},
		{"other service", func(c *keyCache) bool {
			_, gen, _ := c.get("d1", vendor.ServiceCisco, t0)
			c.put("d1", vendor.ServiceCisco, gen, co, Revision{}, t0)
			_, _, ok := c.get("d1", "", t0)
			return ok
		}, false},
		{"forgotten", func(c *keyCache) bool {
			_, gen, _ := c.get("d1", vendor.ServiceCisco, t0)
			c.put("d1", vendor.ServiceCisco, gen, co, Revision{}, t0)
			c.forget()
			_, _, ok := c.get("d1", vendor.ServiceCisco, t0)
			return ok
		}, false},
		{"check started before a change", func(c *keyCache) bool {
			_, gen, _ := c.get("d1", vendor.ServiceCisco, t0)
			c.forget() // the change commits while the check reads
			c.put("d1", vendor.ServiceCisco, gen, co, Revision{}, t0)
			_, _, ok := c.get("d1", vendor.ServiceCisco, t0)
			return ok
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &keyCache{ttl: time.Second, entries: map[keyCacheKey]keyCacheEntry{}}
			if got := tt.run(c); got != tt.want {
				t.Errorf("hit = %t, want %t", got, tt.want)
			}
		})
	}
}

// TestKeyCacheBound checks that the cache never holds more than
// maxCachedKeys entries.
func TestKeyCacheBound(t *testing.T) {
	c := &keyCache{ttl: time.Hour, entries: map[keyCacheKey]keyCacheEntry{}}
	now := time.Now()
	for i := range maxCachedKeys + 10 {
		c.put(KeyDigest(strconv.Itoa(i)), vendor.ServiceCisco, 0, Company{}, Revision{}, now)
		if n := len(c.entries); n > maxCachedKeys {
			t.Fatalf("after %d puts the cache holds %d entries, want at most %d", i+1, n, maxCachedKeys)
		}
	}
}
