package isolationar

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/smartpt/smartpt/internal/wazuhar"
)

// request is the action one input message requests.
type request struct {
	action   string   // wazuhar.ActionIsolate or wazuhar.ActionRelease
	allow    []string // addresses and prefixes that stay reachable, unvalidated
	actionID string   // the gateway's action id, empty for a rule-triggered run
}

// actionIDPattern bounds the action id copied into logs and state.
var actionIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// parseRequest reads the action, the allow-list and the action id from the
// message. The gateway sends them twice (see internal/vendors/wazuh):
//
//	extra_args: ["isolate", "allow=192.0.2.10,198.51.100.0/24", "action_id=..."]
//	alert.data: {"action":"isolate","allow":[...],"smartpt_action_id":"..."}
//
// A rule-triggered <active-response> passes only <extra_args>, for example
// "isolate allow=192.0.2.10". Values in alert.data win; the allow-lists of
// both places are joined. Two different actions are rejected.
func parseRequest(msg *wazuhar.Message) (request, error) {
	var req request
	var argAction string
	for _, arg := range msg.Parameters.ExtraArgs {
		key, value, hasValue := strings.Cut(arg, "=")
		switch {
		case !hasValue && argAction == "":
			argAction = arg
		case key == "allow":
			req.allow = append(req.allow, strings.Split(value, ",")...)
		case key == "action_id":
			req.actionID = value
		case key == "action":
			argAction = value
		default:
			return req, fmt.Errorf("unknown argument %q: use isolate|release, allow=<addresses> or action_id=<id>", arg)
		}
	}

	alert, err := wazuhar.DecodeAlert(msg.Parameters.Alert)
	if err != nil {
		return req, err
	}
	dataAction := alert.DataField("action")
	allow, err := alert.DataStrings("allow")
	if err != nil {
		return req, err
	}
	req.allow = append(req.allow, allow...)
	if id := alert.DataField("smartpt_action_id"); id != "" {
		req.actionID = id
	}

	a1, err := normaliseAction(argAction)
	if err != nil {
		return req, err
	}
	a2, err := normaliseAction(dataAction)
	if err != nil {
		return req, err
	}
	switch {
	case a1 != "" && a2 != "" && a1 != a2:
		return req, fmt.Errorf("extra_args ask for %s but alert.data.action asks for %s", a1, a2)
	case a2 != "":
		req.action = a2
	case a1 != "":
		req.action = a1
	default:
		return req, fmt.Errorf("no action given: pass isolate or release in extra_args or alert.data.action")
	}

	if req.actionID != "" && !actionIDPattern.MatchString(req.actionID) {
		return req, fmt.Errorf("action id %q is invalid: use up to 128 letters, digits, '.', '_', ':' or '-'", req.actionID)
	}
	return req, nil
}

func normaliseAction(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "isolate":
		return wazuhar.ActionIsolate, nil
	case "release", "releaseisolate", "unisolate":
		return wazuhar.ActionRelease, nil
	default:
		return "", fmt.Errorf("unknown action %q: use isolate or release", s)
	}
}
