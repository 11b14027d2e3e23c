package main

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"runtime"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/smartpt/smartpt/internal/wazuhintegration"
)

// DefaultConfigPath is the settings file of the manager-side programs.
const DefaultConfigPath = "/var/ossec/etc/smartpt.yaml"

// config is the YAML configuration file:
//
//	url: https://smartpt.example.com      # SmartPT API base URL
//	company_key: <company key>            # sent as x-sha256
//	requester: soc-automation@example.com # sent as Email
type config struct {
	URL        string `yaml:"url"`
	CompanyKey string `yaml:"company_key"`
	Requester  string `yaml:"requester"`
}

// loadConfig reads and validates the configuration at path. It rejects a
// file that group or others may access, because it holds the company key.
func loadConfig(path string) (config, error) {
	var cfg config

	info, err := os.Stat(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w (create it or pass --config FILE)", err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm()&0o077 != 0 {
		return cfg, fmt.Errorf("config %s has mode %04o, so other users can read the company key: run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config %s is not valid: %w (keys: url, company_key, requester)", path, err)
	}

	cfg.URL = strings.TrimRight(strings.TrimSpace(cfg.URL), "/")
	if err := wazuhintegration.CheckBaseURL(cfg.URL, "url"); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.CompanyKey = strings.TrimSpace(cfg.CompanyKey)
	if cfg.CompanyKey == "" || strings.ContainsAny(cfg.CompanyKey, " \t\r\n") {
		return cfg, fmt.Errorf("config %s: company_key is missing or contains spaces", path)
	}
	cfg.Requester = strings.TrimSpace(cfg.Requester)
	if addr, err := mail.ParseAddress(cfg.Requester); err != nil || addr.Address != cfg.Requester {
		return cfg, fmt.Errorf("config %s: requester %q is not an e-mail address", path, cfg.Requester)
	}
	return cfg, nil
}
