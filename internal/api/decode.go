package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body accepted, 64 KiB. Larger bodies
// are rejected with 413 before any parsing.
const MaxBodyBytes = 64 << 10

// maxDepth is the deepest nesting of objects and arrays a body may have. Every
// accepted field is a string or a boolean, so the top-level object plus one
// level is enough to name a wrong type precisely.
const maxDepth = 4

// fieldKind is the JSON type a body field must have.
type fieldKind int

const (
	kindString fieldKind = iota
	kindBool
)

func (k fieldKind) String() string {
	if k == kindBool {
		return "a boolean"
	}
	return "a string"
}

// bodyError is a request body the API rejects. Message is the whole
// "Bad Request: ..." text sent to the client.
type bodyError struct {
	Status  int
	Message string
}

func (e *bodyError) Error() string { return e.Message }

func badRequest(format string, args ...any) *bodyError {
	return &bodyError{Status: http.StatusBadRequest, Message: "Bad Request: " + fmt.Sprintf(format, args...)}
}

// checkContentType accepts application/json with no parameter other than
// charset=utf-8.
func checkContentType(r *http.Request) *bodyError {
	unsupported := &bodyError{
		Status:  http.StatusUnsupportedMediaType,
		Message: "Unsupported Media Type: Content-Type must be application/json",
	}
	header := r.Header.Get("Content-Type")
	if header == "" {
		return unsupported
	}
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return unsupported
	}
	for name, value := range params {
		if name != "charset" || !strings.EqualFold(value, "utf-8") {
			return unsupported
		}
	}
	return nil
}

// readBody reads at most MaxBodyBytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *bodyError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &bodyError{
				Status:  http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("Payload Too Large: the request body exceeds %d bytes", MaxBodyBytes),
			}
		}
		return nil, badRequest("The request body could not be read")
	}
	return body, nil
}

// decodeObject parses body as one JSON object whose members are all listed in
// fields, and returns each member's raw value. It rejects invalid UTF-8,
// nesting deeper than maxDepth, duplicate member names, unknown members,
// values of the wrong type and any data after the object. Member names are
// matched exactly, unlike encoding/json, which ignores case.
func decodeObject(body []byte, fields map[string]fieldKind, route string) (map[string]json.RawMessage, *bodyError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("The request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return nil, badRequest("The request body is not valid UTF-8")
	}
	if depth := nestingDepth(body); depth > maxDepth {
		return nil, badRequest("JSON nesting is deeper than %d levels", maxDepth)
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()

	tok, err := dec.Token()
	if err != nil {
		return nil, invalidJSON(err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, badRequest("The request body must be a JSON object")
	}

	values := make(map[string]json.RawMessage, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalidJSON(err)
		}
		name, _ := tok.(string) // Token returns only strings as object keys.

		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalidJSON(err)
		}

		kind, known := fields[name]
		if !known {
			return nil, unknownField(name, fields, route)
		}
		if _, dup := values[name]; dup {
			return nil, badRequest("Duplicate field '%s'; send each field once", name)
		}
		if !hasKind(raw, kind) {
			return nil, badRequest("Field '%s' must be %s", name, kind)
		}
		if kind == kindString && hasLoneSurrogate(raw) {
			return nil, badRequest("Field '%s' contains an unpaired UTF-16 surrogate escape; send valid Unicode text", name)
		}
		values[name] = raw
	}

	if _, err := dec.Token(); err != nil {
		return nil, invalidJSON(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("Unexpected data after the JSON object")
	}
	return values, nil
}

func invalidJSON(err error) *bodyError {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return badRequest("Invalid JSON at byte %d: %s", syntax.Offset, syntax.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return badRequest("Invalid JSON: the body ends before the object is complete")
	}
	return badRequest("Invalid JSON: %s", err.Error())
}

// unknownField names the rejected member and, for a near miss in letter
// case such as "email", the accepted spelling.
func unknownField(name string, fields map[string]fieldKind, route string) *bodyError {
	for accepted := range fields {
		if strings.EqualFold(accepted, name) {
			return badRequest("Unknown field '%s'; did you mean '%s'?", shown(name), accepted)
		}
	}
	return badRequest("Unknown field '%s' for %s; accepted fields: %s", shown(name), route, fieldList(fields))
}

func hasKind(raw json.RawMessage, kind fieldKind) bool {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return false
	}
	switch kind {
	case kindBool:
		return bytes.Equal(trimmed, []byte("true")) || bytes.Equal(trimmed, []byte("false"))
	default:
		return trimmed[0] == '"'
	}
}

// nestingDepth returns the deepest nesting of objects and arrays in body,
// ignoring brackets inside strings. It reads malformed input without error;
// the decoder reports that afterwards.
func nestingDepth(body []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range body {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

func stringField(values map[string]json.RawMessage, name string) string {
	raw, ok := values[name]
	if !ok {
		return ""
	}
	var s string
	_ = json.Unmarshal(raw, &s) // the type was checked by decodeObject
	return s
}

func boolField(values map[string]json.RawMessage, name string) bool {
	raw, ok := values[name]
	if !ok {
		return false
	}
	var b bool
	_ = json.Unmarshal(raw, &b)
	return b
}
