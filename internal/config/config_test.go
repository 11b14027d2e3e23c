package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smartpt.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileThenEnvironment(t *testing.T) {
	path := writeFile(t, `
listen: 0.0.0.0:9443
tls: {cert_file: /etc/smartpt/cert.pem, key_file: /etc/smartpt/key.pem}
data_dir: /var/lib/smartpt
smtp: {host: mail.example.com, port: 465, from: soc@example.com, tls: implicit}
trusted_proxies: [10.0.0.0/8, 192.0.2.1]
log: {level: debug, format: text}
`)
	cfg, err := Load(path, env(map[string]string{"SMARTPT_LISTEN": "127.0.0.1:9000", "SMARTPT_SMTP_PORT": "2525"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Listen != "127.0.0.1:9000" {
		t.Errorf("Listen = %q, want the environment's", cfg.Listen)
	}
	if cfg.SMTP.Port != 2525 || cfg.SMTP.Host != "mail.example.com" || cfg.SMTP.TLS != "implicit" {
		t.Errorf("SMTP = %+v", cfg.SMTP)
	}
	proxies, _ := cfg.Proxies()
	if len(proxies) != 2 || proxies[1].String() != "192.0.2.1/32" {
		t.Errorf("Proxies = %v", proxies)
	}
	if cfg.Log.Level != "debug" || cfg.TLS.KeyFile != "/etc/smartpt/key.pem" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestLoadRejectsInvalid(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"unknown key", "data_dir: /x\nlisten_addr: x\n", nil, "listen_addr"},
		{"no store", "listen: 127.0.0.1:1\n", nil, "no store"},
		{"half TLS", "data_dir: /x\ntls: {cert_file: a}\n", nil, "set together"},
		{"bad proxy", "data_dir: /x\ntrusted_proxies: [nope]\n", nil, `"nope"`},
		{"bad port", "data_dir: /x\n", map[string]string{"SMARTPT_SMTP_PORT": "x"}, "SMARTPT_SMTP_PORT"},
		{"bad TLS mode", "data_dir: /x\nsmtp: {tls: ssl}\n", nil, "smtp.tls"},
		{"bad level", "data_dir: /x\nlog: {level: loud}\n", nil, "log level"},
		{"host without sender", "data_dir: /x\nsmtp: {host: mail.example.com}\n", nil, "smtp.from"},
		{"PostgreSQL without mail destination", "database_url: postgres://127.0.0.1/test\n", nil, "no mail destination"},
		{"negative vendor connections", "data_dir: /x\nvendor_max_conns_per_host: -1\n", nil, "vendor_max_conns_per_host -1"},
		{"too many vendor connections", "data_dir: /x\nvendor_max_conns_per_host: 10001\n", nil, "use 1 to 10000"},
		{"memory limit without unit", "data_dir: /x\nmemory_limit: 96\n", nil, "below 32MiB"},
		{"memory limit below the minimum", "data_dir: /x\nmemory_limit: 16MiB\n", nil, "below 32MiB"},
		{"memory limit with unknown unit", "data_dir: /x\nmemory_limit: 96MB\n", nil, `memory_limit "96MB" is not a size`},
		{"negative memory limit", "data_dir: /x\n", map[string]string{"SMARTPT_MEMORY_LIMIT": "-1GiB"}, "is not a size"},
		{"memory limit overflows", "data_dir: /x\nmemory_limit: 9000000000TiB\n", nil, "is not a size"},
		{"memory floor with unknown unit", "data_dir: /x\ngc_memory_floor: 32MB\n", nil, `gc_memory_floor "32MB" is not a size`},
		{"negative memory floor", "data_dir: /x\n", map[string]string{"SMARTPT_GC_MEMORY_FLOOR": "-1MiB"}, "is not a size"},
		{"memory floor without unit", "data_dir: /x\ngc_memory_floor: 32\n", nil, `gc_memory_floor "32" is below 1MiB; give the unit`},
		{"memory floor below 1MiB", "data_dir: /x\n", map[string]string{"SMARTPT_GC_MEMORY_FLOOR": "512KiB"}, `gc_memory_floor "512KiB" is below 1MiB`},
		{"key cache without unit", "data_dir: /x\nkey_cache_ttl: 1\n", nil, "write durations with a unit, such as 1s, 500ms or 2m, and zero as 0s"},
		{"engine duration without unit", "data_dir: /x\nengine: {poll_min: 0}\n", nil, "zero as 0s"},
		{"key cache too long", "data_dir: /x\nkey_cache_ttl: 2m\n", nil, "key_cache_ttl 2m0s is out of range"},
		{"negative key cache", "data_dir: /x\n", map[string]string{"SMARTPT_KEY_CACHE_TTL": "-1s"}, "key_cache_ttl -1s is out of range"},
		{"key cache not a duration", "data_dir: /x\n", map[string]string{"SMARTPT_KEY_CACHE_TTL": "1"}, `SMARTPT_KEY_CACHE_TTL "1" is not a duration`},
		{"negative pool size", "data_dir: /x\npool_max_conns: -1\n", nil, "pool_max_conns -1"},
		{"pool too large", "data_dir: /x\npool_max_conns: 1001\n", nil, "use 1 to 1000"},
		{"pool size not a number", "data_dir: /x\n", map[string]string{"SMARTPT_POOL_MAX_CONNS": "8x"}, "SMARTPT_POOL_MAX_CONNS"},
		{"vendor connections not a number", "data_dir: /x\n", map[string]string{"SMARTPT_VENDOR_MAX_CONNS_PER_HOST": "many"}, "SMARTPT_VENDOR_MAX_CONNS_PER_HOST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.file), env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestLoadVendorMaxConnsPerHost(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want int
	}{
		{"unset keeps the default", "data_dir: /x\n", nil, 0},
		{"file", "data_dir: /x\nvendor_max_conns_per_host: 16\n", nil, 16},
		{"environment over file", "data_dir: /x\nvendor_max_conns_per_host: 16\n", map[string]string{"SMARTPT_VENDOR_MAX_CONNS_PER_HOST": "200"}, 200},
		{"highest accepted", "data_dir: /x\nvendor_max_conns_per_host: 10000\n", nil, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.VendorMaxConnsPerHost != tt.want {
				t.Errorf("VendorMaxConnsPerHost = %d, want %d", cfg.VendorMaxConnsPerHost, tt.want)
			}
		})
	}
}

func TestLoadPoolMaxConns(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want int
	}{
		{"unset keeps the default", "data_dir: /x\n", nil, 0},
		{"file", "data_dir: /x\npool_max_conns: 12\n", nil, 12},
		{"environment over file", "data_dir: /x\npool_max_conns: 12\n", map[string]string{"SMARTPT_POOL_MAX_CONNS": "3"}, 3},
		{"lowest accepted", "data_dir: /x\npool_max_conns: 1\n", nil, 1},
		{"highest accepted", "data_dir: /x\npool_max_conns: 1000\n", nil, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.PoolMaxConns != tt.want {
				t.Errorf("PoolMaxConns = %d, want %d", cfg.PoolMaxConns, tt.want)
			}
		})
	}
}

func TestLoadMemoryLimit(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want int64
	}{
		{"unset means none", "data_dir: /x\n", nil, 0},
		{"off", "data_dir: /x\nmemory_limit: off\n", nil, 0},
		{"zero", "data_dir: /x\nmemory_limit: 0\n", nil, 0},
		{"MiB", "data_dir: /x\nmemory_limit: 96MiB\n", nil, 96 << 20},
		{"GiB with a space", "data_dir: /x\nmemory_limit: 1 GiB\n", nil, 1 << 30},
		{"bytes", "data_dir: /x\nmemory_limit: 33554432B\n", nil, 32 << 20},
		{"plain number of bytes", "data_dir: /x\nmemory_limit: 100000000\n", nil, 100000000},
		{"environment over file", "data_dir: /x\nmemory_limit: 96MiB\n", map[string]string{"SMARTPT_MEMORY_LIMIT": "2GiB"}, 2 << 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := cfg.MemoryLimitBytes()
			if err != nil {
				t.Fatalf("MemoryLimitBytes: %v", err)
			}
			if got != tt.want {
				t.Errorf("MemoryLimitBytes = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLoadKeyCacheTTL(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want time.Duration
	}{
		{"default", "data_dir: /x\n", nil, DefaultKeyCacheTTL},
		{"off", "data_dir: /x\nkey_cache_ttl: 0s\n", nil, 0},
		{"file", "data_dir: /x\nkey_cache_ttl: 250ms\n", nil, 250 * time.Millisecond},
		{"environment over file", "data_dir: /x\nkey_cache_ttl: 250ms\n", map[string]string{"SMARTPT_KEY_CACHE_TTL": "0"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := cfg.KeyCacheTTLOrDefault(); got != tt.want {
				t.Errorf("KeyCacheTTLOrDefault = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLoadGCMemoryFloor(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want int64
	}{
		{"default", "data_dir: /x\n", nil, DefaultGCMemoryFloor},
		{"off", "data_dir: /x\ngc_memory_floor: off\n", nil, 0},
		{"zero", "data_dir: /x\ngc_memory_floor: 0\n", nil, 0},
		{"MiB", "data_dir: /x\ngc_memory_floor: 24MiB\n", nil, 24 << 20},
		{"1MiB in bytes", "data_dir: /x\ngc_memory_floor: 1048576\n", nil, 1 << 20},
		{"environment over file", "data_dir: /x\ngc_memory_floor: 24MiB\n", map[string]string{"SMARTPT_GC_MEMORY_FLOOR": "off"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := cfg.GCMemoryFloorBytes()
			if err != nil {
				t.Fatalf("GCMemoryFloorBytes: %v", err)
			}
			if got != tt.want {
				t.Errorf("GCMemoryFloorBytes = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLoadGCPercent(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want int
	}{
		{"unset means the default", "data_dir: /x\n", nil, 0},
		{"file", "data_dir: /x\ngc_percent: 80\n", nil, 80},
		{"lowest", "data_dir: /x\ngc_percent: 10\n", nil, 10},
		{"highest", "data_dir: /x\ngc_percent: 1000\n", nil, 1000},
		{"environment over file", "data_dir: /x\ngc_percent: 80\n", map[string]string{"SMARTPT_GC_PERCENT": "200"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.GCPercent != tt.want {
				t.Errorf("GCPercent = %d, want %d", cfg.GCPercent, tt.want)
			}
		})
	}
}

func TestLoadGCPercentInvalid(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr string
	}{
		{"below 10", "data_dir: /x\ngc_percent: 5\n", nil, "gc_percent 5 is out of range; use 10 to 1000"},
		{"negative", "data_dir: /x\ngc_percent: -1\n", nil, "gc_percent -1 is out of range"},
		{"above 1000", "data_dir: /x\ngc_percent: 1001\n", nil, "gc_percent 1001 is out of range"},
		{"not a number", "data_dir: /x\n", map[string]string{"SMARTPT_GC_PERCENT": "off"}, `SMARTPT_GC_PERCENT "off" is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.file), env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadPostgreSQLMailDestination(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
	}{
		{"outbox folder in the file", "database_url: postgres://127.0.0.1/test\noutbox_dir: /var/spool/smartpt\n", nil},
		{"outbox folder in the environment", "database_url: postgres://127.0.0.1/test\n", map[string]string{"SMARTPT_OUTBOX_DIR": "/var/spool/smartpt"}},
		{"SMTP relay", "database_url: postgres://127.0.0.1/test\nsmtp: {host: mail.example.com, from: soc@example.com}\n", nil},
		{"data folder", "database_url: postgres://127.0.0.1/test\ndata_dir: /var/lib/smartpt\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(writeFile(t, tt.file), env(tt.env)); err != nil {
				t.Errorf("Load: %v", err)
			}
		})
	}
}

// TestKeyCacheTTLZeroInFile checks the value that turns the key cache off
// in a file. YAML reads a bare 0 as an integer, which time.Duration
// rejects, so the range error names 0s, which the file accepts.
func TestKeyCacheTTLZeroInFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string
	}{
		{"bare 0", "data_dir: /x\nkey_cache_ttl: 0\n", "cannot unmarshal"},
		{"0s", "data_dir: /x\nkey_cache_ttl: 0s\n", ""},
		{"out of range names 0s", "data_dir: /x\nkey_cache_ttl: 2m\n", "use 0s (no cache)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.file), env(nil))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load: err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
