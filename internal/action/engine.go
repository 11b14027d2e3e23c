package action

import (
	"context"
	"io"
	"log/slog"

	"github.com/smartpt/smartpt/internal/audit"
	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendorhttp"
)

// Config holds what the engine is built from.
type Config struct {
	DB      *store.DB
	Tenants *tenant.Service
	Audit   *audit.Log
	Sealer  *secret.Sealer
	HTTP    *vendorhttp.Pool
	Logger  *slog.Logger

	// MailerFor returns the mailer for a company's reports and
	// notifications.
	MailerFor func(ctx context.Context, companyID string) (notify.Mailer, error)
}

// Engine implements Executor.
//
// NOTE: placeholder until the engine lands; the signatures are the contract.
type Engine struct {
	cfg Config
}

var _ Executor = (*Engine)(nil)

// New builds an engine. Call Start before Execute.
func New(cfg Config) (*Engine, error) { return &Engine{cfg: cfg}, nil }

// Start starts the background confirmation workers and resumes unfinished
// confirmations left by a previous process.
func (e *Engine) Start(ctx context.Context) error { panic("not implemented") }

// Stop stops the workers, waiting for running jobs until ctx ends.
func (e *Engine) Stop(ctx context.Context) error { panic("not implemented") }

func (e *Engine) Execute(ctx context.Context, req Request) (*Result, error) {
	panic("not implemented")
}

func (e *Engine) Get(ctx context.Context, companyID, actionID string) (*Record, error) {
	panic("not implemented")
}

func (e *Engine) ConfirmExternal(ctx context.Context, companyID string, svc vendor.Service, agentID string, act vendor.ActionKind, succeeded bool, detail string) (*Record, error) {
	panic("not implemented")
}

// RunGuardCLI runs "smartpt guard ARGS...": protect-lists and hourly caps.
func RunGuardCLI(ctx context.Context, db *store.DB, tenants *tenant.Service, args []string, stdout io.Writer) error {
	panic("not implemented")
}
