package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// vaultReadResponse is the part of the KV version 2 read response used here
// (Vault API docs, "KV secrets engine - version 2", Read secret version):
// the secret's key/value pairs are under data.data.
type vaultReadResponse struct {
	Data struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata struct {
			DeletionTime string `json:"deletion_time"`
			Destroyed    bool   `json:"destroyed"`
		} `json:"metadata"`
	} `json:"data"`
}

type vaultErrorResponse struct {
	Errors []string `json:"errors"`
}

func (r *Resolver) resolveVault(ctx context.Context, ref Reference) (string, error) {
	doc, err := r.cached(SchemeVault+":"+ref.Target, func() (string, error) {
		return r.readVaultKV2(ctx, ref.Target)
	})
	if err != nil {
		return "", err
	}
	return jsonField(doc, ref.Field, "the Vault secret "+ref.Target)
}

// readVaultKV2 reads the latest version of MOUNT/PATH and returns its
// data.data object as JSON text.
func (r *Resolver) readVaultKV2(ctx context.Context, path string) (string, error) {
	addr, _ := r.getenv("VAULT_ADDR")
	token, _ := r.getenv("VAULT_TOKEN")
	namespace, _ := r.getenv("VAULT_NAMESPACE")
	if addr == "" || token == "" {
		return "", errors.New("no Vault connection: set VAULT_ADDR and VAULT_TOKEN (and VAULT_NAMESPACE on Vault Enterprise) in the gateway's environment")
	}

	// KV version 2 reads the secret at {mount}/data/{path}.
	mount, sub, _ := strings.Cut(path, "/")
	segments := strings.Split(sub, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	endpoint := strings.TrimSuffix(addr, "/") + "/v1/" + url.PathEscape(mount) + "/data/" + strings.Join(segments, "/")

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", fmt.Errorf("invalid VAULT_ADDR %q: %w", addr, err)
	}
	req.Header.Set("X-Vault-Token", token)
	if namespace != "" {
		req.Header.Set("X-Vault-Namespace", namespace)
	}

	resp, err := r.httpClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("call Vault at %s: %w", addr, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return "", fmt.Errorf("read Vault response: %w", err)
	}

	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		return "", fmt.Errorf("Vault denied access (%s): check that VAULT_TOKEN is valid and its policy allows read on %s/data/%s", vaultErrors(data), mount, sub)
	case http.StatusNotFound:
		// A deleted latest version is also 404, with its deletion time.
		var out vaultReadResponse
		if json.Unmarshal(data, &out) == nil && (out.Data.Metadata.DeletionTime != "" || out.Data.Metadata.Destroyed) {
			return "", fmt.Errorf("the latest version of Vault secret %s is deleted or destroyed: write a new version", path)
		}
		return "", fmt.Errorf("Vault has no secret at %s/data/%s: check the mount, the path and that the mount is KV version 2", mount, sub)
	default:
		return "", fmt.Errorf("Vault returned HTTP %d (%s)", resp.StatusCode, vaultErrors(data))
	}

	var out vaultReadResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return "", fmt.Errorf("decode Vault KV version 2 response: %w", err)
	}
	if out.Data.Data == nil {
		// A deleted or destroyed latest version has data null.
		return "", fmt.Errorf("the latest version of Vault secret %s is deleted or destroyed: write a new version", path)
	}
	doc, err := json.Marshal(out.Data.Data)
	if err != nil {
		return "", fmt.Errorf("encode Vault secret data: %w", err)
	}
	return string(doc), nil
}

func vaultErrors(body []byte) string {
	var e vaultErrorResponse
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return "no error text"
	}
	return strings.Join(e.Errors, "; ")
}
