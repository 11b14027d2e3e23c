// Package simharness runs vendor simulators on loopback for the demo and the
// tests, and holds the demo inventory every simulator serves.
//
// A simulator is test infrastructure: it speaks a vendor's HTTP contract so
// that the real client can be exercised. Each simulator package registers a
// Sim from an init function; internal/simharness/all imports them all.
package simharness

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Host is one demo endpoint. Every endpoint simulator serves the same hosts,
// each under the vendor's own id format.
type Host struct {
	Index    int    // 1 to 20
	Hostname string // demo-host-01 to demo-host-20
	IPv4     string // 10.20.0.1 to 10.20.0.20
}

// DemoHostCount is the number of demo endpoints and demo users.
const DemoHostCount = 20

// DemoHosts returns demo-host-01 .. demo-host-20 with 10.20.0.1 .. 10.20.0.20.
func DemoHosts() []Host {
	hosts := make([]Host, DemoHostCount)
	for i := range hosts {
		hosts[i] = Host{
			Index:    i + 1,
			Hostname: fmt.Sprintf("demo-host-%02d", i+1),
			IPv4:     fmt.Sprintf("10.20.0.%d", i+1),
		}
	}
	return hosts
}

// DemoUsers returns user01@demo.example .. user20@demo.example.
func DemoUsers() []string {
	users := make([]string, DemoHostCount)
	for i := range users {
		users[i] = fmt.Sprintf("user%02d@demo.example", i+1)
	}
	return users
}

// Options tunes a simulator started by Start.
type Options struct {
	Logger *slog.Logger

	// PendingDelay is how long an asynchronous vendor action stays pending
	// before it completes. Zero means the simulator's own default.
	PendingDelay time.Duration

	// TLS serves HTTPS with a certificate for 127.0.0.1 issued by a fresh
	// CA; Running.CAPEM holds that CA for the client's trust settings.
	TLS bool
}

// Running is a started simulator and the integration configuration that
// points a real client at it.
type Running struct {
	Kind     vendor.Kind
	URL      string            // base URL of the simulator
	Settings map[string]string // integration settings for the client
	Secrets  map[string]string // integration credentials the simulator accepts
	CAPEM    []byte            // the CA that signed the TLS certificate, when TLS
	Handler  http.Handler      // the simulator itself, for tests that inspect it
	Close    func()
}

// Sim is a registered simulator.
type Sim struct {
	Kind vendor.Kind

	// Start serves the simulator on loopback.
	Start func(opts Options) (*Running, error)
}

var (
	mu   sync.Mutex
	sims = map[vendor.Kind]Sim{}
)

// Register adds a simulator. It panics on a duplicate kind.
func Register(s Sim) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := sims[s.Kind]; dup {
		panic(fmt.Sprintf("simharness: simulator %q registered twice", s.Kind))
	}
	sims[s.Kind] = s
}

// Lookup returns the simulator of kind.
func Lookup(kind vendor.Kind) (Sim, bool) {
	mu.Lock()
	defer mu.Unlock()
	s, ok := sims[kind]
	return s, ok
}

// Kinds returns the registered simulator kinds, sorted.
func Kinds() []vendor.Kind {
	mu.Lock()
	defer mu.Unlock()
	kinds := make([]vendor.Kind, 0, len(sims))
	for k := range sims {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	return kinds
}

// Server is an HTTP server on a loopback port.
type Server struct {
	URL   string
	CAPEM []byte
	srv   *httptest.Server
}

// Close stops the server and closes its connections.
func (s *Server) Close() { s.srv.Close() }

// Serve starts h on 127.0.0.1 on a free port, over TLS when useTLS is set.
func Serve(h http.Handler, useTLS bool) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	if !useTLS {
		srv.Start()
		return &Server{URL: srv.URL, srv: srv}, nil
	}

	srv.StartTLS()
	// httptest signs its certificate itself; that certificate is the CA a
	// client must trust.
	cert := srv.TLS.Certificates[0]
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("parse test certificate: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
	return &Server{URL: srv.URL, CAPEM: caPEM, srv: srv}, nil
}

// ClientTLS returns a TLS configuration that trusts only caPEM.
func ClientTLS(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate found in the CA PEM")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
