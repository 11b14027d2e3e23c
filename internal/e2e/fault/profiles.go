// Package fault drives many isolate, release and status actions through the
// real API and engine while fault proxies in front of the vendor simulators
// inject 429s with every Retry-After form, 5xx responses, connection resets,
// stalls and expired tokens, and then checks that no action was lost or
// sent twice, that every action reached a final state, and that the audit
// trail holds every transition and verifies.
//
// The default run is sized for CI; SMARTPT_FAULT_ACTIONS=10000 runs the
// full count. The package's only non-test code is Profiles, which the crash
// tests share.
package fault

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/smartpt/smartpt/internal/faultproxy"
	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/mslogin/mssim"

	// The vendors under test, with their simulators. Importing them here
	// keeps the test independent of which ones the all packages list.
	_ "github.com/smartpt/smartpt/internal/vendors/cisco"
	_ "github.com/smartpt/smartpt/internal/vendors/cisco/ciscosim"
	_ "github.com/smartpt/smartpt/internal/vendors/cortex"
	_ "github.com/smartpt/smartpt/internal/vendors/cortex/cortexsim"
	_ "github.com/smartpt/smartpt/internal/vendors/defender"
	_ "github.com/smartpt/smartpt/internal/vendors/defender/defendersim"
	_ "github.com/smartpt/smartpt/internal/vendors/wazuh"
	_ "github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

// VendorWrite is a forwarded request that changes an endpoint's isolation.
type VendorWrite struct {
	Action   vendor.ActionKind // isolate or releaseisolate
	Target   string            // the vendor's endpoint id
	ActionID string            // the gateway's action id, when the request carries it
}

// Profile is what the test needs to know about one vendor: its route, its
// error envelope, and how to recognise its isolation writes on the wire.
type Profile struct {
	Kind    vendor.Kind
	Service vendor.Service
	Route   string

	// Envelope writes the vendor's error body for an injected fault.
	Envelope faultproxy.Envelope

	// Write classifies a request as an isolation write.
	Write func(ex faultproxy.Exchange) (VendorWrite, bool)
}

// actionIDInText finds the gateway's action id in a vendor comment, which
// the Defender and Cisco clients write as "(action <32 hex>)".
var actionIDInText = regexp.MustCompile(`\(action ([0-9a-f]{32})\)`)

// Profiles lists the vendors the fault and crash tests drive.
var Profiles = []Profile{
	{
		Kind: vendor.KindDefender, Service: vendor.ServiceDefender, Route: "/defender/machines",
		// Defender for Endpoint API error codes: {"error":{"code","message","target"}}.
		Envelope: func(w http.ResponseWriter, status int) {
			code, msg := "InternalServerError", "Internal server error."
			switch status {
			case http.StatusUnauthorized:
				code, msg = "Unauthorized", "Authorization token has expired."
			case http.StatusTooManyRequests:
				code, msg = "TooManyRequests", "API calls quota exceeded!"
			case http.StatusServiceUnavailable:
				code, msg = "ServiceUnavailable", "The service is temporarily unavailable."
			}
			mssim.WriteDefenderError(w, status, code, msg)
		},
		// POST /api/machines/{id}/isolate and .../unisolate, with the
		// action id in the Comment field.
		Write: func(ex faultproxy.Exchange) (VendorWrite, bool) {
			parts := strings.Split(strings.Trim(ex.Path, "/"), "/")
			if ex.Method != http.MethodPost || len(parts) != 4 || parts[0] != "api" || parts[1] != "machines" {
				return VendorWrite{}, false
			}
			w := VendorWrite{Target: parts[2]}
			switch parts[3] {
			case "isolate":
				w.Action = vendor.ActionIsolate
			case "unisolate":
				w.Action = vendor.ActionRelease
			default:
				return VendorWrite{}, false
			}
			var body struct{ Comment string }
			_ = json.Unmarshal(ex.Body, &body)
			if m := actionIDInText.FindStringSubmatch(body.Comment); m != nil {
				w.ActionID = m[1]
			}
			return w, true
		},
	},
	{
		Kind: vendor.KindCisco, Service: vendor.ServiceCisco, Route: "/cisco/computers",
		// Cisco Secure Endpoint API v1 error envelope.
		Envelope: func(w http.ResponseWriter, status int) {
			writeJSON(w, status, map[string]any{
				"version":  "v1.2.0",
				"metadata": map[string]any{"links": map[string]string{"self": "http://127.0.0.1/"}},
				"data":     map[string]any{},
				"errors":   []map[string]any{{"error_code": status, "description": http.StatusText(status), "details": []string{"injected fault"}}},
			})
		},
		// PUT (isolate) and DELETE (release) /v1/computers/{guid}/isolation,
		// with the action id in the comment field.
		Write: func(ex faultproxy.Exchange) (VendorWrite, bool) {
			parts := strings.Split(strings.Trim(ex.Path, "/"), "/")
			if len(parts) != 4 || parts[0] != "v1" || parts[1] != "computers" || parts[3] != "isolation" {
				return VendorWrite{}, false
			}
			w := VendorWrite{Target: parts[2]}
			switch ex.Method {
			case http.MethodPut:
				w.Action = vendor.ActionIsolate
			case http.MethodDelete:
				w.Action = vendor.ActionRelease
			default:
				return VendorWrite{}, false
			}
			var body struct {
				Comment string `json:"comment"`
			}
			_ = json.Unmarshal(ex.Body, &body)
			if m := actionIDInText.FindStringSubmatch(body.Comment); m != nil {
				w.ActionID = m[1]
			}
			return w, true
		},
	},
	{
		Kind: vendor.KindCortex, Service: vendor.ServiceCortex, Route: "/cortex/endpoints",
		// Cortex XDR API error envelope: {"reply":{"err_code","err_msg","err_extra"}}.
		Envelope: func(w http.ResponseWriter, status int) {
			writeJSON(w, status, map[string]any{"reply": map[string]any{"err_code": status, "err_msg": http.StatusText(status), "err_extra": "injected fault"}})
		},
		// POST /public_api/v1/endpoints/isolate and .../unisolate with
		// {"request_data":{"endpoint_id":...}}; no gateway action id.
		Write: func(ex faultproxy.Exchange) (VendorWrite, bool) {
			w := VendorWrite{}
			switch ex.Path {
			case "/public_api/v1/endpoints/isolate":
				w.Action = vendor.ActionIsolate
			case "/public_api/v1/endpoints/unisolate":
				w.Action = vendor.ActionRelease
			default:
				return VendorWrite{}, false
			}
			var body struct {
				RequestData struct {
					EndpointID string `json:"endpoint_id"`
				} `json:"request_data"`
			}
			_ = json.Unmarshal(ex.Body, &body)
			w.Target = body.RequestData.EndpointID
			return w, true
		},
	},
	{
		Kind: vendor.KindWazuh, Service: vendor.ServiceWazuh, Route: "/wazuh/agents",
		// Wazuh server API problem body: {"title","detail"}, with error
		// 6001 on a 429.
		Envelope: func(w http.ResponseWriter, status int) {
			body := map[string]any{"title": http.StatusText(status), "detail": "injected fault"}
			switch status {
			case http.StatusUnauthorized:
				body["detail"] = "Invalid token"
			case http.StatusTooManyRequests:
				body["title"], body["detail"], body["code"] = "Wazuh Error", "Maximum number of requests per minute reached", 6001
			}
			writeJSON(w, status, body)
		},
		// PUT /active-response?agents_list=<id>, with the action id in
		// alert.data.smartpt_action_id.
		Write: func(ex faultproxy.Exchange) (VendorWrite, bool) {
			if ex.Method != http.MethodPut || ex.Path != "/active-response" {
				return VendorWrite{}, false
			}
			var body struct {
				Alert struct {
					Data struct {
						Action   string `json:"action"`
						ActionID string `json:"smartpt_action_id"`
					} `json:"data"`
				} `json:"alert"`
			}
			_ = json.Unmarshal(ex.Body, &body)
			w := VendorWrite{Action: vendor.ActionIsolate, ActionID: body.Alert.Data.ActionID}
			if body.Alert.Data.Action == "release" {
				w.Action = vendor.ActionRelease
			}
			query, _ := url.ParseQuery(ex.RawQuery)
			w.Target = query.Get("agents_list")
			return w, true
		},
	},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
