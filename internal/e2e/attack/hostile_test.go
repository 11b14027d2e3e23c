package attack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
)

// requester is the Email of every request in these tests.
const requester = "analyst@corp.example"

// object returns a JSON object with the given members in order. Each value
// is marshalled, so a string value is quoted and escaped.
func object(members ...any) []byte {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i+1 < len(members); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		name, _ := json.Marshal(members[i])
		value, _ := json.Marshal(members[i+1])
		b.Write(name)
		b.WriteString(":")
		b.Write(value)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// rawMember is a JSON value written into object as is.
type rawMember string

func (r rawMember) MarshalJSON() ([]byte, error) { return []byte(r), nil }

// hostileAgentIDs are agent_id values that no endpoint vendor may receive.
// Each must be rejected with 400 before any vendor call.
var hostileAgentIDs = []struct {
	name  string
	value string
}{
	{"dot dot slash", "../001"},
	{"dot dot slash after id", "001/../002"},
	{"encoded dot dot", "%2e%2e%2f001"},
	{"encoded slash", "001%2F..%2F002"},
	{"slash only", "/"},
	{"leading slash", "/agents"},
	{"backslash", `..\001`},
	{"question mark", "001?pretty=true"},
	{"hash", "001#fragment"},
	{"ampersand", "001&agents_list=002"},
	{"equals", "agents_list=001"},
	{"percent zero zero", "001%00"},
	{"nul byte", "001\x00"},
	{"carriage return line feed", "001\r\nX-Injected: 1"},
	{"line feed", "demo-host-01\n"},
	{"tab", "demo-host-01\t"},
	{"unicode hyphen lookalike", "demo\u2010host\u201001"},
	{"cyrillic e lookalike", "d\u0435mo-host-01"},
	{"fullwidth letters", "\uff44\uff45\uff4d\uff4f-host-01"},
	{"zero width space", "demo-host-01\u200b"},
	{"right to left override", "demo-host-\u202e10"},
	{"replacement character", "demo-host-\ufffd"},
	{"very long value", strings.Repeat("a", 5000)},
	{"longest accepted length plus one", strings.Repeat("a", 257)},
	{"host name label over 63", strings.Repeat("a", 64) + ".corp.example"},
	{"host name over 253", strings.Repeat(strings.Repeat("a", 60)+".", 5)[:254]},
	{"comma list", "001,002"},
	{"semicolon list", "001;002"},
	{"space list", "001 002"},
	{"leading space", " 001"},
	{"trailing space", "001 "},
	{"star", "*"},
	{"host wildcard", "demo-host-*"},
	{"all zeros id", "000"},
	{"short numeric", "1"},
	{"CIDR all", "0.0.0.0/0"},
	{"CIDR host", "10.20.0.1/32"},
	{"IPv6 zone", "fe80::1%eth0"},
	{"XML attribute breakout", `1.2.3.4"/><entry ip="0.0.0.0/0`},
	{"XML attribute breakout without slash", `1.2.3.4"><entry ip="0.0.0.0`},
	{"XML element", "<entry name='0.0.0.0'/>"},
	{"XML entity", "10.20.0.1&amp;"},
	{"CDATA end", "]]>"},
	{"single quote", "demo-host-01'"},
	{"double quote", `demo-host-01"`},
	{"OData or", "' or 1 eq 1"},
	{"OData filter", "$filter=computerDnsName eq 'x'"},
	{"shell substitution", "$(id)"},
	{"backtick", "`id`"},
	{"hyphen first", "-host"},
	{"empty label", "demo..host"},
	{"only dots", "..."},
	{"at sign", "user@demo-host-01"},
	{"colon port", "demo-host-01:8080"},
}

// hostileUPNs are upn values that Microsoft Graph may never receive.
var hostileUPNs = []struct {
	name  string
	value string
}{
	{"dot dot slash", "../user01@demo.example"},
	{"slash after domain", "user01@demo.example/../../me"},
	{"encoded slash", "user01%2F..@demo.example"},
	{"backslash", `user01\@demo.example`},
	{"question mark select", "user01@demo.example?$select=passwordProfile"},
	{"hash in domain", "user01@demo.example#x"},
	{"ampersand", "user01@demo.example&$filter=x"},
	{"equals", "a=b@demo.example"},
	{"percent zero zero", "user01@demo.example%00"},
	{"nul byte", "user01@demo.example\x00"},
	{"carriage return line feed", "user01@demo.example\r\nX-Injected: 1"},
	{"OData or with spaces", "' or 1 eq 1"},
	{"OData quote close", "user01@demo.example') or (1 eq 1"},
	{"OData filter", "$filter=userPrincipalName eq 'x'"},
	{"OData quote and paren", "x')@demo.example"},
	{"double quote", `"user01"@demo.example`},
	{"cyrillic o in domain", "user01@dem\u043e.example"},
	{"fullwidth at sign", "user01\uff20demo.example"},
	{"zero width space", "user01\u200b@demo.example"},
	{"very long value", strings.Repeat("u", 300) + "@demo.example"},
	{"over UPN length", strings.Repeat("u", 64) + "@" + strings.Repeat("d", 44) + ".example"},
	{"comma list", "user01@demo.example,user02@demo.example"},
	{"semicolon list", "user01@demo.example;user02@demo.example"},
	{"space list", "user01@demo.example user02@demo.example"},
	{"star", "*"},
	{"star local part", "*@demo.example"},
	{"two at signs", "user01@demo.example@evil.example"},
	{"no at sign", "user01"},
	{"leading space", " user01@demo.example"},
	{"angle brackets", "<user01@demo.example>"},
	{"dollar segment only", "$count"},
}

// TestHostileAgentID sends every hostile agent_id to every configured
// endpoint route and action.
func TestHostileAgentID(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]

	for _, svc := range s.endpointServices("a") {
		path := pathOfService[svc]
		for _, act := range []vendor.ActionKind{vendor.ActionIsolate, vendor.ActionRelease, vendor.ActionStatus} {
			for _, tc := range hostileAgentIDs {
				t.Run(fmt.Sprintf("%s/%s/%s", svc, act, tc.name), func(t *testing.T) {
					before := s.quiesce()
					resp := s.do(t, request{Path: path, Key: a.Key, Body: object("action", act, "Email", requester, "agent_id", tc.value)})
					checkJSONError(t, resp, http.StatusBadRequest)
					s.checkNoVendorCall(t, before)
				})
			}
		}
	}
}

// TestHostileUPN sends every hostile upn with every user action.
func TestHostileUPN(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]
	if _, ok := a.Sims[vendor.ServiceAzureAD]; !ok {
		t.Skip("no Entra ID simulator in this build")
	}

	for _, act := range []vendor.ActionKind{vendor.ActionBlock, vendor.ActionUnblock, vendor.ActionUStatus, vendor.ActionReport} {
		for _, tc := range hostileUPNs {
			t.Run(fmt.Sprintf("%s/%s", act, tc.name), func(t *testing.T) {
				before := s.quiesce()
				resp := s.do(t, request{Path: "/azuread/users", Key: a.Key, Body: object("action", act, "Email", requester, "upn", tc.value)})
				checkJSONError(t, resp, http.StatusBadRequest)
				s.checkNoVendorCall(t, before)
			})
		}
	}
}

// bodyCase is one hostile request to an action route; the route and the
// company key are filled in by the test.
type bodyCase struct {
	name   string
	method string
	header map[string]string
	ctype  string // Content-Type; "-" sends none
	body   []byte
	want   int
}

// hostileBodies returns the hostile bodies, methods and content types for
// a route whose target field is target and whose valid action is act.
func hostileBodies(target, targetValue string, act vendor.ActionKind) []bodyCase {
	valid := func(extra ...any) []byte {
		return object(append([]any{"action", act, "Email", requester, target, targetValue}, extra...)...)
	}
	deep := `{"action":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}"
	deepObject := strings.Repeat(`{"a":`, 5000) + "1" + strings.Repeat("}", 5000)
	padding := strings.Repeat(" ", 64<<10)
	oversized := append(valid("comment", strings.Repeat("x", 64<<10)), ' ')
	validJSON := string(valid())

	return []bodyCase{
		{name: "empty body", body: []byte{}, want: 400},
		{name: "whitespace body", body: []byte(" \n\t "), want: 400},
		{name: "JSON null", body: []byte("null"), want: 400},
		{name: "JSON true", body: []byte("true"), want: 400},
		{name: "JSON number", body: []byte("42"), want: 400},
		{name: "JSON string", body: []byte(`"isolate"`), want: 400},
		{name: "empty array", body: []byte("[]"), want: 400},
		{name: "array of the object", body: []byte("[" + validJSON + "]"), want: 400},
		{name: "empty object", body: []byte("{}"), want: 400},
		{name: "trailing garbage", body: []byte(validJSON + "xyz"), want: 400},
		{name: "two objects", body: []byte(validJSON + validJSON), want: 400},
		{name: "trailing comma", body: []byte(strings.TrimSuffix(validJSON, "}") + ",}"), want: 400},
		{name: "truncated", body: []byte(validJSON[:len(validJSON)-5]), want: 400},
		{name: "comment in JSON", body: []byte("/* x */" + validJSON), want: 400},
		{name: "byte order mark", body: append([]byte("\xef\xbb\xbf"), validJSON...), want: 400},
		{name: "single quotes", body: []byte(strings.ReplaceAll(validJSON, `"`, `'`)), want: 400},
		{name: "invalid UTF-8 in value", body: []byte(`{"action":"` + string(act) + `","Email":"` + requester + `","` + target + `":"demo\xff\xfe"}`), want: 400},
		{name: "invalid UTF-8 in name", body: []byte(`{"act\xc3ion":"` + string(act) + `"}`), want: 400},
		{name: "overlong UTF-8 slash", body: []byte(`{"action":"` + string(act) + `","Email":"` + requester + `","` + target + `":"..\xc0\xaf001"}`), want: 400},
		{name: "lone surrogate escape", body: valid("comment", rawMember(`"\ud800"`)), want: 400},
		{name: "deeply nested arrays", body: []byte(deep), want: 400},
		{name: "deeply nested objects", body: []byte(deepObject), want: 400},
		{name: "nested value in target", body: object("action", act, "Email", requester, target, rawMember(`[[[[[["x"]]]]]]`)), want: 400},
		{name: "oversized comment", body: oversized, want: 413},
		{name: "oversized padding", body: append([]byte(validJSON), padding...), want: 413},
		{name: "duplicate target", body: object("action", act, "Email", requester, target, targetValue, target, "other-host"), want: 400},
		{name: "duplicate action", body: object("action", "status", "Email", requester, target, targetValue, "action", act), want: 400},
		{name: "duplicate Email", body: object("action", act, "Email", requester, "Email", "other@corp.example", target, targetValue), want: 400},
		{name: "duplicate dry_run", body: valid("dry_run", true, "dry_run", false), want: 400},
		{name: "case variant of action", body: object("action", act, "Action", "status", "Email", requester, target, targetValue), want: 400},
		{name: "case variant of target", body: object("action", act, "Email", requester, strings.ToUpper(target), targetValue), want: 400},
		{name: "unknown field", body: valid("force", true), want: 400},
		{name: "homoglyph field name", body: object("action", act, "\u0415mail", requester, target, targetValue), want: 400},
		{name: "action with NUL", body: object("action", string(act)+"\x00", "Email", requester, target, targetValue), want: 400},
		{name: "action with zero width space", body: object("action", string(act)+"\u200b", "Email", requester, target, targetValue), want: 400},
		{name: "prototype field", body: valid("__proto__", map[string]any{"admin": true}), want: 400},
		{name: "target with trailing space in name", body: object("action", act, "Email", requester, target+" ", targetValue), want: 400},
		{name: "company field", body: valid("company_id", "b"), want: 400},
		{name: "x-sha256 field", body: valid("x-sha256", strings.Repeat("a", 64)), want: 400},
		{name: "action number", body: object("action", 1, "Email", requester, target, targetValue), want: 400},
		{name: "action null", body: object("action", nil, "Email", requester, target, targetValue), want: 400},
		{name: "action array", body: object("action", []string{string(act)}, "Email", requester, target, targetValue), want: 400},
		{name: "action object", body: object("action", map[string]string{"$ne": ""}, "Email", requester, target, targetValue), want: 400},
		{name: "action bool", body: object("action", true, "Email", requester, target, targetValue), want: 400},
		{name: "Email number", body: object("action", act, "Email", 7, target, targetValue), want: 400},
		{name: "Email null", body: object("action", act, "Email", nil, target, targetValue), want: 400},
		{name: "Email array", body: object("action", act, "Email", []string{requester, "b@corp.example"}, target, targetValue), want: 400},
		{name: "Email with display name", body: object("action", act, "Email", "Eve <eve@corp.example>", target, targetValue), want: 400},
		{name: "Email with header injection", body: object("action", act, "Email", requester+"\r\nBcc: eve@corp.example", target, targetValue), want: 400},
		{name: "Email list", body: object("action", act, "Email", requester+", eve@corp.example", target, targetValue), want: 400},
		{name: "Email empty", body: object("action", act, "Email", "", target, targetValue), want: 400},
		{name: "Email missing", body: object("action", act, target, targetValue), want: 400},
		{name: "target number", body: object("action", act, "Email", requester, target, 1), want: 400},
		{name: "target null", body: object("action", act, "Email", requester, target, nil), want: 400},
		{name: "target array", body: object("action", act, "Email", requester, target, []string{targetValue, "x"}), want: 400},
		{name: "target object", body: object("action", act, "Email", requester, target, map[string]string{"$ne": ""}), want: 400},
		{name: "target bool", body: object("action", act, "Email", requester, target, true), want: 400},
		{name: "target empty", body: object("action", act, "Email", requester, target, ""), want: 400},
		{name: "target missing", body: object("action", act, "Email", requester), want: 400},
		{name: "action missing", body: object("Email", requester, target, targetValue), want: 400},
		{name: "action empty", body: object("action", "", "Email", requester, target, targetValue), want: 400},
		{name: "action unknown", body: object("action", "delete", "Email", requester, target, targetValue), want: 400},
		{name: "action other case", body: object("action", strings.ToUpper(string(act)), "Email", requester, target, targetValue), want: 400},
		{name: "action with space", body: object("action", string(act)+" ", "Email", requester, target, targetValue), want: 400},
		{name: "comment number", body: valid("comment", 5), want: 400},
		{name: "comment object", body: valid("comment", map[string]string{"a": "b"}), want: 400},
		{name: "comment control character", body: valid("comment", "a\x1b[31mred"), want: 400},
		{name: "comment too long", body: valid("comment", strings.Repeat("c", 1001)), want: 400},
		{name: "dry_run string", body: valid("dry_run", "true"), want: 400},
		{name: "dry_run number", body: valid("dry_run", 1), want: 400},
		{name: "dry_run null", body: valid("dry_run", nil), want: 400},
		{name: "number with exponent", body: valid("dry_run", rawMember("1e999999")), want: 400},
		{name: "content type text", ctype: "text/plain", body: valid(), want: 415},
		{name: "content type form", ctype: "application/x-www-form-urlencoded", body: []byte("action=" + string(act)), want: 415},
		{name: "content type multipart", ctype: "multipart/form-data; boundary=x", body: valid(), want: 415},
		{name: "content type missing", ctype: "-", body: valid(), want: 415},
		{name: "content type json patch", ctype: "application/json-patch+json", body: valid(), want: 415},
		{name: "content type latin1", ctype: "application/json; charset=iso-8859-1", body: valid(), want: 415},
		{name: "content type extra parameter", ctype: "application/json; boundary=x", body: valid(), want: 415},
		{name: "content type malformed", ctype: "application/json; charset", body: valid(), want: 415},
		{name: "content type xml", ctype: "application/xml", body: []byte("<action>isolate</action>"), want: 415},
		{name: "method GET", method: http.MethodGet, body: valid(), want: 405},
		{name: "method PUT", method: http.MethodPut, body: valid(), want: 405},
		{name: "method PATCH", method: http.MethodPatch, body: valid(), want: 405},
		{name: "method DELETE", method: http.MethodDelete, want: 405},
		{name: "method OPTIONS", method: http.MethodOptions, want: 405},
		{name: "method TRACE", method: http.MethodTrace, want: 405},
		{name: "method made up", method: "ISOLATE", body: valid(), want: 405},
		{name: "idempotency key too long", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, body: valid(), want: 400},
		{name: "idempotency key non-ASCII", header: map[string]string{"Idempotency-Key": "kl\u00e9"}, body: valid(), want: 400},
	}
}

// TestHostileBody sends malformed, oversized and mistyped bodies, wrong
// content types and wrong methods to every configured action route.
func TestHostileBody(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]

	type route struct {
		path, target, value string
		act                 vendor.ActionKind
	}
	var routes []route
	for _, svc := range s.endpointServices("a") {
		// PAN-OS quarantines IP addresses and has no host inventory.
		value := "demo-host-01"
		if svc == vendor.ServicePaloAlto {
			value = "10.20.0.1"
		}
		routes = append(routes, route{pathOfService[svc], "agent_id", value, vendor.ActionIsolate})
	}
	if _, ok := a.Sims[vendor.ServiceAzureAD]; ok {
		routes = append(routes, route{"/azuread/users", "upn", "user01@demo.example", vendor.ActionBlock})
	}

	for _, r := range routes {
		for _, tc := range hostileBodies(r.target, r.value, r.act) {
			t.Run(strings.TrimPrefix(r.path, "/")+"/"+tc.name, func(t *testing.T) {
				req := request{Method: tc.method, Path: r.path, Key: a.Key, Body: tc.body, Header: map[string]string{}}
				switch tc.ctype {
				case "":
				case "-":
					req.NoCType = true
				default:
					req.NoCType = true
					req.Header["Content-Type"] = tc.ctype
				}
				for name, value := range tc.header {
					req.Header[name] = value
				}
				before := s.quiesce()
				resp := s.do(t, req)
				checkJSONError(t, resp, tc.want)
				if tc.want == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != http.MethodPost {
					t.Errorf("Allow = %q, want POST", resp.Header.Get("Allow"))
				}
				s.checkNoVendorCall(t, before)
			})
		}
	}
}

// TestUnknownRoute checks that paths outside the API, including paths that
// net/http would clean and redirect, get a JSON 404 or 405.
func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]
	body := object("action", "isolate", "Email", requester, "agent_id", "demo-host-01")

	cases := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{"root", "POST", "/", 404},
		{"trailing slash", "POST", "/wazuh/agents/", 404},
		{"agent id in the path", "POST", "/wazuh/agents/001", 404},
		{"upper case", "POST", "/WAZUH/AGENTS", 404},
		{"encoded slash", "POST", "/wazuh%2Fagents", 404},
		{"double slash", "POST", "/wazuh//agents", 404},
		{"dot segment", "POST", "/wazuh/./agents", 404},
		{"dot dot segment", "POST", "/wazuh/x/../agents", 404},
		{"encoded dot dot", "POST", "/wazuh/%2e%2e/wazuh/agents", 404},
		{"action id traversal", "GET", "/v1/actions/../../etc/passwd", 404},
		{"action id encoded traversal", "GET", "/v1/actions/..%2F..%2Fetc%2Fpasswd", 404},
		{"action id with query characters", "GET", "/v1/actions/x%3F%26%3D", 404},
		{"action id too long", "GET", "/v1/actions/" + strings.Repeat("a", 65), 404},
		{"action id with quote", "GET", "/v1/actions/x'%20or%20'1'='1", 404},
		{"action id with NUL", "GET", "/v1/actions/x%00", 404},
		{"action list", "GET", "/v1/actions", 404},
		{"action list with slash", "GET", "/v1/actions/", 404},
		{"unknown vendor", "POST", "/crowdstrike/hosts", 404},
		{"dot env", "GET", "/.env", 404},
		{"admin", "GET", "/admin", 404},
		{"very long path", "GET", "/" + strings.Repeat("a", 8000), 404},
		{"wazuh events GET", "GET", "/v1/wazuh/events", 405},
		{"metrics POST", "POST", "/metrics", 405},
		{"openapi DELETE", "DELETE", "/openapi.json", 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.quiesce()
			req := request{Method: tc.method, Path: tc.path, Key: a.Key}
			if tc.method == "POST" {
				req.Body = body
			}
			resp := s.do(t, req)
			checkJSONError(t, resp, tc.want)
			s.checkNoVendorCall(t, before)
		})
	}
}

// TestHostileWazuhEvent sends hostile agent_id values and bodies to the
// Wazuh event route, which confirms actions from the store without calling
// a vendor.
func TestHostileWazuhEvent(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{Companies: []string{"a"}})
	a := s.Companies["a"]

	for _, tc := range hostileAgentIDs {
		t.Run("agent_id/"+tc.name, func(t *testing.T) {
			before := s.quiesce()
			resp := s.do(t, request{Path: "/v1/wazuh/events", Key: a.Key, Body: object("agent_id", tc.value, "action", "isolate", "result", "success")})
			checkJSONError(t, resp, http.StatusBadRequest)
			s.checkNoVendorCall(t, before)
		})
	}
	for _, tc := range hostileBodies("agent_id", "001", vendor.ActionIsolate) {
		if strings.HasPrefix(tc.name, "Email") || strings.HasPrefix(tc.name, "comment") || strings.HasPrefix(tc.name, "dry_run") ||
			strings.HasPrefix(tc.name, "idempotency") || tc.name == "number with exponent" || tc.name == "lone surrogate escape" {
			continue // fields of the action routes only
		}
		t.Run("body/"+tc.name, func(t *testing.T) {
			req := request{Method: tc.method, Path: "/v1/wazuh/events", Key: a.Key, Body: tc.body, Header: map[string]string{}}
			switch tc.ctype {
			case "":
			case "-":
				req.NoCType = true
			default:
				req.NoCType = true
				req.Header["Content-Type"] = tc.ctype
			}
			before := s.quiesce()
			resp := s.do(t, req)
			checkJSONError(t, resp, tc.want)
			s.checkNoVendorCall(t, before)
		})
	}
}
