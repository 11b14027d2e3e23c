package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendors"
)

// RotateKey adds a new key and returns it once. At most two keys are valid at
// a time: rotating when two are valid revokes the older one.
func (s *Service) RotateKey(ctx context.Context, nameOrID string) (Key, string, error) {
	defer s.forgetKeyChecks()
	plain, err := NewKey()
	if err != nil {
		return Key{}, "", err
	}
	keyID, err := newID("key_")
	if err != nil {
		return Key{}, "", err
	}

	var k Key
	err = s.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Lock the company row, so that two rotations on two replicas do
		// not both see one valid key and leave three.
		c, err := s.findCompany(ctx, tx, nameOrID, true)
		if err != nil {
			return err
		}
		valid, err := s.keys(ctx, tx, c.ID, true)
		if err != nil {
			return err
		}

		// valid is newest first. Keep MaxValidKeys-1 of them besides the
		// new key.
		now := time.Now()
		if len(valid) > 0 && !now.After(valid[0].CreatedAt) {
			// Keep creation times strictly increasing, so "older" is
			// well defined even within one clock tick.
			now = valid[0].CreatedAt.Add(time.Nanosecond)
		}
		for _, old := range valid[min(len(valid), MaxValidKeys-1):] {
			if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE company_keys SET revoked_at = ? WHERE id = ?"),
				store.UnixNanos(now), old.ID); err != nil {
				return fmt.Errorf("rotate key of company %s: revoke key %s: %w", c.Name, old.ID, err)
			}
		}

		if _, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO company_keys (id, company_id, digest, created_at) VALUES (?, ?, ?, ?)"),
			keyID, c.ID, KeyDigest(plain), store.UnixNanos(now)); err != nil {
			return fmt.Errorf("rotate key of company %s: %w", c.Name, err)
		}
		k = Key{ID: keyID, CompanyID: c.ID, CreatedAt: store.TimeFromUnixNanos(store.UnixNanos(now))}
		return nil
	})
	if err != nil {
		return Key{}, "", err
	}
	return k, plain, nil
}

// RevokeKey revokes one key of a company at once. Revoking a key that is
// already revoked succeeds and keeps the first revocation time.
func (s *Service) RevokeKey(ctx context.Context, nameOrID, keyID string) error {
	defer s.forgetKeyChecks()
	c, err := s.Company(ctx, nameOrID)
	if err != nil {
		return err
	}
	res, err := s.db.SQL.ExecContext(ctx,
		s.db.Rebind("UPDATE company_keys SET revoked_at = ? WHERE id = ? AND company_id = ? AND revoked_at IS NULL"),
		store.UnixNanos(time.Now()), keyID, c.ID)
	if err != nil {
		return fmt.Errorf("revoke key %s of company %s: %w", keyID, c.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}

	// Nothing changed: the key is either revoked already or not the
	// company's.
	var exists int
	err = s.db.SQL.QueryRowContext(ctx, s.db.Rebind("SELECT count(*) FROM company_keys WHERE id = ? AND company_id = ?"),
		keyID, c.ID).Scan(&exists)
	if err != nil {
		return fmt.Errorf("revoke key %s of company %s: %w", keyID, c.Name, err)
	}
	if exists == 0 {
		return fmt.Errorf("key %s of company %s %w", keyID, c.Name, ErrNotFound)
	}
	return nil
}

// Keys lists a company's keys, newest first.
func (s *Service) Keys(ctx context.Context, nameOrID string) ([]Key, error) {
	c, err := s.Company(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	return s.keys(ctx, s.db.SQL, c.ID, false)
}

// rowsQuerier is a *sql.DB or a *sql.Tx.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Service) keys(ctx context.Context, q rowsQuerier, companyID string, validOnly bool) ([]Key, error) {
	query := "SELECT id, created_at, revoked_at FROM company_keys WHERE company_id = ?"
	if validOnly {
		query += " AND revoked_at IS NULL"
	}
	rows, err := q.QueryContext(ctx, s.db.Rebind(query+" ORDER BY created_at DESC, id DESC"), companyID)
	if err != nil {
		return nil, fmt.Errorf("list keys of company %s: %w", companyID, err)
	}
	defer rows.Close()

	var out []Key
	for rows.Next() {
		k := Key{CompanyID: companyID}
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list keys of company %s: %w", companyID, err)
		}
		k.CreatedAt = store.TimeFromUnixNanos(created)
		if revoked.Valid {
			t := store.TimeFromUnixNanos(revoked.Int64)
			k.RevokedAt = &t
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys of company %s: %w", companyID, err)
	}
	return out, nil
}

// Revision identifies one version of a company's integration: its vendor
// kind and when it was last set. The zero Revision means no integration.
type Revision struct {
	Kind      vendor.Kind
	UpdatedAt time.Time
}

// authenticateQuery reads the enabled company of a valid key digest (the
// second parameter) and the revision of its integration for a service (the
// first), or an empty kind when it has none. The key digest is unique, and
// the integration is found by its primary key.
const authenticateQuery = `SELECT c.id, c.name, c.disabled, c.created_at, COALESCE(i.kind, ''), COALESCE(i.updated_at, 0)
	FROM company_keys k JOIN companies c ON c.id = k.company_id
	LEFT JOIN integrations i ON i.company_id = c.id AND i.service = ?
	WHERE k.digest = ? AND k.revoked_at IS NULL AND NOT c.disabled`

// AuthenticateFor does what Authenticate does and reads, in the same
// query, the revision of the company's integration for svc, which is what
// IntegrationVersion returns. An action route has its service before it
// checks the key, so one query serves both.
func (s *Service) AuthenticateFor(ctx context.Context, presented string, svc vendor.Service) (Company, Revision, error) {
	if !IsKeyFormat(presented) {
		return Company{}, Revision{}, ErrUnauthorized
	}
	digest := KeyDigest(presented)
	var gen uint64
	if s.keyChecks != nil {
		e, g, ok := s.keyChecks.get(digest, svc, time.Now())
		if ok {
			return e.company, e.rev, nil
		}
		gen = g
	}

	var c Company
	var rev Revision
	var created, updated int64
	var kind string
	err := s.db.Read.QueryRowContext(s.db.ShortContext(ctx), s.db.Rebind(authenticateQuery), string(svc), digest).
		Scan(&c.ID, &c.Name, &c.Disabled, &created, &kind, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Company{}, Revision{}, ErrUnauthorized
	}
	if err != nil {
		return Company{}, Revision{}, fmt.Errorf("authenticate company key: %w", err)
	}
	c.CreatedAt = store.TimeFromUnixNanos(created)
	if kind != "" {
		rev = Revision{Kind: vendor.Kind(kind), UpdatedAt: store.TimeFromUnixNanos(updated)}
	}
	if s.keyChecks != nil {
		s.keyChecks.put(digest, svc, gen, c, rev, time.Now())
	}
	return c, rev, nil
}

// CachedAuthenticateFor returns what AuthenticateFor returned for presented
// and svc when that success is still in the key cache (CacheKeyChecks),
// and false otherwise, without reading the store.
func (s *Service) CachedAuthenticateFor(presented string, svc vendor.Service) (Company, Revision, bool) {
	if s.keyChecks == nil || !IsKeyFormat(presented) {
		return Company{}, Revision{}, false
	}
	e, _, ok := s.keyChecks.get(KeyDigest(presented), svc, time.Now())
	return e.company, e.rev, ok
}

// Authenticate returns the enabled company whose valid key is presented.
// A wrong, revoked or malformed key and a disabled company all return
// ErrUnauthorized, and a value that is not 64 lowercase hex characters is
// rejected without a database query. A store failure is returned as another
// error, so that the caller can respond with 503 rather than 401.
func (s *Service) Authenticate(ctx context.Context, presented string) (Company, error) {
	// No integration has an empty service, so the query reads no revision.
	c, _, err := s.AuthenticateFor(ctx, presented, "")
	return c, err
}
