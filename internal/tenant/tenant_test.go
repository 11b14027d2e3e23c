package tenant_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// testKind is a registered kind whose declared settings the integration
// tests rely on. The real Cisco package is not linked into this test.
const testKind = vendor.KindCisco

var testKindRegistered bool

func TestMain(m *testing.M) {
	if _, ok := vendor.Lookup(testKind); !ok {
		vendor.Register(vendor.Factory{
			Kind:     testKind,
			Services: []vendor.Service{vendor.ServiceCisco},
			Settings: []vendor.Setting{
				{Name: "client_id", Required: true, Help: "API client id"},
				{Name: "region", Help: "cloud region: us, eu or apjc"},
				{Name: "api_key", Secret: true, Required: true, Help: "API key"},
				{Name: "unlock_seed", Secret: true, Help: "optional seed"},
			},
			NewContainment: func(vendor.Config, vendor.Deps) (vendor.Containment, error) {
				return nil, errors.New("not used in tests")
			},
		})
		testKindRegistered = true
	}
	os.Exit(m.Run())
}

type fixture struct {
	db       *store.DB
	svc      *tenant.Service
	sealer   *secret.Sealer
	resolver *secret.Resolver
	env      map[string]string
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, sealer: sealer, env: map[string]string{}}
	f.resolver = &secret.Resolver{LookupEnv: func(k string) (string, bool) {
		v, ok := f.env[k]
		return v, ok
	}}
	f.svc = tenant.New(db, sealer, f.resolver)
	return f
}

// forEachDialect runs fn once per store dialect, on a fresh database.
func forEachDialect(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, newFixture(t, storetest.Open(t, d)))
		})
	}
}

// forEachDialectAndCache runs fn per dialect twice: with every key check
// reading the database, and with checks cached for an hour, where only
// this Service's own changes can end an entry early.
func forEachDialectAndCache(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Helper()
	for _, d := range storetest.Dialects {
		for _, ttl := range []time.Duration{0, time.Hour} {
			t.Run(fmt.Sprintf("%s/cache %s", d, ttl), func(t *testing.T) {
				f := newFixture(t, storetest.Open(t, d))
				f.svc.CacheKeyChecks(ttl)
				fn(t, f)
			})
		}
	}
}

func (f *fixture) create(t *testing.T, name string) (tenant.Company, string) {
	t.Helper()
	c, key, err := f.svc.CreateCompany(context.Background(), name, "")
	if err != nil {
		t.Fatalf("CreateCompany(%q): %v", name, err)
	}
	return c, key
}

func (f *fixture) mustAuth(t *testing.T, key string, want tenant.Company) {
	t.Helper()
	got, err := f.svc.Authenticate(context.Background(), key)
	if err != nil {
		t.Fatalf("Authenticate: %v, want company %s", err, want.Name)
	}
	if got.ID != want.ID {
		t.Fatalf("Authenticate returned company %s, want %s", got.Name, want.Name)
	}
}

func (f *fixture) mustReject(t *testing.T, key, why string) {
	t.Helper()
	if _, err := f.svc.Authenticate(context.Background(), key); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("Authenticate with %s: error = %v, want ErrUnauthorized", why, err)
	}
}

func TestCreateCompany(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, key := f.create(t, "acme-soc")

		if !strings.HasPrefix(c.ID, "cmp_") {
			t.Errorf("company id %q lacks prefix cmp_", c.ID)
		}
		if !tenant.IsKeyFormat(key) {
			t.Errorf("key %q is not 64 lowercase hex characters", key)
		}
		if c.CreatedAt.IsZero() || c.Disabled {
			t.Errorf("new company = %+v, want enabled with a creation time", c)
		}

		// Only the digest is stored.
		var digest string
		if err := f.db.SQL.QueryRowContext(ctx, f.db.Rebind("SELECT digest FROM company_keys WHERE company_id = ?"), c.ID).Scan(&digest); err != nil {
			t.Fatal(err)
		}
		if digest != tenant.KeyDigest(key) || strings.Contains(digest, key) {
			t.Errorf("stored digest = %q, want SHA-256 of the key", digest)
		}

		for _, ref := range []string{c.ID, c.Name} {
			got, err := f.svc.Company(ctx, ref)
			if err != nil || got != c {
				t.Errorf("Company(%q) = %+v, %v; want %+v", ref, got, err, c)
			}
		}
		if _, err := f.svc.Company(ctx, "nobody"); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("Company(nobody) error = %v, want ErrNotFound", err)
		}

		if _, _, err := f.svc.CreateCompany(ctx, "acme-soc", ""); !errors.Is(err, tenant.ErrExists) {
			t.Errorf("duplicate name error = %v, want ErrExists", err)
		}
		if _, _, err := f.svc.CreateCompany(ctx, "other", key); !errors.Is(err, tenant.ErrExists) {
			t.Errorf("reused key error = %v, want ErrExists", err)
		} else if strings.Contains(err.Error(), key) {
			t.Errorf("error %q contains the key", err)
		}

		given := strings.Repeat("ab", 32)
		demo, gotKey, err := f.svc.CreateCompany(ctx, "demo", given)
		if err != nil || gotKey != given {
			t.Fatalf("CreateCompany with a given key = %q, %v; want the given key", gotKey, err)
		}
		f.mustAuth(t, given, demo)

		list, err := f.svc.ListCompanies(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "acme-soc" || list[1].Name != "demo" {
			t.Errorf("ListCompanies = %+v, want acme-soc then demo", list)
		}
	})
}

func TestCreateCompanyRejects(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		cases := []struct{ name, key string }{
			{"", ""},
			{"Acme", ""},
			{"acme soc", ""},
			{"acme_soc", ""},
			{strings.Repeat("a", 65), ""},
			{"ünï", ""},
			{"good", "short"},
			{"good", strings.Repeat("AB", 32)},
			{"good", strings.Repeat("g", 64)},
		}
		for _, tc := range cases {
			if _, _, err := f.svc.CreateCompany(context.Background(), tc.name, tc.key); err == nil {
				t.Errorf("CreateCompany(%q, %q) succeeded, want error", tc.name, tc.key)
			}
		}
		if _, _, err := f.svc.CreateCompany(context.Background(), strings.Repeat("a", 64), ""); err != nil {
			t.Errorf("CreateCompany with a 64-character name: %v", err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	forEachDialectAndCache(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, keyA := f.create(t, "a")
		b, keyB := f.create(t, "b")

		f.mustAuth(t, keyA, a)
		f.mustAuth(t, keyB, b)

		other, _ := tenant.NewKey()
		f.mustReject(t, other, "an unknown key")
		f.mustReject(t, "", "an empty key")
		f.mustReject(t, strings.ToUpper(keyA), "an uppercase key")
		f.mustReject(t, keyA[:63], "a 63-character key")
		f.mustReject(t, keyA+"0", "a 65-character key")
		f.mustReject(t, " "+keyA[1:], "a key with a space")
		f.mustReject(t, tenant.KeyDigest(keyA), "the stored digest")

		if err := f.svc.SetDisabled(ctx, "a", true); err != nil {
			t.Fatalf("SetDisabled: %v", err)
		}
		f.mustReject(t, keyA, "the key of a disabled company")
		f.mustAuth(t, keyB, b)

		if err := f.svc.SetDisabled(ctx, a.ID, false); err != nil {
			t.Fatalf("SetDisabled(false): %v", err)
		}
		f.mustAuth(t, keyA, a)

		if err := f.svc.SetDisabled(ctx, "nobody", true); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("SetDisabled(nobody) error = %v, want ErrNotFound", err)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	forEachDialectAndCache(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c, key1 := f.create(t, "rotating")

		k2, key2, err := f.svc.RotateKey(ctx, "rotating")
		if err != nil {
			t.Fatalf("RotateKey: %v", err)
		}
		f.mustAuth(t, key1, c)
		f.mustAuth(t, key2, c)

		k3, key3, err := f.svc.RotateKey(ctx, c.ID)
		if err != nil {
			t.Fatalf("second RotateKey: %v", err)
		}
		f.mustReject(t, key1, "the oldest key after a second rotation")
		f.mustAuth(t, key2, c)
		f.mustAuth(t, key3, c)

		keys, err := f.svc.Keys(ctx, "rotating")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 3 {
			t.Fatalf("Keys returned %d keys, want 3", len(keys))
		}
		if keys[0].ID != k3.ID || keys[1].ID != k2.ID {
			t.Errorf("Keys order = %s, %s, %s; want newest first", keys[0].ID, keys[1].ID, keys[2].ID)
		}
		if keys[2].RevokedAt == nil || keys[0].RevokedAt != nil || keys[1].RevokedAt != nil {
			t.Errorf("only the oldest key should be revoked: %+v", keys)
		}

		if _, _, err := f.svc.RotateKey(ctx, "nobody"); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("RotateKey(nobody) error = %v, want ErrNotFound", err)
		}
	})
}

func TestRevokeKey(t *testing.T) {
	forEachDialectAndCache(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, keyA1 := f.create(t, "a")
		f.create(t, "b")
		kA2, keyA2, err := f.svc.RotateKey(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}

		if err := f.svc.RevokeKey(ctx, "b", kA2.ID); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("revoking company a's key through company b: error = %v, want ErrNotFound", err)
		}
		f.mustAuth(t, keyA2, a)

		if err := f.svc.RevokeKey(ctx, "a", kA2.ID); err != nil {
			t.Fatalf("RevokeKey: %v", err)
		}
		f.mustReject(t, keyA2, "a revoked key")
		f.mustAuth(t, keyA1, a)

		if err := f.svc.RevokeKey(ctx, "a", kA2.ID); err != nil {
			t.Errorf("revoking a revoked key again: %v", err)
		}
		if err := f.svc.RevokeKey(ctx, "a", "key_unknown"); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("RevokeKey(unknown) error = %v, want ErrNotFound", err)
		}
	})
}

// TestConcurrentRotation rotates from several goroutines (and, on
// PostgreSQL, two connection pools standing for two replicas) and checks
// that at most two keys stay valid.
func TestConcurrentRotation(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.create(t, "busy")
		services := []*tenant.Service{f.svc}
		if f.db.Dialect == store.Postgres {
			other, err := store.Open(ctx, store.Options{DatabaseURL: f.db.URL})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			services = append(services, tenant.New(other, f.sealer, f.resolver))
		}

		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					if _, _, err := services[i%len(services)].RotateKey(ctx, "busy"); err != nil {
						t.Errorf("RotateKey: %v", err)
						return
					}
				}
			}(i)
		}
		wg.Wait()

		keys, err := f.svc.Keys(ctx, "busy")
		if err != nil {
			t.Fatal(err)
		}
		valid := 0
		for _, k := range keys {
			if k.RevokedAt == nil {
				valid++
			}
		}
		if len(keys) != 41 || valid != 2 {
			t.Errorf("after 40 rotations: %d keys, %d valid; want 41 keys, 2 valid", len(keys), valid)
		}
	})
}

func TestTenantIsolation(t *testing.T) {
	if !testKindRegistered {
		t.Skip("the real cisco factory is linked; this test relies on its own settings")
	}
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, keyA := f.create(t, "a")
		b, keyB := f.create(t, "b")
		if err := f.svc.SetIntegration(ctx, "a", vendor.ServiceCisco, testKind,
			map[string]string{"client_id": "client-a"}, map[string]string{"api_key": "secret-of-a"}); err != nil {
			t.Fatal(err)
		}

		got, err := f.svc.Authenticate(ctx, keyB)
		if err != nil || got.ID != b.ID {
			t.Fatalf("company b's key authenticated as %+v, %v", got, err)
		}
		if _, _, err := f.svc.Integration(ctx, b.ID, vendor.ServiceCisco); !errors.Is(err, tenant.ErrNotConfigured) {
			t.Errorf("company b reading cisco integration: error = %v, want ErrNotConfigured", err)
		}
		if list, err := f.svc.Integrations(ctx, "b"); err != nil || len(list) != 0 {
			t.Errorf("Integrations(b) = %+v, %v; want none", list, err)
		}

		got, err = f.svc.Authenticate(ctx, keyA)
		if err != nil || got.ID != a.ID {
			t.Fatalf("company a's key authenticated as %+v, %v", got, err)
		}
		cfg, _, err := f.svc.Integration(ctx, got.ID, vendor.ServiceCisco)
		if err != nil || cfg.Secrets["api_key"] != "secret-of-a" || cfg.CompanyID != a.ID {
			t.Errorf("company a's integration = %+v, %v", cfg.Settings, err)
		}

		// A sealed value copied into another company's row does not open.
		exec(t, f.db, `INSERT INTO integrations (company_id, service, kind, settings, secrets, updated_at)
			SELECT ?, service, kind, settings, secrets, updated_at FROM integrations WHERE company_id = ?`, b.ID, a.ID)
		_, _, err = f.svc.Integration(ctx, b.ID, vendor.ServiceCisco)
		if !errors.Is(err, secret.ErrOpen) {
			t.Errorf("copied sealed secret: error = %v, want ErrOpen", err)
		}
		if err != nil && (!strings.Contains(err.Error(), "cisco") || !strings.Contains(err.Error(), b.ID) || !strings.Contains(err.Error(), "api_key")) {
			t.Errorf("error %q does not name the service, company and secret", err)
		}
	})
}

func exec(t *testing.T, db *store.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.SQL.ExecContext(context.Background(), db.Rebind(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestKeyCacheOtherProcess checks the cache against changes that another
// process makes: a second Service on the same database stands for the CLI
// or another replica. Its revocation takes effect in the caching Service
// once the entry expires, and not before. A key that failed is checked
// again every time, so a key created elsewhere works at once.
func TestKeyCacheOtherProcess(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		const ttl = 200 * time.Millisecond
		f.svc.CacheKeyChecks(ttl)
		other := tenant.New(f.db, f.sealer, f.resolver)

		// A key unknown here, then created by the other process.
		unknown := &fixture{db: f.db, svc: f.svc}
		_, keyB, err := other.CreateCompany(ctx, "b", "")
		if err != nil {
			t.Fatal(err)
		}
		b, err := other.Company(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		unknown.mustAuth(t, keyB, b)

		a, keyA := f.create(t, "a")
		f.mustAuth(t, keyA, a)
		keys, err := other.Keys(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		revoked := time.Now()
		if err := other.RevokeKey(ctx, "a", keys[0].ID); err != nil {
			t.Fatal(err)
		}
		if time.Since(revoked) < ttl/2 {
			f.mustAuth(t, keyA, a) // still in the cache
		}
		time.Sleep(ttl)
		f.mustReject(t, keyA, "a key revoked by another process, after the TTL")
	})
}

// TestKeyCacheRevision checks that the integration revision that
// AuthenticateFor returns changes at once when this Service sets the
// integration, although the key check is cached.
func TestKeyCacheRevision(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.svc.CacheKeyChecks(time.Hour)
		_, key := f.create(t, "a")
		svc := vendor.ServiceCisco

		_, rev, err := f.svc.AuthenticateFor(ctx, key, svc)
		if err != nil || rev.Kind != "" {
			t.Fatalf("AuthenticateFor before any integration: revision %+v, err %v; want none", rev, err)
		}
		settings := map[string]string{"client_id": "c1"}
		if err := f.svc.SetIntegration(ctx, "a", svc, testKind, settings, map[string]string{"api_key": "k"}); err != nil {
			t.Fatalf("SetIntegration: %v", err)
		}
		_, rev, err = f.svc.AuthenticateFor(ctx, key, svc)
		if err != nil || rev.Kind != testKind || rev.UpdatedAt.IsZero() {
			t.Fatalf("AuthenticateFor after SetIntegration: revision %+v, err %v; want kind %s", rev, err, testKind)
		}
	})
}

// TestCachedAuthenticateFor checks the cache-only check: a miss before the
// first check against the store, a hit after it, and a miss again once this
// Service revoked the key, for a malformed key, and without a cache.
func TestCachedAuthenticateFor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		svc := vendor.ServiceCisco
		a, key := f.create(t, "a")

		if _, _, ok := f.svc.CachedAuthenticateFor(key, svc); ok {
			t.Fatal("a hit without a cache")
		}
		f.svc.CacheKeyChecks(time.Hour)
		if _, _, ok := f.svc.CachedAuthenticateFor(key, svc); ok {
			t.Fatal("a hit before any check")
		}
		if _, _, err := f.svc.AuthenticateFor(ctx, key, svc); err != nil {
			t.Fatal(err)
		}
		if c, _, ok := f.svc.CachedAuthenticateFor(key, svc); !ok || c.ID != a.ID {
			t.Fatalf("after a check: company %q, hit %t; want %s and a hit", c.ID, ok, a.ID)
		}
		if _, _, ok := f.svc.CachedAuthenticateFor(key, vendor.ServiceDefender); ok {
			t.Error("a hit for another service, whose revision was never read")
		}
		if _, _, ok := f.svc.CachedAuthenticateFor(strings.ToUpper(key), svc); ok {
			t.Error("a hit for a malformed key")
		}

		keys, err := f.svc.Keys(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RevokeKey(ctx, "a", keys[0].ID); err != nil {
			t.Fatal(err)
		}
		if _, _, ok := f.svc.CachedAuthenticateFor(key, svc); ok {
			t.Error("a hit after this Service revoked the key")
		}
	})
}

// TestKeyCacheConcurrentChange checks the cache against this Service's own
// changes while checks of the same key run on other goroutines. Once the
// change has returned, no check that starts afterwards may succeed. The
// TTL is an hour, so only the change can end an entry.
func TestKeyCacheConcurrentChange(t *testing.T) {
	changes := []struct {
		name   string
		change func(ctx context.Context, f *fixture) error
	}{
		{"revoke key", func(ctx context.Context, f *fixture) error {
			keys, err := f.svc.Keys(ctx, "a")
			if err != nil {
				return err
			}
			return f.svc.RevokeKey(ctx, "a", keys[0].ID)
		}},
		{"disable company", func(ctx context.Context, f *fixture) error {
			return f.svc.SetDisabled(ctx, "a", true)
		}},
	}
	for _, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, f *fixture) {
				ctx := context.Background()
				f.svc.CacheKeyChecks(time.Hour)
				a, key := f.create(t, "a")
				f.mustAuth(t, key, a)

				var changed atomic.Bool
				var wrong atomic.Int32
				stop := make(chan struct{})
				var wg sync.WaitGroup
				for range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Bounded: at most 2,000 checks per goroutine.
						for range 2000 {
							select {
							case <-stop:
								return
							default:
							}
							after := changed.Load()
							_, _, err := f.svc.AuthenticateFor(ctx, key, vendor.ServiceCisco)
							if after && err == nil {
								wrong.Add(1)
							}
						}
					}()
				}
				time.Sleep(20 * time.Millisecond)
				if err := ch.change(ctx, f); err != nil {
					t.Fatalf("%s: %v", ch.name, err)
				}
				changed.Store(true)
				time.Sleep(20 * time.Millisecond)
				close(stop)
				wg.Wait()

				if n := wrong.Load(); n > 0 {
					t.Errorf("%d checks that started after %s succeeded", n, ch.name)
				}
				f.mustReject(t, key, "after "+ch.name)
			})
		})
	}
}
