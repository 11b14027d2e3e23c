// Package notify sends messages to people: e-mail now, chat and webhooks
// later.
package notify

import "context"

// Part is an inline image or an attachment of an e-mail.
type Part struct {
	Name        string // file name shown to the reader
	ContentType string // MIME type, for example "image/png"
	ContentID   string // for inline parts: referenced as cid:<ContentID> in the HTML
	Data        []byte
}

// Email is a message ready to send. HTML is optional; Text is always set.
type Email struct {
	To          []string
	Subject     string
	Text        string
	HTML        string
	Inline      []Part
	Attachments []Part
}

// Mailer delivers e-mail: over SMTP, or into an outbox folder when no SMTP
// server is configured.
type Mailer interface {
	Send(ctx context.Context, msg Email) error
}
