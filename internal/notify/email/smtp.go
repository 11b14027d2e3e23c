package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/smartpt/smartpt/internal/notify"
)

// sendTimeout bounds the connection and each SMTP command.
const sendTimeout = 30 * time.Second

// smtpMailer sends over SMTP. STARTTLS is mandatory in starttls mode: a
// server that does not offer it is an error, never a plain-text fallback.
type smtpMailer struct {
	cfg    Config
	tls    *tls.Config
	logger *slog.Logger
}

// Send delivers msg in one SMTP session. The error never contains the
// password.
func (s *smtpMailer) Send(ctx context.Context, msg notify.Email) error {
	m, err := build(s.cfg.From, msg)
	if err != nil {
		return err
	}

	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(sendTimeout),
		gomail.WithTLSConfig(s.tls),
	}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password))
	}

	client, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("email: configure SMTP client for %s:%d: %s", s.cfg.Host, s.cfg.Port, s.redact(err))
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("email: send to %s via %s:%d failed: %s", strings.Join(msg.To, ", "), s.cfg.Host, s.cfg.Port, s.redact(err))
	}
	s.logger.Info("e-mail sent", "smtp_host", s.cfg.Host, "to", msg.To, "subject", msg.Subject)
	return nil
}

func (s *smtpMailer) redact(err error) string {
	text := err.Error()
	if s.cfg.Password != "" {
		text = strings.ReplaceAll(text, s.cfg.Password, "[REDACTED]")
	}
	return text
}
