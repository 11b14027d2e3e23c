package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is the record of the current isolation in the state file. The
// firewall itself is the source of truth. The file shows an operator what
// was done, when, and by which backend.
type State struct {
	Isolated bool      `json:"isolated"`
	Backend  string    `json:"backend"`
	Allow    []string  `json:"allow,omitempty"`
	ActionID string    `json:"smartpt_action_id,omitempty"`
	Since    time.Time `json:"since"`
}

// ReadState reads the state file at path. A missing file is the zero State.
func ReadState(path string) (State, error) {
	var st State
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read isolation state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("isolation state file %s is not valid JSON: %w", path, err)
	}
	return st, nil
}

// WriteState replaces the state file atomically (write to a temporary file
// in the same directory, then rename), so a crash leaves the old or the new
// file and never half of one.
func WriteState(path string, st State) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode isolation state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".smartpt-isolation-*")
	if err != nil {
		return fmt.Errorf("write isolation state: %w", err)
	}
	defer os.Remove(tmp.Name())

	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write isolation state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync isolation state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close isolation state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace isolation state %s: %w", path, err)
	}
	return nil
}
