// Package config reads the configuration of "smartpt serve": a YAML file,
// then SMARTPT_* environment variables, each overriding the file's value.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the server configuration. The YAML key of each field is given in
// its tag; the environment variable that overrides it is in Env.
type Config struct {
	// Listen is the TCP address the API listens on.
	Listen string `yaml:"listen"`

	TLS TLS `yaml:"tls"`

	// DataDir is the folder of the SQLite database, the master key file and
	// the mail outbox. DatabaseURL, when set, selects PostgreSQL instead.
	DataDir     string `yaml:"data_dir"`
	DatabaseURL string `yaml:"database_url"`

	// MasterKeyFile holds the master key that seals stored credentials,
	// unless SMARTPT_MASTER_KEY is set. Empty means DATA_DIR/master.key,
	// created on first start when SQLite is used.
	MasterKeyFile string `yaml:"master_key_file"`

	SMTP SMTP `yaml:"smtp"`

	// OutboxDir receives mail as .eml files when SMTP.Host is empty and a
	// company has no relay of its own. Empty means DATA_DIR/outbox; with
	// PostgreSQL and no data_dir, it or smtp.host must be set.
	OutboxDir string `yaml:"outbox_dir"`

	// TrustedProxies are the addresses or CIDR ranges of reverse proxies
	// whose X-Forwarded-For header is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Log Log `yaml:"log"`

	// Engine tunes the action engine's timings; zero values keep its
	// defaults.
	Engine Engine `yaml:"engine"`

	// MaxConcurrentActions bounds the action requests the server works on
	// at once; further ones wait for a free slot. 0 means the API's
	// default (api.DefaultMaxConcurrentActions).
	MaxConcurrentActions int `yaml:"max_concurrent_actions"`

	// VendorMaxConnsPerHost bounds the open connections to one vendor host,
	// for all companies together. Further calls wait for a free one. 0
	// means vendorhttp.DefaultMaxConnsPerHost.
	VendorMaxConnsPerHost int `yaml:"vendor_max_conns_per_host"`

	// MemoryLimit is the Go runtime's soft memory limit: a size such as
	// 64MiB or 1GiB, or empty, 0 or off for none. MemoryLimitBytes parses
	// it.
	MemoryLimit string `yaml:"memory_limit"`

	// PoolMaxConns bounds the pooled PostgreSQL connections of the
	// process, which serve reads and single-statement writes; group commit
	// keeps one more connection of its own. 0 means
	// store.DefaultPoolMaxConns. SQLite ignores it.
	PoolMaxConns int `yaml:"pool_max_conns"`

	// KeyCacheTTL is how long a successful company key check is kept
	// (tenant.Service.CacheKeyChecks): a key revoked, a company disabled or
	// an integration changed by another process (the CLI, another replica)
	// takes effect within it. 0 checks every request against the store.
	// Nil means DefaultKeyCacheTTL.
	KeyCacheTTL *time.Duration `yaml:"key_cache_ttl"`

	// GCMemoryFloor is the Go runtime memory below which the garbage
	// collector runs only when the memory reaches it: a size such as
	// 32MiB, or 0 or off for none. Empty means DefaultGCMemoryFloor.
	// GCMemoryFloorBytes parses it.
	GCMemoryFloor string `yaml:"gc_memory_floor"`

	// GCPercent is the Go garbage collector's target percentage, as GOGC
	// sets it: the heap may grow by this share of the live heap, goroutine
	// stacks and globals before the next collection. 0 means the server's
	// default (cmd/smartpt applies DefaultGCPercent unless GOGC is set).
	GCPercent int `yaml:"gc_percent"`
}

// DefaultGCPercent is the GCPercent that the server applies when neither
// gc_percent nor GOGC sets one. The Go default of 100 lets the heap reach
// twice the live heap and stacks. At 1,000 connections, 50 kept the peak RSS
// under 80 MiB (docs/BENCHMARKS.md, section 22). The heap still grows with
// the live heap, so a bigger deployment gets a proportionally bigger heap
// rather than a collector that runs all the time.
const DefaultGCPercent = 50

// DefaultKeyCacheTTL is the KeyCacheTTL that applies when none is set. A
// status request checked its key against the store in about 9 % of its
// CPU time (docs/BENCHMARKS.md, section 28). With the cache, a burst of
// requests with one key checks it once a second.
const DefaultKeyCacheTTL = time.Second

// maxKeyCacheTTL bounds key_cache_ttl, so that a revoked key cannot stay
// usable for long on a replica that did not revoke it.
const maxKeyCacheTTL = time.Minute

// KeyCacheTTLOrDefault returns KeyCacheTTL, or DefaultKeyCacheTTL when it
// is not set.
func (c Config) KeyCacheTTLOrDefault() time.Duration {
	if c.KeyCacheTTL == nil {
		return DefaultKeyCacheTTL
	}
	return *c.KeyCacheTTL
}

// DefaultGCMemoryFloor is the gc_memory_floor that applies when none is
// set, in bytes. Under a status load of a few thousand requests a second,
// the live heap is a few MiB, and with gc_percent 50 alone the collector
// ran dozens of times a second. With this floor the gateway used 20 to
// 35 % less CPU per request (docs/BENCHMARKS.md, section 26). At 1,000
// connections the collector's goal is above the floor, so the floor
// changes nothing there. The binary's pages and SQLite's caches come on
// top of it in the RSS.
const DefaultGCMemoryFloor = 32 << 20

// minGCPercent and maxGCPercent bound gc_percent. Below 10 the collector
// would run most of the time (an estimate), and above 1000 the heap can grow
// elevenfold over the live memory between collections.
const (
	minGCPercent = 10
	maxGCPercent = 1000
)

// TLS names the certificate and key files. Both empty means plain HTTP.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SMTP is the server-wide mail relay, used for companies that have not
// configured their own. An empty Host means mail goes to the outbox folder.
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// Password is the SMTP password, or a secret reference such as
	// env:SMTP_PASSWORD or file:/run/secrets/smtp.
	Password string `yaml:"password"`
	From     string `yaml:"from"`
	TLS      string `yaml:"tls"` // starttls (default), implicit or none
}

// Log sets the log output.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn or error
	Format string `yaml:"format"` // json (default) or text
}

// Default returns the configuration used when neither the file nor the
// environment sets a value.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		SMTP:   SMTP{Port: 587, TLS: "starttls"},
		Log:    Log{Level: "info", Format: "json"},
	}
}

// Env lists the environment variables that override the file, and the
// setting each one overrides.
var Env = []struct{ Name, Setting string }{
	{"SMARTPT_LISTEN", "listen"},
	{"SMARTPT_TLS_CERT_FILE", "tls.cert_file"},
	{"SMARTPT_TLS_KEY_FILE", "tls.key_file"},
	{"SMARTPT_DATA_DIR", "data_dir"},
	{"SMARTPT_DATABASE_URL", "database_url"},
	{"SMARTPT_MASTER_KEY_FILE", "master_key_file"},
	{"SMARTPT_SMTP_HOST", "smtp.host"},
	{"SMARTPT_SMTP_PORT", "smtp.port"},
	{"SMARTPT_SMTP_USERNAME", "smtp.username"},
	{"SMARTPT_SMTP_PASSWORD", "smtp.password"},
	{"SMARTPT_SMTP_FROM", "smtp.from"},
	{"SMARTPT_SMTP_TLS", "smtp.tls"},
	{"SMARTPT_TRUSTED_PROXIES", "trusted_proxies (comma separated)"},
	{"SMARTPT_LOG_LEVEL", "log.level"},
	{"SMARTPT_LOG_FORMAT", "log.format"},
	{"SMARTPT_MAX_CONCURRENT_ACTIONS", "max_concurrent_actions"},
	{"SMARTPT_VENDOR_MAX_CONNS_PER_HOST", "vendor_max_conns_per_host"},
	{"SMARTPT_MEMORY_LIMIT", "memory_limit"},
	{"SMARTPT_POOL_MAX_CONNS", "pool_max_conns"},
	{"SMARTPT_GC_PERCENT", "gc_percent"},
	{"SMARTPT_GC_MEMORY_FLOOR", "gc_memory_floor"},
	{"SMARTPT_KEY_CACHE_TTL", "key_cache_ttl"},
	{"SMARTPT_ENGINE_DISPATCH_TIMEOUT", "engine.dispatch_timeout"},
	{"SMARTPT_ENGINE_CONFIRM_DEADLINE", "engine.confirm_deadline"},
	{"SMARTPT_ENGINE_POLL_MIN", "engine.poll_min"},
	{"SMARTPT_ENGINE_POLL_MAX", "engine.poll_max"},
	{"SMARTPT_ENGINE_SWEEP_INTERVAL", "engine.sweep_interval"},
	{"SMARTPT_ENGINE_SWEEP_SLACK", "engine.sweep_slack"},
	{"SMARTPT_ENGINE_JOB_POLL_INTERVAL", "engine.job_poll_interval"},
	{"SMARTPT_ENGINE_LEASE_SLACK", "engine.lease_slack"},
}

// Load reads path (skipped when empty), applies the environment through
// getenv, and validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config file: %w", err)
		}
		if err := decodeYAML(data, &cfg); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeYAML rejects unknown keys, so that a misspelt setting is an error
// rather than a silently ignored line.
func decodeYAML(data []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}

	// yaml.v3 reads a time.Duration only from a string that
	// time.ParseDuration accepts, so a bare number such as 1 or 0 fails
	// with a message that gives no fix.
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) && strings.Contains(err.Error(), "into time.Duration") {
		return fmt.Errorf("%w\nwrite durations with a unit, such as 1s, 500ms or 2m, and zero as 0s", err)
	}
	return err
}

func (c *Config) applyEnv(getenv func(string) string) error {
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("SMARTPT_LISTEN", &c.Listen)
	set("SMARTPT_TLS_CERT_FILE", &c.TLS.CertFile)
	set("SMARTPT_TLS_KEY_FILE", &c.TLS.KeyFile)
	set("SMARTPT_DATA_DIR", &c.DataDir)
	set("SMARTPT_DATABASE_URL", &c.DatabaseURL)
	set("SMARTPT_MASTER_KEY_FILE", &c.MasterKeyFile)
	set("SMARTPT_OUTBOX_DIR", &c.OutboxDir)
	set("SMARTPT_SMTP_HOST", &c.SMTP.Host)
	set("SMARTPT_SMTP_USERNAME", &c.SMTP.Username)
	set("SMARTPT_SMTP_PASSWORD", &c.SMTP.Password)
	set("SMARTPT_SMTP_FROM", &c.SMTP.From)
	set("SMARTPT_SMTP_TLS", &c.SMTP.TLS)
	set("SMARTPT_LOG_LEVEL", &c.Log.Level)
	set("SMARTPT_LOG_FORMAT", &c.Log.Format)
	set("SMARTPT_MEMORY_LIMIT", &c.MemoryLimit)
	set("SMARTPT_GC_MEMORY_FLOOR", &c.GCMemoryFloor)

	if v := getenv("SMARTPT_SMTP_PORT"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_SMTP_PORT %q is not a port number", v)
		}
		c.SMTP.Port = port
	}
	if v := getenv("SMARTPT_MAX_CONCURRENT_ACTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_MAX_CONCURRENT_ACTIONS %q is not a whole number", v)
		}
		c.MaxConcurrentActions = n
	}
	if v := getenv("SMARTPT_KEY_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_KEY_CACHE_TTL %q is not a duration; write it as 1s, 500ms or 0", v)
		}
		c.KeyCacheTTL = &d
	}
	if v := getenv("SMARTPT_GC_PERCENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_GC_PERCENT %q is not a whole number", v)
		}
		c.GCPercent = n
	}
	if v := getenv("SMARTPT_VENDOR_MAX_CONNS_PER_HOST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_VENDOR_MAX_CONNS_PER_HOST %q is not a whole number", v)
		}
		c.VendorMaxConnsPerHost = n
	}
	if v := getenv("SMARTPT_POOL_MAX_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("SMARTPT_POOL_MAX_CONNS %q is not a whole number", v)
		}
		c.PoolMaxConns = n
	}
	if err := c.Engine.applyEnv(getenv); err != nil {
		return err
	}
	if v := getenv("SMARTPT_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = nil
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				c.TrustedProxies = append(c.TrustedProxies, p)
			}
		}
	}
	return nil
}

// Validate checks every setting and names the first invalid one.
func (c Config) Validate() error {
	if c.Listen == "" {
		return errors.New("listen is empty; set it to an address such as 127.0.0.1:8080")
	}

	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls.cert_file and tls.key_file must be set together")
	}

	if c.DataDir == "" && c.DatabaseURL == "" {
		return errors.New("no store: set data_dir (SMARTPT_DATA_DIR) for SQLite or database_url (SMARTPT_DATABASE_URL) for PostgreSQL")
	}

	if c.DataDir == "" && c.SMTP.Host == "" && c.OutboxDir == "" {
		return errors.New("no mail destination: with database_url and no data_dir, set smtp.host (SMARTPT_SMTP_HOST) for a relay or outbox_dir (SMARTPT_OUTBOX_DIR) for a folder that receives mail as .eml files")
	}

	if c.SMTP.Port < 1 || c.SMTP.Port > 65535 {
		return fmt.Errorf("smtp.port %d is not a TCP port (1 to 65535)", c.SMTP.Port)
	}
	switch c.SMTP.TLS {
	case "starttls", "implicit", "none":
	default:
		return fmt.Errorf("smtp.tls %q is invalid; use starttls, implicit or none", c.SMTP.TLS)
	}
	if c.SMTP.Host != "" && c.SMTP.From == "" {
		return errors.New("smtp.from is empty; set the sender address used when smtp.host is set")
	}

	if _, err := c.Proxies(); err != nil {
		return err
	}

	if _, err := ParseLevel(c.Log.Level); err != nil {
		return err
	}
	if c.MaxConcurrentActions < 0 || c.MaxConcurrentActions > maxConcurrentActions {
		return fmt.Errorf("max_concurrent_actions %d is out of range; use 1 to %d, or 0 for the default", c.MaxConcurrentActions, maxConcurrentActions)
	}
	if c.GCPercent != 0 && (c.GCPercent < minGCPercent || c.GCPercent > maxGCPercent) {
		return fmt.Errorf("gc_percent %d is out of range; use %d to %d, or 0 for the default", c.GCPercent, minGCPercent, maxGCPercent)
	}
	if c.VendorMaxConnsPerHost < 0 || c.VendorMaxConnsPerHost > maxVendorConnsPerHost {
		return fmt.Errorf("vendor_max_conns_per_host %d is out of range; use 1 to %d, or 0 for the default", c.VendorMaxConnsPerHost, maxVendorConnsPerHost)
	}
	if c.PoolMaxConns < 0 || c.PoolMaxConns > maxPoolConns {
		return fmt.Errorf("pool_max_conns %d is out of range; use 1 to %d, or 0 for the default", c.PoolMaxConns, maxPoolConns)
	}
	if _, err := c.MemoryLimitBytes(); err != nil {
		return err
	}
	if _, err := c.GCMemoryFloorBytes(); err != nil {
		return err
	}
	if ttl := c.KeyCacheTTLOrDefault(); ttl < 0 || ttl > maxKeyCacheTTL {
		return fmt.Errorf("key_cache_ttl %s is out of range; use 0s (no cache) to %s", ttl, maxKeyCacheTTL)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		return fmt.Errorf("log.format %q is invalid; use json or text", c.Log.Format)
	}
	return c.Engine.validate()
}

// maxConcurrentActions is the highest max_concurrent_actions accepted:
// beyond it the bound no longer protects the server's memory.
const maxConcurrentActions = 100000

// maxVendorConnsPerHost is the highest vendor_max_conns_per_host accepted.
// Each connection uses a local port, of which a host has about 28,000 for
// outgoing connections by default (Linux ip_local_port_range 32768-60999).
const maxVendorConnsPerHost = 10000

// maxPoolConns is the highest pool_max_conns accepted. Each connection is
// a server process of its own, and PostgreSQL accepts 100 connections by
// default (max_connections), for all clients together.
const maxPoolConns = 1000

// minMemoryLimit is the lowest memory_limit accepted. A plain number below
// it is most likely a size whose unit was left out. The server at rest
// already uses about 9 MiB of Go memory (Linux, amd64), so a lower limit
// would keep the garbage collector running under any load.
const minMemoryLimit = 32 << 20

// memoryUnits are the suffixes of sizes (memory_limit, gc_memory_floor), those that GOMEMLIMIT
// accepts (runtime package documentation).
var memoryUnits = []struct {
	suffix string
	bytes  int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// MemoryLimitBytes parses MemoryLimit: a whole number of bytes with an
// optional unit B, KiB, MiB, GiB or TiB. It returns 0 for no limit (empty,
// 0 or off).
func (c Config) MemoryLimitBytes() (int64, error) {
	bytes, err := parseSize("memory_limit", c.MemoryLimit, "96MiB")
	if err != nil || bytes == 0 {
		return 0, err
	}
	if bytes < minMemoryLimit {
		return 0, fmt.Errorf("memory_limit %q is below 32MiB; give the unit, such as 96MiB, or off for no limit", c.MemoryLimit)
	}
	return bytes, nil
}

// minGCMemoryFloor is the lowest gc_memory_floor accepted, other than 0 or
// off. A plain number below it is most likely a size whose unit was left
// out, and such a floor would change nothing, because the runtime's own
// minimum heap goal is 4 MiB at GOGC=100 (defaultHeapMinimum in
// src/runtime/mgcpacer.go, Go 1.26).
const minGCMemoryFloor = 1 << 20

// GCMemoryFloorBytes parses GCMemoryFloor like MemoryLimitBytes. It
// returns DefaultGCMemoryFloor when none is set, and 0 for none (0 or off).
func (c Config) GCMemoryFloorBytes() (int64, error) {
	if strings.TrimSpace(c.GCMemoryFloor) == "" {
		return DefaultGCMemoryFloor, nil
	}
	bytes, err := parseSize("gc_memory_floor", c.GCMemoryFloor, "32MiB")
	if err != nil || bytes == 0 {
		return 0, err
	}
	if bytes < minGCMemoryFloor {
		return 0, fmt.Errorf("gc_memory_floor %q is below 1MiB; give the unit, such as 32MiB, or off for no floor", c.GCMemoryFloor)
	}
	return bytes, nil
}

// parseSize parses the size value of setting name: a whole number of bytes
// with an optional unit B, KiB, MiB, GiB or TiB, or 0 or off for none,
// which it returns as 0. example is a valid value for the error message.
func parseSize(name, value, example string) (int64, error) {
	s := strings.TrimSpace(value)
	if s == "" || s == "0" || s == "off" {
		return 0, nil
	}

	number, unit := s, int64(1)
	for _, u := range memoryUnits {
		if strings.HasSuffix(s, u.suffix) {
			number, unit = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(number, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%s %q is not a size; use a whole number with B, KiB, MiB, GiB or TiB, such as %s, or off", name, value, example)
	}
	return n * unit, nil
}

// Proxies parses TrustedProxies; a bare address is a one-address range.
func (c Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies entry %q is neither an IP address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ParseLevel turns debug, info, warn or error into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q is invalid; use debug, info, warn or error", s)
	}
	return level, nil
}

// NewLogger returns a logger writing to w in the configured format and level.
func (l Log) NewLogger(w io.Writer) (*slog.Logger, error) {
	level, err := ParseLevel(l.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
