// Package panossim simulates the parts of the PAN-OS XML API the panos client
// uses, over real HTTPS: keygen, the API key in the form, the query or the
// X-PAN-KEY header, User-ID register and unregister messages for IP tags with
// timeouts, "show object registered-ip" with paging, and the
// <response status="error" code="N"> envelope.
//
// It is test and demo infrastructure. It parses requests with its own XML
// types, not the client's, so a client bug cannot hide behind shared code.
// The XML API documents no rate limit, so the simulator enforces none, and it
// ignores the Panorama target parameter.
package panossim

import (
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxBodyBytes bounds a request body (PAN-OS accepts POST bodies up to 5 MB).
const maxBodyBytes = 5 << 20

// Limits of a registration (PAN-OS XML API, "Register IP addresses and
// tags").
const (
	maxTagLength   = 127
	maxTagsPerIP   = 32
	maxTimeoutSecs = 2592000
)

// Config sets the accepted credentials and the firewall's capabilities.
type Config struct {
	APIKey   string
	Username string
	Password string

	Vsys          []string         // virtual systems; empty means vsys1
	CIDRSupported bool             // PAN-OS 10.0 and later accept ranges and CIDR networks
	Now           func() time.Time // nil means time.Now
}

// Fault is a canned response to the next request of one type.
type Fault struct {
	Status int
	Body   string
}

// Server is the simulator. It implements http.Handler.
type Server struct {
	cfg Config

	mu     sync.Mutex
	tags   map[string]map[string]map[string]time.Time // guarded by mu; vsys → ip → tag → expiry (zero: never)
	faults map[string][]Fault                         // guarded by mu; key: request type
	calls  map[string]int                             // guarded by mu; authenticated requests per type
	keys   map[string]bool                            // guarded by mu; valid API keys
}

// New returns a simulator with no registrations.
func New(cfg Config) *Server {
	if len(cfg.Vsys) == 0 {
		cfg.Vsys = []string{"vsys1"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, tags: map[string]map[string]map[string]time.Time{}, faults: map[string][]Fault{}, calls: map[string]int{}, keys: map[string]bool{}}
	for _, v := range cfg.Vsys {
		s.tags[v] = map[string]map[string]time.Time{}
	}
	if cfg.APIKey != "" {
		s.keys[cfg.APIKey] = true
	}
	return s
}

// RevokeKeys invalidates every API key, as an administrator who changes the
// master key or the password does. Keygen issues a new one.
func (s *Server) RevokeKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = map[string]bool{}
}

// FailNext makes the next authenticated request of type requestType
// ("op", "user-id") fail with f.
func (s *Server) FailNext(requestType string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[requestType] = append(s.faults[requestType], f)
}

// Calls returns how many authenticated requests of requestType arrived,
// and for "keygen" how many keygen requests did.
func (s *Server) Calls(requestType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[requestType]
}

// Tags returns the live tags of ip in vsys, sorted.
func (s *Server) Tags(vsys, ip string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	var out []string
	for t := range s.tags[vsys][ip] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Register adds a mapping directly, for tests that need many entries.
func (s *Server) Register(vsys, ip, tag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags[vsys][ip] == nil {
		s.tags[vsys][ip] = map[string]time.Time{}
	}
	s.tags[vsys][ip][tag] = time.Time{}
}

// ServeHTTP serves GET or POST /api/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/" && r.URL.Path != "/api" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeXML(w, http.StatusMethodNotAllowed, errorResponse("400", "Bad request: use GET or POST"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		writeXML(w, http.StatusBadRequest, errorResponse("400", "Bad request: "+err.Error()))
		return
	}

	requestType := r.Form.Get("type")
	if requestType == "keygen" {
		s.keygen(w, r)
		return
	}
	if !s.authorized(r) {
		writeXML(w, http.StatusForbidden, `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`)
		return
	}

	s.mu.Lock()
	s.calls[requestType]++
	var fault *Fault
	if queue := s.faults[requestType]; len(queue) > 0 {
		fault = &queue[0]
		s.faults[requestType] = queue[1:]
	}
	s.mu.Unlock()
	if fault != nil {
		writeXML(w, fault.Status, fault.Body)
		return
	}

	vsys := r.Form.Get("vsys")
	if vsys == "" {
		vsys = s.cfg.Vsys[0]
	}
	if _, ok := s.tags[vsys]; !ok {
		// NOTE: the text of this error is not documented; the code follows "Invalid object".
		writeXML(w, http.StatusOK, errorResponse("12", fmt.Sprintf("Invalid vsys %s", vsys)))
		return
	}

	switch requestType {
	case "user-id":
		s.userID(w, vsys, r.Form.Get("cmd"))
	case "op":
		s.op(w, vsys, r.Form.Get("cmd"))
	case "":
		writeXML(w, http.StatusBadRequest, errorResponse("400", "Bad request: missing type"))
	default:
		writeXML(w, http.StatusBadRequest, errorResponse("400", "Bad request: unsupported type "+requestType))
	}
}

// authorized accepts the API key from the X-PAN-KEY header, the form or the
// query string.
func (s *Server) authorized(r *http.Request) bool {
	key := r.Header.Get("X-PAN-KEY")
	if key == "" {
		key = r.Form.Get("key")
	}
	if key == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[key]
}

func (s *Server) keygen(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls["keygen"]++
	s.mu.Unlock()

	user, password := r.Form.Get("user"), r.Form.Get("password")
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.Username)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password)) == 1
	if s.cfg.Username == "" || !okUser || !okPass {
		writeXML(w, http.StatusForbidden, `<response status = 'error' code = '403'><result><msg>Invalid Credential</msg></result></response>`)
		return
	}

	key := newKey()
	s.mu.Lock()
	s.keys[key] = true
	s.mu.Unlock()
	writeXML(w, http.StatusOK, `<response status = 'success'><result><key>`+key+`</key></result></response>`)
}

var keyCounter struct {
	sync.Mutex
	n int
}

// newKey returns a key shaped like PAN-OS keys (base64 text ending in "==").
func newKey() string {
	keyCounter.Lock()
	defer keyCounter.Unlock()
	keyCounter.n++
	return fmt.Sprintf("LUFRPT%06dc2ltdWxhdG9ya2V5==", keyCounter.n)
}

// expire drops registrations whose timeout has passed. Callers hold mu.
func (s *Server) expire() {
	now := s.cfg.Now()
	for _, ips := range s.tags {
		for ip, tags := range ips {
			for t, until := range tags {
				if !until.IsZero() && !now.Before(until) {
					delete(tags, t)
				}
			}
			if len(tags) == 0 {
				delete(ips, ip)
			}
		}
	}
}

// canonical parses an entry ip: an address, or a CIDR network when the
// firewall supports it.
func (s *Server) canonical(ip string) (string, bool) {
	if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" {
		return a.Unmap().String(), true
	}
	if s.cfg.CIDRSupported {
		if p, err := netip.ParsePrefix(ip); err == nil && p.Masked() == p {
			return p.String(), true
		}
	}
	return "", false
}

func validTag(tag string) bool {
	if tag == "" || len([]rune(tag)) > maxTagLength || strings.TrimSpace(tag) == "" || strings.ContainsAny(tag, `"'`) {
		return false
	}
	switch strings.ToLower(tag) {
	case "and", "or", "not":
		return false
	}
	return true
}

func writeXML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// errorResponse renders <response status="error" code="N"><msg><line>..</line></msg></response>
// with the message escaped.
func errorResponse(code, msg string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(msg))
	return `<response status="error" code="` + code + `"><msg><line>` + b.String() + `</line></msg></response>`
}
