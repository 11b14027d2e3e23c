package action

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
)

// TestOutOfTime checks that only an internal error caused by the deadline
// becomes a 504; a store read that a busy database delayed past the API's
// action timeout was answered 500 before.
func TestOutOfTime(t *testing.T) {
	late := &Error{Status: 500, Message: "Internal Server Error: cannot read the wazuh integration", ActionID: "act-1", Err: fmt.Errorf("query: %w", context.DeadlineExceeded)}
	broken := &Error{Status: 500, Message: "Internal Server Error: cannot read the wazuh integration", Err: errors.New("disk I/O error")}
	notFound := &Error{Status: 404, Message: "Not Found: endpoint", Err: context.DeadlineExceeded}

	var got *Error
	if !errors.As(outOfTime(vendor.ActionIsolate, late), &got) || got.Status != http.StatusGatewayTimeout {
		t.Errorf("deadline-caused 500: got %+v, want status 504", got)
	} else if got.Message != "Gateway Timeout: Failed to isolate endpoint" || got.Detail != "the request timed out inside the gateway: cannot read the wazuh integration" {
		t.Errorf("deadline-caused 500: message %q, detail %q", got.Message, got.Detail)
	}
	if got != nil && got.ActionID != "act-1" {
		t.Errorf("deadline-caused 500: action id %q, want act-1 kept from the stored action", got.ActionID)
	}
	if err := outOfTime(vendor.ActionIsolate, broken); err != broken {
		t.Errorf("other 500: got %v, want it unchanged", err)
	}
	if err := outOfTime(vendor.ActionIsolate, notFound); err != notFound {
		t.Errorf("404: got %v, want it unchanged", err)
	}
	if err := outOfTime(vendor.ActionIsolate, nil); err != nil {
		t.Errorf("nil: got %v, want nil", err)
	}
}
