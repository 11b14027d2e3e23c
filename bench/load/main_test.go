package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckLoopbackURL(t *testing.T) {
	cases := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080/", true},
		{"https://[::1]:8443", true},
		{"http://10.0.0.5:8080", false},
		{"http://example.com", false},
		{"ftp://127.0.0.1", false},
		{"127.0.0.1:8080", false},
	}
	for _, tc := range cases {
		if err := checkLoopbackURL(tc.url); (err == nil) != tc.ok {
			t.Errorf("checkLoopbackURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestReadSimInfoCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wazuh.json")
	data := `{"kind":"wazuh","url":"http://127.0.0.1:9000","settings":{"url":"http://127.0.0.1:9000","username":"wazuh-wui","manager_ip":"10.20.0.254"},"secrets":{"password":"pw"}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}

	info, err := readSimInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	user, password := info.credentials()
	if user != "wazuh-wui" || password != "pw" {
		t.Errorf("credentials = %q, %q; want wazuh-wui, pw", user, password)
	}

	if err := os.WriteFile(path, []byte(`{"kind":"wazuh"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readSimInfo(path); err == nil {
		t.Error("info without url: no error, want one")
	}
}
