package mssim

import (
	"encoding/json"
	"net/http"
	"time"
)

// WriteGraphError writes Microsoft Graph's error envelope:
// {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}.
func WriteGraphError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	requestID := NewGUID()
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":              time.Now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        requestID,
			"client-request-id": clientRequestID(r, requestID),
		},
	}}
	w.Header().Set("request-id", requestID)
	writeJSON(w, status, body)
}

// WriteDefenderError writes the Defender for Endpoint API error envelope:
// {"error":{"code","message","target"}}, where target is a correlation id.
func WriteDefenderError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"target":  NewGUID(),
	}})
}

// WriteJSON writes v as a JSON body with status.
func WriteJSON(w http.ResponseWriter, status int, v any) { writeJSON(w, status, v) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func clientRequestID(r *http.Request, fallback string) string {
	if id := r.Header.Get("client-request-id"); id != "" && len(id) <= 64 {
		return id
	}
	return fallback
}
