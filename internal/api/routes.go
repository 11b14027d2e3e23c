package api

import (
	"slices"
	"strings"

	"github.com/smartpt/smartpt/internal/vendors"
)

// Body field names, exactly as the published API spells them.
const (
	fieldAction        = "action"
	fieldEmail         = "Email"
	fieldUPN           = "upn"
	fieldAgentID       = "agent_id"
	fieldComment       = "comment"
	fieldIsolationType = "isolation_type"
	fieldUnlockCode    = "unlock_code"
	fieldDryRun        = "dry_run"
)

// fieldOrder is the order in which accepted fields are listed in messages.
var fieldOrder = []string{
	fieldAction, fieldEmail, fieldUPN, fieldAgentID,
	fieldComment, fieldIsolationType, fieldUnlockCode, fieldDryRun,
}

var endpointActions = []vendor.ActionKind{vendor.ActionIsolate, vendor.ActionRelease, vendor.ActionStatus}

var userActions = []vendor.ActionKind{vendor.ActionBlock, vendor.ActionUnblock, vendor.ActionUStatus, vendor.ActionReport}

// actionRoute is one public action route: its path, the service that serves
// it, its actions and the body fields it accepts.
type actionRoute struct {
	Path        string
	Service     vendor.Service
	TargetField string // upn or agent_id
	Actions     []vendor.ActionKind
	Fields      map[string]fieldKind
}

// IsUser reports whether the route acts on directory users.
func (r actionRoute) IsUser() bool { return r.TargetField == fieldUPN }

func (r actionRoute) validAction(name string) (vendor.ActionKind, bool) {
	for _, a := range r.Actions {
		if string(a) == name {
			return a, true
		}
	}
	return "", false
}

func (r actionRoute) actionList() string {
	names := make([]string, len(r.Actions))
	for i, a := range r.Actions {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// ActionRoutes lists the public action routes in a stable order. Every path
// of vendor.Routes is here.
func ActionRoutes() []actionRoute {
	paths := make([]string, 0, len(vendor.Routes))
	for p := range vendor.Routes {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	routes := make([]actionRoute, 0, len(paths))
	for _, p := range paths {
		svc := vendor.Routes[p]
		r := actionRoute{Path: p, Service: svc, Fields: map[string]fieldKind{
			fieldAction:  kindString,
			fieldEmail:   kindString,
			fieldComment: kindString,
			fieldDryRun:  kindBool,
		}}
		if svc == vendor.ServiceAzureAD {
			r.TargetField = fieldUPN
			r.Actions = userActions
		} else {
			r.TargetField = fieldAgentID
			r.Actions = endpointActions
		}
		r.Fields[r.TargetField] = kindString
		switch svc {
		case vendor.ServiceDefender:
			r.Fields[fieldIsolationType] = kindString
		case vendor.ServiceCisco:
			r.Fields[fieldUnlockCode] = kindString
		}
		routes = append(routes, r)
	}
	return routes
}

// fieldList names the fields, those of fieldOrder first and in that order,
// then the rest sorted, comma separated.
func fieldList(fields map[string]fieldKind) string {
	var names, rest []string
	for _, name := range fieldOrder {
		if _, ok := fields[name]; ok {
			names = append(names, name)
		}
	}
	for name := range fields {
		if !slices.Contains(fieldOrder, name) {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return strings.Join(append(names, rest...), ", ")
}
