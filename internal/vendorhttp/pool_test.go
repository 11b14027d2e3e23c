package vendorhttp

import (
	"testing"
	"time"
)

func TestPoolBudgetFollowsLimits(t *testing.T) {
	p := NewPool(nil)
	slow := Config{Vendor: "wazuh", Limits: []Limit{{Count: 300, Per: time.Minute}}}
	fast := Config{Vendor: "wazuh", Limits: []Limit{{Count: 6000, Per: time.Minute}}}

	a := p.Client("c1", "wazuh", slow)
	b := p.Client("c1", "wazuh", slow)
	if a.budget != b.budget {
		t.Fatal("two clients of one integration with the same limits do not share a budget")
	}
	other := p.Client("c2", "wazuh", slow)
	if other.budget == a.budget {
		t.Fatal("two companies share a budget")
	}

	c := p.Client("c1", "wazuh", fast)
	if c.budget == a.budget {
		t.Fatal("changed limits kept the old budget")
	}
	if got := c.budget.limits; len(got) != 1 || got[0].Count != 6000 {
		t.Fatalf("new budget limits = %v, want 6000 a minute", got)
	}
	if d := p.Client("c1", "wazuh", fast); d.budget != c.budget {
		t.Fatal("the new budget is not shared by the next client with the same limits")
	}
}
