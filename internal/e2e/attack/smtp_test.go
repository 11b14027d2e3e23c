package attack

import (
	"crypto/tls"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// rejectingRelay is an SMTP relay on loopback that offers AUTH PLAIN and
// rejects every password with 535, so that the mailer's authentication
// failure path runs with the planted password.
type rejectingRelay struct{}

func (rejectingRelay) NewSession(*smtp.Conn) (smtp.Session, error) { return rejectingSession{}, nil }

type rejectingSession struct{}

func (rejectingSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (rejectingSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	}), nil
}

func (rejectingSession) Mail(string, *smtp.MailOptions) error {
	return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
}
func (rejectingSession) Rcpt(string, *smtp.RcptOptions) error { return smtp.ErrAuthRequired }
func (rejectingSession) Data(r io.Reader) error               { return smtp.ErrAuthRequired }
func (rejectingSession) Reset()                               {}
func (rejectingSession) Logout() error                        { return nil }

// startRejectingRelay serves a rejectingRelay on loopback with STARTTLS
// and returns its host:port and the PEM certificate to trust; t.Cleanup
// stops it.
func startRejectingRelay(t testing.TB) (string, []byte) {
	t.Helper()

	// httptest makes a certificate for 127.0.0.1; the relay borrows it.
	web := httptest.NewUnstartedServer(http.NotFoundHandler())
	web.StartTLS()
	cert := web.TLS.Certificates[0]
	web.Close()
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})

	srv := smtp.NewServer(rejectingRelay{})
	srv.Domain = "relay.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), certPEM
}
