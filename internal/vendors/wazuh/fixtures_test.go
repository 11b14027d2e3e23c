package wazuh

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartpt/smartpt/internal/vendorhttp"
	"github.com/smartpt/smartpt/internal/vendors"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testToken returns an unsigned JWT whose exp claim is exp.
func testToken(exp time.Time) string {
	claims := fmt.Sprintf(`{"iss":"wazuh","exp":%d}`, exp.Unix())
	return "eyJhbGciOiJIUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"
}

// fixtureServer answers the login with a token and every other request
// with status and body.
func fixtureServer(t *testing.T, status int, body []byte) (*Client, *int32) {
	t.Helper()
	var logins int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/security/user/authenticate" {
			atomic.AddInt32(&logins, 1)
			if user, pw, ok := r.BasicAuth(); !ok || user != "u" || pw != "p" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write(fixture(t, "error_401_invalid_credentials.json"))
				return
			}
			auth := strings.Replace(string(fixture(t, "authenticate_200.json")), "<generated_token>", testToken(time.Now().Add(time.Hour)), 1)
			_, _ = w.Write([]byte(auth))
			return
		}
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write(fixture(t, "error_401_no_token.json"))
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)

	c, err := New(vendor.Config{
		CompanyID: "acme", Kind: vendor.KindWazuh,
		Settings: map[string]string{"url": srv.URL, "username": "u", "manager_ip": "192.0.2.10"},
		Secrets:  map[string]string{"password": "p"},
	}, vendor.Deps{HTTP: vendorhttp.NewPool(nil)})
	if err != nil {
		t.Fatal(err)
	}
	return c, &logins
}

func TestActiveResponseFixtures(t *testing.T) {
	cases := []struct {
		file     string
		agent    string
		wantKind vendor.ErrorKind // empty: success
		wantCode string
	}{
		{"active_response_put_200_all.json", "001", "", ""},
		{"active_response_put_200_partial_1707.json", "004", "", ""},
		{"active_response_put_200_partial_1707.json", "010", vendor.ErrConflict, "1707"},
		{"active_response_put_200_unknown_agent_1701.json", "251", vendor.ErrNotFound, "1701"},
		{"active_response_put_200_ar_disabled_1750.json", "003", vendor.ErrConflict, "1750"},
	}
	for _, tc := range cases {
		t.Run(tc.file+" "+tc.agent, func(t *testing.T) {
			c, _ := fixtureServer(t, http.StatusOK, fixture(t, tc.file))
			out, err := c.Isolate(context.Background(), vendor.Endpoint{AgentID: tc.agent}, vendor.Options{ActionID: "a1"})
			if tc.wantKind == "" {
				if err != nil || !out.Pending || out.VendorRef != "a1" {
					t.Fatalf("outcome %+v, %v", out, err)
				}
				return
			}
			ve, ok := vendor.AsError(err)
			if !ok || ve.Kind != tc.wantKind || ve.Code != tc.wantCode || ve.Detail == "" {
				t.Fatalf("err = %#v, want kind %s code %s", err, tc.wantKind, tc.wantCode)
			}
		})
	}
}

func TestErrorFixtures(t *testing.T) {
	cases := []struct {
		file     string
		status   int
		wantKind vendor.ErrorKind
		wantCode string
	}{
		{"error_400_bad_request.json", 400, vendor.ErrInvalid, ""},
		{"error_401_no_token.json", 401, vendor.ErrAuth, ""},
		{"error_403_permission_denied.json", 403, vendor.ErrForbidden, "4000"},
		{"error_429_too_many_requests.json", 429, vendor.ErrThrottled, "6001"},
		{"error_400_bad_request.json", 502, vendor.ErrUnavailable, ""},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			c, logins := fixtureServer(t, tc.status, fixture(t, tc.file))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Isolate(ctx, vendor.Endpoint{AgentID: "001"}, vendor.Options{})
			ve, ok := vendor.AsError(err)
			if !ok || ve.Kind != tc.wantKind || ve.Code != tc.wantCode || ve.Status != tc.status {
				t.Fatalf("err = %#v, want kind %s code %q status %d", err, tc.wantKind, tc.wantCode, tc.status)
			}
			if tc.status == 401 && atomic.LoadInt32(logins) != 2 {
				t.Errorf("logins = %d, want 2 (one renewal after the 401)", *logins)
			}
		})
	}
}

func TestAgentsFixture(t *testing.T) {
	c, _ := fixtureServer(t, http.StatusOK, fixture(t, "agents_get_200.json"))
	eps, err := c.Resolve(context.Background(), vendor.Target{Kind: vendor.TargetHostname, Value: "ac7cb188d538"})
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 3 || eps[0].AgentID != "001" || eps[0].IP != "172.25.0.6" || !eps[0].Online {
		t.Errorf("endpoints = %+v", eps)
	}
}

func TestTokenExpiry(t *testing.T) {
	exp := time.Unix(1893456000, 0)
	if got, ok := tokenExpiry(testToken(exp)); !ok || !got.Equal(exp) {
		t.Errorf("tokenExpiry = %v, %v", got, ok)
	}
	for _, bad := range []string{"", "a.b", "a.!!!.c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":"x"}`)) + ".c", "a." + base64.RawURLEncoding.EncodeToString([]byte(`{}`)) + ".c"} {
		if _, ok := tokenExpiry(bad); ok {
			t.Errorf("tokenExpiry(%q) accepted", bad)
		}
	}
}

func TestLoginRenewalMargin(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		lifetime, wantBefore time.Duration
	}{
		{900 * time.Second, time.Minute},
		{10 * time.Second, time.Second},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":{"token":%q},"error":0}`, testToken(now.Add(tc.lifetime)))
		}))
		pool := vendorhttp.NewPool(nil)
		l := &login{http: pool.Client("c", "wazuh", vendorhttp.Config{BaseURL: srv.URL}), username: "u", password: "p", now: func() time.Time { return now }}
		_, renewAt, err := l.fetch(context.Background())
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := now.Add(tc.lifetime).Sub(renewAt); got != tc.wantBefore {
			t.Errorf("lifetime %s: renews %s before expiry, want %s", tc.lifetime, got, tc.wantBefore)
		}
	}
}

// FuzzResponseParsers feeds arbitrary bodies to the envelope, failure and
// error mappers: they must never panic, and every error must be a
// *vendor.Error of a known kind.
func FuzzResponseParsers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, 200)
		f.Add(data, 429)
	}
	f.Add([]byte(`{"data":{"affected_items":"x","failed_items":[{"error":{"code":1707},"id":[1]}]}}`), 200)
	f.Add([]byte(`{"error":6000}`), 403)

	f.Fuzz(func(t *testing.T, body []byte, status int) {
		resp := &vendorhttp.Response{Status: status, Header: http.Header{}, Body: body}
		if e := mapHTTPError("op", resp); e == nil || e.Kind == "" {
			t.Fatalf("mapHTTPError returned %v", e)
		}
		env, err := decodeEnvelope("op", resp)
		if err != nil {
			if _, ok := vendor.AsError(err); !ok {
				t.Fatalf("decodeEnvelope error %T", err)
			}
			return
		}
		for _, item := range env.Data.FailedItems {
			if e := failure("op", item); e.Kind == "" {
				t.Fatal("failure returned no kind")
			}
		}
		var affected []string
		_ = json.Unmarshal(env.Data.AffectedItems, &affected)
		_, _ = tokenExpiry(string(body))
	})
}
