// Package isolationar is the logic of smartpt-isolation, the Wazuh Active
// Response program that isolates the host it runs on or lifts that
// isolation: the stdin protocol with wazuh-execd, the request in the
// message, the firewall change through an isolation.Backend, the state
// file, and the result line in active-responses.log.
//
// cmd/smartpt-isolation wraps it as a program; the Wazuh simulator's agent
// emulation (internal/vendors/wazuh/wazuhsim) runs it in-process with the
// record backend.
package isolationar
