package tenant

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/smartpt/smartpt/internal/store"
)

// CreateCompany creates a company and its first key, which it returns once.
// key, when not empty, must be 64 lowercase hex characters and is used
// instead of a random one (the demo's SMARTPT_DEMO_KEY).
func (s *Service) CreateCompany(ctx context.Context, name, key string) (Company, string, error) {
	if err := ValidateName(name); err != nil {
		return Company{}, "", err
	}
	if key == "" {
		var err error
		if key, err = NewKey(); err != nil {
			return Company{}, "", err
		}
	} else if !IsKeyFormat(key) {
		return Company{}, "", fmt.Errorf("create company %q: the given company key must be 64 lowercase hex characters", name)
	}

	id, err := newID("cmp_")
	if err != nil {
		return Company{}, "", err
	}
	keyID, err := newID("key_")
	if err != nil {
		return Company{}, "", err
	}
	now := time.Now()
	c := Company{ID: id, Name: name, CreatedAt: store.TimeFromUnixNanos(store.UnixNanos(now))}
	digest := KeyDigest(key)

	err = s.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT count(*) FROM companies WHERE name = ?"), name).Scan(&n); err != nil {
			return fmt.Errorf("create company %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("create company %q: a company with this name %w", name, ErrExists)
		}
		if err := tx.QueryRowContext(ctx, s.db.Rebind("SELECT count(*) FROM company_keys WHERE digest = ?"), digest).Scan(&n); err != nil {
			return fmt.Errorf("create company %q: %w", name, err)
		}
		if n > 0 {
			return fmt.Errorf("create company %q: the given company key is in use by another company (%w): choose another key", name, ErrExists)
		}

		if _, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO companies (id, name, disabled, created_at) VALUES (?, ?, ?, ?)"),
			id, name, false, store.UnixNanos(now)); err != nil {
			return fmt.Errorf("create company %q: %w", name, uniqueErr(err))
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO company_keys (id, company_id, digest, created_at) VALUES (?, ?, ?, ?)"),
			keyID, id, digest, store.UnixNanos(now)); err != nil {
			return fmt.Errorf("create company %q: store its key: %w", name, uniqueErr(err))
		}
		return nil
	})
	if err != nil {
		return Company{}, "", err
	}
	return c, key, nil
}

// uniqueErr marks a unique violation that a concurrent writer caused after
// the checks above with ErrExists.
func uniqueErr(err error) error {
	if store.IsUniqueViolation(err) {
		return fmt.Errorf("the name or key %w", ErrExists)
	}
	return err
}

// Company returns a company by name or id.
func (s *Service) Company(ctx context.Context, nameOrID string) (Company, error) {
	return s.findCompany(ctx, s.db.SQL, nameOrID, false)
}

// ListCompanies returns every company, sorted by name.
func (s *Service) ListCompanies(ctx context.Context) ([]Company, error) {
	rows, err := s.db.SQL.QueryContext(ctx, "SELECT id, name, disabled, created_at FROM companies ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list companies: %w", err)
	}
	defer rows.Close()

	var out []Company
	for rows.Next() {
		var c Company
		var created int64
		if err := rows.Scan(&c.ID, &c.Name, &c.Disabled, &created); err != nil {
			return nil, fmt.Errorf("list companies: %w", err)
		}
		c.CreatedAt = store.TimeFromUnixNanos(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list companies: %w", err)
	}
	return out, nil
}

// SetDisabled disables or re-enables a company; a disabled company's keys
// fail at once.
func (s *Service) SetDisabled(ctx context.Context, nameOrID string, disabled bool) error {
	defer s.forgetKeyChecks()
	res, err := s.db.SQL.ExecContext(ctx, s.db.Rebind("UPDATE companies SET disabled = ? WHERE id = ? OR name = ?"),
		disabled, nameOrID, nameOrID)
	if err != nil {
		return fmt.Errorf("set company %q disabled=%t: %w", nameOrID, disabled, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set company %q disabled=%t: %w", nameOrID, disabled, err)
	}
	if n == 0 {
		return fmt.Errorf("company %q %w: list companies with \"smartpt company list\"", nameOrID, ErrNotFound)
	}
	return nil
}
