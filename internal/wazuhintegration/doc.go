// Package wazuhintegration is the logic of "smartpt-wazuh integration", the
// wazuh-integratord custom integration that forwards smartpt-isolation
// results to the gateway's POST /v1/wazuh/events, and the SmartPT API
// client (Poster) that it shares with "smartpt-wazuh ar".
//
// cmd/smartpt-wazuh wraps it as a program; the Wazuh simulator's agent
// emulation (internal/vendors/wazuh/wazuhsim) runs it in-process.
package wazuhintegration
