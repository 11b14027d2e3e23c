// Package tenant manages companies, their company keys and their vendor
// integrations.
//
// NOTE: the method bodies are placeholders until the store-backed
// implementation lands; the signatures are the contract other packages use.
package tenant

import (
	"context"
	"errors"
	"time"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/vendor"
)

var (
	// ErrUnauthorized is returned by Authenticate for any failure, so that
	// callers cannot tell which part failed.
	ErrUnauthorized = errors.New("unauthorized")

	// ErrNotConfigured means the company has no integration for a service.
	ErrNotConfigured = errors.New("integration not configured")

	// ErrNotFound means no company or key has the given name or id.
	ErrNotFound = errors.New("not found")
)

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

// Service is the tenant store.
type Service struct {
	db       *store.DB
	sealer   *secret.Sealer
	resolver *secret.Resolver
}

// New returns a Service over db.
func New(db *store.DB, sealer *secret.Sealer, resolver *secret.Resolver) *Service {
	return &Service{db: db, sealer: sealer, resolver: resolver}
}

// CreateCompany creates a company and its first key, which it returns once.
// key, when not empty, must be 64 lowercase hex characters and is used
// instead of a random one (the demo's SMARTPT_DEMO_KEY).
func (s *Service) CreateCompany(ctx context.Context, name, key string) (Company, string, error) {
	panic("not implemented")
}

// Company returns a company by name or id.
func (s *Service) Company(ctx context.Context, nameOrID string) (Company, error) {
	panic("not implemented")
}

// ListCompanies returns every company, sorted by name.
func (s *Service) ListCompanies(ctx context.Context) ([]Company, error) { panic("not implemented") }

// SetDisabled disables or re-enables a company; a disabled company's keys
// fail at once.
func (s *Service) SetDisabled(ctx context.Context, nameOrID string, disabled bool) error {
	panic("not implemented")
}

// RotateKey adds a new key and returns it once. At most two keys are valid at
// a time: rotating when two are valid revokes the older one.
func (s *Service) RotateKey(ctx context.Context, nameOrID string) (Key, string, error) {
	panic("not implemented")
}

// RevokeKey revokes one key of a company at once.
func (s *Service) RevokeKey(ctx context.Context, nameOrID, keyID string) error {
	panic("not implemented")
}

// Keys lists a company's keys, newest first.
func (s *Service) Keys(ctx context.Context, nameOrID string) ([]Key, error) { panic("not implemented") }

// Authenticate returns the enabled company whose valid key is presented.
// Any failure is ErrUnauthorized.
func (s *Service) Authenticate(ctx context.Context, presented string) (Company, error) {
	panic("not implemented")
}

// SetIntegration stores a company's integration for a service. Each secret
// value is either a reference (env:NAME, file:PATH, aws-sm:ARN,
// vault:PATH#FIELD), stored as given, or a plain value, sealed.
func (s *Service) SetIntegration(ctx context.Context, nameOrID string, svc vendor.Service, kind vendor.Kind, settings, secrets map[string]string) error {
	panic("not implemented")
}

// Integration returns the configuration of the company's integration for
// svc with its secrets resolved, or ErrNotConfigured.
func (s *Service) Integration(ctx context.Context, companyID string, svc vendor.Service) (vendor.Config, time.Time, error) {
	panic("not implemented")
}

// Integrations lists a company's integrations without secret values.
func (s *Service) Integrations(ctx context.Context, nameOrID string) ([]Integration, error) {
	panic("not implemented")
}
