package main

import (
	"log/slog"
	"path/filepath"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors/wazuh/wazuhsim"
)

// emulateWazuhAgents switches on the Wazuh simulator's agent emulation, so
// that a demo isolation or release on /wazuh/agents completes the way it
// does in a deployment: the agent runs smartpt-isolation (with the record
// backend, which changes nothing on this host), and the manager's
// integration posts the result to baseURL/v1/wazuh/events with the company
// key, which confirms the action. What the agents would have done is kept
// in DATA/wazuh-agents/agent-<id>/record.jsonl.
func emulateWazuhAgents(sims []*simharness.Running, baseURL, key, dataDir string, logger *slog.Logger) {
	for _, r := range sims {
		sim, ok := r.Handler.(*wazuhsim.Sim)
		if !ok {
			continue
		}
		emu := wazuhsim.AgentEmulation{HookURL: baseURL, CompanyKey: key, Dir: filepath.Join(dataDir, "wazuh-agents")}
		if err := sim.EmulateAgents(emu); err != nil {
			logger.Warn("Wazuh agent emulation is off: demo isolations on /wazuh/agents stay dispatched", "error", err)
		}
	}
}
