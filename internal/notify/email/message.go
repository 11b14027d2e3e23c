package email

import (
	"bytes"
	"fmt"

	gomail "github.com/wneessen/go-mail"

	"github.com/smartpt/smartpt/internal/notify"
)

// build turns msg into a go-mail message with from as sender.
func build(from string, msg notify.Email) (*gomail.Msg, error) {
	if err := validateMessage(msg); err != nil {
		return nil, err
	}

	m := gomail.NewMsg()
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("email: set sender %q: %w", from, err)
	}
	if err := m.To(msg.To...); err != nil {
		return nil, fmt.Errorf("email: set recipients: %w", err)
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()

	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	for _, p := range msg.Inline {
		// RFC 2392: the Content-ID header carries the id in angle
		// brackets; the HTML refers to it as cid:<id> without them.
		if err := m.EmbedReader(p.Name, bytes.NewReader(p.Data),
			gomail.WithFileContentID("<"+p.ContentID+">"),
			gomail.WithFileContentType(gomail.ContentType(p.ContentType))); err != nil {
			return nil, fmt.Errorf("email: embed %s: %w", p.Name, err)
		}
	}
	for _, p := range msg.Attachments {
		if err := m.AttachReader(p.Name, bytes.NewReader(p.Data),
			gomail.WithFileContentType(gomail.ContentType(p.ContentType))); err != nil {
			return nil, fmt.Errorf("email: attach %s: %w", p.Name, err)
		}
	}
	return m, nil
}
