package action

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/smartpt/smartpt/internal/secret"
	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/tenant"
)

func TestRunGuardCLI(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	sealer, err := secret.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tenants := tenant.New(db, sealer, &secret.Resolver{})
	if _, _, err := tenants.CreateCompany(context.Background(), "acme", ""); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args    string
		wantOut string
		wantErr string
	}{
		{args: "protect add --company acme DB01.corp.example", wantOut: "protected db01.corp.example for acme"},
		{args: "protect add --company acme 10.0.0.9/24", wantOut: "protected 10.0.0.0/24 for acme"},
		{args: "protect add --company acme db01.corp.example", wantOut: "already protected"},
		{args: "protect list --company acme", wantOut: "10.0.0.0/24\ndb01.corp.example\n"},
		{args: "protect add --company acme a,b", wantErr: "must be one host name"},
		{args: "protect remove --company acme nothere", wantErr: "is not on the protect-list"},
		{args: "protect remove --company acme 10.0.0.0/24", wantOut: "removed 10.0.0.0/24"},
		{args: "cap show --company acme", wantOut: "no hourly cap"},
		{args: "cap set --company acme --per-hour 5", wantOut: "5 targets per rolling hour"},
		{args: "cap show --company acme", wantOut: "5 per hour"},
		{args: "cap set --company acme", wantErr: "--per-hour N is required"},
		{args: "cap set --company acme --per-hour 0", wantOut: "removed the hourly cap"},
		{args: "protect list", wantErr: "--company is required"},
		{args: "protect list --company nobody", wantErr: "company 'nobody'"},
		{args: "protect wipe --company acme", wantErr: "unknown command 'guard protect wipe'"},
		{args: "protect", wantErr: "usage:"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		err := RunGuardCLI(context.Background(), db, tenants, strings.Fields(tc.args), &out)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("guard %s: error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("guard %s: %v", tc.args, err)
			continue
		}
		if !strings.Contains(out.String(), tc.wantOut) {
			t.Errorf("guard %s: output %q, want %q", tc.args, out.String(), tc.wantOut)
		}
	}
}
