package action

import (
	"context"
	"testing"

	"github.com/smartpt/smartpt/internal/store"
	"github.com/smartpt/smartpt/internal/store/storetest"
	"github.com/smartpt/smartpt/internal/vendors"
)

func TestEngineUserAlreadyInState(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	_, name := newFakeDir(t)
	h := newHarness(t, db, nil)
	h.tenants.set(company, vendor.ServiceAzureAD, kindFakeDir, name)
	block := Request{CompanyID: company, Service: vendor.ServiceAzureAD, Route: "/azuread/users", Action: vendor.ActionBlock,
		Target: "user02@demo.example", Requester: "soc@example.com"}

	first, err := h.e.Execute(context.Background(), block)
	if err != nil {
		t.Fatal(err)
	}
	if first.AlreadyInState {
		t.Errorf("first block: AlreadyInState = true, want false")
	}
	second, err := h.e.Execute(context.Background(), block)
	if err != nil {
		t.Fatal(err)
	}
	if !second.AlreadyInState {
		t.Errorf("block of a disabled account: AlreadyInState = false, want the directory's true")
	}
}
