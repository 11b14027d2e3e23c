package email

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/smartpt/smartpt/internal/notify"
)

// outbox writes each message as an .eml file (the bytes an SMTP server
// would receive) into a folder, for deployments and demos without SMTP.
type outbox struct {
	dir    string
	from   string
	logger *slog.Logger
}

// Send writes msg to <dir>/<UTC time>-<random>.eml with mode 0600. It
// writes a temporary file first and renames it, so a reader never sees a
// partial message.
func (o *outbox) Send(ctx context.Context, msg notify.Email) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m, err := build(o.from, msg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("email: create outbox folder %s: %w", o.dir, err)
	}

	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return fmt.Errorf("email: random file name: %w", err)
	}
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(suffix) + ".eml"
	final := filepath.Join(o.dir, name)
	tmp := final + ".tmp"

	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("email: create %s: %w", tmp, err)
	}
	if _, err := m.WriteTo(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("email: write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("email: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("email: rename %s: %w", tmp, err)
	}
	o.logger.Info("e-mail written to outbox", "file", final, "to", msg.To, "subject", msg.Subject)
	return nil
}
