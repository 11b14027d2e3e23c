package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// Protocol turns an Op into an HTTP request for one kind of target server.
type Protocol interface {
	// Name identifies the protocol in reports.
	Name() string

	// Prepare runs once before the load, for example to log in.
	Prepare(ctx context.Context, client *http.Client) error

	// NewRequest builds the request for op.
	NewRequest(ctx context.Context, op Op) (*http.Request, error)

	// Observe receives every request with its response status, so that a
	// protocol can renew a token after a 401. It must be safe for
	// concurrent use.
	Observe(ctx context.Context, client *http.Client, req *http.Request, status int)
}

// gatewayRoutes maps a service to its public route.
var gatewayRoutes = map[string]string{
	"wazuh":    "/wazuh/agents",
	"defender": "/defender/machines",
	"cortex":   "/cortex/endpoints",
	"cisco":    "/cisco/computers",
	"paloalto": "/paloalto/endpoints",
}

// TargetName returns the agent_id the gateway receives for demo target n.
// Form "hostname" gives demo-host-NN, "ip" gives 10.20.0.N, and "id" gives
// the Wazuh agent id NNN. Only Wazuh ids are fixed by the demo inventory,
// because the other products make their own.
func TargetName(service, form string, n int) (string, error) {
	switch form {
	case "hostname":
		return fmt.Sprintf("demo-host-%02d", n), nil
	case "ip":
		return fmt.Sprintf("10.20.0.%d", n), nil
	case "id":
		if service != "wazuh" {
			return "", fmt.Errorf("target form id is known only for wazuh (agent ids 001 to 020); use hostname or ip for %s", service)
		}
		return fmt.Sprintf("%03d", n), nil
	default:
		return "", fmt.Errorf("unknown target form %q; use id, hostname or ip", form)
	}
}

// Gateway sends the public SmartPT API request: POST to the service's route
// with the company key in x-sha256. With Trivial set, the same body goes to
// "/" of a server that ignores it, which is the floor of a plain net/http
// handler.
type Gateway struct {
	BaseURL    string
	Service    string // wazuh, defender, cortex, cisco or paloalto
	TargetForm string // id, hostname or ip
	CompanyKey string
	Requester  string // the Email field
	Trivial    bool

	bodies map[Op][]byte // built once, so that the generator spends no CPU on JSON
	url    string
}

// NewGateway checks the settings and builds every request body.
func NewGateway(g Gateway, targets int) (*Gateway, error) {
	route, ok := gatewayRoutes[g.Service]
	if !ok {
		return nil, fmt.Errorf("unknown service %q; use one of wazuh, defender, cortex, cisco, paloalto", g.Service)
	}
	if g.Trivial {
		route = "/"
	} else if g.CompanyKey == "" {
		return nil, fmt.Errorf("company key is missing: pass -key or set SMARTPT_BENCH_KEY")
	}
	g.url = strings.TrimRight(g.BaseURL, "/") + route

	g.bodies = map[Op][]byte{}
	for n := 1; n <= targets; n++ {
		agentID, err := TargetName(g.Service, g.TargetForm, n)
		if err != nil {
			return nil, err
		}
		for _, action := range []string{ActionStatus, ActionIsolate, ActionRelease} {
			body, err := json.Marshal(map[string]string{"action": action, "Email": g.Requester, "agent_id": agentID})
			if err != nil {
				return nil, err
			}
			g.bodies[Op{Action: action, Target: n}] = body
		}
	}
	return &g, nil
}

func (g *Gateway) Name() string {
	if g.Trivial {
		return "trivial"
	}
	return "gateway"
}

func (g *Gateway) Prepare(context.Context, *http.Client) error { return nil }

func (g *Gateway) Observe(context.Context, *http.Client, *http.Request, int) {}

func (g *Gateway) NewRequest(ctx context.Context, op Op) (*http.Request, error) {
	body, ok := g.bodies[op]
	if !ok {
		return nil, fmt.Errorf("no body for action %s on target %d", op.Action, op.Target)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if !g.Trivial {
		req.Header.Set("x-sha256", g.CompanyKey)
	}
	return req, nil
}

// WazuhNative sends straight to the simulator the Wazuh server API (4.x)
// requests that the gateway's Wazuh connector makes. Status is
// GET /agents?agents_list=NNN. Isolate and release are
// PUT /active-response?agents_list=NNN with a custom "!" command. It logs in
// once with HTTP Basic on POST /security/user/authenticate and again after a
// 401, because Wazuh tokens expire (900 s by default).
type WazuhNative struct {
	BaseURL   string
	User      string
	Password  string
	Command   string // active response command, "!smartpt-isolation" by default
	ManagerIP string // address isolated agents keep reaching, "10.20.0.254" by default

	mu      sync.RWMutex // guards token
	token   string
	loginMu sync.Mutex // one login at a time, so that a burst of 401s does not trip the login limit
}

func (w *WazuhNative) Name() string { return "wazuh-native" }

func (w *WazuhNative) Prepare(ctx context.Context, client *http.Client) error {
	if w.Command == "" {
		w.Command = "!smartpt-isolation"
	}
	if w.ManagerIP == "" {
		w.ManagerIP = "10.20.0.254"
	}
	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	return w.login(ctx, client)
}

func (w *WazuhNative) Observe(ctx context.Context, client *http.Client, req *http.Request, status int) {
	if status != http.StatusUnauthorized {
		return
	}

	w.loginMu.Lock()
	defer w.loginMu.Unlock()
	w.mu.RLock()
	current := "Bearer " + w.token
	w.mu.RUnlock()
	if req.Header.Get("Authorization") != current {
		return // another worker renewed the token after this request was built
	}
	// A failed renewal shows up as further 401s in the report.
	_ = w.login(ctx, client)
}

// wazuhAgentFields is the select list the gateway's Wazuh connector sends
// with GET /agents, so that the simulator builds the same response.
const wazuhAgentFields = "id,name,ip,status,os.name,os.platform,os.version,version,lastKeepAlive"

// activeResponseBody builds a PUT /active-response body of the shape the
// gateway's Wazuh connector sends: the verb, the allow-list and an action id
// as arguments, and the same facts in alert.data.
func (w *WazuhNative) activeResponseBody(action string) []byte {
	verb := "isolate"
	if action == ActionRelease {
		verb = "release"
	}
	args := []string{verb}
	data := map[string]any{"action": verb, "smartpt_action_id": "bench"}
	if verb == "isolate" {
		args = append(args, "allow="+w.ManagerIP)
		data["allow"] = []string{w.ManagerIP}
	}
	args = append(args, "action_id=bench")

	body, _ := json.Marshal(map[string]any{"command": w.Command, "arguments": args, "alert": map[string]any{"data": data}})
	return body
}

// login fetches a token. The caller holds loginMu.
func (w *WazuhNative) login(ctx context.Context, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(w.BaseURL, "/")+"/security/user/authenticate", nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(w.User, w.Password)

	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("wazuh login: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("wazuh login: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}

	var parsed struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil || parsed.Data.Token == "" {
		return fmt.Errorf("wazuh login: no data.token in the response (%v)", err)
	}

	w.mu.Lock()
	w.token = parsed.Data.Token
	w.mu.Unlock()
	return nil
}

func (w *WazuhNative) NewRequest(ctx context.Context, op Op) (*http.Request, error) {
	base := strings.TrimRight(w.BaseURL, "/")
	agent := fmt.Sprintf("%03d", op.Target)

	var req *http.Request
	var err error
	switch op.Action {
	case ActionStatus:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+"/agents?agents_list="+agent+"&select="+wazuhAgentFields, nil)
	case ActionIsolate, ActionRelease:
		req, err = http.NewRequestWithContext(ctx, http.MethodPut, base+"/active-response?agents_list="+agent, bytes.NewReader(w.activeResponseBody(op.Action)))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	default:
		return nil, fmt.Errorf("action %q has no Wazuh request", op.Action)
	}
	if err != nil {
		return nil, err
	}

	w.mu.RLock()
	req.Header.Set("Authorization", "Bearer "+w.token)
	w.mu.RUnlock()
	return req, nil
}
