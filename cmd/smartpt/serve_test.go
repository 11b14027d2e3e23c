package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/notify/email"
	"github.com/smartpt/smartpt/internal/vendors"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key,
// and returns their paths and a client trusting the certificate.
func writeTestCert(t *testing.T) (certFile, keyFile string, client *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return certFile, keyFile, client
}

func TestServeOverTLS(t *testing.T) {
	certFile, keyFile, client := writeTestCert(t)
	env := map[string]string{
		"SMARTPT_DATA_DIR":      t.TempDir(),
		"SMARTPT_LISTEN":        "127.0.0.1:0",
		"SMARTPT_TLS_CERT_FILE": certFile,
		"SMARTPT_TLS_KEY_FILE":  keyFile,
		"SMARTPT_LOG_LEVEL":     "warn",
	}
	url, _, _, _ := startCommand(t, env, "serve")
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("serve URL = %q, want https", url)
	}

	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz status = %d, want 200", resp.StatusCode)
	}
}

func TestServeRejectsInvalidConfig(t *testing.T) {
	config := filepath.Join(t.TempDir(), "smartpt.yaml")
	if err := os.WriteFile(config, []byte("data_dir: /tmp/x\nlisten_address: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, nil, "serve", "--config", config)
	if code != 1 || !strings.Contains(errOut, "listen_address") {
		t.Errorf("exit %d, stderr %q; want exit 1 naming the unknown key", code, errOut)
	}
}

func TestCompanyMailConfig(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantPort int
		wantTLS  string
		wantErr  string
	}{
		{"defaults", map[string]string{"host": "mail.example.com", "from": "soc@example.com"}, 587, email.TLSStartTLS, ""},
		{"implicit TLS", map[string]string{"host": "mail.example.com", "from": "soc@example.com", "tls": "implicit"}, 465, email.TLSImplicit, ""},
		{"explicit port", map[string]string{"host": "mail.example.com", "from": "soc@example.com", "port": "2525"}, 2525, email.TLSStartTLS, ""},
		{"bad port", map[string]string{"host": "mail.example.com", "from": "soc@example.com", "port": "70000"}, 0, "", `port "70000"`},
		{"no sender", map[string]string{"host": "mail.example.com"}, 0, "", "lacks host or from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := vendor.Config{CompanyID: "c1", Service: vendor.ServiceMail, Kind: vendor.KindSMTP, Settings: tt.settings, Secrets: map[string]string{"password": "pw"}}
			got, err := companyMailConfig(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("companyMailConfig: %v", err)
			}
			if got.Port != tt.wantPort || got.TLS != tt.wantTLS || got.Password != "pw" || got.Host != "mail.example.com" {
				t.Errorf("config = %+v, want port %d and TLS %s", got, tt.wantPort, tt.wantTLS)
			}
		})
	}
}
