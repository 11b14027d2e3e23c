package wazuhar

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one protocol line, so that a broken or hostile sender
// cannot make a reader allocate without bound. A full alert is usually a few
// KiB, and lines of 1 MiB and more are accepted.
const MaxLineBytes = 4 << 20

// ErrLineTooLong is returned by ReadLine for a line longer than its limit.
var ErrLineTooLong = errors.New("input line is longer than the limit")

// ReadLine reads one line ending in "\n" from r and returns it without the
// newline. It returns as soon as the newline arrives and never waits for end
// of file. A last line without a newline is returned with a nil error when
// r ends. It reads at most max bytes of a line and then fails with
// ErrLineTooLong, so a hostile sender cannot make it allocate without bound.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > max+1 {
			return nil, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, max)
		}
		line = append(line, chunk...)

		switch {
		case err == nil:
			line = bytes.TrimSuffix(line, []byte("\n"))
			return bytes.TrimSuffix(line, []byte("\r")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			if len(line) > max {
				return nil, fmt.Errorf("%w (%d bytes)", ErrLineTooLong, max)
			}
			return line, nil
		default:
			return nil, err
		}
	}
}

// Parse validates an input line and returns the message it carries. It
// applies the checks of the Wazuh 4 script library (wazuh/wazuh
// src/active-response/active_responses.c, get_json_from_input): "version" is
// a number, "origin" an object, "command" a string and "parameters" an
// object. It also requires "command" to be "add" or "delete", and
// "extra_args" to hold only strings. A Wazuh 5 document is normalised to the
// same Message with Format5. Every error wraps ErrInvalidInput.
func Parse(line []byte) (*Message, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidInput, err)
	}
	if _, ok := top["wazuh"]; ok {
		return parse5(top)
	}
	return parse4(top)
}

func parse4(top map[string]json.RawMessage) (*Message, error) {
	msg := &Message{Format: Format4}

	var version float64
	if err := decodeField(top, "version", &version, kindNumber); err != nil {
		return nil, err
	}
	if version != float64(int(version)) || version < 1 {
		return nil, fmt.Errorf("%w: version %v is not a positive whole number", ErrInvalidInput, version)
	}
	msg.Version = int(version)

	if err := decodeField(top, "origin", &msg.Origin, kindObject); err != nil {
		return nil, err
	}
	if err := decodeField(top, "command", &msg.Command, kindString); err != nil {
		return nil, err
	}
	if msg.Command != CommandAdd && msg.Command != CommandDelete {
		return nil, fmt.Errorf("%w: command %q is not %q or %q", ErrInvalidInput, msg.Command, CommandAdd, CommandDelete)
	}

	var params map[string]json.RawMessage
	if err := decodeField(top, "parameters", &params, kindObject); err != nil {
		return nil, err
	}
	if err := decodeParameters(params, "extra_args", "alert", "program", &msg.Parameters); err != nil {
		return nil, err
	}
	return msg, nil
}

// parse5 reads the Wazuh 5 layout:
// {"wazuh":{"active_response":{"name":..,"executable":..,"extra_arguments":[..]}},"source":{..alert..},"command":"enable"|"disable"}.
// "enable" and "add" mean add, "disable" and "delete" mean delete.
//
// NOTE: the inner key names of the Wazuh 5 layout are not confirmed. Both the
// 4.x spellings and the likely 5.x ones are accepted.
func parse5(top map[string]json.RawMessage) (*Message, error) {
	msg := &Message{Format: Format5, Version: 5}

	var wazuh map[string]json.RawMessage
	if err := decodeField(top, "wazuh", &wazuh, kindObject); err != nil {
		return nil, err
	}
	var ar map[string]json.RawMessage
	if err := decodeField(wazuh, "active_response", &ar, kindObject); err != nil {
		return nil, err
	}

	var command string
	if err := decodeField(top, "command", &command, kindString); err != nil {
		return nil, err
	}
	switch command {
	case "enable", CommandAdd:
		msg.Command = CommandAdd
	case "disable", CommandDelete:
		msg.Command = CommandDelete
	default:
		return nil, fmt.Errorf("%w: command %q is not enable, disable, add or delete", ErrInvalidInput, command)
	}

	argsKey := "extra_arguments"
	if _, ok := ar[argsKey]; !ok {
		argsKey = "extra_args"
	}
	programKey := "executable"
	if _, ok := ar[programKey]; !ok {
		programKey = "name"
	}
	if err := decodeParameters(ar, argsKey, "", programKey, &msg.Parameters); err != nil {
		return nil, err
	}
	if src, ok := top["source"]; ok {
		if kindOf(src) != kindObject {
			return nil, fmt.Errorf("%w: source is not an object", ErrInvalidInput)
		}
		msg.Parameters.Alert = src
	}
	if origin, ok := top["origin"]; ok && kindOf(origin) == kindObject {
		_ = json.Unmarshal(origin, &msg.Origin)
	}
	return msg, nil
}

// decodeParameters fills p from the keys of obj. An empty key name skips
// that field.
func decodeParameters(obj map[string]json.RawMessage, argsKey, alertKey, programKey string, p *Parameters) error {
	if raw, ok := obj[argsKey]; ok && kindOf(raw) != kindNull {
		if kindOf(raw) != kindArray {
			return fmt.Errorf("%w: parameters.%s is not an array", ErrInvalidInput, argsKey)
		}
		if err := json.Unmarshal(raw, &p.ExtraArgs); err != nil {
			return fmt.Errorf("%w: parameters.%s must hold only strings", ErrInvalidInput, argsKey)
		}
	}
	if raw, ok := obj[alertKey]; ok && alertKey != "" && kindOf(raw) != kindNull {
		if kindOf(raw) != kindObject {
			return fmt.Errorf("%w: parameters.%s is not an object", ErrInvalidInput, alertKey)
		}
		p.Alert = raw
	}
	if raw, ok := obj[programKey]; ok && kindOf(raw) != kindNull {
		if err := json.Unmarshal(raw, &p.Program); err != nil {
			return fmt.Errorf("%w: parameters.%s is not a string", ErrInvalidInput, programKey)
		}
	}
	return nil
}

// Control is a reply of wazuh-execd to check_keys.
type Control struct {
	Origin  Origin
	Command string // CommandContinue or CommandAbort
}

// ParseControl validates a reply line to check_keys.
func ParseControl(line []byte) (Control, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		return Control{}, fmt.Errorf("%w: reply is not a JSON object: %v", ErrInvalidInput, err)
	}
	var c Control
	if err := decodeField(top, "command", &c.Command, kindString); err != nil {
		return Control{}, err
	}
	if c.Command != CommandContinue && c.Command != CommandAbort {
		return Control{}, fmt.Errorf("%w: reply command %q is not %q or %q", ErrInvalidInput, c.Command, CommandContinue, CommandAbort)
	}
	if raw, ok := top["origin"]; ok && kindOf(raw) == kindObject {
		_ = json.Unmarshal(raw, &c.Origin)
	}
	return c, nil
}

// CheckKeys is a check_keys request as a program writes it.
type CheckKeys struct {
	Origin Origin
	Keys   []string
}

// ParseCheckKeys validates a check_keys line, as wazuh-execd reads it.
func ParseCheckKeys(line []byte) (CheckKeys, error) {
	var msg struct {
		Version    *float64        `json:"version"`
		Origin     Origin          `json:"origin"`
		Command    string          `json:"command"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		return CheckKeys{}, fmt.Errorf("%w: check_keys line is not valid JSON: %v", ErrInvalidInput, err)
	}
	if msg.Command != CommandCheckKeys {
		return CheckKeys{}, fmt.Errorf("%w: command %q is not %q", ErrInvalidInput, msg.Command, CommandCheckKeys)
	}
	var params struct {
		Keys []string `json:"keys"`
	}
	if err := json.Unmarshal(msg.Parameters, &params); err != nil {
		return CheckKeys{}, fmt.Errorf("%w: parameters.keys must be a list of strings", ErrInvalidInput)
	}
	return CheckKeys{Origin: msg.Origin, Keys: params.Keys}, nil
}

type jsonKind int

const (
	kindNull jsonKind = iota
	kindObject
	kindArray
	kindString
	kindNumber
	kindBool
	kindInvalid
)

var kindNames = map[jsonKind]string{
	kindNull: "null", kindObject: "an object", kindArray: "an array",
	kindString: "a string", kindNumber: "a number", kindBool: "a boolean", kindInvalid: "invalid",
}

// kindOf classifies a JSON value by its first byte; json.Unmarshal has
// already checked that the value is well formed.
func kindOf(raw json.RawMessage) jsonKind {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return kindInvalid
	}
	switch c := raw[0]; {
	case c == '{':
		return kindObject
	case c == '[':
		return kindArray
	case c == '"':
		return kindString
	case c == 't' || c == 'f':
		return kindBool
	case c == 'n':
		return kindNull
	case c == '-' || (c >= '0' && c <= '9'):
		return kindNumber
	default:
		return kindInvalid
	}
}

// decodeField requires obj[key] to exist with the given kind and decodes it
// into dst.
func decodeField(obj map[string]json.RawMessage, key string, dst any, want jsonKind) error {
	raw, ok := obj[key]
	if !ok {
		return fmt.Errorf("%w: %q is missing", ErrInvalidInput, key)
	}
	if got := kindOf(raw); got != want {
		return fmt.Errorf("%w: %q is %s, expected %s", ErrInvalidInput, key, kindNames[got], kindNames[want])
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalidInput, key, err)
	}
	return nil
}
