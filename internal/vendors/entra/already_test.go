package entra_test

import (
	"context"
	"testing"

	"github.com/smartpt/smartpt/internal/vendors"
	"github.com/smartpt/smartpt/internal/vendors/entra"
	"github.com/smartpt/smartpt/internal/vendors/entra/entrasim"
)

func TestBlockAlreadyDisabled(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	ctx := context.Background()
	upn := "user06@demo.example"
	first, err := client.Block(ctx, upn, vendor.Options{})
	if err != nil {
		t.Fatalf("first Block: %v", err)
	}
	if first.AlreadyInState {
		t.Errorf("first Block: AlreadyInState = true on an enabled account")
	}
	_, validFrom, _ := sim.User(upn)
	revokes := sim.Requests("POST revokeSignInSessions")

	out, err := client.Block(ctx, upn, vendor.Options{})
	if err != nil {
		t.Fatalf("second Block: %v", err)
	}
	if !out.AlreadyInState {
		t.Errorf("second Block: AlreadyInState = false on a disabled account")
	}
	if len(sim.Patches()) != 1 {
		t.Errorf("PATCH count = %d, want 1: the second block needs none", len(sim.Patches()))
	}
	if got := sim.Requests("POST revokeSignInSessions"); got != revokes+1 {
		t.Errorf("revokeSignInSessions calls = %d, want %d: sessions are revoked again", got, revokes+1)
	}
	if len(out.Steps) != 1 || out.Steps[0].Name != entra.StepRevoke || !out.Steps[0].Succeeded {
		t.Errorf("steps = %+v, want one successful %q", out.Steps, entra.StepRevoke)
	}
	if _, newValidFrom, _ := sim.User(upn); newValidFrom.Before(validFrom) {
		t.Errorf("sessions valid-from went back from %v to %v", validFrom, newValidFrom)
	}
	if out.User.AccountEnabled {
		t.Errorf("outcome user enabled = true, want false")
	}
}

func TestUnblockAlreadyEnabled(t *testing.T) {
	client, sim := setup(t, entrasim.Config{})
	out, err := client.Unblock(context.Background(), "user07@demo.example", vendor.Options{})
	if err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if !out.AlreadyInState {
		t.Errorf("AlreadyInState = false on an enabled account")
	}
	if len(sim.Patches()) != 0 {
		t.Errorf("PATCH bodies = %+v, want none", sim.Patches())
	}
	if len(out.Steps) != 0 || !out.User.AccountEnabled {
		t.Errorf("outcome = %+v, want enabled with no steps", out)
	}
}
