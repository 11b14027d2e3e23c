// Package wazuhar reads and writes the messages of the Wazuh Active Response
// protocol, as they pass over an Active Response program's standard input and
// output.
//
// The protocol of Wazuh 4.2 and later (wazuh-documentation,
// "Custom active response"; wazuh/wazuh src/os_execd/execd.c):
//
//  1. wazuh-execd writes one JSON line to the program's stdin:
//     {"version":1,"origin":{"name":..,"module":"wazuh-execd"},"command":"add"|"delete",
//     "parameters":{"extra_args":[..],"alert":{..},"program":".."}}
//  2. The program writes one "check_keys" line to stdout naming the keys that
//     identify what it is about to do.
//  3. wazuh-execd answers "continue", or "abort" when the same keys are still
//     in its timeout list, and the program acts only on "continue".
//
// Both sides read and write whole lines ending in "\n"; a side that waits for
// end of file deadlocks. Wazuh 5 sends a differently shaped document (a
// top-level "wazuh.active_response" object); Parse accepts it too and returns
// the same Message.
package wazuhar

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Commands that wazuh-execd writes to a program's stdin.
const (
	CommandAdd    = "add"    // run the response
	CommandDelete = "delete" // undo it, sent when a timed response expires
)

// Commands of the key check handshake.
const (
	CommandCheckKeys = "check_keys" // program → execd
	CommandContinue  = "continue"   // execd → program: go ahead
	CommandAbort     = "abort"      // execd → program: the keys are already in the timeout list
)

// ModuleActiveResponse is the origin module of the lines a program writes.
const ModuleActiveResponse = "active-response"

// Format names the message layout a line arrived in.
type Format string

const (
	Format4 Format = "wazuh-4" // {"version":1,"origin":..,"command":..,"parameters":..}
	Format5 Format = "wazuh-5" // {"wazuh":{"active_response":..},"source":..,"command":..}
)

// Origin names the sender of a message.
type Origin struct {
	Name   string `json:"name"`
	Module string `json:"module"`
}

// Parameters is the "parameters" object of an input message.
type Parameters struct {
	// ExtraArgs are the <extra_args> of the command, or the "arguments" of
	// a PUT /active-response request.
	ExtraArgs []string `json:"extra_args"`

	// Alert is the alert that triggered the response, kept raw because its
	// shape depends on the rule; see DecodeAlert.
	Alert json.RawMessage `json:"alert,omitempty"`

	// Program is the full path of the executable that wazuh-execd started.
	Program string `json:"program,omitempty"`
}

// Message is one validated input message.
type Message struct {
	Format     Format
	Version    int
	Origin     Origin
	Command    string // CommandAdd or CommandDelete after normalisation
	Parameters Parameters
}

// ErrInvalidInput is wrapped by every Parse error, so that a program can log
// the Wazuh wording "Invalid input format" for all of them.
var ErrInvalidInput = errors.New("invalid input format")

// Alert is the part of an alert the SmartPT programs read. Absent fields
// are empty.
type Alert struct {
	ID    string `json:"id"`
	Agent struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		IP   string `json:"ip"`
	} `json:"agent"`
	Rule struct {
		ID     json.RawMessage `json:"id"` // a string in alerts, a number in some queue messages
		Groups []string        `json:"groups"`
	} `json:"rule"`
	Decoder struct {
		Name   string `json:"name"`
		Parent string `json:"parent"`
	} `json:"decoder"`
	Location string          `json:"location"` // the log file or source the event came from
	Data     json.RawMessage `json:"data"`
}

// DecodeAlert decodes raw, the "alert" of an input message or the content of
// an integratord alert file. An empty raw gives an empty Alert.
func DecodeAlert(raw json.RawMessage) (Alert, error) {
	var a Alert
	if len(raw) == 0 || string(raw) == "null" {
		return a, nil
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return Alert{}, fmt.Errorf("decode alert: %w", err)
	}
	return a, nil
}

// DataField returns the string at path inside the alert's "data" object, for
// example DataField("win", "eventdata", "targetUserName"). It returns "" when
// the path is missing or is not a string.
func (a Alert) DataField(path ...string) string {
	var cur any
	if err := json.Unmarshal(a.Data, &cur); err != nil {
		return ""
	}
	for _, key := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[key]
	}
	s, _ := cur.(string)
	return s
}

// DataStrings returns the list of strings at path inside "data". A single
// string is returned as a list of one; any non-string item makes it fail.
func (a Alert) DataStrings(path ...string) ([]string, error) {
	var cur any
	if len(a.Data) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(a.Data, &cur); err != nil {
		return nil, fmt.Errorf("decode alert data: %w", err)
	}
	for _, key := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = obj[key]
	}
	switch v := cur.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for i, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("alert data %v[%d] is %T, expected a string", path, i, item)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("alert data %v is %T, expected a string or a list of strings", path, cur)
	}
}
