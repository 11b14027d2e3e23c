package secret_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/secret/secrettest"
)

// env returns a LookupEnv function over a fixed map, so that tests do not
// touch the process environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(key string) (string, bool) {
		v, ok := vars[key]
		return v, ok
	}
}

func TestIsReference(t *testing.T) {
	cases := map[string]bool{
		"env:X":                true,
		"file:/run/secret":     true,
		"aws-sm:arn:aws:...":   true,
		"vault:secret/a#b":     true,
		"plain-secret":         false,
		"https://example.com":  false,
		"sealed:v1:AAAA":       false,
		"":                     false,
		"ENV:X":                false,
		"password:with:colons": false,
	}
	for v, want := range cases {
		if got := secret.IsReference(v); got != want {
			t.Errorf("IsReference(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestParseReferenceRejects(t *testing.T) {
	for _, ref := range []string{
		"env:", "env:1ABC", "env:A-B",
		"file:", "file:relative/path",
		"aws-sm:", "aws-sm:my-secret", "aws-sm:arn:aws:s3:::bucket",
		"aws-sm:arn:aws:secretsmanager::123456789012:secret:x",
		"vault:", "vault:secret#f", "vault:secret/app", "vault:secret/app#", "vault:/app#f", "vault:secret//app#f",
		"other:thing",
	} {
		if _, err := secret.ParseReference(ref); err == nil {
			t.Errorf("ParseReference(%q) succeeded, want error", ref)
		}
	}
}

func TestResolveEnv(t *testing.T) {
	r := &secret.Resolver{LookupEnv: env(map[string]string{"WAZUH_PASSWORD": "s3cret-env"})}

	got, err := r.Resolve(context.Background(), "env:WAZUH_PASSWORD")
	if err != nil || got != "s3cret-env" {
		t.Errorf("Resolve(env:WAZUH_PASSWORD) = %q, %v; want %q", got, err, "s3cret-env")
	}

	_, err = r.Resolve(context.Background(), "env:MISSING_VAR")
	if err == nil || !strings.Contains(err.Error(), "MISSING_VAR is not set") {
		t.Errorf("Resolve(env:MISSING_VAR) error = %v, want it to name the variable", err)
	}
}

func TestResolveFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, content, want string
	}{
		{"one newline", "value\n", "value"},
		{"crlf", "value\r\n", "value"},
		{"two newlines", "value\n\n", "value\n"},
		{"no newline", "value", "value"},
		{"inner spaces kept", " va lue \n", " va lue "},
	}
	r := &secret.Resolver{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "_"), tc.content)
			got, err := r.Resolve(context.Background(), "file:"+path)
			if err != nil || got != tc.want {
				t.Errorf("Resolve(file:%s) = %q, %v; want %q", path, got, err, tc.want)
			}
		})
	}

	// A rewritten file is read again at once: file: values are not cached.
	path := write("rotated", "old\n")
	r.Resolve(context.Background(), "file:"+path)
	write("rotated", "new\n")
	if got, _ := r.Resolve(context.Background(), "file:"+path); got != "new" {
		t.Errorf("Resolve after rewrite = %q, want %q", got, "new")
	}

	large := write("large", strings.Repeat("x", 2<<20))
	if _, err := r.Resolve(context.Background(), "file:"+large); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Resolve(2 MiB file) error = %v, want too large", err)
	}

	missing := filepath.Join(dir, "missing")
	if _, err := r.Resolve(context.Background(), "file:"+missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Resolve(missing file) error = %v, want it to name the path", err)
	}
}

func awsResolver(f *secrettest.AWSSecretsManager, vars map[string]string) *secret.Resolver {
	all := map[string]string{
		"AWS_ACCESS_KEY_ID":     secrettest.AWSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY": secrettest.AWSSecretAccessKey,
	}
	for k, v := range vars {
		all[k] = v
	}
	return &secret.Resolver{AWSEndpoint: f.URL, LookupEnv: env(all)}
}

func TestResolveAWSSecretsManager(t *testing.T) {
	f := secrettest.NewAWSSecretsManager(t)
	plainARN := f.PutString("smartpt/defender", "defender-client-secret")
	jsonARN := f.PutString("smartpt/cortex", `{"api_key":"cortex-key","api_key_id":42}`)
	binaryARN := f.PutBinary("smartpt/binary", []byte("binary-secret"))
	missingARN := "arn:aws:secretsmanager:eu-west-1:" + secrettest.AWSAccount + ":secret:smartpt/missing-AbCdEf"

	cases := []struct {
		name    string
		ref     string
		want    string
		wantErr string
	}{
		{"secret string", "aws-sm:" + plainARN, "defender-client-secret", ""},
		{"json key", "aws-sm:" + jsonARN + "#api_key", "cortex-key", ""},
		{"json number key", "aws-sm:" + jsonARN + "#api_key_id", "42", ""},
		{"secret binary", "aws-sm:" + binaryARN, "binary-secret", ""},
		{"missing json key", "aws-sm:" + jsonARN + "#nope", "", `has no key "nope"`},
		{"json key of plain string", "aws-sm:" + plainARN + "#k", "", "not a JSON object"},
		{"not found", "aws-sm:" + missingARN, "", "ResourceNotFoundException"},
	}
	r := awsResolver(f, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve error = %v, want it to contain %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.ref) {
					t.Errorf("error %q does not name the reference", err)
				}
				if strings.Contains(err.Error(), "cortex-key") || strings.Contains(err.Error(), "defender-client-secret") {
					t.Errorf("error %q contains a secret value", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Resolve(%s) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
}

func TestResolveAWSSignatureChecked(t *testing.T) {
	f := secrettest.NewAWSSecretsManager(t)
	arn := f.PutString("smartpt/x", "value")

	cases := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{"wrong secret key", map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-key"}, "InvalidSignatureException"},
		{"unknown access key", map[string]string{"AWS_ACCESS_KEY_ID": "AKIDOTHER"}, "UnrecognizedClientException"},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": ""}, "set AWS_ACCESS_KEY_ID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := awsResolver(f, tc.vars)
			_, err := r.Resolve(context.Background(), "aws-sm:"+arn)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Resolve error = %v, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "not-the-key") {
				t.Errorf("error %q contains the secret access key", err)
			}
		})
	}
}

func TestResolveAWSSessionToken(t *testing.T) {
	f := secrettest.NewAWSSecretsManager(t)
	f.SessionToken = "session-token-1"
	arn := f.PutString("smartpt/x", "value")

	r := awsResolver(f, map[string]string{"AWS_SESSION_TOKEN": "session-token-1"})
	if got, err := r.Resolve(context.Background(), "aws-sm:"+arn); err != nil || got != "value" {
		t.Errorf("Resolve with session token = %q, %v; want %q", got, err, "value")
	}

	r = awsResolver(f, map[string]string{"AWS_SESSION_TOKEN": "other"})
	if _, err := r.Resolve(context.Background(), "aws-sm:"+arn); err == nil || !strings.Contains(err.Error(), "UnrecognizedClientException") {
		t.Errorf("Resolve with wrong session token error = %v, want UnrecognizedClientException", err)
	}
}

func TestResolveAWSEndpointFromEnv(t *testing.T) {
	f := secrettest.NewAWSSecretsManager(t)
	arn := f.PutString("smartpt/x", "value")
	r := &secret.Resolver{LookupEnv: env(map[string]string{
		"AWS_ACCESS_KEY_ID":     secrettest.AWSAccessKeyID,
		"AWS_SECRET_ACCESS_KEY": secrettest.AWSSecretAccessKey,
		secret.AWSEndpointEnv:   f.URL,
	})}
	if got, err := r.Resolve(context.Background(), "aws-sm:"+arn); err != nil || got != "value" {
		t.Errorf("Resolve = %q, %v; want %q", got, err, "value")
	}
}

func TestResolveCachesRemoteValues(t *testing.T) {
	f := secrettest.NewAWSSecretsManager(t)
	arn := f.PutString("smartpt/cached", `{"a":"1","b":"2"}`)
	r := awsResolver(f, nil)

	for _, ref := range []string{"aws-sm:" + arn + "#a", "aws-sm:" + arn + "#b", "aws-sm:" + arn + "#a"} {
		if _, err := r.Resolve(context.Background(), ref); err != nil {
			t.Fatalf("Resolve(%s): %v", ref, err)
		}
	}
	if got := f.Calls(); got != 1 {
		t.Errorf("AWS calls after three resolves of one secret = %d, want 1", got)
	}

	r.Forget()
	r.Resolve(context.Background(), "aws-sm:"+arn+"#a")
	if got := f.Calls(); got != 2 {
		t.Errorf("AWS calls after Forget = %d, want 2", got)
	}

	uncached := awsResolver(f, nil)
	uncached.TTL = -1
	uncached.Resolve(context.Background(), "aws-sm:"+arn+"#a")
	uncached.Resolve(context.Background(), "aws-sm:"+arn+"#a")
	if got := f.Calls(); got != 4 {
		t.Errorf("AWS calls with the cache disabled = %d, want 4", got)
	}
}

func vaultResolver(v *secrettest.Vault, vars map[string]string) *secret.Resolver {
	all := map[string]string{"VAULT_ADDR": v.URL, "VAULT_TOKEN": secrettest.VaultToken}
	for k, val := range vars {
		all[k] = val
	}
	return &secret.Resolver{LookupEnv: env(all)}
}

func TestResolveVault(t *testing.T) {
	v := secrettest.NewVault(t)
	v.Put("secret", "smartpt/entra", map[string]any{"client_secret": "entra-secret", "port": 8443})
	v.Put("kv", "team a/wazuh", map[string]any{"password": "wazuh-pass"})
	v.Put("secret", "smartpt/gone", map[string]any{"x": "y"})
	v.Delete("secret", "smartpt/gone")

	cases := []struct {
		name    string
		ref     string
		vars    map[string]string
		want    string
		wantErr string
	}{
		{"string field", "vault:secret/smartpt/entra#client_secret", nil, "entra-secret", ""},
		{"number field", "vault:secret/smartpt/entra#port", nil, "8443", ""},
		{"other mount, escaped path", "vault:kv/team a/wazuh#password", nil, "wazuh-pass", ""},
		{"missing field", "vault:secret/smartpt/entra#nope", nil, "", `has no key "nope"`},
		{"missing secret", "vault:secret/smartpt/missing#x", nil, "", "Vault has no secret at secret/data/smartpt/missing"},
		{"deleted secret", "vault:secret/smartpt/gone#x", nil, "", "deleted or destroyed"},
		{"unknown mount", "vault:nomount/app#x", nil, "", "Vault has no secret"},
		{"bad token", "vault:secret/smartpt/entra#client_secret", map[string]string{"VAULT_TOKEN": "wrong-token"}, "", "permission denied"},
		{"no address", "vault:secret/smartpt/entra#client_secret", map[string]string{"VAULT_ADDR": ""}, "", "set VAULT_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := vaultResolver(v, tc.vars)
			got, err := r.Resolve(context.Background(), tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Resolve error = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "entra-secret") || strings.Contains(err.Error(), "wrong-token") {
					t.Errorf("error %q contains a secret", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Resolve(%s) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
}

func TestResolveVaultNamespace(t *testing.T) {
	v := secrettest.NewVault(t)
	v.Namespace = "admin/soc"
	v.Put("secret", "app", map[string]any{"k": "v"})

	r := vaultResolver(v, map[string]string{"VAULT_NAMESPACE": "admin/soc"})
	if got, err := r.Resolve(context.Background(), "vault:secret/app#k"); err != nil || got != "v" {
		t.Errorf("Resolve with namespace = %q, %v; want %q", got, err, "v")
	}
	r = vaultResolver(v, nil)
	if _, err := r.Resolve(context.Background(), "vault:secret/app#k"); err == nil {
		t.Errorf("Resolve without namespace succeeded, want permission denied")
	}
}

func FuzzParseReference(f *testing.F) {
	for _, seed := range []string{"env:A", "file:/x", "vault:secret/a#b", "aws-sm:arn:aws:secretsmanager:eu-west-1:1:secret:x#k", "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		parsed, err := secret.ParseReference(ref)
		if err != nil {
			return
		}
		if !secret.IsReference(ref) {
			t.Errorf("ParseReference accepted %q but IsReference is false", ref)
		}
		if parsed.String() != ref {
			t.Errorf("String() = %q, want %q", parsed.String(), ref)
		}
	})
}
