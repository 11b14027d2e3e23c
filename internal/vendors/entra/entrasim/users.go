package entrasim

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// user is a simulated directory account.
type user struct {
	ID                string
	UPN               string
	DisplayName       string
	UserType          string // Member or Guest
	AccountEnabled    bool
	JobTitle          string
	Department        string
	SessionsValidFrom time.Time
	LastSignIn        time.Time
	Privileged        bool // has an admin role the app may not change: PATCH returns 403
}

// objectID derives a stable GUID-shaped object id from the UPN.
func objectID(upn string) string {
	sum := sha1.Sum([]byte(strings.ToLower(upn)))
	h := fmt.Sprintf("%x", sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// userProperties are the user properties the simulator serves, with their
// Edm type, for $select and PATCH checks.
var userProperties = map[string]string{
	"id": "Edm.String", "userPrincipalName": "Edm.String", "displayName": "Edm.String",
	"accountEnabled": "Edm.Boolean", "userType": "Edm.String", "jobTitle": "Edm.String",
	"department": "Edm.String", "mail": "Edm.String", "signInSessionsValidFromDateTime": "Edm.DateTimeOffset",
	"signInActivity": "microsoft.graph.signInActivity",
}

// patchable are the properties PATCH may change, a subset of the writable
// ones of Graph's user resource.
var patchable = map[string]string{
	"accountEnabled": "Edm.Boolean", "displayName": "Edm.String", "jobTitle": "Edm.String", "department": "Edm.String",
}

// defaultSelect is what GET /users/{id} returns without $select (Graph
// v1.0 returns a small default set that does not include accountEnabled).
var defaultSelect = []string{"id", "userPrincipalName", "displayName", "jobTitle", "mail"}

func (u *user) property(name string, sim *Server) any {
	switch name {
	case "id":
		return u.ID
	case "userPrincipalName":
		return u.UPN
	case "displayName":
		return u.DisplayName
	case "accountEnabled":
		return u.AccountEnabled
	case "userType":
		return u.UserType
	case "jobTitle":
		return nullable(u.JobTitle)
	case "department":
		return nullable(u.Department)
	case "mail":
		if u.UserType == "Guest" {
			return "partner@fabrikam.com"
		}
		return u.UPN
	case "signInSessionsValidFromDateTime":
		return u.SessionsValidFrom.Format(time.RFC3339)
	case "signInActivity":
		return map[string]any{
			"lastSignInDateTime":               u.LastSignIn.Format(time.RFC3339),
			"lastSignInRequestId":              mssim.NewGUID(),
			"lastNonInteractiveSignInDateTime": u.LastSignIn.Add(-time.Hour).Format(time.RFC3339),
		}
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// isUserSegment reports whether the path addresses one user:
// users/{id|upn}[/...] or users('{upn}')[/...].
func isUserSegment(segments []string) bool {
	if segments[0] == "users" {
		return len(segments) >= 2
	}
	return strings.HasPrefix(segments[0], "users(") && strings.HasSuffix(segments[0], ")")
}

// userKey extracts the id or UPN and the remaining segments.
func userKey(segments []string) (key string, rest []string, err error) {
	if segments[0] == "users" {
		return segments[1], segments[2:], nil
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(segments[0], "users("), ")")
	if len(inner) < 2 || inner[0] != '\'' || inner[len(inner)-1] != '\'' {
		return "", nil, fmt.Errorf("key %s is not a quoted string", inner)
	}
	body := inner[1 : len(inner)-1]
	if strings.Count(body, "'")%2 != 0 || strings.Contains(strings.ReplaceAll(body, "''", ""), "'") {
		return "", nil, fmt.Errorf("key %s has an unpaired quote", inner)
	}
	return strings.ReplaceAll(body, "''", "'"), segments[1:], nil
}

// lookup finds a user by UPN (case-insensitive) or object id. Call with
// s.mu held.
func (s *Server) lookup(key string) *user {
	if u, ok := s.users[strings.ToLower(key)]; ok {
		return u
	}
	for _, u := range s.users {
		if strings.EqualFold(u.ID, key) {
			return u
		}
	}
	return nil
}

func (s *Server) routeUser(w http.ResponseWriter, r *http.Request, segments []string) {
	key, rest, err := userKey(segments)
	if err != nil {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", "Bad Request - Error in query syntax: "+err.Error())
		return
	}
	// A bare /users/$x is a system segment in Graph, not a UPN.
	if segments[0] == "users" && strings.HasPrefix(key, "$") {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", key))
		return
	}

	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		s.count("GET user")
		s.getUser(w, r, key)
	case len(rest) == 0 && r.Method == http.MethodPatch:
		s.count("PATCH user")
		s.patchUser(w, r, key)
	case len(rest) == 1 && rest[0] == "revokeSignInSessions":
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r)
			return
		}
		s.count("POST revokeSignInSessions")
		s.revoke(w, r, key)
	case len(rest) == 0:
		methodNotAllowed(w, r)
	default:
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[len(rest)-1]))
	}
}

func notFound(w http.ResponseWriter, r *http.Request, key string) {
	mssim.WriteGraphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", key))
}

// parseSelect checks a $select list against the known properties.
func (s *Server) parseSelect(raw string) ([]string, string) {
	if raw == "" {
		return defaultSelect, ""
	}
	var out []string
	for _, name := range strings.Split(raw, ",") {
		name = strings.TrimSpace(name)
		if _, ok := userProperties[name]; !ok {
			return nil, fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.user'.", name)
		}
		out = append(out, name)
	}
	return out, ""
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, key string) {
	fields, problem := s.parseSelect(r.URL.Query().Get("$select"))
	if problem != "" {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", problem)
		return
	}
	for _, f := range fields {
		if f == "signInActivity" && s.cfg.NoPremium {
			mssim.WriteGraphError(w, r, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
			return
		}
	}

	s.mu.Lock()
	u := s.lookup(key)
	var body map[string]any
	if u != nil {
		body = map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(" + strings.Join(fields, ",") + ")/$entity"}
		for _, f := range fields {
			body[f] = u.property(f, s)
		}
	}
	s.mu.Unlock()

	if u == nil {
		notFound(w, r, key)
		return
	}
	mssim.WriteJSON(w, http.StatusOK, body)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	top := 100
	if v := r.URL.Query().Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			mssim.WriteGraphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", "Invalid page size specified: '"+v+"'. Must be between 1 and 999 inclusive.")
			return
		}
		top = n
	}
	fields, problem := s.parseSelect(r.URL.Query().Get("$select"))
	if problem != "" {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", problem)
		return
	}

	s.mu.Lock()
	value := []map[string]any{}
	for _, u := range s.sortedUsers() {
		if len(value) == top {
			break
		}
		item := map[string]any{}
		for _, f := range fields {
			item[f] = u.property(f, s)
		}
		value = append(value, item)
	}
	s.mu.Unlock()
	mssim.WriteJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value})
}

// patchUser applies PATCH semantics: only the properties sent change, an
// unknown or read-only property or a wrong JSON type is 400, success is 204
// with no body.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, key string) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		mssim.WriteGraphError(w, r, http.StatusRequestEntityTooLarge, "Request_BadRequest", "The request body is too large.")
		return
	}
	var props map[string]json.RawMessage
	if err := json.Unmarshal(raw, &props); err != nil || props == nil {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	changes, problem := parsePatch(props)
	if problem != "" {
		mssim.WriteGraphError(w, r, http.StatusBadRequest, "Request_BadRequest", problem)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookup(key)
	if u == nil {
		notFound(w, r, key)
		return
	}
	s.patches = append(s.patches, PatchRecord{UPN: u.UPN, Body: string(raw)})
	if u.Privileged {
		mssim.WriteGraphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return
	}

	for name, v := range changes {
		switch name {
		case "accountEnabled":
			enabled := v.(bool)
			if enabled != u.AccountEnabled {
				activity := "Disable account"
				if enabled {
					activity = "Enable account"
				}
				s.addAudit(u, activity)
			}
			u.AccountEnabled = enabled
		case "displayName":
			u.DisplayName = v.(string)
		case "jobTitle":
			u.JobTitle = v.(string)
		case "department":
			u.Department = v.(string)
		}
	}
	s.addAudit(u, "Update user")
	w.WriteHeader(http.StatusNoContent)
}

// parsePatch checks each property's name and JSON type.
func parsePatch(props map[string]json.RawMessage) (map[string]any, string) {
	changes := map[string]any{}
	for name, raw := range props {
		typ, known := patchable[name]
		if !known {
			if _, readOnly := userProperties[name]; readOnly {
				return nil, fmt.Sprintf("Property '%s' is read-only and cannot be set.", name)
			}
			return nil, fmt.Sprintf("Invalid property '%s'.", name)
		}
		switch typ {
		case "Edm.Boolean":
			var b bool
			if err := json.Unmarshal(raw, &b); err != nil || string(raw) == "null" {
				return nil, fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.Boolean'.", strings.Trim(string(raw), `"`))
			}
			changes[name] = b
		case "Edm.String":
			var str string
			if err := json.Unmarshal(raw, &str); err != nil {
				return nil, fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.String'.", string(raw))
			}
			changes[name] = str
		}
	}
	return changes, ""
}

// revoke resets the sessions valid-from time (Graph v1.0,
// user: revokeSignInSessions) and returns 200 {"value": true}.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	u := s.lookup(key)
	if u != nil {
		u.SessionsValidFrom = time.Now().UTC()
	}
	s.mu.Unlock()

	if u == nil {
		notFound(w, r, key)
		return
	}
	mssim.WriteJSON(w, http.StatusOK, map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
		"value":          true,
	})
}

// User returns a copy of a user's state, for tests.
func (s *Server) User(upn string) (enabled bool, sessionsValidFrom time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.lookup(upn)
	if u == nil {
		return false, time.Time{}, false
	}
	return u.AccountEnabled, u.SessionsValidFrom, true
}
