package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/tenant"
	"github.com/smartpt/smartpt/internal/vendors"
)

// mailers chooses where each company's mail goes: the company's own SMTP
// relay (its ServiceMail integration), else the server's relay, else the
// outbox folder.
type mailers struct {
	tenants *tenant.Service
	server  email.Config // Host empty when the server has no relay
	outbox  string
	logger  *slog.Logger
}

// newMailers logs once at start where mail goes when a company has no relay
// of its own.
func newMailers(tenants *tenant.Service, server email.Config, outbox string, logger *slog.Logger) *mailers {
	m := &mailers{tenants: tenants, server: server, logger: logger}
	if server.Host == "" {
		m.outbox = outbox
		logger.Info("no SMTP server configured: mail is written as .eml files to the outbox folder", "outbox", m.outbox)
	} else {
		logger.Info("mail goes through the configured SMTP server", "host", server.Host, "port", server.Port)
	}
	return m
}

// For returns the mailer of a company; it has the signature of
// action.Config.MailerFor.
func (m *mailers) For(ctx context.Context, companyID string) (notify.Mailer, error) {
	cfg, _, err := m.tenants.Integration(ctx, companyID, vendor.ServiceMail)
	switch {
	case err == nil:
		ec, err := companyMailConfig(cfg)
		if err != nil {
			return nil, err
		}
		ec.Logger = m.logger
		return email.New(ec)

	case errors.Is(err, tenant.ErrNotConfigured):
		if m.server.Host != "" {
			return email.New(m.server)
		}
		return email.New(email.Config{OutboxDir: m.outbox, Logger: m.logger})

	default:
		return nil, fmt.Errorf("read mail integration of company %s: %w", companyID, err)
	}
}

// companyMailConfig turns a kind smtp integration into an email.Config.
func companyMailConfig(cfg vendor.Config) (email.Config, error) {
	ec := email.Config{
		Host:     cfg.Settings["host"],
		From:     cfg.Settings["from"],
		TLS:      cfg.Settings["tls"],
		Username: cfg.Settings["username"],
		Password: cfg.Secrets["password"],
	}
	if ec.TLS == "" {
		ec.TLS = email.TLSStartTLS
	}
	ec.Port = 587
	if ec.TLS == email.TLSImplicit {
		ec.Port = 465
	}
	if p := cfg.Settings["port"]; p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return email.Config{}, fmt.Errorf("mail integration of company %s: port %q is not a TCP port (1 to 65535)", cfg.CompanyID, p)
		}
		ec.Port = port
	}
	if ec.Host == "" || ec.From == "" {
		return email.Config{}, fmt.Errorf("mail integration of company %s lacks host or from; set them with smartpt integration set", cfg.CompanyID)
	}
	return ec, nil
}
