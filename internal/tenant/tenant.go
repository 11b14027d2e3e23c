// Package tenant manages companies, their company keys and their vendor
// integrations.
//
// A company key is 64 lowercase hex characters made from 32 random bytes.
// Only its SHA-256 digest is stored. Authenticate looks the digest up in
// the database unless CacheKeyChecks keeps successful checks. With the
// cache, a key revoked or a company disabled by another process (the CLI,
// another replica) fails within the cache's TTL. A change made through
// this Service takes effect at once. A company holds at most two valid
// keys, so that it can rotate without downtime.
package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

var (
	// ErrUnauthorized is returned by Authenticate for any failure, so that
	// callers cannot tell which part failed.
	ErrUnauthorized = errors.New("unauthorized")

	// ErrNotConfigured means the company has no integration for a service.
	ErrNotConfigured = errors.New("integration not configured")

	// ErrNotFound means no company or key has the given name or id.
	ErrNotFound = errors.New("not found")

	// ErrExists means a company with the name, or the given key, exists.
	ErrExists = errors.New("already exists")
)

// MaxValidKeys is the number of keys a company may hold at once.
const MaxValidKeys = 2

// Company is one client company.
type Company struct {
	ID        string
	Name      string
	Disabled  bool
	CreatedAt time.Time
}

// Key is a company key's record. The key itself is never stored.
type Key struct {
	ID        string
	CompanyID string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Integration is a company's configuration of one service, without secret
// values: SecretNames lists the credentials that are set.
type Integration struct {
	CompanyID   string
	Service     vendor.Service
	Kind        vendor.Kind
	Settings    map[string]string
	SecretNames []string
	UpdatedAt   time.Time
}

// Service is the tenant store. It is safe for concurrent use.
type Service struct {
	db        *store.DB
	sealer    *secret.Sealer
	resolver  *secret.Resolver
	keyChecks *keyCache // nil: every key check reads the database
}

// New returns a Service over db. sealer seals plain integration secrets and
// opens them; resolver resolves secret references. Either may be nil when
// the caller never stores or reads integration secrets of that form.
func New(db *store.DB, sealer *secret.Sealer, resolver *secret.Resolver) *Service {
	return &Service{db: db, sealer: sealer, resolver: resolver}
}

// CacheKeyChecks makes AuthenticateFor and Authenticate keep a successful
// key check for ttl (see keyCache): a key revoked, a company disabled or an
// integration changed by another process then takes effect within ttl.
// 0 turns the cache off, which is the default. Call it before the Service
// serves requests.
func (s *Service) CacheKeyChecks(ttl time.Duration) {
	if ttl <= 0 {
		s.keyChecks = nil
		return
	}
	s.keyChecks = &keyCache{ttl: ttl, entries: map[keyCacheKey]keyCacheEntry{}}
}

// forgetKeyChecks empties the key cache after a change to keys, companies
// or integrations.
func (s *Service) forgetKeyChecks() {
	if s.keyChecks != nil {
		s.keyChecks.forget()
	}
}

var (
	companyName = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	keyFormat   = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidateName checks a company name: 1 to 64 characters of lowercase
// letters, digits and hyphens.
func ValidateName(name string) error {
	if !companyName.MatchString(name) {
		return fmt.Errorf("invalid company name %q: use 1 to 64 characters of lowercase letters a-z, digits and hyphens", name)
	}
	return nil
}

// IsKeyFormat reports whether s has the form of a company key: 64
// lowercase hex characters.
func IsKeyFormat(s string) bool { return len(s) == 64 && keyFormat.MatchString(s) }

// NewKey returns a new random company key.
func NewKey() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("read random company key: %w", err)
	}
	return hex.EncodeToString(raw[:]), nil
}

// KeyDigest returns the stored form of a company key: the lowercase hex
// SHA-256 of its text.
func KeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// newID returns prefix followed by 16 random hex characters.
func newID(prefix string) (string, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("read random id: %w", err)
	}
	return prefix + hex.EncodeToString(raw[:]), nil
}

// companyQuerier is a *sql.DB or a *sql.Tx.
type companyQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// findCompany reads a company by id or name. forUpdate locks its row on
// PostgreSQL, inside a transaction.
func (s *Service) findCompany(ctx context.Context, q companyQuerier, nameOrID string, forUpdate bool) (Company, error) {
	query := "SELECT id, name, disabled, created_at FROM companies WHERE id = ? OR name = ?"
	if forUpdate {
		query += s.db.ForUpdate()
	}
	var c Company
	var created int64
	err := q.QueryRowContext(ctx, s.db.Rebind(query), nameOrID, nameOrID).Scan(&c.ID, &c.Name, &c.Disabled, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Company{}, fmt.Errorf("company %q %w: list companies with \"smartpt company list\"", nameOrID, ErrNotFound)
	}
	if err != nil {
		return Company{}, fmt.Errorf("read company %q: %w", nameOrID, err)
	}
	c.CreatedAt = store.TimeFromUnixNanos(created)
	return c, nil
}
