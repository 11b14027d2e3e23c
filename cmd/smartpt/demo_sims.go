package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/smartpt/smartpt/internal/simharness"
	"github.com/smartpt/smartpt/internal/vendors"
)

// printSimulators writes, for each running simulator, its URL and an
// "integration set" command with the settings and test credentials the
// simulator accepts, so that a user can try "integration set" and
// "integration test" against it. A multi-line setting such as ca_pem is
// written to DATA/simulators/KIND-NAME.pem and passed with $(cat FILE).
// The credentials are the simulators' own test values, never a real
// vendor's.
func printSimulators(w io.Writer, sims []*simharness.Running, dataDir string, logger *slog.Logger) {
	if len(sims) == 0 {
		return
	}
	fmt.Fprintf(w, "# Simulators and their test-only credentials, for 'smartpt integration set' and 'integration test'\n")
	fmt.Fprintf(w, "# (these commands replace the demo company's integrations with the same values)\n")
	for _, r := range sims {
		svc := demoServices[r.Kind]
		fmt.Fprintf(w, "\n# %s simulator (/%s): %s\n", r.Kind, svc, r.URL)

		args := []string{"smartpt integration set", demoCompany, "--data", shellQuote(dataDir),
			"--service", string(svc), "--kind", string(r.Kind)}
		for _, name := range sortedKeys(r.Settings) {
			value := r.Settings[name]
			if strings.Contains(value, "\n") {
				file, err := writeSimulatorFile(dataDir, r.Kind, name, value)
				if err != nil {
					logger.Warn("failed to write a simulator setting to a file, so the command below leaves it out", "kind", r.Kind, "setting", name, "error", err)
					continue
				}
				args = append(args, "--setting", name+`="$(cat `+shellQuote(file)+`)"`)
				continue
			}
			args = append(args, "--setting", shellQuote(name+"="+value))
		}
		for _, name := range sortedKeys(r.Secrets) {
			args = append(args, "--secret", shellQuote(name+"="+r.Secrets[name]))
		}
		fmt.Fprintln(w, strings.Join(args, " "))
		fmt.Fprintf(w, "smartpt integration test %s --data %s --service %s\n", demoCompany, shellQuote(dataDir), svc)
	}
	fmt.Fprintln(w)
}

func writeSimulatorFile(dataDir string, kind vendor.Kind, name, value string) (string, error) {
	dir := filepath.Join(dataDir, "simulators")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	file := filepath.Join(dir, string(kind)+"-"+name+".pem")
	return file, os.WriteFile(file, []byte(value), 0o600)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shellQuote quotes s for a POSIX shell when it contains anything but safe
// characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
