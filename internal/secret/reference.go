package secret

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Reference schemes. A secret value that starts with one of them followed by
// a colon is a reference, resolved at use, and never a literal secret.
const (
	SchemeEnv   = "env"    // env:NAME, an environment variable of the gateway process
	SchemeFile  = "file"   // file:/ABSOLUTE/PATH, one trailing newline removed
	SchemeAWSSM = "aws-sm" // aws-sm:ARN or aws-sm:ARN#jsonkey, AWS Secrets Manager
	SchemeVault = "vault"  // vault:MOUNT/PATH#FIELD, HashiCorp Vault KV version 2
)

// DefaultTTL is how long the Resolver keeps a value read from AWS Secrets
// Manager or Vault before reading it again.
const DefaultTTL = 60 * time.Second

// Reference is a parsed secret reference.
type Reference struct {
	Scheme string
	Target string // variable name, file path, secret ARN or Vault path
	Field  string // JSON key (aws-sm, optional) or Vault field (required)
}

// String returns the reference in its stored form.
func (r Reference) String() string {
	if r.Field != "" {
		return r.Scheme + ":" + r.Target + "#" + r.Field
	}
	return r.Scheme + ":" + r.Target
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// IsReference reports whether v is a reference rather than a plain value.
func IsReference(v string) bool {
	scheme, _, ok := strings.Cut(v, ":")
	if !ok {
		return false
	}
	switch scheme {
	case SchemeEnv, SchemeFile, SchemeAWSSM, SchemeVault:
		return true
	}
	return false
}

// ParseReference checks the syntax of a reference. Its errors name the
// expected form.
func ParseReference(ref string) (Reference, error) {
	scheme, rest, _ := strings.Cut(ref, ":")
	switch scheme {
	case SchemeEnv:
		if !envName.MatchString(rest) {
			return Reference{}, fmt.Errorf("invalid reference %q: want env:NAME with NAME made of letters, digits and underscores", ref)
		}
		return Reference{Scheme: scheme, Target: rest}, nil

	case SchemeFile:
		if !filepath.IsAbs(rest) {
			return Reference{}, fmt.Errorf("invalid reference %q: want file:/ABSOLUTE/PATH", ref)
		}
		return Reference{Scheme: scheme, Target: rest}, nil

	case SchemeAWSSM:
		arn, key, hasKey := strings.Cut(rest, "#")
		if _, err := parseSecretARN(arn); err != nil {
			return Reference{}, fmt.Errorf("invalid reference %q: %w", ref, err)
		}
		if hasKey && key == "" {
			return Reference{}, fmt.Errorf("invalid reference %q: the JSON key after # is empty; remove the # to use the whole SecretString", ref)
		}
		return Reference{Scheme: scheme, Target: arn, Field: key}, nil

	case SchemeVault:
		path, field, _ := strings.Cut(rest, "#")
		mount, sub, _ := strings.Cut(path, "/")
		if mount == "" || sub == "" || field == "" || strings.Contains(path, "//") || strings.HasSuffix(path, "/") {
			return Reference{}, fmt.Errorf("invalid reference %q: want vault:MOUNT/PATH#FIELD, for example vault:secret/smartpt/defender#client_secret", ref)
		}
		return Reference{Scheme: scheme, Target: path, Field: field}, nil
	}
	return Reference{}, fmt.Errorf("invalid reference %q: the scheme must be env:, file:, aws-sm: or vault:", ref)
}

// Resolver turns a secret reference into its value. The zero value is ready
// to use; it reads credentials and addresses from the process environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, VAULT_ADDR,
// VAULT_TOKEN, VAULT_NAMESPACE). A Resolver is safe for concurrent use once
// its fields are set.
type Resolver struct {
	// AWSEndpoint replaces https://secretsmanager.REGION.amazonaws.com, for
	// tests and VPC endpoints. When empty, SMARTPT_AWS_SM_ENDPOINT is used
	// if set.
	AWSEndpoint string

	// HTTPClient sends the AWS and Vault requests. nil means a client with a
	// 10-second timeout.
	HTTPClient *http.Client

	// TTL is how long AWS and Vault values are cached. 0 means DefaultTTL
	// and a negative value disables the cache. env: and file: references
	// are read at every call, so a rotated file is picked up at once.
	TTL time.Duration

	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)

	mu    sync.Mutex
	cache map[string]cachedValue // guarded by mu; key is the reference without its field
}

type cachedValue struct {
	value   string // AWS SecretString, or Vault data.data as JSON
	expires time.Time
}

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

// Resolve returns the value a reference points to. Errors name the
// reference and the fix, and never contain the value.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, error) {
	parsed, err := ParseReference(ref)
	if err != nil {
		return "", err
	}

	switch parsed.Scheme {
	case SchemeEnv:
		v, ok := r.getenv(parsed.Target)
		if !ok {
			return "", fmt.Errorf("resolve %s: environment variable %s is not set in the gateway process", ref, parsed.Target)
		}
		return v, nil

	case SchemeFile:
		data, err := readSmallFile(parsed.Target)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", ref, err)
		}
		v := strings.TrimSuffix(string(data), "\n")
		return strings.TrimSuffix(v, "\r"), nil

	case SchemeAWSSM:
		v, err := r.resolveAWS(ctx, parsed)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", ref, err)
		}
		return v, nil

	default: // SchemeVault, the only other scheme ParseReference accepts
		v, err := r.resolveVault(ctx, parsed)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", ref, err)
		}
		return v, nil
	}
}

// readSmallFile reads at most maxResponseBytes of path and rejects a longer
// file, so that a reference to a device or a large file cannot exhaust
// memory.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	data, err := io.ReadAll(io.LimitReader(f, maxResponseBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxResponseBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes, which is too large for a secret", path, maxResponseBytes)
	}
	return data, nil
}

// Forget empties the cache, so that the next Resolve reads every remote
// secret again.
func (r *Resolver) Forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = nil
}

func (r *Resolver) getenv(key string) (string, bool) {
	if r.LookupEnv != nil {
		return r.LookupEnv(key)
	}
	return os.LookupEnv(key)
}

func (r *Resolver) httpClient() *http.Client {
	if r.HTTPClient != nil {
		return r.HTTPClient
	}
	return defaultHTTPClient
}

// cached returns the cached value of key, or calls fetch and caches what it
// returns. Errors are not cached.
func (r *Resolver) cached(key string, fetch func() (string, error)) (string, error) {
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}

	now := time.Now()
	if ttl > 0 {
		r.mu.Lock()
		c, ok := r.cache[key]
		r.mu.Unlock()
		if ok && now.Before(c.expires) {
			return c.value, nil
		}
	}

	v, err := fetch()
	if err != nil || ttl < 0 {
		return v, err
	}

	r.mu.Lock()
	if r.cache == nil {
		r.cache = make(map[string]cachedValue)
	}
	r.cache[key] = cachedValue{value: v, expires: now.Add(ttl)}
	r.mu.Unlock()
	return v, nil
}
