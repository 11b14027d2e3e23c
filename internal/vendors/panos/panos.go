// Package panos quarantines endpoints on a Palo Alto Networks firewall, or
// through Panorama, with the PAN-OS XML API. Isolate registers the endpoint's
// IP address with a quarantine tag, which a dynamic address group referenced
// by a deny rule matches. Release unregisters it, and status lists the IPs
// that carry the tag. Registration changes the runtime User-ID table, so
// no commit is needed and every action is synchronous.
//
// The endpoint identifier is the IP address itself: a firewall has no host
// inventory, so host names cannot be resolved.
package panos

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

func init() {
	vendor.Register(vendor.Factory{
		Kind:     vendor.KindPANOS,
		Services: []vendor.Service{vendor.ServicePaloAlto},
		Settings: settings,
		NewContainment: func(cfg vendor.Config, deps vendor.Deps) (vendor.Containment, error) {
			return New(cfg, deps)
		},
		Validate: requireCredentials,
		Check:    check,
	})
}

// requireCredentials checks at save time that the integration can
// authenticate: an API key, or a user name and password for keygen.
func requireCredentials(_, secrets map[string]string) error {
	hasKey := secrets[SecretAPIKey] != ""
	hasLogin := secrets[SecretUsername] != "" && secrets[SecretPassword] != ""
	switch {
	case hasKey && hasLogin:
		return fmt.Errorf("%s and %s/%s are both given: keep one", SecretAPIKey, SecretUsername, SecretPassword)
	case !hasKey && !hasLogin:
		return fmt.Errorf("missing credential: pass --secret %s=KEY, or --secret %s=USER and --secret %s=PASSWORD for keygen", SecretAPIKey, SecretUsername, SecretPassword)
	}
	return nil
}

// apiPath is the XML API endpoint on the management interface.
const apiPath = "/api/"

// Client is a PAN-OS XML API client for one company's integration. It is
// safe for concurrent use.
type Client struct {
	http   *vendorhttp.Client
	opts   options
	logger *slog.Logger

	mu  sync.Mutex // guards key
	key string     // the API key in use: the api_key secret or a keygen result

	// keygenSlot holds one token while a keygen runs, so that concurrent
	// calls cause one keygen and each waiter still honours its context.
	keygenSlot chan struct{}
}

var _ vendor.Containment = (*Client)(nil)

// New validates cfg and returns a client. Errors are *vendor.Error of kind
// ErrMisconfigure.
func New(cfg vendor.Config, deps vendor.Deps) (*Client, error) {
	opts, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}

	pool := deps.HTTP
	if pool == nil {
		pool = vendorhttp.NewPool(deps.Logger)
	}
	// The engine's logger carries the company and vendor already.
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default().With("vendor", string(vendor.KindPANOS), "company", cfg.CompanyID)
	}
	limits, err := vendor.RateLimits(cfg, vendorhttp.DefaultLimits(string(vendor.KindPANOS)))
	if err != nil {
		return nil, misconfigured(err.Error())
	}
	httpClient := pool.Client(cfg.CompanyID, string(cfg.Service)+"/"+string(vendor.KindPANOS), vendorhttp.Config{
		Vendor:  string(vendor.KindPANOS),
		BaseURL: opts.baseURL,
		Limits:  limits,
		TLS:     opts.tls,
		Secrets: []string{opts.apiKey, opts.password},
	})
	return &Client{
		http:       httpClient,
		opts:       opts,
		logger:     logger,
		key:        opts.apiKey,
		keygenSlot: make(chan struct{}, 1),
	}, nil
}

// check lists one registered IP of the quarantine tag: an authenticated read
// that also proves the vsys and target settings.
func check(cfg vendor.Config, deps vendor.Deps) error {
	c, err := New(cfg, deps)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	cmd, err := BuildShowRegisteredIP(c.opts.tag, 1, 1)
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "list registered IPs", url.Values{"type": {"op"}, "cmd": {string(cmd)}})
	return err
}

// IsID reports whether s is an IP address, or a CIDR network when the
// cidr_targets setting allows it.
func (c *Client) IsID(s string) bool {
	_, err := ParseTarget(s, c.opts.allowCIDR)
	return err == nil
}

// apiKey returns the key in use, running keygen first when the integration
// has a username and password and no key yet.
func (c *Client) apiKey(ctx context.Context) (string, error) {
	if key := c.currentKey(); key != "" {
		return key, nil
	}

	// Wait for the keygen slot, or give up when the caller does.
	select {
	case c.keygenSlot <- struct{}{}:
	case <-ctx.Done():
		err := &vendorhttp.Error{Op: "generate API key", Timeout: errors.Is(ctx.Err(), context.DeadlineExceeded), Err: ctx.Err()}
		return "", vendor.FromTransport(vendor.KindPANOS, "generate API key", err)
	}
	defer func() { <-c.keygenSlot }()

	// Another caller may have finished a keygen while this one waited.
	if key := c.currentKey(); key != "" {
		return key, nil
	}
	key, err := c.keygen(ctx)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.key = key
	c.mu.Unlock()
	return key, nil
}

func (c *Client) currentKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// dropKey discards a keygen result after PAN-OS rejected it, so the next
// call runs keygen again. A configured api_key is kept.
func (c *Client) dropKey(rejected string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.apiKey != "" {
		return false
	}
	if c.key == rejected {
		c.key = ""
	}
	return true
}

// keygen exchanges the username and password for an API key (type=keygen,
// sent as a POST form so the password never appears in a URL).
func (c *Client) keygen(ctx context.Context) (string, error) {
	const op = "generate API key"
	form := url.Values{"type": {"keygen"}, "user": {c.opts.username}, "password": {c.opts.password}}
	resp, err := c.http.Do(ctx, vendorhttp.Request{
		Op:         op,
		Method:     http.MethodPost,
		Path:       apiPath,
		Header:     http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:       []byte(form.Encode()),
		Idempotent: true,
	})
	if err != nil {
		return "", vendor.FromTransport(vendor.KindPANOS, op, err)
	}
	parsed, verr := decode(op, resp)
	if verr != nil {
		if verr.Kind == vendor.ErrAuth {
			verr.Detail = "PAN-OS rejected the username or password (" + verr.Detail + ")"
		}
		return "", verr
	}
	if parsed.Result == nil || strings.TrimSpace(parsed.Result.Key) == "" {
		return "", &vendor.Error{Kind: vendor.ErrUnavailable, Vendor: vendor.KindPANOS, Op: op, Status: resp.Status, Detail: "keygen returned status success without a key"}
	}
	return strings.TrimSpace(parsed.Result.Key), nil
}

// send posts one XML API request with the API key, adding vsys and target.
// When PAN-OS rejects a key from keygen with 403, it runs keygen again and
// retries once. Requests are idempotent: registering an IP that carries the
// tag already is a no-op, and reads change nothing.
func (c *Client) send(ctx context.Context, op string, form url.Values) (*Response, error) {
	form.Set("vsys", c.opts.vsys)
	if c.opts.target != "" {
		form.Set("target", c.opts.target)
	}

	for attempt := 1; ; attempt++ {
		key, err := c.apiKey(ctx)
		if err != nil {
			return nil, err
		}
		resp, verr := c.post(ctx, op, form, key)
		if verr == nil {
			return resp, nil
		}
		if verr.Kind == vendor.ErrAuth && attempt == 1 && c.dropKey(key) {
			c.logger.Warn("PAN-OS rejected the generated API key, running keygen again", "op", op)
			continue
		}
		return nil, verr
	}
}

func (c *Client) post(ctx context.Context, op string, form url.Values, key string) (*Response, *vendor.Error) {
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	body := form
	if c.opts.authMode == AuthForm {
		body = url.Values{}
		for k, v := range form {
			body[k] = v
		}
		body.Set("key", key)
	} else {
		header.Set("X-PAN-KEY", key)
	}

	resp, err := c.http.Do(ctx, vendorhttp.Request{
		Op:         op,
		Method:     http.MethodPost,
		Path:       apiPath,
		Header:     header,
		Body:       []byte(body.Encode()),
		Idempotent: true,
	})
	if err != nil {
		return nil, vendor.FromTransport(vendor.KindPANOS, op, err)
	}
	return decode(op, resp)
}

// decode parses a response and maps an error response to *vendor.Error.
func decode(op string, resp *vendorhttp.Response) (*Response, *vendor.Error) {
	parsed, err := ParseResponse(resp.Body)
	if err != nil {
		return nil, httpError(op, resp, err)
	}
	if parsed.Status == "error" || resp.Status != http.StatusOK {
		return parsed, responseError(op, resp.Status, parsed)
	}
	return parsed, nil
}

// httpError maps a response that is not an XML API envelope.
func httpError(op string, resp *vendorhttp.Response, parseErr error) *vendor.Error {
	e := &vendor.Error{Vendor: vendor.KindPANOS, Op: op, Status: resp.Status, Detail: snippet(resp.Body)}
	switch {
	case resp.Status == http.StatusUnauthorized || resp.Status == http.StatusForbidden:
		e.Kind = vendor.ErrAuth
	case resp.Status == http.StatusTooManyRequests:
		e.Kind = vendor.ErrThrottled
		e.RetryAfter, _ = vendorhttp.RetryAfter(resp.Header, time.Now())
	case resp.Status == http.StatusNotFound:
		e.Kind = vendor.ErrMisconfigure
		e.Detail = "no XML API at " + apiPath + ": check that url is the management interface"
	default:
		e.Kind = vendor.ErrUnavailable
		if resp.Status == http.StatusOK {
			e.Detail = "PAN-OS sent a response that is not XML API output: " + parseErr.Error()
		}
	}
	return e
}

// responseError maps <response status="error" code="N">.
func responseError(op string, httpStatus int, r *Response) *vendor.Error {
	e := &vendor.Error{Vendor: vendor.KindPANOS, Op: op, Status: httpStatus, Code: r.Code, Detail: r.Text()}
	code := r.Code
	switch {
	case code == "" && httpStatus == http.StatusForbidden:
		code = "403"
	case code == "" && len(r.uidEntries()) > 0:
		code = "18" // a per-entry User-ID error: the entry was not accepted
	}

	e.Kind, _ = ErrorKindForCode(code)
	switch e.Kind {
	case vendor.ErrAuth:
		if e.Detail == "" {
			e.Detail = "invalid API key or insufficient administrator rights"
		}
	case vendor.ErrForbidden:
		e.Detail = "the administrator's API role does not allow this request (" + e.Detail + ")"
	case vendor.ErrUnsupported:
		e.Detail = "unknown command: the PAN-OS version may not support it (" + e.Detail + ")"
	}
	if e.Detail == "" {
		e.Detail = "PAN-OS returned status error without a message"
	}
	return e
}

// ErrorKindForCode maps a PAN-OS XML API error code ("PAN-OS XML API Error
// Codes"; ranges such as "2-5" are accepted as written there) to an error
// kind. It returns ErrUnavailable and false for a code it does not know.
func ErrorKindForCode(code string) (vendor.ErrorKind, bool) {
	switch code {
	case "403":
		return vendor.ErrAuth, true // invalid key or insufficient admin rights
	case "15", "16":
		return vendor.ErrForbidden, true // operation denied, API role lacks access
	case "1":
		return vendor.ErrUnsupported, true // unknown command
	case "400", "6", "12", "17", "18":
		return vendor.ErrInvalid, true // bad request, bad xpath, invalid object or command, malformed command
	case "7", "13":
		return vendor.ErrNotFound, true // object not present or not found
	case "8", "10", "14":
		return vendor.ErrConflict, true // not unique, still referenced, operation not possible
	case "2", "3", "4", "5", "2-5", "11", "21":
		return vendor.ErrUnavailable, true // internal errors
	case "19", "20", "19-20":
		return vendor.ErrUnavailable, true // success codes: never sent with status="error"
	}
	return vendor.ErrUnavailable, false
}

// snippet returns the start of a body for an error detail, without control
// characters.
func snippet(body []byte) string {
	const max = 200
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}
