package secrettest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// VaultToken is the token the Vault fake accepts.
const VaultToken = "hvs.test-token-for-the-fake"

// Vault is a fake of the HashiCorp Vault KV version 2 read endpoint,
// GET /v1/{mount}/data/{path}. It returns 403 {"errors":["permission
// denied"]} for a missing or wrong X-Vault-Token and 404 {"errors":[]} for a
// path without a secret, as Vault does.
type Vault struct {
	URL string // for VAULT_ADDR

	// Namespace, when set, must arrive as X-Vault-Namespace.
	Namespace string

	calls atomic.Int64

	mu      sync.Mutex
	mounts  map[string]bool           // guarded by mu; enabled KV version 2 mounts
	secrets map[string]map[string]any // guarded by mu; key is mount + "/" + path
	deleted map[string]bool           // guarded by mu; secrets whose latest version is deleted
}

// NewVault starts the fake on loopback with a KV version 2 mount named
// "secret", and stops it when the test ends.
func NewVault(tb testing.TB) *Vault {
	tb.Helper()
	v := &Vault{
		mounts:  map[string]bool{"secret": true},
		secrets: map[string]map[string]any{},
		deleted: map[string]bool{},
	}
	srv := httptest.NewServer(http.HandlerFunc(v.serveHTTP))
	tb.Cleanup(srv.Close)
	v.URL = srv.URL
	return v
}

// Put writes a new version of the secret at mount/path, enabling the mount
// when needed.
func (v *Vault) Put(mount, path string, data map[string]any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mounts[mount] = true
	v.secrets[mount+"/"+path] = data
	delete(v.deleted, mount+"/"+path)
}

// Delete soft-deletes the latest version of mount/path: reads then return
// data null with a deletion time, as in Vault.
func (v *Vault) Delete(mount, path string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.deleted[mount+"/"+path] = true
}

// Calls returns the number of requests the fake has received.
func (v *Vault) Calls() int { return int(v.calls.Load()) }

func (v *Vault) serveHTTP(w http.ResponseWriter, r *http.Request) {
	v.calls.Add(1)

	if r.Header.Get("X-Vault-Token") != VaultToken || (v.Namespace != "" && r.Header.Get("X-Vault-Namespace") != v.Namespace) {
		writeVault(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied"}})
		return
	}

	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	mount, path, hasData := strings.Cut(rest, "/data/")
	v.mu.Lock()
	mounted := v.mounts[mount]
	data, found := v.secrets[mount+"/"+path]
	deleted := v.deleted[mount+"/"+path]
	v.mu.Unlock()

	if !ok || !hasData || !mounted {
		writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{"no handler for route \"" + rest + "\". route entry not found."}})
		return
	}
	if r.Method != http.MethodGet {
		writeVault(w, http.StatusMethodNotAllowed, map[string]any{"errors": []string{"1 error occurred:\n\t* unsupported operation\n\n"}})
		return
	}
	if !found {
		writeVault(w, http.StatusNotFound, map[string]any{"errors": []string{}})
		return
	}

	metadata := map[string]any{
		"created_time":    "2026-01-05T10:00:00.000000000Z",
		"custom_metadata": nil,
		"deletion_time":   "",
		"destroyed":       false,
		"version":         1,
	}
	var payload any = data
	if deleted {
		// Vault returns 404 with the metadata and data null for a
		// deleted latest version.
		metadata["deletion_time"] = time.Now().UTC().Format(time.RFC3339Nano)
		payload = nil
		writeVault(w, http.StatusNotFound, vaultEnvelope(payload, metadata))
		return
	}
	writeVault(w, http.StatusOK, vaultEnvelope(payload, metadata))
}

func vaultEnvelope(data any, metadata map[string]any) map[string]any {
	return map[string]any{
		"request_id":     "6cc7a484-921a-a730-179c-eaf6c6fbe97e",
		"lease_id":       "",
		"renewable":      false,
		"lease_duration": 0,
		"data":           map[string]any{"data": data, "metadata": metadata},
		"wrap_info":      nil,
		"warnings":       nil,
		"auth":           nil,
	}
}

func writeVault(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
