package entra_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/entra/entrasim"
)

// inbox is a go-smtp backend that keeps every message it receives.
type inbox struct {
	mu   sync.Mutex
	data [][]byte
}

func (b *inbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &inboxSession{inbox: b}, nil }

type inboxSession struct{ inbox *inbox }

func (s *inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *inboxSession) Reset()                               {}
func (s *inboxSession) Logout() error                        { return nil }
func (s *inboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.inbox.mu.Lock()
	s.inbox.data = append(s.inbox.data, data)
	s.inbox.mu.Unlock()
	return nil
}

// leafParts returns the leaf MIME parts of a message by content type, with
// base64 bodies decoded.
func leafParts(t *testing.T, header mail.Header, body io.Reader, out map[string][]byte) {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type %q: %v", header.Get("Content-Type"), err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			leafParts(t, mail.Header(p.Header), p, out)
		}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(header.Get("Content-Transfer-Encoding"), "base64") {
		var decoded bytes.Buffer
		if _, err := io.Copy(&decoded, base64Reader(data)); err != nil {
			t.Fatalf("decode %s: %v", mediaType, err)
		}
		data = decoded.Bytes()
	}
	out[mediaType] = data
}

func TestReportEmailOverSMTP(t *testing.T) {
	client, _ := setup(t, entrasim.Config{})
	rep, err := client.Report(context.Background(), "user07@demo.example", vendor.Options{})
	if err != nil {
		t.Fatalf("Report: %v", err)
	}

	box := &inbox{}
	srv := smtp.NewServer(box)
	srv.Domain, srv.ReadTimeout, srv.WriteTimeout = "localhost", 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	mailer, err := email.New(email.Config{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "smartpt@demo.example", TLS: email.TLSNone, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	msg := rep.Email
	msg.To = []string{"analyst@demo.example"}
	if err := mailer.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}

	box.mu.Lock()
	defer box.mu.Unlock()
	if len(box.data) != 1 {
		t.Fatalf("messages = %d, want 1", len(box.data))
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(box.data[0]))
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string][]byte{}
	leafParts(t, parsed.Header, parsed.Body, parts)

	if _, err := png.Decode(bytes.NewReader(parts["image/png"])); err != nil {
		t.Errorf("inline chart is not a PNG: %v", err)
	}
	if !strings.Contains(string(parts["text/html"]), "cid:sign-ins-per-day") {
		t.Errorf("HTML does not reference the chart")
	}
	rows, err := csv.NewReader(bytes.NewReader(parts["text/csv"])).ReadAll()
	if err != nil {
		t.Fatalf("CSV attachment: %v", err)
	}
	var summary struct {
		SignIns struct{ Total int } `json:"sign_ins"`
	}
	if err := json.Unmarshal(rep.Summary, &summary); err != nil {
		t.Fatal(err)
	}
	if len(rows) != summary.SignIns.Total+1 {
		t.Errorf("CSV rows = %d, want %d sign-ins plus a header", len(rows), summary.SignIns.Total+1)
	}
}

func TestConcurrentCallsShareOneToken(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.Status(context.Background(), "user01@demo.example")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Status: %v", err)
		}
	}
	if got := sim.Issuer().Requests(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
}

func base64Reader(data []byte) io.Reader {
	clean := strings.NewReplacer("\r", "", "\n", "").Replace(string(data))
	return base64.NewDecoder(base64.StdEncoding, strings.NewReader(clean))
}
