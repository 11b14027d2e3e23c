package wazuhar

import (
	"encoding/json"
	"fmt"
	"io"
)

// envelope is the Wazuh 4 message layout shared by every line.
type envelope struct {
	Version    int    `json:"version"`
	Origin     Origin `json:"origin"`
	Command    string `json:"command"`
	Parameters any    `json:"parameters"`
}

// writeLine encodes v as one JSON line and writes it in a single Write, so
// that the reader never sees half a line.
func writeLine(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode protocol line: %w", err)
	}
	data = append(data, '\n')
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write protocol line: %w", err)
	}
	return nil
}

// WriteCheckKeys writes the check_keys line of program with keys. An empty
// key list is written as [] because wazuh-execd expects an array.
func WriteCheckKeys(w io.Writer, program string, keys []string) error {
	if keys == nil {
		keys = []string{}
	}
	return writeLine(w, envelope{
		Version:    1,
		Origin:     Origin{Name: program, Module: ModuleActiveResponse},
		Command:    CommandCheckKeys,
		Parameters: map[string]any{"keys": keys},
	})
}

// WriteControl writes a "continue" or "abort" reply, as wazuh-execd does.
func WriteControl(w io.Writer, node, command string) error {
	return writeLine(w, envelope{
		Version:    1,
		Origin:     Origin{Name: node, Module: "wazuh-execd"},
		Command:    command,
		Parameters: map[string]any{},
	})
}

// WriteInput writes the message wazuh-execd gives a program on stdin.
func WriteInput(w io.Writer, msg Message) error {
	params := msg.Parameters
	if params.ExtraArgs == nil {
		params.ExtraArgs = []string{}
	}
	if len(params.Alert) == 0 {
		params.Alert = json.RawMessage("{}")
	}
	version := msg.Version
	if version == 0 {
		version = 1
	}
	return writeLine(w, envelope{Version: version, Origin: msg.Origin, Command: msg.Command, Parameters: params})
}
