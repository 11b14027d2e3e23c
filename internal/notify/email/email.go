// Package email delivers notify.Email messages over SMTP, or writes them as
// .eml files into an outbox folder when no SMTP server is configured.
//
// NOTE: placeholder until the implementation lands; the signatures are the
// contract other packages use.
package email

import (
	"log/slog"

	"github.com/smartpt/smartpt/internal/notify"
)

// TLS modes for Config.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587); the default
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: only for a relay on loopback
)

// Config selects where mail goes. When Host is empty, messages are written
// to OutboxDir.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	TLS      string // one of the TLS modes; empty means TLSStartTLS
	CAPEM    []byte // extra CA to trust, for a private SMTP server

	OutboxDir string
	Logger    *slog.Logger
}

// New returns a mailer for cfg.
func New(cfg Config) (notify.Mailer, error) { panic("not implemented") }
