package api

import (
	"encoding/json"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/smartpt/smartpt/internal/action"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/cisco"
)

// Limits on free-text and identifier fields, in characters.
const (
	maxCommentChars = 1000
	maxTargetChars  = 256 // the longest host name is 253 characters; a UPN is at most 113
	maxEmailChars   = 254 // RFC 5321 path limit
	maxShownChars   = 64  // maximum length of a client value echoed in an error message
)

// parseActionRequest validates an action route's decoded body and returns the
// engine request without the request-scoped fields (company, client address,
// request id), which the handler fills in.
func parseActionRequest(route actionRoute, values map[string]json.RawMessage) (action.Request, *bodyError) {
	var req action.Request

	name := stringField(values, fieldAction)
	if name == "" {
		return req, badRequest("Missing 'action' parameter")
	}
	act, ok := route.validAction(name)
	if !ok {
		return req, badRequest("Unknown action '%s'; valid actions: %s", shown(name), route.actionList())
	}

	requester := stringField(values, fieldEmail)
	if requester == "" {
		return req, badRequest("Missing 'Email' parameter")
	}
	if err := checkEmail(requester); err != nil {
		return req, err
	}

	target := stringField(values, route.TargetField)
	if target == "" {
		return req, badRequest("Missing '%s' parameter", route.TargetField)
	}
	if err := checkTarget(route.TargetField, target); err != nil {
		return req, err
	}

	comment := stringField(values, fieldComment)
	if err := checkComment(comment); err != nil {
		return req, err
	}

	isolationType := stringField(values, fieldIsolationType)
	if _, set := values[fieldIsolationType]; set {
		if act != vendor.ActionIsolate {
			return req, badRequest("'%s' applies only to the isolate action", fieldIsolationType)
		}
		if isolationType != "Full" && isolationType != "Selective" {
			return req, badRequest("Invalid '%s' parameter '%s'; valid values: Full, Selective", fieldIsolationType, shown(isolationType))
		}
	}

	unlockCode := stringField(values, fieldUnlockCode)
	if _, set := values[fieldUnlockCode]; set {
		if act != vendor.ActionIsolate {
			return req, badRequest("'%s' applies only to the isolate action", fieldUnlockCode)
		}
		if err := checkUnlockCode(unlockCode); err != nil {
			return req, err
		}
	}

	req = action.Request{
		Service:       route.Service,
		Route:         route.Path,
		Action:        act,
		Target:        target,
		Requester:     requester,
		Comment:       comment,
		IsolationType: isolationType,
		UnlockCode:    unlockCode,
		DryRun:        boolField(values, fieldDryRun),
	}
	return req, nil
}

// checkEmail accepts a bare address such as analyst@example.com: no display
// name, no angle brackets, no comments.
func checkEmail(s string) *bodyError {
	invalid := badRequest("Invalid 'Email' parameter '%s'; send a plain e-mail address such as analyst@example.com", shown(s))
	if utf8.RuneCountInString(s) > maxEmailChars {
		return invalid
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return invalid
	}
	return nil
}

// checkTarget rejects what no vendor accepts as an identifier: control
// characters, surrounding spaces and overlong values. Each vendor's own
// format is checked by the engine.
func checkTarget(field, s string) *bodyError {
	if utf8.RuneCountInString(s) > maxTargetChars {
		return badRequest("Invalid '%s' parameter: longer than %d characters", field, maxTargetChars)
	}
	if strings.TrimSpace(s) != s {
		return badRequest("Invalid '%s' parameter '%s': remove the surrounding spaces", field, shown(s))
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return badRequest("Invalid '%s' parameter: it contains a control character", field)
	}
	return nil
}

func checkComment(s string) *bodyError {
	if utf8.RuneCountInString(s) > maxCommentChars {
		return badRequest("Invalid 'comment' parameter: longer than %d characters", maxCommentChars)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return badRequest("Invalid 'comment' parameter: it contains a control character other than tab or line break")
		}
	}
	return nil
}

// checkUnlockCode accepts exactly the unlock codes the Cisco client sends,
// so that the gateway never accepts a code the client then rejects.
func checkUnlockCode(s string) *bodyError {
	if err := cisco.ValidateUnlockCode(s); err != nil {
		return badRequest("Invalid 'unlock_code' parameter: %s", err.Error())
	}
	return nil
}

// shown shortens a client value for an error message and drops characters
// that could break a log line or a terminal.
func shown(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxShownChars {
		runes := []rune(s)
		s = string(runes[:maxShownChars]) + "..."
	}
	return s
}
