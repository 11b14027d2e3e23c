package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/smartpt/smartpt/internal/notify"
	"github.com/smartpt/smartpt/internal/notify/email"
)

const (
	testUser     = "reports"
	testPassword = "s3cret-pass"
)

// received is one message the test server accepted.
type received struct {
	from string
	to   []string
	data []byte
	user string // authenticated user, empty without AUTH
	tls  bool
}

// smtpServer is a real SMTP server on loopback built on go-smtp.
type smtpServer struct {
	mu       sync.Mutex
	messages []received
}

type session struct {
	srv  *smtpServer
	conn *smtp.Conn
	msg  received
}

func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: s, conn: c}, nil
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != testUser || password != testPassword {
			return errors.New("invalid credentials")
		}
		s.msg.user = username
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.msg.tls = s.conn.TLSConnectionState()
	s.msg.data = data
	s.srv.mu.Lock()
	s.srv.messages = append(s.srv.messages, s.msg)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.msg = received{user: s.msg.user} }
func (s *session) Logout() error { return nil }

// testCert returns a certificate for 127.0.0.1 and its PEM.
func testCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtp test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// startSMTP serves on loopback; implicit wraps the listener in TLS, and
// offerTLS enables STARTTLS on a plain listener.
func startSMTP(t *testing.T, implicit, offerTLS bool) (*smtpServer, int, []byte) {
	t.Helper()
	backend := &smtpServer{}
	cert, caPEM := testCert(t)
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	srv := smtp.NewServer(backend)
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = false

	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if offerTLS {
			srv.TLSConfig = tlsConfig
		} else {
			srv.AllowInsecureAuth = true
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return backend, ln.Addr().(*net.TCPAddr).Port, caPEM
}

func (s *smtpServer) all() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.messages...)
}

var chartPNG = []byte("\x89PNG\r\n\x1a\nfake image bytes")

func reportMessage() notify.Email {
	return notify.Email{
		To:          []string{"analyst@example.com"},
		Subject:     "SmartPT user report: user01@demo.example",
		Text:        "Sign-ins: 3",
		HTML:        `<p>Sign-ins: 3</p><img src="cid:sign-ins-per-day">`,
		Inline:      []notify.Part{{Name: "chart.png", ContentType: "image/png", ContentID: "sign-ins-per-day", Data: chartPNG}},
		Attachments: []notify.Part{{Name: "sign-ins.csv", ContentType: "text/csv", Data: []byte("createdDateTime,ipAddress\n2026-01-01T00:00:00Z,203.0.113.1\n")}},
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// part is one leaf of a parsed MIME tree.
type part struct {
	path        string // content types from the root, joined by ">"
	contentType string
	contentID   string
	filename    string
	body        []byte
}

// parseMIME parses a whole message into its leaf parts.
func parseMIME(t *testing.T, raw []byte) (*mail.Message, []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	var leaves []part
	var walk func(header map[string][]string, body io.Reader, path string)
	walk = func(header map[string][]string, body io.Reader, path string) {
		h := mail.Header(header)
		mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err != nil {
			t.Fatalf("content type %q: %v", h.Get("Content-Type"), err)
		}
		path += ">" + mediaType
		if strings.HasPrefix(mediaType, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatalf("next part: %v", err)
				}
				walk(p.Header, p, path)
			}
		}
		data, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			data, err = base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(data)))
			if err != nil {
				t.Fatalf("base64 part: %v", err)
			}
		}
		_, dispParams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		leaves = append(leaves, part{
			path: strings.TrimPrefix(path, ">"), contentType: mediaType,
			contentID: h.Get("Content-Id"), filename: dispParams["filename"], body: data,
		})
	}
	walk(msg.Header, msg.Body, "")
	return msg, leaves
}

// checkReportMIME checks the structure every delivered report must have.
func checkReportMIME(t *testing.T, raw []byte) {
	t.Helper()
	msg, parts := parseMIME(t, raw)

	if got := msg.Header.Get("Subject"); got != "SmartPT user report: user01@demo.example" {
		t.Errorf("subject = %q", got)
	}
	want := map[string]string{
		"text/plain": "multipart/mixed>multipart/related>multipart/alternative>text/plain",
		"text/html":  "multipart/mixed>multipart/related>multipart/alternative>text/html",
		"image/png":  "multipart/mixed>multipart/related>image/png",
		"text/csv":   "multipart/mixed>text/csv",
	}
	found := map[string]part{}
	for _, p := range parts {
		found[p.contentType] = p
	}
	for typ, path := range want {
		p, ok := found[typ]
		if !ok {
			t.Errorf("no %s part; parts: %+v", typ, parts)
			continue
		}
		if p.path != path {
			t.Errorf("%s path = %s, want %s", typ, p.path, path)
		}
	}
	if img := found["image/png"]; !bytes.Equal(img.body, chartPNG) || img.contentID != "<sign-ins-per-day>" {
		t.Errorf("inline image id = %q, bytes equal = %t; want <sign-ins-per-day> and the same bytes", img.contentID, bytes.Equal(img.body, chartPNG))
	}
	if csv := found["text/csv"]; csv.filename != "sign-ins.csv" || !strings.Contains(string(csv.body), "203.0.113.1") {
		t.Errorf("attachment = %q %q, want sign-ins.csv with the rows", csv.filename, csv.body)
	}
}

func TestSMTPStartTLSWithAuth(t *testing.T) {
	server, port, caPEM := startSMTP(t, false, true)
	mailer, err := email.New(email.Config{
		Host: "127.0.0.1", Port: port, Username: testUser, Password: testPassword,
		From: "smartpt@example.com", TLS: email.TLSStartTLS, CAPEM: caPEM, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	if err := mailer.Send(context.Background(), reportMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}

	msgs := server.all()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d, want 1", len(msgs))
	}
	got := msgs[0]
	if !got.tls || got.user != testUser || got.from != "smartpt@example.com" || strings.Join(got.to, ",") != "analyst@example.com" {
		t.Errorf("envelope = tls %t user %q from %q to %q", got.tls, got.user, got.from, got.to)
	}
	checkReportMIME(t, got.data)
}

func TestSMTPImplicitTLS(t *testing.T) {
	server, port, caPEM := startSMTP(t, true, false)
	mailer, err := email.New(email.Config{
		Host: "127.0.0.1", Port: port, Username: testUser, Password: testPassword,
		From: "smartpt@example.com", TLS: email.TLSImplicit, CAPEM: caPEM, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	if err := mailer.Send(context.Background(), reportMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if msgs := server.all(); len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("messages = %+v, want one over TLS", msgs)
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Run("STARTTLS not offered", func(t *testing.T) {
		server, port, _ := startSMTP(t, false, false)
		mailer, err := email.New(email.Config{Host: "127.0.0.1", Port: port, From: "smartpt@example.com", Logger: quietLogger()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if err := mailer.Send(context.Background(), reportMessage()); err == nil {
			t.Errorf("Send without STARTTLS succeeded, want an error")
		}
		if n := len(server.all()); n != 0 {
			t.Errorf("messages = %d, want 0", n)
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		_, port, _ := startSMTP(t, false, true)
		mailer, _ := email.New(email.Config{Host: "127.0.0.1", Port: port, From: "smartpt@example.com", Logger: quietLogger()})
		if err := mailer.Send(context.Background(), reportMessage()); err == nil {
			t.Errorf("Send to an untrusted certificate succeeded, want an error")
		}
	})

	t.Run("wrong password not in error", func(t *testing.T) {
		_, port, caPEM := startSMTP(t, false, true)
		wrong := "wrong-pass-987"
		mailer, _ := email.New(email.Config{Host: "127.0.0.1", Port: port, Username: testUser, Password: wrong, From: "smartpt@example.com", CAPEM: caPEM, Logger: quietLogger()})
		err := mailer.Send(context.Background(), reportMessage())
		if err == nil {
			t.Fatalf("Send with a wrong password succeeded")
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("error %q contains the password", err)
		}
	})
}

func TestSMTPNoTLSOnLoopback(t *testing.T) {
	server, port, _ := startSMTP(t, false, false)
	mailer, err := email.New(email.Config{Host: "127.0.0.1", Port: port, From: "smartpt@example.com", TLS: email.TLSNone, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := mailer.Send(context.Background(), reportMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if msgs := server.all(); len(msgs) != 1 || msgs[0].tls {
		t.Errorf("messages = %+v, want one without TLS", msgs)
	}
}

func TestNewRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  email.Config
		want string
	}{
		{"nothing configured", email.Config{}, "neither an SMTP host nor an outbox"},
		{"no TLS to remote host", email.Config{Host: "smtp.example.com", From: "a@example.com", TLS: email.TLSNone}, "loopback"},
		{"unknown TLS mode", email.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"}, "invalid"},
		{"unix socket host", email.Config{Host: "unix:///tmp/sock", From: "a@example.com"}, "not a valid host"},
		{"missing sender", email.Config{Host: "smtp.example.com"}, "sender"},
		{"bad sender", email.Config{Host: "smtp.example.com", From: "not an address"}, "sender"},
		{"bad CA", email.Config{Host: "smtp.example.com", From: "a@example.com", CAPEM: []byte("x")}, "CA PEM"},
		{"password without user", email.Config{Host: "smtp.example.com", From: "a@example.com", Password: "p"}, "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := email.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	mailer, err := email.New(email.Config{OutboxDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	if err := mailer.Send(context.Background(), reportMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}

	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) != 1 {
		t.Fatalf("outbox files = %v (%v), want one .eml", files, err)
	}
	info, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %o, want 600", mode)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	checkReportMIME(t, raw)
}

func TestSendRejectsBadMessages(t *testing.T) {
	mailer, err := email.New(email.Config{OutboxDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		mutate func(*notify.Email)
	}{
		{"no recipient", func(m *notify.Email) { m.To = nil }},
		{"bad recipient", func(m *notify.Email) { m.To = []string{"a@b.com\r\nBcc: x@y.com"} }},
		{"subject with line break", func(m *notify.Email) { m.Subject = "a\r\nBcc: x@y.com" }},
		{"inline without id", func(m *notify.Email) { m.Inline[0].ContentID = "" }},
		{"part name with slash", func(m *notify.Email) { m.Attachments[0].Name = "../x.csv" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := reportMessage()
			tc.mutate(&msg)
			if err := mailer.Send(context.Background(), msg); err == nil {
				t.Errorf("Send accepted the message, want an error")
			}
		})
	}
}
