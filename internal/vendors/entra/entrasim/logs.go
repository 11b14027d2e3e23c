package entrasim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"
)

// Paging limits of the audit-log lists (Graph v1.0, "List signIns":
// $top up to 1,000, which is also the default page size).
const (
	maxTop     = 1000
	defaultTop = 1000
)

// cursor is the position behind a $skiptoken.
type cursor struct {
	list   string // "signIns" or "directoryAudits"
	filter string
	top    int
	offset int
}

// Filterable fields of each list.
var (
	signInFields = map[string]bool{"userPrincipalName": true, "userId": true, "createdDateTime": true, "appDisplayName": true, "ipAddress": true}
	auditFields  = map[string]bool{"activityDateTime": true, "activityDisplayName": true, "category": true, "targetResources/userPrincipalName": true, "initiatedBy/user/userPrincipalName": true}
)

var (
	demoApps      = []string{"Office 365 Exchange Online", "Microsoft Teams", "Azure Portal", "Graph explorer", "SharePoint Online"}
	demoCountries = []string{"US", "IL", "GB", "DE"}
	demoCities    = map[string]string{"US": "Redmond", "IL": "Tel Aviv", "GB": "London", "DE": "Berlin"}
)

// seed creates the demo tenant: the simharness demo users, a guest, a
// privileged admin, a few UPNs with unusual characters, and 30 days of
// sign-ins for each.
func (s *Server) seed() {
	upns := append(simharness.DemoUsers(), GuestUPN, PrivilegedUPN, "o'neil+ops@demo.example", "$svc-backup@demo.example", "jörg.müller@demo.example")
	for _, upn := range upns {
		u := &user{
			ID: objectID(upn), UPN: upn, DisplayName: displayName(upn), UserType: "Member",
			AccountEnabled: true, SessionsValidFrom: s.start.Add(-90 * 24 * time.Hour), Department: "Operations",
		}
		switch upn {
		case GuestUPN:
			u.UserType, u.DisplayName = "Guest", "Partner (Fabrikam)"
		case PrivilegedUPN:
			u.Privileged, u.DisplayName, u.JobTitle = true, "Global Administrator", "IT admin"
		}
		s.users[strings.ToLower(upn)] = u
		s.generateSignIns(u)
	}
	sort.Slice(s.signIns, func(i, j int) bool {
		return s.signIns[i]["createdDateTime"].(string) > s.signIns[j]["createdDateTime"].(string)
	})
	for _, u := range s.users {
		for _, si := range s.signIns {
			if si["userPrincipalName"] == u.UPN {
				u.LastSignIn, _ = time.Parse(time.RFC3339, si["createdDateTime"].(string))
				break
			}
		}
	}
}

func displayName(upn string) string {
	local, _, _ := strings.Cut(upn, "@")
	return strings.ToUpper(local[:1]) + local[1:]
}

// generateSignIns adds 0 to 5 sign-ins a day for 30 days, from a random
// source seeded by the UPN so that every run serves the same data. About
// one in eight fails and one in forty is risky.
func (s *Server) generateSignIns(u *user) {
	h := fnv.New64a()
	h.Write([]byte(u.UPN))
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))

	for day := 0; day < 30; day++ {
		for n := rng.IntN(6); n > 0; n-- {
			at := s.start.Add(-time.Duration(day)*24*time.Hour - time.Duration(rng.IntN(86400))*time.Second)
			country := demoCountries[rng.IntN(len(demoCountries))]
			ok := rng.IntN(8) != 0
			risky := rng.IntN(40) == 0
			entry := map[string]any{
				"id":                               mssim.NewGUID(),
				"createdDateTime":                  at.Format(time.RFC3339),
				"userDisplayName":                  u.DisplayName,
				"userPrincipalName":                u.UPN,
				"userId":                           u.ID,
				"appId":                            "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
				"appDisplayName":                   demoApps[rng.IntN(len(demoApps))],
				"ipAddress":                        fmt.Sprintf("203.0.113.%d", 1+rng.IntN(20)),
				"clientAppUsed":                    "Browser",
				"correlationId":                    mssim.NewGUID(),
				"conditionalAccessStatus":          "notApplied",
				"isInteractive":                    true,
				"riskDetail":                       "none",
				"riskLevelAggregated":              "none",
				"riskLevelDuringSignIn":            "none",
				"riskState":                        "none",
				"riskEventTypes":                   []string{},
				"resourceDisplayName":              "Microsoft Graph",
				"resourceId":                       "00000003-0000-0000-c000-000000000000",
				"status":                           map[string]any{"errorCode": 0, "failureReason": nil, "additionalDetails": nil},
				"deviceDetail":                     map[string]any{"deviceId": "", "displayName": nil, "operatingSystem": "Windows 10", "browser": "Edge 120.0.0", "isCompliant": nil, "isManaged": nil, "trustType": nil},
				"location":                         map[string]any{"city": demoCities[country], "state": nil, "countryOrRegion": country, "geoCoordinates": map[string]any{"altitude": nil, "latitude": nil, "longitude": nil}},
				"appliedConditionalAccessPolicies": []any{},
			}
			if !ok {
				entry["status"] = map[string]any{"errorCode": 50126, "failureReason": "Error validating credentials due to invalid username or password.", "additionalDetails": nil}
			}
			if risky {
				entry["riskLevelDuringSignIn"], entry["riskState"], entry["riskLevelAggregated"] = "medium", "atRisk", "medium"
				entry["riskEventTypes"] = []string{"unfamiliarFeatures"}
			}
			s.signIns = append(s.signIns, entry)
		}
	}
}

// addAudit records a directory audit entry that targets u. Call with s.mu
// held.
func (s *Server) addAudit(u *user, activity string) {
	entry := map[string]any{
		"id":                  "Directory_" + mssim.NewGUID(),
		"category":            "UserManagement",
		"correlationId":       mssim.NewGUID(),
		"result":              "success",
		"resultReason":        "",
		"activityDisplayName": activity,
		"activityDateTime":    time.Now().UTC().Format(time.RFC3339Nano),
		"loggedByService":     "Core Directory",
		"operationType":       "Update",
		"initiatedBy": map[string]any{
			"user": nil,
			"app":  map[string]any{"appId": ClientID, "displayName": "SmartPT", "servicePrincipalId": objectID(ClientID), "servicePrincipalName": nil},
		},
		"targetResources": []any{map[string]any{
			"id": u.ID, "displayName": nil, "type": "User", "userPrincipalName": u.UPN, "groupType": nil, "modifiedProperties": []any{},
		}},
		"additionalDetails": []any{},
	}
	s.audits = append([]map[string]any{entry}, s.audits...)
}

// sortedUsers returns the users by UPN. Call with s.mu held.
func (s *Server) sortedUsers() []*user {
	out := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UPN < out[j].UPN })
	return out
}

func (s *Server) listSignIns(w http.ResponseWriter, r *http.Request) {
	if s.cfg.NoPremium {
		mssim.WriteGraphError(w, r, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
		return
	}
	s.list(w, r, "signIns", signInFields, "microsoft.graph.signIn")
}

func (s *Server) listAudits(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, "directoryAudits", auditFields, "microsoft.graph.directoryAudit")
}

// list serves one page of an audit log. The first request carries $filter
// and $top. The @odata.nextLink carries only $top and an opaque $skiptoken
// that stands for the rest, as Graph's links do.
func (s *Server) list(w http.ResponseWriter, r *http.Request, name string, fields map[string]bool, typeName string) {
	q := r.URL.Query()
	var cur cursor
	if token := q.Get("$skiptoken"); token != "" {
		s.mu.Lock()
		c, ok := s.cursors[token]
		s.mu.Unlock()
		if !ok || c.list != name {
			mssim.WriteGraphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid $skiptoken value.")
			return
		}
		cur = c
	} else {
		cur = cursor{list: name, filter: q.Get("$filter"), top: defaultTop}
		if v := q.Get("$top"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxTop {
				mssim.WriteGraphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxTop))
				return
			}
			cur.top = n
		}
	}

	var match func(map[string]any) bool = func(map[string]any) bool { return true }
	if cur.filter != "" {
		expr, err := mssim.ParseFilter(cur.filter)
		if err != nil {
			mssim.WriteGraphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid filter clause: "+err.Error())
			return
		}
		for _, f := range mssim.Fields(expr) {
			if !fields[f] {
				mssim.WriteGraphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", fmt.Sprintf("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", f, strings.TrimPrefix(typeName, "microsoft.graph.")))
				return
			}
		}
		match = func(entry map[string]any) bool { return mssim.Eval(expr, getter(entry)) }
	}

	s.mu.Lock()
	source := s.signIns
	if name == "directoryAudits" {
		source = s.audits
	}
	var matched []map[string]any
	for _, e := range source {
		if match(e) {
			matched = append(matched, e)
		}
	}
	size := cur.top
	if s.cfg.PageSize > 0 {
		size = min(size, s.cfg.PageSize)
	}
	end := min(cur.offset+size, len(matched))
	pageItems := []map[string]any{}
	if cur.offset < len(matched) {
		pageItems = matched[cur.offset:end]
	}
	var next string
	if end < len(matched) {
		token := strings.ReplaceAll(mssim.NewGUID(), "-", "") + "_" + strconv.Itoa(end)
		s.cursors[token] = cursor{list: name, filter: cur.filter, top: cur.top, offset: end}
		next = fmt.Sprintf("%s/v1.0/auditLogs/%s?$top=%d&$skiptoken=%s", baseURL(r), name, cur.top, token)
	}
	s.mu.Unlock()

	body := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/" + name, "value": pageItems}
	if next != "" {
		body["@odata.nextLink"] = next
	}
	mssim.WriteJSON(w, http.StatusOK, body)
}

// getter reads a field of a JSON-shaped entry. A path "a/b" walks into objects and
// arrays of objects.
func getter(entry map[string]any) mssim.Getter {
	return func(field string) []string {
		return walk(entry, strings.Split(field, "/"))
	}
}

func walk(v any, path []string) []string {
	if len(path) == 0 {
		switch x := v.(type) {
		case string:
			return []string{x}
		case nil:
			return nil
		default:
			return []string{fmt.Sprint(x)}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		return walk(x[path[0]], path[1:])
	case []any:
		var out []string
		for _, item := range x {
			out = append(out, walk(item, path)...)
		}
		return out
	}
	return nil
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
