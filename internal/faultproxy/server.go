package faultproxy

import (
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Proxy served over HTTP/1.1 on a loopback port.
type Server struct {
	*Proxy
	URL string // http://127.0.0.1:PORT

	srv  *http.Server
	done chan struct{}
}

// Start serves a new proxy for cfg on 127.0.0.1 on a free port. HTTP/1.1
// only, so that every connection can be reset.
func Start(cfg Config) (*Server, error) {
	p, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen on loopback: %w", err)
	}
	s := &Server{
		Proxy: p,
		URL:   "http://" + ln.Addr().String(),
		srv:   &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second},
		done:  make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln) // returns http.ErrServerClosed after Close
	}()
	return s, nil
}

// Close stops the server at once, closing every connection, stalled ones
// included.
func (s *Server) Close() {
	_ = s.srv.Close()
	<-s.done
}
