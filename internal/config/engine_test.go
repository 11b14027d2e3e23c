package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEngineSettings(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		want    Engine
		wantErr string
	}{
		{name: "defaults", file: "data_dir: /x\n", want: Engine{}},
		{name: "file", file: "data_dir: /x\nengine:\n  poll_min: 200ms\n  poll_max: 5s\n  sweep_slack: 3s\n",
			want: Engine{PollMin: 200 * time.Millisecond, PollMax: 5 * time.Second, SweepSlack: 3 * time.Second}},
		{name: "environment overrides file", file: "data_dir: /x\nengine:\n  poll_min: 200ms\n",
			env:  map[string]string{"SMARTPT_ENGINE_POLL_MIN": "50ms", "SMARTPT_ENGINE_DISPATCH_TIMEOUT": "5s"},
			want: Engine{PollMin: 50 * time.Millisecond, DispatchTimeout: 5 * time.Second}},
		{name: "not a duration", file: "data_dir: /x\n", env: map[string]string{"SMARTPT_ENGINE_SWEEP_INTERVAL": "often"}, wantErr: "SMARTPT_ENGINE_SWEEP_INTERVAL"},
		{name: "negative", file: "data_dir: /x\nengine:\n  confirm_deadline: -1s\n", wantErr: "engine.confirm_deadline"},
		{name: "max below min", file: "data_dir: /x\nengine:\n  poll_min: 2s\n  poll_max: 1s\n", wantErr: "engine.poll_max"},
		{name: "unknown key", file: "data_dir: /x\nengine:\n  poll_minimum: 2s\n", wantErr: "poll_minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "smartpt.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path, func(name string) string { return tt.env[name] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if cfg.Engine != tt.want {
				t.Errorf("Engine = %+v, want %+v", cfg.Engine, tt.want)
			}
		})
	}
}
