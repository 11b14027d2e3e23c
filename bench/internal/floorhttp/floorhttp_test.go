package floorhttp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDelayedWaitsBeforeHandling(t *testing.T) {
	const delay = 50 * time.Millisecond
	srv := httptest.NewServer(Delayed(http.HandlerFunc(Trivial), delay))
	defer srv.Close()

	start := time.Now()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{"action":"status"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	if elapsed := time.Since(start); elapsed < delay {
		t.Errorf("response after %v, want at least %v", elapsed, delay)
	}
	if string(body) != string(TrivialBody) {
		t.Errorf("body = %s, want %s", body, TrivialBody)
	}
}

func TestDelayedSkipsGoneClient(t *testing.T) {
	called := make(chan struct{}, 1)
	h := Delayed(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called <- struct{}{} }), time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	cancel()
	h.ServeHTTP(httptest.NewRecorder(), req)

	select {
	case <-called:
		t.Error("handler ran for a client that had gone away")
	default:
	}
}

func TestStatusCounts(t *testing.T) {
	var counts StatusCounts
	h := counts.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/limited":
			w.WriteHeader(http.StatusTooManyRequests)
			w.WriteHeader(http.StatusOK) // ignored by net/http, and by the count
		case "/ok":
			w.Write([]byte("ok"))
		}
	}))
	for _, path := range []string{"/ok", "/ok", "/limited", "/empty"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	got := counts.Snapshot()
	if got["200"] != 3 || got["429"] != 1 || len(got) != 2 {
		t.Errorf("counts = %v, want 200:3 429:1", got)
	}

	rec := httptest.NewRecorder()
	counts.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_bench/stats", nil))
	if body := strings.TrimSpace(rec.Body.String()); body != `{"200":3,"429":1}` {
		t.Errorf("stats body = %s, want {\"200\":3,\"429\":1}", body)
	}
}

func TestCheckLoopback(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:9000", true},
		{"[::1]:9000", true},
		{"localhost:9000", true},
		{"0.0.0.0:9000", false},
		{":9000", false},
		{"10.0.0.1:80", false},
		{"example.com:80", false},
		{"127.0.0.1", false},
	}
	for _, tc := range cases {
		if err := CheckLoopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
