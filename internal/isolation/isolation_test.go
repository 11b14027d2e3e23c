package isolation

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func mustAllow(t testing.TB, entries ...string) []netip.Prefix {
	t.Helper()
	allow, err := ParseAllow(entries)
	if err != nil {
		t.Fatalf("ParseAllow(%q): %v", entries, err)
	}
	return allow
}

func TestParseAllow(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		want    string
		wantErr string
	}{
		{"ipv4 and ipv6", []string{"10.0.0.5", "2001:db8::1"}, "10.0.0.5/32 2001:db8::1/128", ""},
		{"sorted and de-duplicated", []string{"10.0.0.9", " 10.0.0.5 ", "10.0.0.9", ""}, "10.0.0.5/32 10.0.0.9/32", ""},
		{"prefix masked", []string{"192.0.2.77/24"}, "192.0.2.0/24", ""},
		{"contained prefix dropped", []string{"10.0.0.5", "10.0.0.0/8", "10.1.0.0/16"}, "10.0.0.0/8", ""},
		{"mapped ipv4 unmapped", []string{"::ffff:10.0.0.1"}, "10.0.0.1/32", ""},
		{"empty list", nil, "", ""},
		{"hostname rejected", []string{"manager.example"}, "", "not a valid IPv4 or IPv6 address"},
		{"bad prefix rejected", []string{"10.0.0.0/33"}, "", "not a valid CIDR prefix"},
		{"whole space rejected", []string{"0.0.0.0/0"}, "", "allows every address"},
		{"zone rejected", []string{"fe80::1%eth0"}, "", "zone"},
		{"one bad entry rejects all", []string{"10.0.0.1", "x"}, "", "not a valid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAllow(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.String())
			}
			if strings.Join(names, " ") != tc.want {
				t.Errorf("got %q, want %q", strings.Join(names, " "), tc.want)
			}
		})
	}
}

func TestNFTIsolateScript(t *testing.T) {
	script := NFTIsolateScript(mustAllow(t, "192.0.2.10", "198.51.100.0/24", "2001:db8::10"))
	for _, want := range []string{
		"table inet smartpt_isolation\ndelete table inet smartpt_isolation\n",
		"elements = { 192.0.2.10, 198.51.100.0/24 }",
		"elements = { 2001:db8::10 }",
		"type filter hook input priority -300; policy drop;",
		"type filter hook output priority -300; policy drop;",
		`iif "lo" accept`,
		`oif "lo" accept`,
		"ip saddr @allow4 accept",
		"ip daddr @allow4 accept",
		"ip6 saddr @allow6 accept",
		"ip6 daddr @allow6 accept",
		"nd-neighbor-solicit",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q:\n%s", want, script)
		}
	}
	if strings.Count(script, "table inet smartpt_isolation {") != 1 {
		t.Errorf("script defines the table more than once")
	}
}

// TestNFTScriptsCheckedByNft has nft parse the scripts without applying
// them (nft --check).
func TestNFTScriptsCheckedByNft(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil || os.Geteuid() != 0 {
		requireInCI(t, "nft --check needs the nft command and root")
	}
	for name, script := range map[string]string{
		"isolate":          NFTIsolateScript(mustAllow(t, "192.0.2.10", "198.51.100.0/24", "2001:db8::/64")),
		"isolate v4 only":  NFTIsolateScript(mustAllow(t, "192.0.2.10")),
		"isolate no allow": NFTIsolateScript(nil),
		"release":          NFTReleaseScript(),
	} {
		out, err := ExecRunner{}.Run(context.Background(), []byte(script), nft, "--check", "-f", "-")
		if err != nil {
			t.Errorf("%s: nft rejected the script: %v\n%s\n%s", name, err, out, script)
		}
	}
}

// fakeRunner records commands and fails those whose joined form starts
// with a prefix in fail.
type fakeRunner struct {
	calls []string
	stdin []string
	fail  map[string]bool
}

func (f *fakeRunner) Run(_ context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	call := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, call)
	f.stdin = append(f.stdin, string(stdin))
	for prefix := range f.fail {
		if strings.HasPrefix(call, prefix) {
			return nil, errors.New("exit status 1")
		}
	}
	return nil, nil
}

func TestIPTablesIsolateCommands(t *testing.T) {
	runner := &fakeRunner{fail: map[string]bool{"iptables -w -C": true, "ip6tables -w -C OUTPUT": true}}
	ipt := &IPTables{Runner: runner}
	if err := ipt.Isolate(context.Background(), mustAllow(t, "192.0.2.10", "2001:db8::10")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"iptables-restore --noflush",
		"iptables -w -C INPUT -j SMARTPT_ISO_IN",
		"iptables -w -I INPUT 1 -j SMARTPT_ISO_IN",
		"iptables -w -C OUTPUT -j SMARTPT_ISO_OUT",
		"iptables -w -I OUTPUT 1 -j SMARTPT_ISO_OUT",
		"ip6tables-restore --noflush",
		"ip6tables -w -C INPUT -j SMARTPT_ISO_IN", // present: no insert
		"ip6tables -w -C OUTPUT -j SMARTPT_ISO_OUT",
		"ip6tables -w -I OUTPUT 1 -j SMARTPT_ISO_OUT",
	}
	if strings.Join(runner.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(runner.calls, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(runner.stdin[0], "-A SMARTPT_ISO_IN -s 192.0.2.10/32 -j RETURN") || strings.Contains(runner.stdin[0], "2001:db8") {
		t.Errorf("IPv4 restore script:\n%s", runner.stdin[0])
	}
	if !strings.Contains(runner.stdin[5], "-A SMARTPT_ISO_OUT -d 2001:db8::10/128 -j RETURN") || !strings.Contains(runner.stdin[5], "--icmpv6-type 135") {
		t.Errorf("IPv6 restore script:\n%s", runner.stdin[5])
	}
}

func TestIPTRestoreScriptEndsWithDrop(t *testing.T) {
	script := IPTRestoreScript(mustAllow(t, "192.0.2.10"), false)
	lines := strings.Split(strings.TrimSpace(script), "\n")
	if lines[0] != "*filter" || lines[len(lines)-1] != "COMMIT" {
		t.Fatalf("not a filter table transaction:\n%s", script)
	}
	if lines[len(lines)-2] != "-A SMARTPT_ISO_OUT -j DROP" {
		t.Errorf("last rule = %q, want the DROP of the output chain", lines[len(lines)-2])
	}
	if !strings.Contains(script, "-A SMARTPT_ISO_IN -i lo -j RETURN\n") {
		t.Errorf("loopback is not allowed:\n%s", script)
	}
}

func TestIPTablesReleaseSkipsMissingChains(t *testing.T) {
	runner := &fakeRunner{fail: map[string]bool{"iptables -w -D": true, "ip6tables -w -D": true, "ip6tables -w -S": true}}
	if err := (&IPTables{Runner: runner}).Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(runner.calls, "\n")
	for _, want := range []string{"iptables -w -F SMARTPT_ISO_IN", "iptables -w -X SMARTPT_ISO_OUT"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "ip6tables -w -X") {
		t.Errorf("deleted an ip6tables chain that does not exist:\n%s", joined)
	}
}

func TestBlockRanges(t *testing.T) {
	cases := []struct {
		name  string
		allow []string
		want  string
	}{
		{"nothing allowed", nil, "0.0.0.0-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"one address", []string{"10.0.0.5"}, "0.0.0.0-10.0.0.4,10.0.0.6-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"two ranges", []string{"10.0.0.0/24", "192.0.2.1"}, "0.0.0.0-9.255.255.255,10.0.1.0-192.0.2.0,192.0.2.2-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"first address", []string{"0.0.0.0/8"}, "1.0.0.0-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"last address", []string{"255.255.255.255"}, "0.0.0.0-255.255.255.254,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"adjacent", []string{"10.0.0.0/25", "10.0.0.128/25"}, "0.0.0.0-9.255.255.255,10.0.1.0-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"ipv6", []string{"2001:db8::1"}, "0.0.0.0-255.255.255.255,::-2001:db8::,2001:db8::2-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(BlockRanges(mustAllow(t, tc.allow...)), ",")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestWindowsFirewallCommands(t *testing.T) {
	runner := &fakeRunner{}
	w := &WindowsFirewall{Runner: runner}
	if err := w.Isolate(context.Background(), mustAllow(t, "192.0.2.10")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`netsh advfirewall firewall delete rule name=SmartPT isolation (inbound)`,
		`netsh advfirewall firewall delete rule name=SmartPT isolation (outbound)`,
		`netsh advfirewall firewall add rule name=SmartPT isolation (inbound) dir=in action=block enable=yes profile=any protocol=any remoteip=0.0.0.0-192.0.2.9,192.0.2.11-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`,
		`netsh advfirewall firewall add rule name=SmartPT isolation (outbound) dir=out action=block enable=yes profile=any protocol=any remoteip=0.0.0.0-192.0.2.9,192.0.2.11-255.255.255.255,::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`,
	}
	if strings.Join(runner.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(runner.calls, "\n"), strings.Join(want, "\n"))
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := ReadState(path)
	if err != nil || st.Isolated {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	if err := WriteState(path, State{Isolated: true, Backend: "nftables", Allow: []string{"192.0.2.10"}, ActionID: "a1"}); err != nil {
		t.Fatal(err)
	}
	st, err = ReadState(path)
	if err != nil || !st.Isolated || st.Backend != "nftables" || st.ActionID != "a1" {
		t.Errorf("read back %+v, %v", st, err)
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); err == nil {
		t.Error("corrupt state file accepted")
	}
}

func TestDetectBackendNames(t *testing.T) {
	for _, name := range []string{"nftables", "iptables", "windows-firewall"} {
		b, err := Detect(name, "", ExecRunner{})
		if err != nil || b.Name() != name {
			t.Errorf("Detect(%q) = %v, %v", name, b, err)
		}
	}
	if _, err := Detect("record", "", nil); err == nil {
		t.Error("record without a path accepted")
	}
	if _, err := Detect("pf", "", nil); err == nil {
		t.Error("unknown backend accepted")
	}
}

// requireInCI skips with reason, except when CI=true, where the test must
// run and therefore fails.
func requireInCI(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run in CI: %s", reason)
	}
	t.Skip(reason)
}
