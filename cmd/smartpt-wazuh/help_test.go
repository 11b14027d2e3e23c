package main

import (
	"strings"
	"testing"
)

func TestHelpListsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}, {"ar", "-h"}} {
		if code := dispatch(append([]string{"smartpt-wazuh"}, args...)); code != 0 {
			t.Errorf("smartpt-wazuh %s: exit %d, want 0", strings.Join(args, " "), code)
		}
	}
	for _, flag := range []string{"--config", "--log", "--reply-wait", "integration ALERT_FILE"} {
		if !strings.Contains(usage, flag) {
			t.Errorf("usage does not mention %s", flag)
		}
	}
}
