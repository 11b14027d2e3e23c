package attack

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStallingVendorAnswers504 checks that every action against a vendor
// that accepts connections and never responds gets 504 within the API's
// action timeout, writes included.
func TestStallingVendorAnswers504(t *testing.T) {
	t.Parallel()
	const actionTimeout = 2 * time.Second
	s := newStack(t, stackOptions{Companies: []string{"stall"}, ActionTimeout: actionTimeout})
	stall := stallingAddr(t)
	for _, sim := range s.Companies["stall"].Sims {
		front := hostPort(sim.front.URL)
		s.replaceIntegration(t, "stall", sim, func(v string) string { return strings.ReplaceAll(v, front, stall) })
	}

	var wg sync.WaitGroup
	for svc := range s.Companies["stall"].Sims {
		for _, body := range actionsFor(svc, 4) {
			if body["dry_run"] != nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				data, _ := json.Marshal(body)
				start := time.Now()
				resp := s.do(t, request{Path: pathOfService[svc], Key: s.Companies["stall"].Key, Body: data})
				took := time.Since(start)
				if resp.Status != http.StatusGatewayTimeout {
					t.Errorf("%s %v: status %d, want 504; body %s", svc, body["action"], resp.Status, resp.Body)
				}
				if took > actionTimeout+time.Second {
					t.Errorf("%s %v: responded after %v, want within the action timeout %v", svc, body["action"], took, actionTimeout)
				}
				var parsed map[string]any
				if err := json.Unmarshal(resp.Body, &parsed); err != nil || parsed["statusCode"] != float64(resp.Status) {
					t.Errorf("%s %v: body %s is not a JSON error with statusCode %d", svc, body["action"], resp.Body, resp.Status)
				}
			}()
		}
	}
	wg.Wait()
}
