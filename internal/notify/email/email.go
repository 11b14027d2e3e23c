// Package email delivers notify.Email messages over SMTP, or writes them as
// .eml files into an outbox folder when no SMTP server is configured.
//
// Both paths build the same MIME message: multipart/alternative text and
// HTML, wrapped in multipart/related with the inline images (referenced from
// the HTML as cid:<ContentID>), wrapped in multipart/mixed with the
// attachments.
package email

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strings"

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

// Default ports per TLS mode.
const (
	portSubmission  = 587 // RFC 6409 message submission, with STARTTLS
	portSubmissions = 465 // RFC 8314 submission over implicit TLS
	portRelay       = 25
)

// defaultFrom is the sender of outbox messages when Config.From is empty.
const defaultFrom = "smartpt@localhost"

// New returns a mailer for cfg: SMTP when Host is set, else an outbox
// writer. It checks the settings and returns an error naming the one to
// fix; it does not connect.
func New(cfg Config) (notify.Mailer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}

	if cfg.Host == "" {
		if cfg.OutboxDir == "" {
			return nil, fmt.Errorf("email: neither an SMTP host nor an outbox folder is set: set one")
		}
		from := cfg.From
		if from == "" {
			from = defaultFrom
		}
		if _, err := mail.ParseAddress(from); err != nil {
			return nil, fmt.Errorf("email: sender %q is not a valid address: %w", from, err)
		}
		return &outbox{dir: cfg.OutboxDir, from: from, logger: cfg.Logger}, nil
	}

	mode := strings.ToLower(cfg.TLS)
	if mode == "" {
		mode = TLSStartTLS
	}
	if err := validateHost(cfg.Host); err != nil {
		return nil, err
	}
	switch mode {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		if !isLoopback(cfg.Host) {
			return nil, fmt.Errorf("email: TLS mode none is allowed only for a relay on loopback, not %q: use starttls or implicit", cfg.Host)
		}
	default:
		return nil, fmt.Errorf("email: TLS mode %q is invalid: use starttls, implicit or none", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = map[string]int{TLSStartTLS: portSubmission, TLSImplicit: portSubmissions, TLSNone: portRelay}[mode]
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("email: SMTP port %d is out of range 1-65535", cfg.Port)
	}
	if cfg.From == "" {
		return nil, fmt.Errorf("email: the sender address (From) is missing")
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("email: sender %q is not a valid address: %w", cfg.From, err)
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, fmt.Errorf("email: a password is set without a username: set both or neither")
	}

	tlsConfig := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if len(cfg.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAPEM) {
			return nil, fmt.Errorf("email: the CA PEM contains no certificate: paste the PEM text, BEGIN and END lines included")
		}
		tlsConfig.RootCAs = pool
	}
	cfg.TLS = mode
	return &smtpMailer{cfg: cfg, tls: tlsConfig, logger: cfg.Logger}, nil
}

// validateHost accepts a DNS name or an IP address, and rejects anything
// the SMTP library would read otherwise (such as a unix:// socket path).
func validateHost(host string) error {
	if net.ParseIP(host) != nil {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("email: SMTP host %q is too long", host)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("email: SMTP host %q is not a valid host name", host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("email: SMTP host %q is not a valid host name or IP address", host)
			}
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateMessage checks what both delivery paths need.
func validateMessage(msg notify.Email) error {
	if len(msg.To) == 0 {
		return fmt.Errorf("email: the message has no recipient")
	}
	for _, to := range msg.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("email: recipient %q is not a valid address: %w", to, err)
		}
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return fmt.Errorf("email: the subject contains a line break")
	}
	for _, p := range append(append([]notify.Part{}, msg.Inline...), msg.Attachments...) {
		if p.Name == "" || strings.ContainsAny(p.Name, "\r\n\"/\\") {
			return fmt.Errorf("email: part name %q is empty or contains a line break, quote or slash", p.Name)
		}
		if strings.ContainsAny(p.ContentType+p.ContentID, "\r\n<>\"") {
			return fmt.Errorf("email: part %q has a content type or id with forbidden characters", p.Name)
		}
	}
	for _, p := range msg.Inline {
		if p.ContentID == "" {
			return fmt.Errorf("email: inline part %q has no content id", p.Name)
		}
	}
	return nil
}
